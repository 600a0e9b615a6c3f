"""
Tests for L{keepsip.auth.nonces}: stateless nonces on a L{Clock}.
"""

from __future__ import annotations

import base64

from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from keepsip.auth.nonces import FORGED, FRESH, REPLAYED, STALE, NonceAuthority


class NonceTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.clock = Clock()
        self.clock.advance(1000)
        self.nonces = NonceAuthority(self.clock, "sip.test", lifetime=60)

    def test_fresh(self) -> None:
        """
        A nonce just issued is fresh, and keeps nothing until used.
        """
        nonce = self.nonces.issue()
        self.assertEqual(len(self.nonces), 0)
        self.assertEqual(self.nonces.verify(nonce, 1), FRESH)
        self.assertEqual(len(self.nonces), 1)

    def test_expiry(self) -> None:
        """
        A nonce is fresh up to its lifetime and stale after it.
        """
        nonce = self.nonces.issue()
        self.clock.advance(60)
        self.assertEqual(self.nonces.verify(nonce, 1, record=False), FRESH)
        self.clock.advance(0.01)
        self.assertEqual(self.nonces.verify(nonce, 1), STALE)

    def test_forged(self) -> None:
        """
        A nonce changed in one bit, one from another secret, one from
        another realm and garbage are forged.
        """
        nonce = self.nonces.issue()
        raw = bytearray(base64.urlsafe_b64decode(nonce + "="))
        raw[3] ^= 1
        tampered = base64.urlsafe_b64encode(bytes(raw)).decode().rstrip("=")
        other = NonceAuthority(self.clock, "sip.test").issue()
        realm = NonceAuthority(self.clock, "other", secret=b"k").issue()
        same = NonceAuthority(self.clock, "sip.test", secret=b"k")
        for bad in (tampered, other, "", "x" * 44, "%%%", nonce[:-1]):
            self.assertEqual(self.nonces.verify(bad, 1), FORGED, bad)
        self.assertEqual(same.verify(realm, 1), FORGED)

    def test_sharedSecret(self) -> None:
        """
        Two authorities with one configured secret accept each other's
        nonces (several keepsip nodes).
        """
        a = NonceAuthority(self.clock, "r", secret=b"shared")
        b = NonceAuthority(self.clock, "r", secret=b"shared")
        self.assertEqual(b.verify(a.issue(), 1), FRESH)

    def test_replay(self) -> None:
        """
        Each nonce count is accepted once and only above the highest seen;
        a count that was only looked at (record=False) is not spent.
        """
        nonce = self.nonces.issue()
        self.assertEqual(self.nonces.verify(nonce, 1, record=False), FRESH)
        self.assertEqual(self.nonces.verify(nonce, 1), FRESH)
        self.assertEqual(self.nonces.verify(nonce, 1), REPLAYED)
        self.assertEqual(self.nonces.verify(nonce, 2), FRESH)
        self.assertEqual(self.nonces.verify(nonce, 2), REPLAYED)
        self.assertEqual(self.nonces.verify(nonce, 1), REPLAYED)

    def test_failures(self) -> None:
        """
        The failure count given at issue is read back from the nonce.
        """
        self.assertEqual(self.nonces.failures(self.nonces.issue()), 0)
        self.assertEqual(self.nonces.failures(self.nonces.issue(1)), 1)
        self.assertEqual(self.nonces.failures("forged"), 0)

    def test_bounded(self) -> None:
        """
        At most maxTracked counts are kept; a nonce evicted before it
        expired is then stale, never accepted again with an old count.
        """
        nonces = NonceAuthority(self.clock, "r", lifetime=60, maxTracked=3)
        issued = []
        for _ in range(5):
            nonce = nonces.issue()
            issued.append(nonce)
            self.assertEqual(nonces.verify(nonce, 1), FRESH)
            self.clock.advance(0.01)
        self.assertEqual(len(nonces), 3)
        self.assertEqual(nonces.verify(issued[0], 1), STALE)
        self.assertEqual(nonces.verify(issued[-1], 1), REPLAYED)

    def test_expiredForgotten(self) -> None:
        """
        Counts of expired nonces are forgotten as new ones are checked.
        """
        for _ in range(3):
            self.nonces.verify(self.nonces.issue(), 1)
        self.clock.advance(61)
        self.nonces.verify(self.nonces.issue(), 1)
        self.assertEqual(len(self.nonces), 1)
