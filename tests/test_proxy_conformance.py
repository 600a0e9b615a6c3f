"""
RFC 4475 and RFC 5118 torture messages through the whole proxy (transport,
transactions, core, registrar): each gets the answer its row in
C{tests/data/rfc4475/INDEX.md} (copied from C{shared/conformance}) asks of a
proxy, and none breaks the proxy for the next message.
"""

from __future__ import annotations

import os

from twisted.trial.unittest import SynchronousTestCase

from keepsip.sip.message import Request, Response
from keepsip.sip.parser import parseDatagram

from keepsip.testing import ALICE, BOB, invite

from ._proxy import ProxyHarness
from .test_sip_parser import ACCEPT, DROP, RESPONSE, RFC4475, RFC4475_TABLE, RFC5118, read

#: Codes that are always wrong for a message that must be accepted.
WRONG_FOR_ACCEPTED = frozenset({400, 500, 505})


class ConformanceThroughProxyTests(SynchronousTestCase):
    def outcome(self, name: str, data: bytes):
        """
        Send C{data} to a fresh keepsip serving example.com and routing
        everything else to Bob; then check a normal call still works on the
        same proxy.

        @return: (final response codes sent, requests forwarded).
        """
        proxy = ProxyHarness(domains=frozenset({"example.com"}))
        proxy.receive(data, ("127.0.0.1", 5061))
        sent = proxy.sent()
        codes = [m.code for m, _ in sent if isinstance(m, Response) and m.code >= 200]
        forwarded = [m for m, _ in sent if isinstance(m, Request)]
        # The proxy is not poisoned: a good INVITE afterwards is forwarded.
        proxy.receive(invite(callID=f"after-{name}"), ALICE)
        after = [m for m, a in proxy.sent() if isinstance(m, Request) and a == BOB]
        self.assertEqual(len(after), 1, f"{name}: the next INVITE was not forwarded")
        return codes, forwarded

    def test_rfc4475(self):
        """
        Each RFC 4475 message gets the proxy-level outcome its INDEX.md row
        requires: accepted ones are not answered 400/500/505 (zeromf gets 483),
        rejected ones get the chosen code, responses not for keepsip are
        dropped without anything being sent.
        """
        problems = []
        for name, (allowed, chosen) in sorted(RFC4475_TABLE.items()):
            codes, forwarded = self.outcome(name, read(RFC4475, name + ".dat"))
            if name == "zeromf":
                if not codes or codes[0] not in (483, 200) or forwarded:
                    problems.append(f"{name}: got {codes}, forwarded {len(forwarded)}")
            elif chosen == ACCEPT:
                # A registrar may answer 400 where INDEX.md allows it (unksm2).
                wrong = WRONG_FOR_ACCEPTED - ({400} if 400 in allowed else set())
                if wrong & set(codes):
                    problems.append(f"{name}: accepted message answered {codes}")
            elif chosen in (RESPONSE, DROP):
                if codes or forwarded:
                    problems.append(f"{name}: response not dropped: {codes} {forwarded}")
            else:
                if codes[:1] != [chosen] or forwarded:
                    problems.append(f"{name}: expected {chosen}, got {codes}, forwarded {len(forwarded)}")
        self.assertEqual(problems, [])

    def test_dblreqTrailingInviteIgnored(self):
        """
        The INVITE after the REGISTER in dblreq's datagram appears in nothing
        keepsip sends (RFC 3261 §18.3).
        """
        proxy = ProxyHarness(domains=frozenset({"example.com"}))
        proxy.receive(read(RFC4475, "dblreq.dat"), ("127.0.0.1", 5061))
        for data, _ in proxy.transport.written:
            self.assertNotIn(b"dblreq.0ha0isnda977644900765@192.0.2.15", data)
        self.assertTrue(proxy.transport.written)

    def test_liberalRequestLineForwardedClean(self):
        """
        lwsstart and trws are accepted liberally; the extra spaces do not
        appear in the Request-Line keepsip forwards.
        """
        for name in ("lwsstart", "trws"):
            proxy = ProxyHarness(domains=frozenset({"example.com"}))
            proxy.receive(read(RFC4475, name + ".dat"), ("127.0.0.1", 5061))
            for data, _ in proxy.transport.written:
                line = data.split(b"\r\n", 1)[0]
                self.assertNotIn(b"  ", line)
                self.assertFalse(line.endswith(b" "), line)

    def test_registrationsSucceed(self):
        """
        The well-formed REGISTERs (cparam01, cparam02, regescrt) for
        keepsip's domain are accepted with 200 and their bindings kept.
        """
        for name in ("cparam01", "cparam02", "regescrt"):
            proxy = ProxyHarness(domains=frozenset({"example.com"}))
            proxy.receive(read(RFC4475, name + ".dat"), ("127.0.0.1", 5061))
            codes = [m.code for m, _ in proxy.sent() if isinstance(m, Response)]
            self.assertEqual(codes, [200], name)
            self.assertEqual(len(proxy.service.location), 1, name)

    def test_cparam02KeepsUrlParameter(self):
        """
        cparam02's url-parameter C{unknownparam} survives in the binding.
        """
        proxy = ProxyHarness(domains=frozenset({"example.com"}))
        proxy.receive(read(RFC4475, "cparam02.dat"), ("127.0.0.1", 5061))
        [contact] = proxy.service.location.lookup("watson@example.com", proxy.clock.seconds())
        self.assertIn("unknownparam", contact)

    def test_rfc5118(self):
        """
        Every RFC 5118 IPv6 message is accepted by the proxy (ipv6-bad gets
        400) and the proxy survives it.
        """
        problems = []
        for name in sorted(os.listdir(os.path.join(RFC5118, "wire"))):
            codes, forwarded = self.outcome(name, read(RFC5118, "wire", name))
            if name == "ipv6-bad.sip":
                if codes[:1] != [400]:
                    problems.append(f"{name}: {codes}")
            elif WRONG_FOR_ACCEPTED & set(codes):
                problems.append(f"{name}: {codes}")
        self.assertEqual(problems, [])
