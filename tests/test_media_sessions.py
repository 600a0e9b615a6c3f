"""
Tests for L{keepsip.media.sessions}: a call's relay ports are freed however
it ends, and what the relay measured goes into its records.
"""

from __future__ import annotations

from twisted.internet.defer import Deferred
from twisted.trial.unittest import SynchronousTestCase

from keepsip.dialog.model import Dialog, EndCause, Leg
from keepsip.media.model import Counters, MediaRelayUnavailable, MediaStats, StreamStats
from keepsip.media.sessions import MediaSessions
from keepsip.media.testing import RecordingRelay
from keepsip.sip.message import Request, Response
from keepsip.testing import ALICE, ANSWER_SDP, BOB, answer, inDialog, invite

from ._media import ALICE_RTP, BOB_RTP, PACKET, MediaProxyTestCase, mediaPort
from ._proxy import startReapers, stopReapers


class ReleaseTests(MediaProxyTestCase):
    """
    Every way a call ends gives its ports back.
    """

    def setUp(self) -> None:
        self.makeProxy(reap="require", keepaliveInterval=30.0, keepaliveTolerance=2.0)

    def invited(self, callID: str = "call-1") -> Request:
        self.proxy.receive(invite(callID=callID, branch=f"z9hG4bK{callID}"), ALICE)
        [atBob] = [m for m in self.proxy.sentTo(BOB) if isinstance(m, Request)]
        self.assertGreater(self.relay.portsInUse, 0)
        return atBob

    def assertReleased(self, cause: str) -> None:
        self.reactor.advance(0)
        self.assertEqual((self.relay.portsInUse, self.relay.sessions), (0, 0))
        self.assertEqual(self.records()[-1]["end_cause"], cause)

    def test_bye(self) -> None:
        """
        Ports held during the call are free after Alice's BYE is answered.
        """
        self.establish()
        self.proxy.receive(inDialog("BYE", 2, "z9hG4bKbye"), ALICE)
        [atBob] = self.proxy.sentTo(BOB)
        assert isinstance(atBob, Request)
        self.proxy.receive(answer(atBob, 200, "OK", toTag=None), BOB)
        self.assertReleased(EndCause.CALLER_BYE)

    def test_rejected(self) -> None:
        """
        A 486 from Bob frees the ports allocated for the offer.
        """
        atBob = self.invited()
        self.proxy.receive(answer(atBob, 486, "Busy Here"), BOB)
        self.assertReleased(EndCause.REJECTED)

    def test_cancelled(self) -> None:
        """
        A CANCEL (Bob answers the INVITE 487) frees the ports.
        """
        atBob = self.invited()
        self.proxy.receive(answer(atBob, 180, "Ringing"), BOB)
        cancel = invite(method="CANCEL", body=b"", branch="z9hG4bKcall-1")
        self.proxy.receive(cancel.replace(b"CSeq: 1 INVITE", b"CSeq: 1 CANCEL"), ALICE)
        self.proxy.receive(answer(atBob, 487, "Request Terminated"), BOB)
        self.assertReleased(EndCause.CANCELLED)

    def test_noAnswer(self) -> None:
        """
        An INVITE nobody answers (timer B) frees the ports.
        """
        self.invited()
        self.reactor.advance(40)
        self.assertReleased(EndCause.NO_ANSWER)

    def test_keepaliveReaped(self) -> None:
        """
        A call the keepalive reaper ends (C{--reap require}) frees the ports
        (the media timeout is off here, or it would end the call first).
        """
        self.makeProxy(reap="require", mediaTimeout=0.0, holdTimeout=0.0)
        startReapers(self.proxy)
        self.addCleanup(stopReapers, self.proxy)
        self.establish()
        for _ in range(70):
            self.reactor.advance(1)
            byes = self.byes()
            if byes:
                self.answerByes(byes)
                break
        self.assertReleased(EndCause.KEEPALIVE_TIMEOUT)

    def test_shutdown(self) -> None:
        """
        Calls still up when keepsip stops are ended and their ports freed.
        """
        self.establish()
        self.proxy.service.endAllDialogs(EndCause.SHUTDOWN)
        self.assertReleased(EndCause.SHUTDOWN)

    def test_thousandCalls(self) -> None:
        """
        1,000 calls, 100 at a time, ended by BYE, 486 and CANCEL in turn:
        while a batch is up its calls hold media sessions; after all of
        them, 0 ports and 0 media sessions are held. (Batches keep
        L{task.Clock}, which sorts every timer on each new one, fast.)
        """
        for batch in range(10):
            pending = []
            for n in range(batch * 100, batch * 100 + 100):
                callID = f"c{n}"
                self.proxy.receive(invite(callID=callID, branch=f"z9hG4bK{callID}"), ALICE)
                [atBob] = [m for m in self.proxy.sentTo(BOB) if isinstance(m, Request)]
                pending.append((n, callID, atBob))
            self.assertEqual(self.relay.sessions, 100)
            for n, callID, atBob in pending:
                self.endCall(n, callID, atBob)
            self.reactor.advance(40)
            self.proxy.sent()
        self.assertEqual((self.relay.portsInUse, self.relay.sessions), (0, 0))
        self.assertEqual(len(self.proxy.service.store), 0)
        causes = [r["end_cause"] for r in self.records() if r["type"] == "stop"]
        self.assertEqual(len(causes), 1000)

    def endCall(self, n: int, callID: str, atBob: Request) -> None:
        if n % 3 == 0:
            self.proxy.receive(answer(atBob, 200, "OK", body=ANSWER_SDP), BOB)
            self.proxy.receive(inDialog("ACK", 1, f"z9hG4bKa{n}", callID=callID), ALICE)
            self.proxy.receive(inDialog("BYE", 2, f"z9hG4bKb{n}", callID=callID), ALICE)
            [bye] = [
                m for m in self.proxy.sentTo(BOB) if isinstance(m, Request) and m.method == "BYE"
            ]
            self.proxy.receive(answer(bye, 200, "OK", toTag=None), BOB)
        elif n % 3 == 1:
            self.proxy.receive(answer(atBob, 486, "Busy Here"), BOB)
        else:
            cancel = invite(callID=callID, method="CANCEL", body=b"", branch=f"z9hG4bK{callID}")
            self.proxy.receive(cancel.replace(b"CSeq: 1 INVITE", b"CSeq: 1 CANCEL"), ALICE)
            self.proxy.receive(answer(atBob, 487, "Request Terminated"), BOB)
        self.proxy.sent()


class MeasuredVolumeTests(MediaProxyTestCase):
    """
    Records of anchored calls carry what the relay counted, and are rated
    on it.
    """

    def test_stopRecordMeasured(self) -> None:
        """
        After 50 packets from Alice and 40 from Bob, the stop record has
        C{volume.source} measured, the packets and payload octets per
        direction, and C{volume_bytes} = payload + 28 octets per packet;
        the charge's volume part is computed from it.
        """
        self.makeProxy(
            tariffs={
                "currency": "EUR",
                "default": {"per_mb": {"audio": "1.00"}},
            }
        )
        atBob, ok = self.establish()
        self.rtp(mediaPort(ok.body), ALICE_RTP, 50)
        self.rtp(mediaPort(atBob.body), BOB_RTP, 40)
        self.reactor.advance(2)
        self.proxy.receive(inDialog("BYE", 2, "z9hG4bKbye"), ALICE)
        [bye] = self.proxy.sentTo(BOB)
        assert isinstance(bye, Request)
        self.proxy.receive(answer(bye, 200, "OK", toTag=None), BOB)
        stop = self.records()[-1]
        self.assertEqual(stop["type"], "stop")
        volume = stop["volume"]
        self.assertEqual(volume["source"], "measured")
        self.assertEqual(
            volume["measured"],
            {
                "audio": {
                    "caller-to-callee": {"packets": 50, "bytes": 50 * len(PACKET)},
                    "callee-to-caller": {"packets": 40, "bytes": 40 * len(PACKET)},
                }
            },
        )
        wire = 90 * (len(PACKET) + 28)
        self.assertEqual((stop["volume_bytes"], volume["audio"]), (wire, wire))
        self.assertEqual(stop["charge"]["volume"], f"{wire / 1_000_000:.2f}")

    def test_withoutRelayEstimated(self) -> None:
        """
        Without a relay the record's volume stays an estimate.
        """
        self.makeProxy(mediaRelay="none")
        self.establish()
        self.reactor.advance(10)
        self.proxy.service.endAllDialogs(EndCause.SHUTDOWN)
        stop = self.records()[-1]
        self.assertEqual(stop["volume"]["source"], "estimated")
        self.assertNotIn("measured", stop["volume"])


del Response


class ExternalRelay(RecordingRelay):
    """
    A L{RecordingRelay} that, like rtpengine, gives its final counters when
    it deletes a call (C{finalStatistics}), answered when the test says.
    """

    def __init__(self) -> None:
        super().__init__()
        self.deletes: list[Deferred[MediaStats]] = []

    def finalStatistics(self, callID: str, fromTag: str) -> Deferred[MediaStats]:
        self.calls.append(("finalStatistics", callID, fromTag))
        d: Deferred[MediaStats] = Deferred()
        self.deletes.append(d)
        return d


def counted(packets: int) -> MediaStats:
    """
    Statistics of one audio stream with C{packets} of 160 octets from the
    caller.
    """
    stream = StreamStats(0, "audio", Counters(packets, 160 * packets, 1.0), Counters())
    return MediaStats(streams=(stream,))


class FinishTests(SynchronousTestCase):
    """
    L{MediaSessions.finish} with a relay whose final counters come from
    deleting the call.
    """

    def setUp(self) -> None:
        self.relay = ExternalRelay()
        self.sessions = MediaSessions(self.relay)
        self.dialog = Dialog(
            callID="call-1",
            caller=Leg(uri="sip:alice@example.com", tag="alicetag"),
            callee=Leg(uri="sip:bob@192.0.2.1", tag="bobtag"),
            requestURI="sip:bob@192.0.2.1",
            invitedAt=0.0,
        )

    def test_finalCountersRecorded(self) -> None:
        """
        finish waits for the relay's delete answer and records its counters
        in the dialog; the call's end then neither queries nor deletes
        again; a second finish asks nothing.
        """
        finished = self.sessions.finish(self.dialog)
        self.assertNoResult(finished)
        self.relay.deletes[0].callback(counted(7))
        self.successResultOf(finished)
        assert self.dialog.measuredMedia is not None
        self.assertEqual(self.dialog.measuredMedia["audio"]["caller-to-callee"]["packets"], 7)
        self.successResultOf(self.sessions.finish(self.dialog))
        self.sessions.dialogTerminated(self.dialog, EndCause.CALLER_BYE, {})
        self.assertEqual(self.relay.calls, [("finalStatistics", "call-1", "alicetag")])

    def test_relayDown(self) -> None:
        """
        A delete that fails leaves the measurement as it was and does not
        fail finish.
        """
        finished = self.sessions.finish(self.dialog)
        self.relay.deletes[0].errback(MediaRelayUnavailable("rtpengine: no answer"))
        self.assertIsNone(self.successResultOf(finished))
        self.assertIsNone(self.dialog.measuredMedia)

    def test_builtinNothing(self) -> None:
        """
        With a relay without final statistics (the built-in one) finish
        asks nothing; the end measures and releases.
        """
        sessions = MediaSessions(RecordingRelay())
        self.successResultOf(sessions.finish(self.dialog))
        sessions.dialogTerminated(self.dialog, EndCause.CALLER_BYE, {})
        self.assertEqual(
            [c[0] for c in sessions.relay.calls], ["statistics", "release"]
        )
