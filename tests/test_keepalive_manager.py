"""
Tests for L{keepsip.keepalive.manager}: deadlines by reap mode, maximum duration
and the reapers, through the whole proxy on a fake transport and a
L{task.Clock} (patent WO 00/33550).
"""

from __future__ import annotations

from ipaddress import ip_network

from twisted.logger import globalLogPublisher
from twisted.trial.unittest import SynchronousTestCase

from keepsip.dialog.model import EndCause
from keepsip.keepalive.manager import KeepaliveSettings
from keepsip.sip.headers import fromHeader
from keepsip.sip.message import Request

from ._keepalive import KeepaliveTestCase
from keepsip.testing import ALICE, BOB, answer, invite

from ._proxy import ProxyHarness


class InterfaceTests(SynchronousTestCase):
    def test_managerIsDialogObserver(self):
        """
        L{KeepaliveManager} provides L{IDialogObserver}, events included.
        """
        from zope.interface.verify import verifyObject

        from keepsip.interfaces import IDialogObserver

        proxy = ProxyHarness()
        self.assertTrue(verifyObject(IDialogObserver, proxy.service.keepalive))
        self.assertTrue(verifyObject(IDialogObserver, proxy.service.accounting))


class ReapingTests(KeepaliveTestCase):
    def test_missedIntervalEndsCallWithinDeadline(self):
        """
        After the last keepalive at t=60, the call is reaped within interval x
        tolerance + one tick (by t=121), a BYE goes to each leg, and with both
        answering 200 the dialog ends with cause keepalive-timeout and end
        time t=60, its last proof of life.
        """
        self.makeProxy(reap="require")
        self.establish()
        self.proxy.clock.advance(30)
        self.keepalive(1)
        self.proxy.clock.advance(30)
        self.keepalive(2)
        elapsed, byes = self.reapWithin(70)
        self.assertLessEqual(60 + elapsed, 60 + 60 + 1)
        self.assertEqual(set(byes), {ALICE, BOB})
        self.assertEqual(self.observer.names()[-1], "expired")
        for address, bye in byes.items():
            self.proxy.receive(answer(bye, 200, "OK", toTag=None), address)
        name, dialog, cause, detail = self.observer.events[-1]
        self.assertEqual((name, cause), ("terminated", EndCause.KEEPALIVE_TIMEOUT))
        self.assertEqual(dialog.endedAt, 60.0)
        self.assertGreaterEqual(dialog.detectedAt, 120.0)
        self.assertEqual(detail["caller"], "answered")
        self.assertEqual(detail["callee"], "answered")
        self.assertEqual(detail["silent"], "caller")
        self.assertEqual(len(self.proxy.service.store), 0)
        self.assertNotIn(self.dialog.callKey, self.proxy.service.keepalive.index)

    def test_opportunisticSparesCallsWithoutKeepalives(self):
        """
        In the default opportunistic mode a call whose endpoints never send a
        keepalive is not reaped, even long past the deadline.
        """
        self.makeProxy()
        self.establish()
        self.proxy.clock.advance(3600)
        self.assertEqual(self.byes(self.proxy.sent()), {})
        self.assertEqual(len(self.proxy.service.store), 1)

    def test_opportunisticReapsAfterFirstKeepalive(self):
        """
        In opportunistic mode the first keepalive makes the call subject to
        reaping; when they stop, it is ended.
        """
        self.makeProxy()
        self.establish()
        self.proxy.clock.advance(100)
        self.keepalive(1)
        elapsed, byes = self.reapWithin(70)
        self.assertEqual(set(byes), {ALICE, BOB})
        self.assertLessEqual(elapsed, 61)

    def test_requireReapsCallsWithoutKeepalives(self):
        """
        In require mode a call that never sends a keepalive ends one deadline
        after its answer.
        """
        self.makeProxy(reap="require")
        self.establish()
        elapsed, byes = self.reapWithin(70)
        self.assertEqual(set(byes), {ALICE, BOB})
        self.assertLessEqual(elapsed, 61)

    def test_offNeverReapsOnKeepalives(self):
        """
        With reap off, keepalives are still answered but nothing is reaped.
        """
        self.makeProxy(reap="off")
        self.establish()
        self.keepalive(1)
        self.proxy.clock.advance(600)
        self.assertEqual(self.byes(self.proxy.sent()), {})

    def test_maxDuration(self):
        """
        Any answered call, kept alive or not, ends at max-duration with cause
        max-duration and that moment as its end.
        """
        self.makeProxy(reap="off", maxDuration=300.0)
        self.establish()
        self.proxy.clock.advance(299)
        self.assertEqual(self.byes(self.proxy.sent()), {})
        elapsed, byes = self.reapWithin(3)
        self.assertEqual(set(byes), {ALICE, BOB})
        for address, bye in byes.items():
            self.proxy.receive(answer(bye, 200, "OK", toTag=None), address)
        name, dialog, cause, detail = self.observer.events[-1]
        self.assertEqual(cause, EndCause.MAX_DURATION)
        self.assertEqual(dialog.endedAt, 300.0)

    def test_byeInFlightIsNotReaped(self):
        """
        A BYE that passed keepsip but is not answered yet ends the call: the
        reaper does not send its own BYEs meanwhile, and the BYE's timeout
        (408) ends the dialog as caller-bye at the BYE's time.
        """
        self.makeProxy(reap="require")
        self.establish()
        self.proxy.clock.advance(50)
        self.fromAlice("BYE", 2, "z9hG4bKbye")
        for _ in range(80):
            self.proxy.clock.advance(0.5)
        sent = self.proxy.sent()
        byes = [m for m, a in sent if isinstance(m, Request) and m.method == "BYE"]
        self.assertEqual({fromHeader(m).tag for m in byes}, {"alicetag"})
        name, dialog, cause, detail = self.observer.events[-1]
        self.assertEqual((name, cause), ("terminated", EndCause.CALLER_BYE))
        self.assertEqual(detail, {"caller": "BYE", "callee": "408"})
        self.assertEqual(dialog.endedAt, 50.0)

    def test_endTimeDetection(self):
        """
        With end-time detection, the billed end is the moment keepsip noticed,
        not the last keepalive.
        """
        self.makeProxy(reap="require", endTime="detection")
        self.establish()
        self.proxy.clock.advance(30)
        self.keepalive(1)
        _, byes = self.reapWithin(70)
        for address, bye in byes.items():
            self.proxy.receive(answer(bye, 200, "OK", toTag=None), address)
        dialog = self.observer.events[-1][1]
        self.assertGreaterEqual(dialog.endedAt, 90.0)
        self.assertEqual(dialog.endedAt, dialog.detectedAt)

    def test_normalByeLeavesIndex(self):
        """
        A normal BYE through keepsip ends the dialog as usual and removes it
        from the deadline index: no reaping later.
        """
        self.makeProxy(reap="require")
        self.establish()
        self.fromAlice("BYE", 2, "z9hG4bKbye")
        [forwarded] = self.proxy.sentTo(BOB)
        self.proxy.receive(answer(forwarded, 200, "OK", toTag=None), BOB)
        self.assertEqual(self.observer.events[-1][2], EndCause.CALLER_BYE)
        self.assertEqual(len(self.proxy.service.keepalive.index), 0)
        self.proxy.sent()
        self.proxy.clock.advance(600)
        self.assertEqual(
            [m for m, a in self.proxy.sent() if isinstance(m, Request) and m.method == "BYE"], []
        )


class RequireKeepalivesFromTests(KeepaliveTestCase):
    """
    Issue 12 item 4, C{--require-keepalives-from}: calls whose caller leg
    comes from an edge are reaped as if C{--reap require}, even though the
    global mode is opportunistic.
    """

    def test_callFromListedSourceReapedWithoutKeepalive(self):
        """
        A call from a listed network that never sends a keepalive (its edge
        died before the first) is ended one deadline after its answer.
        """
        self.makeProxy(requireKeepalivesFrom=(ip_network("192.0.2.0/28"),))
        self.establish()
        elapsed, byes = self.reapWithin(70)
        self.assertEqual(set(byes), {ALICE, BOB})
        self.assertLessEqual(elapsed, 61)

    def test_callFromOtherSourceSpared(self):
        """
        A call from a source outside the list stays opportunistic: never
        reaped without a keepalive.
        """
        self.makeProxy(requireKeepalivesFrom=(ip_network("198.51.100.0/24"),))
        self.establish()
        self.proxy.clock.advance(3600)
        self.assertEqual(self.byes(self.proxy.sent()), {})
        self.assertEqual(len(self.proxy.service.store), 1)

    def test_calleeBehindEdgeCountsWithOptions(self):
        """
        A call whose callee leg comes through a listed edge is subject to
        its deadline from the answer on, and the edge's in-dialog OPTIONS
        in the callee's name count as keepalives (with C{--keepalive-legs
        caller} and C{--keepalive-methods INVITE}, the defaults) and are
        forwarded to the caller.
        """
        from keepsip.testing import answer

        self.makeProxy(requireKeepalivesFrom=(ip_network("192.0.2.20/32"),))
        self.establish()
        manager = self.proxy.service.keepalive
        self.assertEqual(manager.index.get(self.dialog.callKey), 60.0)
        self.proxy.clock.advance(40)
        options = (
            "OPTIONS sip:alice@192.0.2.10:5060 SIP/2.0\r\n"
            "Via: SIP/2.0/UDP 192.0.2.20:5060;branch=z9hG4bKedgeopt\r\n"
            "Max-Forwards: 70\r\nRoute: <sip:192.0.2.1:5060;lr>\r\n"
            "From: <sip:bob@192.0.2.1>;tag=bobtag\r\n"
            "To: Alice <sip:alice@example.com>;tag=alicetag\r\n"
            "Call-ID: call-1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
        )
        self.proxy.receive(options, BOB)
        [forwarded] = [m for m in self.proxy.sentTo(ALICE) if isinstance(m, Request)]
        self.assertEqual(forwarded.method, "OPTIONS")
        self.proxy.receive(answer(forwarded, 200, "OK", toTag=None), ALICE)
        self.assertEqual(self.dialog.keptAlive.count, 1)
        self.assertEqual(manager.index.get(self.dialog.callKey), 100.0)

    def test_offStillOff(self):
        """
        With C{--reap off} nothing is reaped, listed sources included.
        """
        self.makeProxy(reap="off", requireKeepalivesFrom=(ip_network("192.0.2.10/32"),))
        self.establish()
        self.proxy.clock.advance(600)
        self.assertEqual(self.byes(self.proxy.sent()), {})


class SettingsTests(SynchronousTestCase):
    def test_requiresKeepalives(self):
        """
        L{KeepaliveSettings.requiresKeepalives} is true for any source under
        C{require}, for listed IPv4 and IPv6 sources under C{opportunistic},
        and never for host names, unknown sources or under C{off}.
        """
        nets = (ip_network("10.0.0.0/8"), ip_network("2001:db8::/32"))
        opportunistic = KeepaliveSettings(requireFrom=nets)
        self.assertTrue(opportunistic.requiresKeepalives(("10.1.2.3", 5060)))
        self.assertTrue(opportunistic.requiresKeepalives(("[2001:db8::5]", 5060)))
        self.assertTrue(opportunistic.requiresKeepalives(("2001:db8::5", 5060)))
        self.assertFalse(opportunistic.requiresKeepalives(("11.0.0.1", 5060)))
        self.assertFalse(opportunistic.requiresKeepalives(("edge.example", 5060)))
        self.assertFalse(opportunistic.requiresKeepalives(None))
        self.assertFalse(KeepaliveSettings().requiresKeepalives(("10.1.2.3", 5060)))
        self.assertTrue(KeepaliveSettings(reap="require").requiresKeepalives(None))
        off = KeepaliveSettings(reap="off", requireFrom=nets)
        self.assertFalse(off.requiresKeepalives(("10.1.2.3", 5060)))


class ForgeryLogTests(KeepaliveTestCase):
    def test_forgeriesLoggedOncePerSourceAndWindow(self):
        """
        Thirty forged keepalives from one host in 30 s are each refused and
        counted, but logged once; a second host gets its own line; when the
        first host's 60 s window ends (the reaper's tick closes it, though
        the forger fell silent) one more line says how many were not
        logged.
        """
        events = []
        globalLogPublisher.addObserver(events.append)
        self.addCleanup(globalLogPublisher.removeObserver, events.append)
        self.makeProxy()
        self.establish()
        forger, other = ("198.51.100.66", 5060), ("198.51.100.67", 5060)
        codes = set()
        for n in range(30):
            self.proxy.clock.advance(1)
            sent = self.keepalive(n, source=forger)
            codes |= {m.code for m, a in sent if a == forger and m.code >= 200}
        self.keepalive(99, source=other)
        self.assertEqual(codes, {403})
        self.assertEqual(self.proxy.service.keepalive.forged, 31)
        about = lambda peer: [e for e in events if e.get("peer") == peer]
        self.assertEqual(len(about(forger)), 1)
        self.assertEqual(len(about(other)), 1)
        self.proxy.clock.advance(32)
        [first, summary] = about(forger)
        self.assertEqual(summary["count"], 29)
        self.assertEqual(len(about(other)), 1)


class CeilingTests(KeepaliveTestCase):
    def test_oneDecisionPerKeepalive(self):
        """
        L{KeepaliveManager.withinCeiling} asks the limiter once per request:
        asked again about the same request (the admission check, then the
        transaction user) it repeats its decision without taking a token;
        another request is a new decision, and a refusal is repeated too.
        """
        from keepsip.sip.parser import parseDatagram

        self.makeProxy(keepaliveRateLimit=1.0)  # a burst of 10
        manager = self.proxy.service.keepalive
        limiter = manager.limiter
        first = parseDatagram(invite(branch="z9hG4bKc1"))
        second = parseDatagram(invite(branch="z9hG4bKc2"))
        self.assertTrue(manager.withinCeiling(first, ALICE))
        self.assertTrue(manager.withinCeiling(first, ALICE))
        self.assertEqual((limiter.allowed, limiter.denied), (1, 0))
        for n in range(9):
            self.assertTrue(manager.withinCeiling(parseDatagram(invite(branch=f"z9hG4bKd{n}")), ALICE))
        self.assertFalse(manager.withinCeiling(second, ALICE))
        self.assertFalse(manager.withinCeiling(second, ALICE))
        self.assertEqual((limiter.allowed, limiter.denied), (10, 1))


class StoreTouchTests(KeepaliveTestCase):
    def test_keepaliveWrittenAsTouch(self):
        """
        With the SQLite store a counted keepalive's update is written as a
        touch (only what a keepalive changes), and a store opened on the
        file afterwards without closing the first (a crash) restores the
        very dialog the proxy holds.
        """
        from twisted.internet.task import Clock

        from keepsip.dialog.sqlite import SQLiteDialogStore
        from keepsip.persistence import dialogCodec

        path = self.mktemp()
        self.makeProxy(dialogStore=f"sqlite:path={path}", keepaliveInterval=30.0)
        self.proxy.service.restoreDialogs()
        store = self.proxy.service.store
        self.establish()
        self.proxy.clock.advance(1)
        self.assertEqual(store.touches, 0)
        for n in (1, 2):
            self.proxy.clock.advance(30)
            self.keepalive(n)
            self.proxy.clock.advance(1)
        self.assertEqual(self.dialog.keptAlive.count, 2)
        self.assertEqual(store.touches, 2)
        restarted = SQLiteDialogStore(path, Clock(), dialogCodec())
        [loaded] = self.successResultOf(restarted.open())
        self.addCleanup(restarted.close)
        self.assertEqual(restarted.codec.toDict(loaded), store.codec.toDict(self.dialog))
