"""
Tests for L{keepsip.accounting.wire}: every call gets its records, whatever
bytes it carries (issue 8, item 1).
"""

from __future__ import annotations

import base64
import json

from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from keepsip.accounting.jsonl import JsonLinesBackend
from keepsip.accounting.tracker import AccountingTracker
from keepsip.accounting.wire import OCTETS_FIELD, UNENCODABLE_FIELD, wireSafe
from keepsip.dialog.model import Dialog, DialogState, EndCause, Leg
from keepsip.sip.parser import parseDatagram
from keepsip.testing import RecordingBackend

#: A Call-ID as keepsip's parser hands it over when the datagram carried the
#: octet 0xFF (not UTF-8): decoded with surrogateescape.
BAD_CALL_ID = b"abc\xffdef@host".decode("utf-8", "surrogateescape")
BAD_USER = b"sip:al\xe9x@example.com".decode("utf-8", "surrogateescape")


class WireSafeTests(SynchronousTestCase):
    def test_validRecordUnchanged(self) -> None:
        """
        A record of valid text (non-ASCII included) is returned as it is,
        with its compact JSON line.
        """
        record = {"call_id": "x@y", "from": "sip:zoë@example.com", "n": 1}
        safe, line = wireSafe(record)
        self.assertIs(safe, record)
        self.assertEqual(json.loads(line), record)
        self.assertTrue(line.endswith(b"\n"))

    def test_nonUTF8Replaced(self) -> None:
        """
        A value holding an octet that was not UTF-8 is written as valid text
        (U+FFFD for the octet), and its exact octets are under C{octets} by
        field path, base64-encoded.
        """
        record = {"call_id": BAD_CALL_ID, "end_detail": {"caller": BAD_USER}, "type": "stop"}
        safe, line = wireSafe(record)
        decoded = json.loads(line.decode("utf-8"))
        self.assertEqual(decoded, safe)
        self.assertEqual(decoded["call_id"], "abc\ufffddef@host")
        self.assertEqual(decoded["end_detail"]["caller"], "sip:al\ufffdx@example.com")
        octets = decoded[OCTETS_FIELD]
        self.assertEqual(base64.b64decode(octets["call_id"]), b"abc\xffdef@host")
        self.assertEqual(base64.b64decode(octets["end_detail.caller"]), b"sip:al\xe9x@example.com")
        self.assertEqual(sorted(octets), ["call_id", "end_detail.caller"])
        # The caller's record is not changed behind its back.
        self.assertEqual(record["call_id"], BAD_CALL_ID)

    def test_replacementCharacterIsUnambiguous(self) -> None:
        """
        A value that really contained U+FFFD on the wire is not listed in
        C{octets}: only values that were not UTF-8 are.
        """
        record = {"call_id": "a\ufffdb", "from": BAD_USER}
        safe, line = wireSafe(record)
        self.assertEqual(list(json.loads(line)[OCTETS_FIELD]), ["from"])

    def test_listsAndStrayKeys(self) -> None:
        """
        Strings inside lists are covered (path with the index); a key that is
        not valid text is made valid text.
        """
        record = {"segments": [{"media": BAD_USER}], BAD_CALL_ID: 1}
        safe, line = wireSafe(record)
        decoded = json.loads(line)
        self.assertIn("segments.0.media", decoded[OCTETS_FIELD])
        self.assertIn("abc\ufffddef@host", decoded)

    def test_fallback(self) -> None:
        """
        A record JSON cannot carry is written in the fallback form: its
        identity, the error and its repr, never dropped.
        """
        record = {"schema": 1, "record_id": "r1", "type": "stop", "call_id": BAD_CALL_ID, "x": object()}
        safe, line = wireSafe(record)
        decoded = json.loads(line)
        self.assertEqual(decoded["record_id"], "r1")
        self.assertEqual(decoded["type"], "stop")
        self.assertEqual(decoded["call_id"], "abc\ufffddef@host")
        self.assertIn("TypeError", decoded[UNENCODABLE_FIELD])
        self.assertIn("object object", decoded["repr"])


class TrackerTests(SynchronousTestCase):
    """
    Whole calls through the accounting tracker.
    """

    def setUp(self) -> None:
        self.clock = Clock()
        self.spoolDir = self.mktemp()

    def callWith(self, backends: list, **legs: str) -> Dialog:
        tracker = AccountingTracker(
            [(f"b{i}", b) for i, b in enumerate(backends)], self.clock, self.spoolDir
        )
        tracker.startService()
        dialog = Dialog(
            callID=legs.get("callID", "call-1"),
            caller=Leg(legs.get("caller", "sip:alice@example.com"), tag=legs.get("tag", "a")),
            callee=Leg("sip:bob@example.com"),
            requestURI="sip:bob@example.com",
            invitedAt=self.clock.seconds(),
        )
        tracker.dialogCreated(dialog)
        dialog.callee.tag = "b"
        dialog.state = DialogState.CONFIRMED
        dialog.answeredAt = self.clock.seconds()
        tracker.dialogConfirmed(dialog)
        self.clock.advance(30)
        dialog.state = DialogState.TERMINATED
        dialog.endedAt = self.clock.seconds()
        dialog.endCause = EndCause.CALLER_BYE
        tracker.dialogTerminated(dialog, EndCause.CALLER_BYE, {"caller": "BYE"})
        self.clock.advance(0)
        d = tracker.stopService()
        self.clock.advance(tracker.stopTimeout)
        self.successResultOf(d)
        return dialog

    def test_everyFieldFromTheWire(self) -> None:
        """
        A call with a non-UTF-8 octet in its Call-ID, caller URI and tag gets
        its start and stop records, each carrying the exact octets.
        """
        backend = RecordingBackend()
        self.callWith([backend], callID=BAD_CALL_ID, caller=BAD_USER, tag="t\udcfe")
        self.assertEqual([r["type"] for r in backend.records], ["start", "stop"])
        for record in backend.records:
            json.dumps(record, ensure_ascii=False).encode("utf-8")
            self.assertEqual(
                base64.b64decode(record[OCTETS_FIELD]["call_id"]), b"abc\xffdef@host"
            )
        self.assertEqual(len({r["record_id"] for r in backend.records}), 2)

    def test_jsonlFile(self) -> None:
        """
        The jsonl backend writes both records of such a call as valid UTF-8
        JSON lines.
        """
        path = self.mktemp() + "-cdr.jsonl"
        backend = JsonLinesBackend(self.clock, path)
        self.callWith([backend], callID=BAD_CALL_ID)
        with open(path, "rb") as f:
            lines = [json.loads(line.decode("utf-8")) for line in f]
        self.assertEqual([r["type"] for r in lines], ["start", "stop"])
        self.assertEqual(lines[1]["call_id"], "abc\ufffddef@host")

    def test_parsedDatagram(self) -> None:
        """
        The surrogate form is what the parser really produces from such a
        datagram (so the tests above feed the tracker what it gets).
        """
        message = parseDatagram(
            b"OPTIONS sip:bob@example.com SIP/2.0\r\n"
            b"Via: SIP/2.0/UDP 127.0.0.1:5061;branch=z9hG4bK1\r\n"
            b"Call-ID: abc\xffdef@host\r\nCSeq: 1 OPTIONS\r\n"
            b"From: <sip:a@example.com>;tag=1\r\nTo: <sip:b@example.com>\r\n"
            b"Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n",
            ("127.0.0.1", 5061),
        )
        self.assertEqual(message.header("call-id"), BAD_CALL_ID)
