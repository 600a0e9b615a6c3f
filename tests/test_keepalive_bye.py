"""
Tests for L{keepsip.keepalive.bye}.
"""

from twisted.trial.unittest import SynchronousTestCase

from keepsip.dialog.model import Dialog, DialogState, Leg
from keepsip.keepalive.bye import KEEPALIVE_TIMEOUT_REASON, buildBye, nextCSeq
from keepsip.sip.headers import cseq, fromHeader, toHeader
from keepsip.sip.via import parseVia
from keepsip.sip.parser import parseDatagram

VIA = "203.0.113.1:5060"
BRANCH = "z9hG4bKkeepsip1"


def makeDialog(callerRoutes=(), calleeRoutes=(), callerTarget=None, calleeTarget=None):
    """
    A confirmed dialog: alice (caller, CSeq 7) calls bob (callee, CSeq 3).
    """
    return Dialog(
        callID="call-1@alice",
        caller=Leg(
            uri="sip:alice@a.example",
            tag="alicetag",
            cseq=7,
            remoteTarget=callerTarget,
            routeSet=list(callerRoutes),
        ),
        callee=Leg(
            uri="sip:bob@b.example",
            tag="bobtag",
            cseq=3,
            remoteTarget=calleeTarget,
            routeSet=list(calleeRoutes),
        ),
        requestURI="sip:bob@b.example",
        invitedAt=0.0,
        state=DialogState.CONFIRMED,
    )


class NextCSeqTests(SynchronousTestCase):
    def test_aboveOtherLeg(self):
        """
        The BYE to a leg carries one above the highest CSeq the I{other} leg
        sent, since it impersonates the other leg.
        """
        dialog = makeDialog()
        self.assertEqual(nextCSeq(dialog, dialog.caller), 4)
        self.assertEqual(nextCSeq(dialog, dialog.callee), 8)

    def test_otherLegNeverSent(self):
        """
        If the other leg never sent a request (CSeq 0), the BYE uses 1.
        """
        dialog = makeDialog()
        dialog.callee.cseq = 0
        self.assertEqual(nextCSeq(dialog, dialog.caller), 1)


class BuildByeTests(SynchronousTestCase):
    def build(self, dialog, leg, **kw):
        bye, destination = buildBye(dialog, leg, VIA, BRANCH, nextCSeq(dialog, leg), **kw)
        # What keepsip sends must be what the other end parses.
        parsed = parseDatagram(bye.toBytes())
        self.assertEqual(parsed.method, "BYE")
        return parsed, destination

    def test_toCallerNoRoutes(self):
        """
        The BYE to the caller, without route set, is in the caller's
        orientation: From = callee URI and tag, To = caller URI and tag,
        Request-URI = the caller's remote target, sent there, no Route;
        Via, Max-Forwards, Call-ID, CSeq and Reason are keepsip's.
        """
        dialog = makeDialog(callerTarget="sip:alice@192.0.2.10:5070")
        bye, destination = self.build(dialog, dialog.caller)
        self.assertEqual(bye.uri.toString(), "sip:alice@192.0.2.10:5070")
        self.assertEqual(fromHeader(bye).uri.toString(), "sip:bob@b.example")
        self.assertEqual(fromHeader(bye).tag, "bobtag")
        self.assertEqual(toHeader(bye).uri.toString(), "sip:alice@a.example")
        self.assertEqual(toHeader(bye).tag, "alicetag")
        self.assertEqual(bye.headers["call-id"], ["call-1@alice"])
        self.assertEqual((cseq(bye).number, cseq(bye).method), (4, "BYE"))
        self.assertNotIn("route", bye.headers)
        self.assertEqual(bye.headers["max-forwards"], ["70"])
        self.assertEqual(bye.headers["via"], [f"SIP/2.0/UDP {VIA};branch={BRANCH}"])
        via = parseVia(bye.headers["via"][0])
        self.assertEqual(via.branch, BRANCH)
        self.assertEqual(bye.headers["reason"], [KEEPALIVE_TIMEOUT_REASON])
        self.assertEqual(bye.body, b"")
        self.assertEqual(destination, ("192.0.2.10", 5070))

    def test_toCalleeNoRoutes(self):
        """
        The BYE to the callee is in the callee's orientation: From = caller
        URI and tag, To = callee URI and tag, CSeq above the caller's.
        """
        dialog = makeDialog(calleeTarget="sip:bob@198.51.100.20")
        bye, destination = self.build(dialog, dialog.callee)
        self.assertEqual(bye.uri.toString(), "sip:bob@198.51.100.20")
        self.assertEqual(fromHeader(bye).uri.toString(), "sip:alice@a.example")
        self.assertEqual(fromHeader(bye).tag, "alicetag")
        self.assertEqual(toHeader(bye).uri.toString(), "sip:bob@b.example")
        self.assertEqual(toHeader(bye).tag, "bobtag")
        self.assertEqual((cseq(bye).number, cseq(bye).method), (8, "BYE"))
        self.assertEqual(destination, ("198.51.100.20", 5060))

    def test_noRemoteTarget(self):
        """
        Without a known remote target the leg's URI is the Request-URI and the
        destination.
        """
        dialog = makeDialog()
        bye, destination = self.build(dialog, dialog.callee)
        self.assertEqual(bye.uri.toString(), "sip:bob@b.example")
        self.assertEqual(destination, ("b.example", 5060))

    def test_looseRoutes(self):
        """
        With a loose first route (C{;lr}), the Request-URI is the remote
        target, Route is the whole route set in order, and the BYE goes to
        the first route's address.
        """
        routes = ["<sip:p1.example:5080;lr>", "<sip:p2.example;lr;transport=udp>"]
        dialog = makeDialog(calleeRoutes=routes, calleeTarget="sip:bob@198.51.100.20")
        bye, destination = self.build(dialog, dialog.callee)
        self.assertEqual(bye.uri.toString(), "sip:bob@198.51.100.20")
        self.assertEqual(bye.headers["route"], routes)
        self.assertEqual(destination, ("p1.example", 5080))

    def test_looseRoutesToCaller(self):
        """
        The caller's own route set is used for the BYE to the caller, not the
        callee's.
        """
        dialog = makeDialog(
            callerRoutes=["<sip:edge.a.example;lr>"],
            calleeRoutes=["<sip:edge.b.example;lr>"],
            callerTarget="sip:alice@192.0.2.10",
        )
        bye, destination = self.build(dialog, dialog.caller)
        self.assertEqual(bye.headers["route"], ["<sip:edge.a.example;lr>"])
        self.assertEqual(destination, ("edge.a.example", 5060))

    def test_strictRoute(self):
        """
        With a strict first route (no C{;lr}), the Request-URI is that route's
        URI, Route is the rest of the route set followed by the remote target,
        and the BYE goes to the strict router.
        """
        routes = ["<sip:strict.example:5090>", "<sip:p2.example;lr>"]
        dialog = makeDialog(calleeRoutes=routes, calleeTarget="sip:bob@198.51.100.20")
        bye, destination = self.build(dialog, dialog.callee)
        self.assertEqual(bye.uri.toString(), "sip:strict.example:5090")
        self.assertEqual(bye.headers["route"], ["<sip:p2.example;lr>", "<sip:bob@198.51.100.20>"])
        self.assertEqual(destination, ("strict.example", 5090))

    def test_strictRouteStripsDisallowedParts(self):
        """
        A strict route's URI headers and C{method} parameter, not allowed in
        a Request-URI, are stripped from the Request-URI.
        """
        routes = ["<sip:strict.example;method=INVITE;maddr=192.0.2.99?x=y>"]
        dialog = makeDialog(calleeRoutes=routes, calleeTarget="sip:bob@198.51.100.20")
        bye, _ = self.build(dialog, dialog.callee)
        self.assertEqual(bye.uri.toString(), "sip:strict.example;maddr=192.0.2.99")
        self.assertEqual(bye.headers["route"], ["<sip:bob@198.51.100.20>"])

    def test_ipv6RemoteTarget(self):
        """
        An IPv6 remote target keeps its brackets in the Request-URI; the
        destination host has none, and the default port is 5060.
        """
        dialog = makeDialog(calleeTarget="sip:bob@[2001:db8::20]")
        bye, destination = self.build(dialog, dialog.callee)
        self.assertEqual(bye.uri.toString(), "sip:bob@[2001:db8::20]")
        self.assertEqual(destination, ("2001:db8::20", 5060))

    def test_ipv6Route(self):
        """
        An IPv6 loose route with a port: the destination is its bare address
        and port, and the route is copied unchanged.
        """
        routes = ["<sip:[2001:db8::1]:5070;lr>"]
        dialog = makeDialog(callerRoutes=routes, callerTarget="sip:alice@[2001:db8::10]")
        bye, destination = self.build(dialog, dialog.caller)
        self.assertEqual(bye.headers["route"], routes)
        self.assertEqual(destination, ("2001:db8::1", 5070))

    def test_ipv6Via(self):
        """
        An IPv6 sent-by is written bracketed in the Via, as given.
        """
        dialog = makeDialog(calleeTarget="sip:bob@[2001:db8::20]")
        bye, _ = buildBye(dialog, dialog.callee, "[2001:db8::5]:5060", BRANCH, 8)
        self.assertEqual(bye.headers["via"], [f"SIP/2.0/UDP [2001:db8::5]:5060;branch={BRANCH}"])
        self.assertEqual(parseVia(bye.headers["via"][0]).port, 5060)

    def test_sipsDefaultPort(self):
        """
        A C{sips} next hop without a port defaults to 5061.
        """
        dialog = makeDialog(calleeTarget="sips:bob@b.example")
        _, destination = buildBye(dialog, dialog.callee, VIA, BRANCH, 8)
        self.assertEqual(destination, ("b.example", 5061))

    def test_nonSIPTarget(self):
        """
        A remote target that is not a SIP URI gives a BYE with that
        Request-URI but no destination.
        """
        dialog = makeDialog(calleeTarget="tel:+15551234")
        bye, destination = buildBye(dialog, dialog.callee, VIA, BRANCH, 8)
        self.assertEqual(bye.uri.toString(), "tel:+15551234")
        self.assertIsNone(destination)

    def test_customReason(self):
        """
        The Reason header is a parameter; L{None} leaves it out.
        """
        dialog = makeDialog()
        bye, _ = buildBye(dialog, dialog.callee, VIA, BRANCH, 8, reason="SIP;cause=200")
        self.assertEqual(bye.headers["reason"], ["SIP;cause=200"])
        bye, _ = buildBye(dialog, dialog.callee, VIA, BRANCH, 8, reason=None)
        self.assertNotIn("reason", bye.headers)

    def test_cseqGiven(self):
        """
        The CSeq number is the one given, with method BYE.
        """
        dialog = makeDialog()
        bye, _ = buildBye(dialog, dialog.caller, VIA, BRANCH, 4242)
        self.assertEqual(bye.headers["cseq"], ["4242 BYE"])

    def test_missingTag(self):
        """
        A dialog whose callee tag is not known cannot produce an in-dialog
        BYE, for either leg.
        """
        dialog = makeDialog()
        dialog.callee.tag = None
        self.assertRaises(ValueError, buildBye, dialog, dialog.callee, VIA, BRANCH, 1)
        self.assertRaises(ValueError, buildBye, dialog, dialog.caller, VIA, BRANCH, 1)

    def test_foreignLeg(self):
        """
        A leg that does not belong to the dialog is rejected.
        """
        dialog = makeDialog()
        self.assertRaises(ValueError, buildBye, dialog, Leg(uri="sip:x@y", tag="t"), VIA, BRANCH, 1)
