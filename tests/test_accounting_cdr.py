"""
Tests for L{keepsip.accounting.cdr}: records for every way a call ends.
"""

from __future__ import annotations

import json

from twisted.trial.unittest import SynchronousTestCase

from keepsip.accounting import callstate as callstateModule
from keepsip.accounting.cdr import (
    SCHEMA_VERSION,
    AccountingState,
    RecordBuilder,
    accountingState,
    isoTime,
    noteMedia,
    recordID,
    userPart,
)
from keepsip.accounting.rating import Tariffs
from keepsip.dialog.model import Dialog, DialogState, EndCause, Leg, ProofOfLife

T0 = 1_700_000_000.0

PCMU = b"v=0\r\nc=IN IP4 192.0.2.1\r\nm=audio 4000 RTP/AVP 0\r\n"
G729 = b"v=0\r\nc=IN IP4 192.0.2.1\r\nm=audio 4002 RTP/AVP 18\r\n"

TARIFFS = Tariffs.fromConfig(
    {
        "currency": "EUR",
        "default": {
            "fixed": "0.10",
            "per_minute": "0.60",
            "increments": "1/1",
            "per_mb": {"audio": "1"},
        },
    }
)


def makeDialog(
    answered: bool = True, talk: float = 60.0, callID: str = "call-1@example.com"
) -> Dialog:
    """
    A call invited at T0, answered 2 s later (if C{answered}), lasting
    C{talk} seconds, with PCMU both ways.
    """
    dialog = Dialog(
        callID=callID,
        caller=Leg(
            "sip:alice@example.com",
            tag="a1",
            source=("192.0.2.10", 5060),
            remoteTarget="sip:alice@192.0.2.10",
        ),
        callee=Leg(
            "sip:bob@example.net", tag="b1" if answered else None, source=("2001:db8::1", 5062)
        ),
        requestURI="sip:+4420555@example.net;user=phone",
        invitedAt=T0,
    )
    dialog.lastOfferSDP = PCMU
    if answered:
        dialog.state = DialogState.CONFIRMED
        dialog.answeredAt = T0 + 2
        dialog.finalStatus = 200
        dialog.lastAnswerSDP = PCMU
        dialog.endedAt = T0 + 2 + talk
    else:
        dialog.endedAt = T0 + 10
    return dialog


class HelperTests(SynchronousTestCase):
    def test_recordIDStable(self) -> None:
        """
        The same call, type and sequence give the same id; any change gives
        another.
        """
        base = recordID("c", "a", "b", "stop", 0)
        self.assertEqual(base, recordID("c", "a", "b", "stop", 0))
        self.assertEqual(len(base), 32)
        others = {
            recordID("c2", "a", "b", "stop", 0),
            recordID("c", "a2", "b", "stop", 0),
            recordID("c", "a", "b2", "stop", 0),
            recordID("c", "a", "b", "start", 0),
            recordID("c", "a", "b", "stop", 1),
        }
        self.assertNotIn(base, others)
        self.assertEqual(len(others), 5)

    def test_isoTime(self) -> None:
        """
        Times are ISO 8601 UTC with milliseconds and Z.
        """
        self.assertEqual(isoTime(T0 + 0.25), "2023-11-14T22:13:20.250Z")
        self.assertIsNone(isoTime(None))

    def test_isoTimeRounding(self) -> None:
        """
        Around millisecond and second boundaries (where the microseconds
        round into the next second) and for consecutive calls in one
        second, isoTime gives what datetime.fromtimestamp gives.
        """
        from datetime import UTC, datetime

        def reference(epoch: float) -> str:
            moment = datetime.fromtimestamp(epoch, UTC)
            return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"

        epochs = [T0, T0 + 0.0005, T0 + 0.9994999, T0 + 0.9999995, T0 + 0.9999996, T0 + 1.5]
        epochs += [T0 + i / 997 for i in range(2000)] + [0.0, 1e-7, -0.0000004, -1.5]
        self.assertEqual([isoTime(e) for e in epochs], [reference(e) for e in epochs])
        self.assertEqual(isoTime(T0 + 0.9999996), "2023-11-14T22:13:21.000Z")

    def test_userPart(self) -> None:
        """
        The user part of sip, sips and tel URIs, without parameters or
        password.
        """
        self.assertEqual(userPart("sip:+4420@example.com;user=phone"), "+4420")
        self.assertEqual(userPart("<sips:bob;x=1@example.com>"), "bob")
        self.assertEqual(userPart("sip:bob:secret@example.com"), "bob")
        self.assertEqual(userPart("tel:+4420555;phone-context=x"), "+4420555")
        self.assertEqual(userPart("sip:example.com"), "")
        self.assertEqual(userPart(None), "")


class StopRecordTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.builder = RecordBuilder(TARIFFS)

    def test_answeredCallFields(self) -> None:
        """
        A stop record of an answered call carries identity, both parties,
        all timestamps, setup and talk time, the media, estimated volume and
        the charge, and is JSON-serialisable.
        """
        dialog = makeDialog(talk=60.0)
        dialog.endCause = EndCause.CALLER_BYE
        dialog.endDetail = {"caller": "BYE", "callee": "200"}
        record = self.builder.build(dialog, "stop", now=T0 + 63)
        json.dumps(record)
        self.assertEqual(record["schema"], SCHEMA_VERSION)
        self.assertEqual(record["type"], "stop")
        self.assertEqual(record["record_id"], recordID("call-1@example.com", "a1", "b1", "stop", 0))
        self.assertEqual(record["tags"], {"caller": "a1", "callee": "b1"})
        self.assertEqual(record["caller"]["address"], "192.0.2.10:5060")
        self.assertEqual(record["callee"]["address"], "[2001:db8::1]:5062")
        self.assertEqual(record["destination"], "+4420555")
        self.assertEqual(record["invite_epoch"], T0)
        self.assertEqual(record["answer_time"], "2023-11-14T22:13:22.000Z")
        self.assertEqual(record["end_epoch"], T0 + 62)
        self.assertEqual(record["setup_ms"], 2000)
        self.assertEqual(record["duration_ms"], 60000)
        self.assertEqual(record["end_cause"], "caller-bye")
        self.assertEqual(record["end_detail"], {"caller": "BYE", "callee": "200"})
        self.assertEqual(record["media"][0]["codecs"], ["PCMU/8000"])
        self.assertEqual(record["media"][0]["estimated_bytes_per_second"], 20000)
        # 20,000 octets/s for 60 s
        self.assertEqual(record["volume_bytes"], 1_200_000)
        self.assertEqual(record["volume"]["source"], "estimated")
        # 0.10 fixed + 60 s at 0.60/min + 1.2 MB at 1/MB
        self.assertEqual(
            (
                record["charge"]["fixed"],
                record["charge"]["time"],
                record["charge"]["volume"],
                record["charge"]["total"],
            ),
            ("0.10", "0.60", "1.20", "1.90"),
        )

    def test_startIsAsOfTheAnswer(self) -> None:
        """
        A start record made some milliseconds after the answer (a loaded
        reactor) still says 0 ms and 0 octets: it is as of the answer, while
        its record time is when it was made.
        """
        dialog = makeDialog(talk=60.0)
        record = self.builder.build(dialog, "start", now=dialog.answeredAt + 0.007)
        self.assertEqual(record["duration_ms"], 0)
        self.assertEqual(record["volume_bytes"], 0)
        self.assertEqual(record["record_epoch"], dialog.answeredAt + 0.007)

    def test_everyEndCause(self) -> None:
        """
        Every cause of the closed vocabulary makes a stop record carrying
        that cause; answered calls are charged, unanswered ones are not.
        """
        for cause in sorted(EndCause.ALL):
            for answered in (True, False):
                dialog = makeDialog(answered=answered, talk=30)
                record = self.builder.build(
                    dialog, "stop", now=T0 + 100, cause=cause, detail={"callee": "x"}
                )
                self.assertEqual(record["end_cause"], cause)
                self.assertEqual(record["end_detail"], {"callee": "x"})
                self.assertEqual(record["answered"], answered)
                if answered:
                    self.assertEqual(record["duration_ms"], 30000)
                    self.assertEqual(record["charge"]["time"], "0.30")
                else:
                    self.assertEqual(record["duration_ms"], 0)
                    self.assertIsNone(record["setup_ms"])
                    self.assertIsNone(record["answer_epoch"])
                    self.assertEqual(record["charge"]["total"], "0.00")
                    self.assertEqual(record["volume_bytes"], 0)

    def test_rejected(self) -> None:
        """
        A rejected attempt: stop with the final status, no callee tag, end
        time set, nothing charged.
        """
        dialog = makeDialog(answered=False)
        dialog.finalStatus = 486
        record = self.builder.build(
            dialog, "stop", now=T0 + 10, cause=EndCause.REJECTED, detail={"callee": "486"}
        )
        self.assertEqual(record["final_status"], 486)
        self.assertEqual(record["tags"], {"caller": "a1", "callee": None})
        self.assertEqual(record["end_epoch"], T0 + 10)
        self.assertEqual(record["charge"]["fixed"], "0.00")

    def test_keepaliveTimeoutBillsToLastProofOfLife(self) -> None:
        """
        The talk time ends at C{dialog.endedAt} (the last keepalive), not at
        when the record is made; keepalive count and time come from
        C{dialog.keptAlive}.
        """
        dialog = makeDialog(talk=120)
        dialog.detectedAt = T0 + 2 + 120 + 90
        dialog.keptAlive = ProofOfLife(count=4, lastAt=T0 + 122)
        record = self.builder.build(dialog, "stop", now=T0 + 300, cause=EndCause.KEEPALIVE_TIMEOUT)
        self.assertEqual(record["duration_ms"], 120000)
        self.assertEqual(record["detected_epoch"], T0 + 212)
        self.assertEqual(
            record["keepalive"],
            {"count": 4, "last_time": isoTime(T0 + 122), "last_epoch": T0 + 122},
        )

    def test_keepaliveCounted(self) -> None:
        """
        Keepalives counted in C{dialog.keptAlive} after the dialog was made
        are in the record.
        """
        dialog = makeDialog()
        dialog.keptAlive.count += 2
        dialog.keptAlive.lastAt = T0 + 5
        record = self.builder.build(dialog, "stop", now=T0 + 70)
        self.assertEqual(record["keepalive"]["count"], 2)
        self.assertEqual(record["keepalive"]["last_epoch"], T0 + 5)

    def test_noKeepalive(self) -> None:
        """
        Without keepalive data the count is 0 and the time null.
        """
        record = self.builder.build(makeDialog(), "stop", now=T0 + 70)
        self.assertEqual(record["keepalive"], {"count": 0, "last_time": None, "last_epoch": None})

    def test_authUser(self) -> None:
        """
        caller.auth_user names the user that authenticated the call, null
        when nobody did.
        """
        self.assertIsNone(self.builder.build(makeDialog(), "stop", now=T0 + 70)["caller"]["auth_user"])
        dialog = makeDialog()
        dialog.authUser = "alice"
        self.assertEqual(self.builder.build(dialog, "stop", now=T0 + 70)["caller"]["auth_user"], "alice")

    def test_measuredVolume(self) -> None:
        """
        Bytes measured by a media relay replace the estimate.
        """
        dialog = makeDialog()
        dialog.measuredBytes = {"audio": 2_000_000}
        record = self.builder.build(dialog, "stop", now=T0 + 70)
        self.assertEqual(record["volume_bytes"], 2_000_000)
        self.assertEqual(
            record["volume"], {"audio": 2_000_000, "video": 0, "other": 0, "source": "measured"}
        )
        self.assertEqual(record["charge"]["volume"], "2.00")

    def test_mediaSegments(self) -> None:
        """
        When a re-INVITE changes the codec mid-call, volume is estimated per
        media session: 30 s of PCMU (20,000/s) then 30 s of G.729 (6,000/s).
        """
        dialog = makeDialog(talk=60)
        noteMedia(dialog, T0 + 2)
        dialog.lastOfferSDP = dialog.lastAnswerSDP = G729
        noteMedia(dialog, T0 + 32)
        record = self.builder.build(dialog, "stop", now=T0 + 62)
        self.assertEqual(record["volume_bytes"], 30 * 20000 + 30 * 6000)
        self.assertEqual(record["media"][0]["codecs"], ["G729/8000"])

    def test_endedAtMissing(self) -> None:
        """
        A stop for a dialog without C{endedAt} ends at the record time.
        """
        dialog = makeDialog()
        dialog.endedAt = None
        record = self.builder.build(dialog, "stop", now=T0 + 12)
        self.assertEqual(record["duration_ms"], 10000)
        self.assertEqual(record["end_epoch"], T0 + 12)


class StartInterimTests(SynchronousTestCase):
    def test_start(self) -> None:
        """
        A start record has answer but no end fields and charges the fixed
        fee only.
        """
        dialog = makeDialog()
        dialog.endedAt = None
        record = RecordBuilder(TARIFFS).build(dialog, "start", now=T0 + 2)
        self.assertEqual(record["type"], "start")
        self.assertIsNone(record["end_epoch"])
        self.assertIsNone(record["end_cause"])
        self.assertEqual(record["duration_ms"], 0)
        self.assertEqual(record["charge"]["total"], "0.10")
        self.assertEqual(
            record["record_id"], recordID("call-1@example.com", "a1", "b1", "start", 0)
        )

    def test_interim(self) -> None:
        """
        An interim record covers answer to now, with its sequence in the id.
        """
        dialog = makeDialog()
        dialog.endedAt = None
        record = RecordBuilder(TARIFFS).build(dialog, "interim", now=T0 + 32, sequence=3)
        self.assertEqual(record["sequence"], 3)
        self.assertEqual(record["duration_ms"], 30000)
        self.assertEqual(record["volume_bytes"], 600000)
        self.assertEqual(
            record["record_id"], recordID("call-1@example.com", "a1", "b1", "interim", 3)
        )


class MediaCacheTests(SynchronousTestCase):
    """
    The SDP of a dialog is parsed once per change of its offer/answer, not
    once per record.
    """

    def setUp(self) -> None:
        self.parsed: list[bytes] = []
        realParse = callstateModule.parseSDP

        def parseSDP(body: bytes):  # type: ignore[no-untyped-def]
            self.parsed.append(body)
            return realParse(body)

        self.patch(callstateModule, "parseSDP", parseSDP)
        self.builder = RecordBuilder(TARIFFS)

    def test_parsedOncePerChange(self) -> None:
        """
        Several records of an unchanged call parse its two bodies once; a
        new body with the same octets (a keepalive re-INVITE) parses
        nothing; a different answer parses again.
        """
        dialog = makeDialog()
        noteMedia(dialog, T0 + 2)
        for n in range(3):
            self.builder.build(dialog, "interim", T0 + 10 + n, sequence=n + 1)
        self.assertEqual(len(self.parsed), 2)
        dialog.lastOfferSDP = bytes(bytearray(PCMU))
        self.assertIsNot(dialog.lastOfferSDP, PCMU)
        self.builder.build(dialog, "stop", T0 + 20)
        self.assertEqual(len(self.parsed), 2)
        dialog.lastAnswerSDP = G729
        record = self.builder.build(dialog, "stop", T0 + 20)
        self.assertEqual(len(self.parsed), 4)
        self.assertEqual(record["media"][0]["codecs"], ["G729/8000"])

    def test_sameAsUncached(self) -> None:
        """
        Records built from the cache equal those built with no cache, after
        the media changed too.
        """
        dialog = makeDialog()
        noteMedia(dialog, T0 + 2)
        dialog.lastOfferSDP = dialog.lastAnswerSDP = G729 + b"b=AS:30\r\na=sendonly\r\n"
        noteMedia(dialog, T0 + 30)
        cachedRecord = self.builder.build(dialog, "stop", T0 + 62)
        self.builder.build(dialog, "stop", T0 + 62)
        fresh = makeDialog()
        fresh.lastOfferSDP = fresh.lastAnswerSDP = dialog.lastAnswerSDP
        segments = accountingState(dialog).asDict()["segments"]
        fresh.attachments.set(AccountingState(segments=json.loads(json.dumps(segments))))
        self.assertEqual(cachedRecord, self.builder.build(fresh, "stop", T0 + 62))
        self.assertEqual(cachedRecord["media"][0]["bandwidth"], {"AS": 30})
        self.assertEqual(cachedRecord["media"][0]["direction"], "sendonly")

    def test_recordsDoNotShareTheCache(self) -> None:
        """
        Changing a record's media summary changes neither the cache nor the
        next record.
        """
        dialog = makeDialog()
        first = self.builder.build(dialog, "start", T0 + 2)
        first["media"][0]["codecs"].append("junk")
        first["media"][0]["bandwidth"]["AS"] = 1
        first["media"][0]["type"] = "junk"
        second = self.builder.build(dialog, "stop", T0 + 62)
        self.assertEqual(second["media"][0]["codecs"], ["PCMU/8000"])
        self.assertEqual(second["media"][0]["bandwidth"], {})
        self.assertEqual(second["media"][0]["type"], "audio")
