"""
Tests for L{keepsip.dialog.legs}: who may keep a call alive. A leg's
address is learned from the transaction that created the dialog and changes
only through L{DialogTracker.rebind} (an authenticated request) or an
in-sequence request from the leg's own host; nothing from another address
re-binds the leg, extends the call or is answered as the caller.

Most tests drive the whole proxy (L{tests._keepalive.KeepaliveTestCase}) on
a L{task.Clock}: Alice calls Bob through keepsip, and a forger at
L{FORGER} who has sniffed the dialog (Call-ID, tags, CSeq, Route) sends
requests in it.
"""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from keepsip.dialog.legs import fromLeg, mayRebind, sameHost, sharedAddress, sharedRouteSet
from keepsip.dialog.model import Leg
from keepsip.sip.message import Response
from keepsip.testing import ALICE, BOB, SDP, answer, invite

from ._keepalive import KeepaliveTestCase, SDP_OTHER_MEDIA

#: Another host, which knows the dialog.
FORGER = ("198.51.100.66", 5060)
#: Alice's host, another port: where a NAT may move her.
ALICE_NEW_PORT = (ALICE[0], 6000)


class RuleTests(SynchronousTestCase):
    def test_sharedAddress(self):
        """
        Addresses kept in legs share one host string per host (equal values
        built separately become the same object); L{None} stays L{None}.
        """
        one = sharedAddress(("".join(["192.0.2.", "77"]), 5060))
        two = sharedAddress(("".join(["192.0.2.", "7", "7"]), 5062))
        self.assertEqual((one, two), (("192.0.2.77", 5060), ("192.0.2.77", 5062)))
        assert one is not None and two is not None
        self.assertIs(one[0], two[0])
        self.assertIsNone(sharedAddress(None))

    def test_sharedAddressTuple(self):
        """
        Equal addresses built separately become one tuple (many calls come
        from one SBC: one tuple for all their legs).
        """
        one = sharedAddress(("".join(["192.0.2.", "78"]), 5060))
        two = sharedAddress(("".join(["192.0.2.", "7", "8"]), 5060))
        self.assertEqual(one, ("192.0.2.78", 5060))
        self.assertIs(one, two)

    def test_sharedRouteSet(self):
        """
        Route sets are kept as tuples, one per distinct list of hops, and
        the empty route set is the empty tuple.
        """
        hops = ["<sip:a.example.com;lr>", "<sip:b.example.com;lr>"]
        one = sharedRouteSet(list(hops))
        two = sharedRouteSet("".join(hop) for hop in hops)
        self.assertEqual(one, tuple(hops))
        self.assertIs(one, two)
        self.assertEqual(sharedRouteSet([]), ())
        self.assertIsNot(sharedRouteSet(hops[:1]), one)

    """
    The rule, on a L{Leg} alone.
    """

    def test_fromLegKnownAddress(self) -> None:
        """
        A request is from the leg when it comes from the leg's address
        (IPv6 brackets and host case ignored), not from any other port or
        host, and never from a leg whose address is unknown.
        """
        leg = Leg(uri="sip:a@example.com", tag="a", source=("2001:DB8::1", 5060))
        self.assertTrue(fromLeg(leg, ("[2001:db8::1]", 5060)))
        self.assertFalse(fromLeg(leg, ("2001:db8::1", 5062)))
        self.assertFalse(fromLeg(leg, ("2001:db8::2", 5060)))
        self.assertFalse(fromLeg(Leg(uri="sip:a@example.com"), ("2001:db8::1", 5060)))

    def test_fromLegRouteSetHop(self) -> None:
        """
        With a route set toward the leg, requests from its first hop (the
        proxy between keepsip and the leg) are from the leg.
        """
        leg = Leg(
            uri="sip:a@example.com",
            tag="a",
            source=("192.0.2.10", 5060),
            routeSet=["<sip:192.0.2.99:5070;lr>"],
        )
        self.assertTrue(fromLeg(leg, ("192.0.2.99", 5070)))
        self.assertFalse(fromLeg(leg, ("192.0.2.99", 5060)))

    def test_mayRebind(self) -> None:
        """
        A leg may move to another port of its host with a request above its
        highest CSeq; never to another host, never with ACK or CANCEL (they
        repeat the INVITE's CSeq), never with a CSeq not above the highest,
        and never when its address was not learned.
        """
        leg = Leg(uri="sip:a@example.com", tag="a", cseq=3, source=ALICE)
        self.assertTrue(mayRebind(leg, ALICE_NEW_PORT, "INFO", 4))
        self.assertTrue(mayRebind(leg, ALICE_NEW_PORT, "INVITE", 9))
        self.assertFalse(mayRebind(leg, FORGER, "INVITE", 4))
        self.assertFalse(mayRebind(leg, ALICE_NEW_PORT, "INVITE", 3))
        self.assertFalse(mayRebind(leg, ALICE_NEW_PORT, "ACK", 4))
        self.assertFalse(mayRebind(leg, ALICE_NEW_PORT, "CANCEL", 4))
        self.assertFalse(mayRebind(Leg(uri="sip:a@example.com", cseq=3), ALICE_NEW_PORT, "INFO", 4))

    def test_sameHost(self) -> None:
        """
        C{sameHost} compares hosts only, ignoring brackets and case.
        """
        self.assertTrue(sameHost(("[2001:DB8::1]", 1), ("2001:db8::1", 2)))
        self.assertFalse(sameHost(("192.0.2.1", 1), ("192.0.2.2", 1)))
        self.assertFalse(sameHost(None, ("192.0.2.2", 1)))


class ForgeryTestCase(KeepaliveTestCase):
    """
    Alice's answered call, and requests in it from elsewhere.
    """

    #: Keyword arguments of the proxy's configuration.
    config: dict = {}

    def setUp(self) -> None:
        self.makeProxy(reap="require", **self.config)
        self.establish()

    def reapAndEnd(self, seconds: float):
        """
        Advance until keepsip reaps the call, both legs answering its BYEs.

        @return: the seconds it took.
        """
        elapsed, byes = self.reapWithin(seconds)
        self.assertEqual(set(byes), {ALICE, BOB}, "the call was not reaped in time")
        for address, bye in byes.items():
            self.proxy.receive(answer(bye, 200, "OK", toTag=None), address)
        self.assertTrue(self.dialog.isTerminated)
        return elapsed

    def sendFrom(self, source, method: str, number: int, body: bytes = b"", n: int = 0) -> list:
        """
        C{source} sends an in-dialog request as Alice (her Via, tags,
        Route); @return: what keepsip sent.
        """
        self.proxy.receive(
            invite(
                method=method,
                uri="sip:bob@192.0.2.20:5060",
                branch=f"z9hG4bK{method.lower()}{number}x{n}",
                cseq=number,
                toTag="bobtag",
                body=body,
                route="<sip:192.0.2.1:5060;lr>",
            ),
            source,
        )
        return self.proxy.sent()

    def finals(self, sent, to) -> list[int]:
        return [m.code for m, a in sent if a == to and isinstance(m, Response) and m.code >= 200]


class ForgedRequestTests(ForgeryTestCase):
    """
    Issue 8 item 2 (b) and (c): a forged in-dialog request of any method
    from another host never re-binds the caller's leg.
    """

    def assertLegKept(self, method: str) -> None:
        """
        After the forgery, the caller's leg still points to Alice: the
        forger's keepalive is refused with 403 and Alice's is answered 200,
        and only Alice's counts.
        """
        self.assertEqual(self.dialog.caller.source, ALICE, f"{method} re-bound the caller")
        forged = self.keepalive(50, source=FORGER)
        self.assertEqual(self.finals(forged, FORGER), [403], f"forger answered after {method}")
        # A quarter interval on, so that Alice's keepalive is not too soon
        # after one she sent before (those are answered but not counted).
        self.proxy.clock.advance(8)
        self.proxy.sent()
        real = self.keepalive(51)
        self.assertEqual(self.finals(real, ALICE), [200], f"Alice refused after {method}")
        self.assertEqual(self.dialog.keptAlive.count, self.counted + 1)

    #: Keepalives of Alice's the test sent before the forgery.
    counted = 0

    def test_forgedAck(self) -> None:
        """
        A forged ACK (the issue's attack: today it re-binds the caller to
        the forger, whose keepalives then get 200 while Alice gets 403).
        """
        self.proxy.receive(self.ack(1, branch="z9hG4bKforgedack"), FORGER)
        self.proxy.sent()
        self.assertLegKept("ACK")

    def test_forgedInfo(self) -> None:
        """
        A forged INFO, in sequence (CSeq above Alice's), does not re-bind
        the caller nor raise her CSeq.
        """
        self.sendFrom(FORGER, "INFO", 2)
        self.assertEqual(self.dialog.caller.cseq, 1)
        self.assertLegKept("INFO")

    def test_forgedOptionsUpdate(self) -> None:
        """
        Forged OPTIONS and UPDATE neither count nor re-bind.
        """
        self.sendFrom(FORGER, "OPTIONS", 5)
        self.sendFrom(FORGER, "UPDATE", 6)
        self.assertEqual(self.dialog.keptAlive.count, 0)
        self.assertLegKept("OPTIONS/UPDATE")

    def test_forgedReinvite(self) -> None:
        """
        A forged re-INVITE that Bob accepts does not re-bind the caller and
        does not become the dialog's last INVITE: Alice's keepalives (the
        INVITE she sent last) still count, the forger's replays of its own
        re-INVITE do not.
        """
        sent = self.sendFrom(FORGER, "INVITE", 2, body=SDP_OTHER_MEDIA)
        [atBob] = [m for m, a in sent if a == BOB]
        self.proxy.receive(answer(atBob, 200, "OK", body=SDP), BOB)
        self.assertEqual([m.code for m, a in self.proxy.sent() if a == FORGER][-1], 200)
        self.assertEqual(self.dialog.lastInviteCSeq, 1)
        replay = self.sendFrom(FORGER, "INVITE", 2, body=SDP_OTHER_MEDIA, n=1)
        self.assertNotIn(200, self.finals(replay, FORGER))
        self.assertLegKept("re-INVITE")

    def test_forgedBye(self) -> None:
        """
        A forged BYE is forwarded (only Bob can tell whether he hangs up)
        but changes nothing keepsip knows until Bob answers it: it neither
        re-binds the caller nor marks the call as ending at its arrival
        (which keeps the reaper off a call and fixes its billed end).
        """
        self.proxy.clock.advance(20)
        self.keepalive(1)
        self.counted = 1
        self.sendFrom(FORGER, "BYE", 2)
        self.assertIsNone(self.dialog.ending)
        self.assertLegKept("BYE")
        self.assertEqual(self.dialog.caller.cseq, 1)

    def test_forgedRequestsDoNotExtendBilling(self) -> None:
        """
        Requests from another host do not move the caller's last request
        time, so the call is billed until Alice's last keepalive, not the
        forger's requests.
        """
        self.proxy.clock.advance(10)
        self.keepalive(1)
        for n in range(10):
            self.proxy.clock.advance(5)
            self.sendFrom(FORGER, "INFO", 2 + n)
        self.assertEqual(self.dialog.caller.lastRequestAt, 10.0)
        self.reapAndEnd(30)
        self.assertEqual(self.dialog.endedAt, 10.0)

    def test_untrustedCountedAndLoggedOnce(self) -> None:
        """
        In-dialog requests from another host are counted one by one, and
        logged once for their source: 20 forged INFOs make one log line.
        """
        events: list[dict] = []
        from twisted.logger import globalLogPublisher

        globalLogPublisher.addObserver(events.append)
        self.addCleanup(globalLogPublisher.removeObserver, events.append)
        for n in range(20):
            self.sendFrom(FORGER, "INFO", 2 + n)
        tracker = self.proxy.service.tracker
        self.assertEqual(tracker.untrusted, 20)
        lines = [e for e in events if e.get("peer") == FORGER]
        self.assertEqual(len(lines), 1)


class ForgedKeepaliveMethodTests(ForgeryTestCase):
    """
    With OPTIONS and RFC 4028 refreshes configured as keepalives.
    """

    config = {"keepaliveMethods": frozenset({"INVITE", "OPTIONS", "SESSION-REFRESH"})}

    def test_forgedOptionsAndRefreshesDoNotCount(self) -> None:
        """
        A forged OPTIONS or session-refresh UPDATE is a forged keepalive:
        counted as such, no proof of life, no re-binding; Alice's OPTIONS
        counts.
        """
        self.sendFrom(FORGER, "OPTIONS", 2)
        self.proxy.receive(
            invite(
                method="UPDATE",
                uri="sip:bob@192.0.2.20:5060",
                branch="z9hG4bKupd",
                cseq=3,
                toTag="bobtag",
                body=b"",
                route="<sip:192.0.2.1:5060;lr>",
                extra="Session-Expires: 90",
            ),
            FORGER,
        )
        self.assertEqual(self.dialog.keptAlive.count, 0)
        self.assertEqual(self.proxy.service.keepalive.forged, 2)
        self.assertEqual(self.dialog.caller.source, ALICE)
        self.sendFrom(ALICE, "OPTIONS", 4)
        self.assertEqual(self.dialog.keptAlive.count, 1)


class RebindTests(ForgeryTestCase):
    """
    The legitimate ways a leg's address changes.
    """

    def test_natRebindingWithInSequenceRequest(self) -> None:
        """
        Alice's NAT moved her to another port: her re-INVITE from there
        (CSeq above her highest) re-binds her leg, her keepalives from the
        new port are answered 200, and the old port's are refused.
        """
        sent = self.sendFrom(ALICE_NEW_PORT, "INVITE", 2, body=SDP)
        [atBob] = [m for m, a in sent if a == BOB]
        self.proxy.receive(answer(atBob, 200, "OK", body=SDP), BOB)
        self.proxy.sent()
        self.assertEqual(self.dialog.caller.source, ALICE_NEW_PORT)
        ok = self.keepalive(1, number=2, source=ALICE_NEW_PORT)
        self.assertEqual(self.finals(ok, ALICE_NEW_PORT), [200])
        old = self.keepalive(2, number=2, source=ALICE)
        self.assertEqual(self.finals(old, ALICE), [403])

    def test_replayFromSamHostOtherPortDoesNotRebind(self) -> None:
        """
        A keepalive (CSeq equal to the last INVITE's, so not in sequence)
        from another port of Alice's host is refused and does not re-bind.
        """
        sent = self.keepalive(1, source=ALICE_NEW_PORT)
        self.assertEqual(self.finals(sent, ALICE_NEW_PORT), [403])
        self.assertEqual(self.dialog.caller.source, ALICE)

    def test_rebindSeam(self) -> None:
        """
        L{DialogTracker.rebind}, the seam an authentication layer calls
        after a request from the leg passed a digest challenge, moves the
        leg to any address.
        """
        self.proxy.service.tracker.rebind(self.dialog, self.dialog.caller, FORGER)
        self.assertEqual(self.dialog.caller.source, FORGER)
        sent = self.keepalive(1, source=FORGER)
        self.assertEqual(self.finals(sent, FORGER), [200])
