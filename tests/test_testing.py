"""
Tests for L{keepsip.testing}: the test doubles keepsip ships for its users.
"""

from __future__ import annotations

from typing import Any

from twisted.internet.protocol import DatagramProtocol
from twisted.trial.unittest import SynchronousTestCase
from zope.interface.verify import verifyObject

from keepsip.dialog.model import EndCause
from keepsip.interfaces import IAccountingBackend
from keepsip.sip.headers import cseq, fromHeader, toHeader, topVia
from keepsip.sip.message import Request, Response
from keepsip.sip.parser import parseDatagram
from keepsip.testing import (
    ALICE,
    ANSWER_SDP,
    BOB,
    SDP,
    BackendUnavailable,
    FakeSIPNetwork,
    RecordingBackend,
    ack,
    answer,
    bye,
    callRecords,
    inDialog,
    invite,
)


class Echo(DatagramProtocol):
    """
    Keeps what it receives and sends each datagram back to its source.
    """

    def __init__(self) -> None:
        self.received: list[tuple[bytes, Any]] = []

    def datagramReceived(self, datagram: bytes, addr: Any) -> None:
        self.received.append((datagram, addr))
        assert self.transport is not None
        self.transport.write(datagram, addr)


class FakeSIPNetworkTests(SynchronousTestCase):
    """
    L{FakeSIPNetwork}.
    """

    def setUp(self) -> None:
        self.protocol = Echo()
        self.network = FakeSIPNetwork()
        self.network.connect(self.protocol)

    def test_connect(self) -> None:
        """
        L{FakeSIPNetwork.connect} makes the network the protocol's transport.
        """
        self.assertIs(self.protocol.transport, self.network)
        self.assertIs(self.network.protocol, self.protocol)

    def test_receive(self) -> None:
        """
        A datagram given as text or bytes reaches the protocol as bytes, with
        its source address.
        """
        self.network.receive(invite().decode(), ALICE)
        self.network.receive(invite(), BOB)
        self.assertEqual(self.protocol.received, [(invite(), ALICE), (invite(), BOB)])

    def test_receiveUnconnected(self) -> None:
        """
        Delivering before a protocol is connected is a mistake of the test,
        reported at once.
        """
        self.assertRaises(AssertionError, FakeSIPNetwork().receive, invite(), ALICE)

    def test_sentOnlyNew(self) -> None:
        """
        L{FakeSIPNetwork.sent} gives the messages written since its last
        call, parsed, with their destination; L{FakeSIPNetwork.allSent}
        gives all of them every time.
        """
        self.network.receive(invite(), ALICE)
        [(message, address)] = self.network.sent()
        self.assertIsInstance(message, Request)
        self.assertEqual((message.method, address), ("INVITE", ALICE))
        self.assertEqual(self.network.sent(), [])
        self.network.receive(bye(), BOB)
        self.assertEqual([m.method for m, _ in self.network.sent()], ["BYE"])
        self.assertEqual(
            [(m.method, a) for m, a in self.network.allSent()],
            [("INVITE", ALICE), ("BYE", BOB)],
        )

    def test_sentTo(self) -> None:
        """
        L{FakeSIPNetwork.sentTo} keeps what went to one address and passes
        over (and consumes) the rest.
        """
        self.network.receive(invite(), ALICE)
        self.network.receive(bye(), BOB)
        self.assertEqual([m.method for m in self.network.sentTo(BOB)], ["BYE"])
        self.assertEqual(self.network.sent(), [])


class BuilderTests(SynchronousTestCase):
    """
    The message builders: a call Alice -> keepsip -> Bob.
    """

    def test_invite(self) -> None:
        """
        L{invite} is Alice's INVITE with her SDP offer, a branch with the
        RFC 3261 cookie, her tag and no To tag.
        """
        request = parseDatagram(invite())
        assert isinstance(request, Request)
        self.assertEqual(request.method, "INVITE")
        self.assertEqual(request.body, SDP)
        self.assertTrue(topVia(request).branch.startswith("z9hG4bK"))
        self.assertEqual(fromHeader(request).tag, "alicetag")
        self.assertIsNone(toHeader(request).tag)
        self.assertEqual((cseq(request).number, cseq(request).method), (1, "INVITE"))

    def test_answer(self) -> None:
        """
        L{answer} copies Via, From, Call-ID and CSeq, adds Bob's tag to To,
        a Contact to a 2xx of an INVITE, and the body given.
        """
        request = parseDatagram(invite())
        assert isinstance(request, Request)
        response = parseDatagram(answer(request, 200, "OK", body=ANSWER_SDP))
        assert isinstance(response, Response)
        self.assertEqual(response.code, 200)
        self.assertEqual(response.headers["via"], request.headers["via"])
        self.assertEqual(toHeader(response).tag, "bobtag")
        self.assertEqual(response.headers["contact"], ["<sip:bob@192.0.2.20:5060>"])
        self.assertEqual(response.body, ANSWER_SDP)
        trying = parseDatagram(answer(request, 180, "Ringing", toTag=None))
        self.assertIsNone(toHeader(trying).tag)

    def test_inDialog(self) -> None:
        """
        L{ack}, L{bye} and L{inDialog} are Alice's requests in the answered
        call: to Bob's contact with both tags, Route'd through keepsip,
        without a body unless given one.
        """
        for data, method, number in [
            (ack(), "ACK", 1),
            (bye(), "BYE", 2),
            (inDialog("OPTIONS", 5), "OPTIONS", 5),
        ]:
            request = parseDatagram(data)
            assert isinstance(request, Request)
            self.assertEqual(request.method, method)
            self.assertEqual(request.uri.toString(), "sip:bob@192.0.2.20:5060")
            self.assertEqual(toHeader(request).tag, "bobtag")
            self.assertEqual(request.headers["route"], ["<sip:192.0.2.1:5060;lr>"])
            self.assertEqual(cseq(request).number, number)
            self.assertEqual(request.body, b"")
        reinvite = parseDatagram(inDialog("INVITE", body=SDP))
        self.assertEqual(reinvite.body, SDP)


class AccountingDoubleTests(SynchronousTestCase):
    """
    L{RecordingBackend} and L{callRecords}.
    """

    def test_callRecords(self) -> None:
        """
        One sample call gives start, interim and stop records sharing a
        Call-ID, the stop with the cause asked for; calls differ in Call-ID.
        """
        records = callRecords(3, EndCause.CALLEE_BYE)
        self.assertEqual([r["type"] for r in records], ["start", "interim", "stop"])
        self.assertEqual({r["call_id"] for r in records}, {"call-3@example.com"})
        self.assertEqual(records[-1]["end_cause"], EndCause.CALLEE_BYE)
        self.assertNotEqual(callRecords(1)[0]["call_id"], records[0]["call_id"])

    def test_recordingBackend(self) -> None:
        """
        L{RecordingBackend} is an L{IAccountingBackend} that keeps what it
        accepts, fails while told to, and holds records until released.
        """
        backend = RecordingBackend()
        verifyObject(IAccountingBackend, backend)
        start, interim, stop = callRecords(1)
        self.successResultOf(backend.sendRecord(start))
        backend.fail()
        self.failureResultOf(backend.sendRecord(interim), BackendUnavailable)
        backend.recover()
        backend.holding = True
        held = backend.sendRecord(stop)
        self.assertNoResult(held)
        backend.release()
        self.successResultOf(held)
        self.assertEqual(backend.records, [start, stop])
        self.assertEqual(backend.attempts, [start, interim, stop])


class RecordingObserverTests(SynchronousTestCase):
    def test_recordsEveryEvent(self) -> None:
        """
        L{RecordingObserver} provides L{IDialogObserver} and records each of
        its events, in order, with the dialog (and cause and detail for the
        end).
        """
        from keepsip.interfaces import IDialogObserver
        from keepsip.testing import RecordingObserver, makeDialog

        observer = RecordingObserver()
        self.assertTrue(verifyObject(IDialogObserver, observer))
        dialog = makeDialog(1, 0.0)
        observer.dialogCreated(dialog)
        observer.dialogEarly(dialog)
        observer.dialogConfirmed(dialog)
        observer.dialogUpdated(dialog)
        observer.dialogKeptAlive(dialog)
        observer.dialogExpired(dialog)
        observer.dialogTerminated(dialog, EndCause.KEEPALIVE_TIMEOUT, {"silent": "caller"})
        self.assertEqual(
            observer.names(),
            ["created", "early", "confirmed", "updated", "keptAlive", "expired", "terminated"],
        )
        self.assertIs(observer.events[0][1], dialog)
        self.assertEqual(
            observer.events[-1][2:], (EndCause.KEEPALIVE_TIMEOUT, {"silent": "caller"})
        )
