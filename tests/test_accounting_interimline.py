"""
Tests for L{keepsip.accounting.interimline}: a record written straight to
its JSON line is the line the record builder and C{wireSafe} make, byte for
byte, and the accounting tracker delivers it as such.
"""

from __future__ import annotations

import json

from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from keepsip.accounting.cdr import INTERIM, START, STOP, RecordBuilder, noteMedia
from keepsip.accounting.interimline import interimLine, recordLine
from keepsip.accounting.jsonl import JsonLinesBackend
from keepsip.accounting.rating import Tariffs
from keepsip.accounting.tracker import AccountingTracker
from keepsip.accounting.wire import wireSafe
from keepsip.dialog.model import Dialog, DialogState, EndCause, Leg
from keepsip.testing import RecordingBackend

T0 = 1_700_000_000.0

PCMU = b"v=0\r\nc=IN IP4 192.0.2.1\r\nm=audio 4000 RTP/AVP 0\r\n"
VIDEO = (
    b"v=0\r\nc=IN IP4 192.0.2.1\r\nb=AS:512\r\nm=audio 4000 RTP/AVP 8 101\r\n"
    b"a=rtpmap:101 telephone-event/8000\r\nm=video 4002 RTP/AVP 96\r\n"
    b"a=rtpmap:96 H264/90000\r\n"
)

PRICED = Tariffs.fromConfig(
    {
        "currency": "EUR",
        "default": {"fixed": "0.10", "per_minute": "0.60", "per_mb": {"audio": "1"}},
        "prefix": {"44": {"per_minute": "1.25", "increments": "30/6"}},
    }
)


def answeredDialog(
    callID: str = "call-1@example.com",
    callerURI: str = "sip:alice@example.com",
    requestURI: str = "sip:+4420555@example.net;user=phone",
    sdp: bytes = PCMU,
) -> Dialog:
    """
    A call invited at T0 and answered 2.5 s later.
    """
    dialog = Dialog(
        callID=callID,
        caller=Leg(
            callerURI, tag="a1", source=("192.0.2.10", 5060), remoteTarget="sip:alice@192.0.2.10"
        ),
        callee=Leg("sip:bob@example.net", tag="b1", source=("2001:db8::1", 5062)),
        requestURI=requestURI,
        invitedAt=T0,
    )
    dialog.lastOfferSDP = sdp
    dialog.state = DialogState.CONFIRMED
    dialog.answeredAt = T0 + 2.5
    dialog.finalStatus = 200
    dialog.lastAnswerSDP = sdp
    noteMedia(dialog, dialog.answeredAt)
    return dialog


def variants() -> list[tuple[str, Dialog]]:
    """
    Calls whose records exercise every field kind: strings needing JSON
    escapes and non-ASCII text, missing tags, targets and addresses, an
    authenticated user, keepalives, measured media and several m-lines.
    """
    plain = answeredDialog()
    escaped = answeredDialog(
        callID='we"ird\\id\t\x01@h', callerURI='sip:"q"@example.com', requestURI="sip:x@h"
    )
    text = answeredDialog(callerURI="sip:jos\u00e9@example.com", callID="\u00e9t\u00e9-\u2603")
    bare = answeredDialog(requestURI="tel:+4411")
    bare.caller.tag = None
    bare.caller.source = None
    bare.caller.remoteTarget = None
    bare.callee.tag = None
    bare.finalStatus = None
    kept = answeredDialog(sdp=VIDEO)
    kept.authUser = "alice"
    kept.keptAlive.count = 7
    kept.keptAlive.lastAt = T0 + 40.0004
    measured = answeredDialog()
    measured.measuredBytes = {"audio": 123456, "video": 7}
    measured.measuredMedia = {
        "audio": {"caller": {"packets": 10, "octets": 1600}, "callee": {"packets": 9, "octets": 1440}}
    }
    return [
        ("plain", plain),
        ("escaped", escaped),
        ("text", text),
        ("bare", bare),
        ("kept", kept),
        ("measured", measured),
    ]


class InterimLineTests(SynchronousTestCase):
    def test_sameBytesAsTheSlowPath(self) -> None:
        """
        For every variant, priced or free, at several times and sequence
        numbers, the line is what C{wireSafe(build(...))} gives.
        """
        for tariffs in (Tariffs(), PRICED):
            builder = RecordBuilder(tariffs)
            for name, dialog in variants():
                for now, sequence in ((T0 + 2.5, 1), (T0 + 30.1234, 2), (T0 + 3600.9996, 99)):
                    expected = wireSafe(builder.build(dialog, INTERIM, now, sequence=sequence))[1]
                    self.assertEqual(
                        interimLine(builder, dialog, now, sequence), expected, (name, now)
                    )

    def test_changedPartiesSameBytes(self) -> None:
        """
        The parts of a record formatted once per call are formatted again
        when what they show changes between two records of the call (a
        target refresh, a new address, an authenticated user, the answer):
        each line is still what C{wireSafe(build(...))} gives.
        """
        builder = RecordBuilder(Tariffs())
        dialog = answeredDialog()
        changes = [
            lambda: setattr(dialog.caller, "remoteTarget", "sip:alice@192.0.2.99"),
            lambda: setattr(dialog.callee, "source", ("192.0.2.30", 5060)),
            lambda: setattr(dialog, "authUser", "alice"),
            lambda: setattr(dialog, "answeredAt", T0 + 3.75),
            lambda: setattr(dialog, "lastAnswerSDP", VIDEO),
            lambda: setattr(dialog, "finalStatus", 202),
        ]
        for sequence, change in enumerate(changes, 1):
            before = interimLine(builder, dialog, T0 + 10 * sequence, sequence)
            change()
            now = T0 + 10 * sequence + 5
            expected = wireSafe(builder.build(dialog, INTERIM, now, sequence=sequence))[1]
            line = interimLine(builder, dialog, now, sequence)
            self.assertEqual(line, expected)
            self.assertNotEqual(line, before)

    def test_startAndStopSameBytes(self) -> None:
        """
        Start and stop records too: answered and unanswered calls, ended
        with the dialog's own cause and detail or given ones, detected later
        than ended or not at all.
        """
        unanswered = answeredDialog()
        unanswered.answeredAt = None
        unanswered.state = DialogState.TERMINATED
        unanswered.finalStatus = 486
        unanswered.callee.tag = None
        calls = [*variants(), ("unanswered", unanswered)]
        for tariffs in (Tariffs(), PRICED):
            builder = RecordBuilder(tariffs)
            for name, dialog in calls:
                cases: list[tuple[str, dict]] = [
                    (START, {}),
                    (STOP, {}),
                    (STOP, {"cause": EndCause.CALLER_BYE, "detail": {"caller": "BYE", "callee": "200"}}),
                ]
                for kind, kw in cases:
                    for endedAt, detectedAt in ((None, None), (T0 + 70.5, T0 + 75.25)):
                        dialog.endedAt, dialog.detectedAt = endedAt, detectedAt
                        dialog.endCause = EndCause.KEEPALIVE_TIMEOUT
                        dialog.endDetail = {"caller": "silent \u00e9"}
                        now = T0 + 80.0005
                        expected = wireSafe(builder.build(dialog, kind, now, **kw))[1]
                        self.assertEqual(
                            recordLine(builder, dialog, kind, now, **kw), expected, (name, kind, kw)
                        )

    def test_oddBytesTakeTheSlowPath(self) -> None:
        """
        A Call-ID or URI holding a byte that was not UTF-8 (a lone
        surrogate, as the parser keeps it) is not written here: the slow
        path writes its C{octets} form.
        """
        builder = RecordBuilder(Tariffs())
        odd = b"id-\xff@h".decode("utf-8", "surrogateescape")
        for dialog in (answeredDialog(callID=odd), answeredDialog(callerURI=f"sip:{odd}")):
            self.assertIsNone(interimLine(builder, dialog, T0 + 10, 1))
        detail = answeredDialog()
        self.assertIsNone(recordLine(builder, detail, STOP, T0 + 10, detail={"caller": odd}))


class TrackerTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.clock = Clock()
        self.clock.advance(T0 + 5)

    def keepalive(self, backends: list, dialog: Dialog) -> AccountingTracker:
        tracker = AccountingTracker(
            [(f"b{i}", backend) for i, backend in enumerate(backends)],
            self.clock,
            self.mktemp(),
        )
        tracker.installSignalHandler = lambda *a, **k: False  # type: ignore[method-assign]
        tracker.startService()
        tracker.dialogKeptAlive(dialog)
        self.clock.advance(0)
        self.clock.advance(0)
        return tracker

    def test_recordsDecodedForRecordBackends(self) -> None:
        """
        A backend that takes records gets, for a keepalive's interim, the
        record the slow path builds (odd bytes included: then the C{octets}
        form).
        """
        odd = b"id-\xff@h".decode("utf-8", "surrogateescape")
        for dialog in (answeredDialog(), answeredDialog(callID=odd)):
            backend = RecordingBackend()
            tracker = self.keepalive([backend], dialog)
            expected = wireSafe(
                RecordBuilder(Tariffs()).build(dialog, INTERIM, self.clock.seconds(), sequence=1)
            )[0]
            self.assertEqual(backend.records, [expected])
            self.successResultOf(tracker.stopService())

    def test_jsonlLine(self) -> None:
        """
        The JSON lines backend writes the slow path's line, and the record
        it holds parses back to the slow path's record.
        """
        path = self.mktemp()
        dialog = answeredDialog(sdp=VIDEO)
        tracker = self.keepalive([JsonLinesBackend(self.clock, path)], dialog)
        self.successResultOf(tracker.stopService())
        record = RecordBuilder(Tariffs()).build(dialog, INTERIM, self.clock.seconds(), sequence=1)
        with open(path, "rb") as f:
            data = f.read()
        self.assertEqual(data, wireSafe(record)[1])
        self.assertEqual(json.loads(data), record)
