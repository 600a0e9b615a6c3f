"""
Tests for L{keepsip.auth.metrics}: the authentication counters as the
metrics endpoint writes them, driven by real challenges, logins, refusals and
rate limiting of an L{AuthTransactionUser}.
"""

from __future__ import annotations

from keepsip.auth.metrics import authMetrics
from keepsip.metrics.exposition import collectMetrics, renderExposition

from .test_auth_transactionuser import AuthTestCase, answerChallenge, request


class AuthMetricsTests(AuthTestCase):
    def values(self) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
        metrics = collectMetrics([authMetrics(self.user)])
        renderExposition(metrics)  # every family can be written
        return {(m.name, labels): value for m in metrics for labels, value in m.samples}

    def test_counts(self) -> None:
        """
        One 401 and one 407 challenge, a login, a 403 for a wrong password
        given twice, a stale nonce and a REGISTER over the rate are each
        counted under their family and kind, and nothing else is.
        """
        self.user = self.makeUser(registrationRate=1.0)
        self.send(request("REGISTER", "sip:sip.test", callID="reg"))
        self.login()  # one 407, then passed
        first = self.login(password="wrong", callID="w")
        [offer] = [c for c in self.challengeOf(first, "proxy-authenticate") if "MD5" in c]
        again = answerChallenge(offer, "alice", "wrong", "INVITE", "sip:bob@sip.test")
        self.send(request(headers=(f"Proxy-Authorization: {again}",), callID="w"))
        stale = self.send(request(callID="s"))
        [offer] = [c for c in self.challengeOf(stale, "proxy-authenticate") if "MD5" in c]
        self.clock.advance(61)
        value = answerChallenge(offer, "alice", "wonderland", "INVITE", "sip:bob@sip.test")
        self.send(request(headers=(f"Proxy-Authorization: {value}",), callID="s"))
        for n in range(12):
            self.send(request("REGISTER", "sip:sip.test", callID=f"r{n}"))
        values = self.values()
        self.assertEqual(values[("keepsip_auth_authenticated_total", ())], 1)
        self.assertEqual(values[("keepsip_auth_rejected_total", ())], 1)
        self.assertEqual(values[("keepsip_auth_stale_nonces_total", ())], 1)
        proxy = values[("keepsip_auth_challenges_total", (("kind", "proxy"),))]
        # login: 1; wrong password: 1 + 1 more; stale: 1 + the stale one.
        self.assertEqual(proxy, 5)
        registrar = values[("keepsip_auth_challenges_total", (("kind", "registrar"),))]
        # The first REGISTER, then (the bucket refilled in the 61 s) 10 of
        # the 12: a burst of 10 at 1/s.
        self.assertEqual(registrar, 11)
        self.assertEqual(values[("keepsip_auth_rate_limited_total", (("kind", "register"),))], 2)
        self.assertEqual(values[("keepsip_auth_rate_limited_total", (("kind", "challenge"),))], 0)

    def test_zeroAtStart(self) -> None:
        """
        Before any request every series is there and 0.
        """
        values = self.values()
        self.assertEqual(len(values), 7)
        self.assertEqual(set(values.values()), {0})
