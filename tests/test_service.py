"""
Tests for L{keepsip.service}: the service tree wired together — proxy,
keepalive, reapers and accounting — on a fake transport and a clock.
"""

from __future__ import annotations

import gc
import json
import os
from typing import Any

from twisted.internet import reactor
from twisted.internet.defer import Deferred, inlineCallbacks
from twisted.internet.interfaces import IListeningPort
from twisted.internet.protocol import DatagramProtocol
from twisted.trial.unittest import SynchronousTestCase, TestCase

from keepsip import tap
from keepsip.config.settings import Config
from keepsip.config.values import ListenAddress
from keepsip.dialog.model import EndCause
from keepsip.service import makeService
from keepsip.sip.address import hostPort
from keepsip.sip.message import Request
from keepsip.testing import ALICE, BOB, SDP, ack, answer, invite
from keepsip.transport.listener import UDPListener

from ._proxy import ProxyHarness, inDialog, keepAliveThenFallSilent, startReapers, stopReapers


class AccountingWiringTests(SynchronousTestCase):
    """
    A call through the service produces rated records in the configured
    backend, whatever way it ends.
    """

    def setUp(self):
        base = self.mktemp()
        os.makedirs(base)
        self.cdr = os.path.join(base, "cdr.jsonl")
        self.proxy = ProxyHarness(
            accounting=(f"jsonl:path={self.cdr},fsync=never",),
            accountingSpool=os.path.join(base, "spool"),
            reap="require",
            tariffs={
                "currency": "EUR",
                "default": {"fixed": "0.10", "per_minute": "0.60", "increments": "60/60"},
            },
        )
        self.proxy.service.accounting.startService()
        startReapers(self.proxy)

    def tearDown(self):
        stopReapers(self.proxy)
        self.proxy.service.accounting.stopService()

    def records(self):
        # Past the group-commit window.
        self.proxy.clock.advance(0.01)
        with open(self.cdr) as f:
            return [json.loads(line) for line in f]

    def callUp(self):
        self.proxy.receive(invite(), ALICE)
        [atBob] = self.proxy.sentTo(BOB)
        self.proxy.receive(answer(atBob, 200, "OK", body=SDP), BOB)
        self.proxy.receive(ack(), ALICE)
        self.proxy.sent()
        return atBob

    def test_keepaliveTimeoutRecords(self):
        """
        A call kept alive twice and then silent yields start, two interims
        and a stop with end cause keepalive-timeout, billed until the last
        keepalive (60 s: two minutes at 60/60 plus the fixed fee).
        """
        self.callUp()
        keepAliveThenFallSilent(self.proxy)
        records = self.records()
        self.assertEqual([r["type"] for r in records], ["start", "interim", "interim", "stop"])
        stop = records[-1]
        self.assertEqual(stop["end_cause"], EndCause.KEEPALIVE_TIMEOUT)
        self.assertEqual(stop["duration_ms"], 60000)
        self.assertEqual(stop["keepalive"]["count"], 2)
        self.assertEqual(stop["charge"]["currency"], "EUR")
        self.assertEqual(stop["charge"]["fixed"], "0.10")
        self.assertEqual(stop["charge"]["time"], "0.60")
        self.assertEqual(len({r["record_id"] for r in records}), 4)

    def test_rejectedAttemptHasStopOnly(self):
        """
        An unanswered attempt (486) yields exactly one stop record, cause
        rejected, charge zero.
        """
        self.proxy.receive(invite(), ALICE)
        [atBob] = self.proxy.sentTo(BOB)
        self.proxy.receive(answer(atBob, 486, "Busy Here"), BOB)
        [stop] = self.records()
        self.assertEqual((stop["type"], stop["end_cause"]), ("stop", EndCause.REJECTED))
        self.assertEqual(stop["charge"]["total"], "0.00")

    def test_shutdownEndsOpenCalls(self):
        """
        Stopping keepsip ends the calls still up with cause shutdown, and
        their stop records reach the backend.
        """
        self.callUp()
        # Within the keepalive deadline (a call the reaper is already
        # ending keeps that ending: test_shutdownWhileReaperByesOut).
        self.proxy.clock.advance(50)
        self.assertEqual(self.proxy.service.endAllDialogs(EndCause.SHUTDOWN), 1)
        stop = self.records()[-1]
        self.assertEqual((stop["type"], stop["end_cause"]), ("stop", EndCause.SHUTDOWN))
        self.assertEqual(stop["duration_ms"], 50000)
        self.assertEqual(len(self.proxy.service.store), 0)


    def test_shutdownWhileReaperByesOut(self):
        """
        Stopping keepsip while the reaper's BYEs to a silent call are still
        unanswered sends no second pair of BYEs, and the stop record keeps
        the reaper's cause and billed end (the last keepalive, 60 s), not
        the shutdown's (which would bill until the stop).
        """
        self.callUp()
        for n in range(1, 3):
            self.proxy.clock.advance(30)
            self.proxy.receive(inDialog("INVITE", branch=f"z9hG4bKka{n}", body=SDP), ALICE)
        self.proxy.sent()
        byes = []
        for _ in range(240):
            self.proxy.clock.advance(0.5)
            byes += [m for m, _ in self.proxy.sent() if isinstance(m, Request) and m.method == "BYE"]
            if byes:
                break
        self.assertEqual(len(byes), 2)
        self.proxy.clock.advance(5)
        self.proxy.sent()  # the BYEs' retransmissions meanwhile
        self.assertEqual(self.proxy.service.endAllDialogs(EndCause.SHUTDOWN), 1)
        sentByes = [m for m, _ in self.proxy.sent() if isinstance(m, Request) and m.method == "BYE"]
        self.assertEqual(sentByes, [])
        stop = self.records()[-1]
        self.assertEqual((stop["type"], stop["end_cause"]), ("stop", EndCause.KEEPALIVE_TIMEOUT))
        self.assertEqual(stop["duration_ms"], 60000)
        self.assertIn("keepsip stopped before the BYEs were answered", stop["end_detail"]["why"])
        self.assertEqual(len(self.proxy.service.store), 0)


class _SIPClient(DatagramProtocol):
    """
    A user agent on a loopback port: sends a request, fires the first
    datagram it gets back.
    """

    def __init__(self) -> None:
        self.answers: list[Deferred[bytes]] = []

    def datagramReceived(self, data: bytes, addr: Any) -> None:
        if self.answers:
            self.answers.pop(0).callback(data)

    def ask(self, data: bytes, address: tuple[str, int]) -> Deferred[bytes]:
        answer: Deferred[bytes] = Deferred()
        self.answers.append(answer)
        self.transport.write(data, address)
        return answer


def _options(uri: str, client: tuple[str, int], branch: str) -> bytes:
    host = hostPort(*client)
    return (
        f"OPTIONS {uri} SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP {host};branch=z9hG4bK{branch};rport\r\n"
        "Max-Forwards: 70\r\n"
        f"From: <sip:probe@{host}>;tag=probe\r\n"
        "To: <sip:keepsip@example.com>\r\n"
        f"Call-ID: {branch}@probe\r\n"
        "CSeq: 1 OPTIONS\r\n"
        "Content-Length: 0\r\n\r\n"
    ).encode()


class DualStackTests(TestCase):
    """
    keepsip listening on an IPv4 and an IPv6 address at once, on the real
    reactor over loopback (ports chosen by the system).
    """

    def listenerPort(self, service: Any, name: str) -> int:
        return service.getServiceNamed(name).port

    @inlineCallbacks
    def test_optionsOnBothFamilies(self) -> Any:
        """
        C{--listen udp:127.0.0.1:0 --listen udp:[::1]:0} starts (one protocol
        per port) and answers OPTIONS on both families, each answer sent
        from the socket of the request's family.
        """
        config = Config(
            listen=(ListenAddress("udp", "127.0.0.1", 0), ListenAddress("udp", "::1", 0)),
            advertise=("127.0.0.1", 5060),
            accountingSpool=self.mktemp(),
        )
        proxy = makeService(config, reactor)
        proxy.startService()
        self.addCleanup(proxy.stopService)
        answers = []
        for family, host, uri in (
            ("4", "127.0.0.1", "sip:127.0.0.1:5060"),
            ("6", "::1", "sip:[::1]:5060"),
        ):
            listener = [s for s in proxy if getattr(s, "interface", None) == host]
            [port] = [s.listening.getHost().port for s in listener]
            client = _SIPClient()
            clientPort = reactor.listenUDP(0, client, interface=host)
            self.addCleanup(clientPort.stopListening)
            answer = client.ask(
                _options(uri, (host, clientPort.getHost().port), "dual" + family),
                (host, port),
            )
            answer.addTimeout(5, reactor)
            answers.append((yield answer))
        for data in answers:
            self.assertTrue(data.startswith(b"SIP/2.0 200 "), data)


def openPorts() -> set[Any]:
    """
    The listening ports the reactor watches.
    """
    return {r for r in reactor.getReaders() if IListeningPort.providedBy(r)}


class WholeServiceTests(TestCase):
    """
    The service C{twistd keepsip} runs, built by L{keepsip.tap.makeService}
    on the real reactor.
    """

    def setUp(self) -> None:
        # tap.makeService tunes the garbage collector of the process.
        threshold = gc.get_threshold()
        self.addCleanup(gc.unfreeze)
        self.addCleanup(gc.set_threshold, *threshold)

    @inlineCallbacks
    def test_startAnswerStop(self) -> Any:
        """
        Started, keepsip answers OPTIONS on a loopback port with 200;
        stopped, it leaves no delayed call and no open port behind.
        """
        delayedBefore = set(reactor.getDelayedCalls())
        portsBefore = openPorts()
        options = tap.Options()
        options.parseOptions(
            [
                "--listen",
                "udp:127.0.0.1:0",
                "--advertise",
                "127.0.0.1:5060",
                "--accounting-spool",
                self.mktemp(),
            ]
        )
        proxy = tap.makeService(options).proxy
        proxy.startService()
        [listener] = [s for s in proxy if isinstance(s, UDPListener)]
        port = listener.listening.getHost().port

        client = _SIPClient()
        clientPort = reactor.listenUDP(0, client, interface="127.0.0.1")
        try:
            answer = client.ask(
                _options("sip:127.0.0.1:5060", ("127.0.0.1", clientPort.getHost().port), "whole"),
                ("127.0.0.1", port),
            )
            answer.addTimeout(5, reactor)
            data = yield answer
        finally:
            yield clientPort.stopListening()
            yield proxy.stopService()
        self.assertTrue(data.startswith(b"SIP/2.0 200 "), data)
        # Trial's own timeout for this test is the one call it may find.
        leftCalls = [
            call
            for call in reactor.getDelayedCalls()
            if call not in delayedBefore
            and call.active()
            and not getattr(call.func, "__module__", "").startswith("twisted.trial")
        ]
        self.assertEqual(leftCalls, [])
        self.assertEqual(openPorts() - portsBefore, set())
