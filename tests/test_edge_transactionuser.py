"""
Tests for L{keepsip.edge.transactionuser}: an edge forwards its phones'
REGISTERs to the core with a Path (RFC 3327) and their calls to the core;
calls from the core reach the phone (issue 12 item 1).
"""

from __future__ import annotations

from keepsip.sip.message import Request
from keepsip.testing import ALICE, PROXY, SDP, answer, invite

from ._edge import CORE, EdgeTestCase

REGISTER = (
    "REGISTER sip:192.0.2.20 SIP/2.0\r\n"
    "Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bKreg1\r\n"
    "Max-Forwards: 70\r\nFrom: <sip:alice@192.0.2.20>;tag=r\r\n"
    "To: <sip:alice@192.0.2.20>\r\nCall-ID: reg\r\nCSeq: 1 REGISTER\r\n"
    "Contact: <sip:alice@192.0.2.10:5060>\r\nExpires: 600\r\n"
    "Content-Length: 0\r\n\r\n"
)


class EdgeRoutingTests(EdgeTestCase):
    def setUp(self) -> None:
        self.makeProxy()

    def test_registerForwardedWithPath(self) -> None:
        """
        A phone's REGISTER is not answered by the edge but forwarded to the
        core, with a Path naming the edge and the core's 200 relayed back.
        """
        self.proxy.receive(REGISTER, ALICE)
        [atCore] = [m for m in self.proxy.sentTo(CORE) if isinstance(m, Request)]
        self.assertEqual(atCore.method, "REGISTER")
        self.assertEqual(atCore.headers["path"], ["<sip:192.0.2.1:5060;lr>"])
        self.proxy.receive(answer(atCore, 200, "OK"), CORE)
        codes = [m.code for m in self.proxy.sentTo(ALICE) if not isinstance(m, Request)]
        self.assertEqual(codes[-1], 200)

    def test_registerToEdgeGoesToCoresRegistrar(self) -> None:
        """
        A REGISTER addressed to the edge itself (a phone that takes it for
        its registrar) goes to the core too, readdressed to it, with the
        Path.
        """
        self.proxy.receive(REGISTER.replace("REGISTER sip:192.0.2.20 ", "REGISTER sip:192.0.2.1 "),
                           ALICE)
        [atCore] = [m for m in self.proxy.sentTo(CORE) if isinstance(m, Request)]
        self.assertEqual(atCore.uri.toString(), "sip:192.0.2.20:5060")
        self.assertEqual(atCore.headers["path"], ["<sip:192.0.2.1:5060;lr>"])

    def test_callFromPhoneGoesToCore(self) -> None:
        """
        An INVITE from a phone to any domain goes to the core (its outbound
        proxy), Record-Routed by the edge.
        """
        self.proxy.receive(invite(uri="sip:carol@example.org"), ALICE)
        [atCore] = [m for m in self.proxy.sentTo(CORE) if isinstance(m, Request)]
        self.assertEqual(atCore.uri.toString(), "sip:carol@example.org")
        self.assertIn("<sip:192.0.2.1:5060;lr>", atCore.headers["record-route"][0])

    def test_callFromCoreReachesPhone(self) -> None:
        """
        An INVITE from the core, routed to the edge by the Path (Route to
        the edge, Request-URI the phone's contact), goes to the phone and is
        not sent back to the core.
        """
        data = invite(
            uri="sip:alice@192.0.2.10:5060", route="<sip:192.0.2.1:5060;lr>", body=SDP
        ).replace(b"192.0.2.10:5060;branch", b"192.0.2.20:5060;branch")
        self.proxy.receive(data, CORE)
        [atPhone] = [m for m in self.proxy.sentTo(ALICE) if isinstance(m, Request)]
        self.assertEqual(atPhone.uri.toString(), "sip:alice@192.0.2.10:5060")
        self.assertNotIn("route", atPhone.headers)

    def test_optionsToEdgeAnswered(self) -> None:
        """
        An OPTIONS ping for the edge itself is answered by the edge, not
        sent to the core.
        """
        self.proxy.receive(invite(method="OPTIONS", uri=f"sip:{PROXY[0]}", body=b""), ALICE)
        self.assertEqual(self.proxy.sentTo(CORE), [])
