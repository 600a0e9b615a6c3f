"""
Nonces keepsip can verify without remembering the challenges it sent.

A nonce carries the time it was issued, how many failed attempts preceded
it, and random octets, followed by an HMAC-SHA256 of those (and the realm)
under a secret: configured, or random per process. A nonce whose MAC does
not verify is forged; one older than the lifetime is stale (the client is
told C{stale=true} and retries with a fresh one without asking its user).

Replay protection needs some state, but only for nonces in use: the highest
nonce count (C{nc}) seen per nonce, kept in insertion order and dropped when
the nonce expires, with a hard cap. A nonce evicted by the cap before it
expired raises a floor: any nonce issued at or before it that is not in the
table is answered as stale, so eviction can never let a replay through.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import struct
from collections import OrderedDict

from twisted.internet.interfaces import IReactorTime

#: Verdicts of L{NonceAuthority.verify}.
FRESH = "fresh"
STALE = "stale"
FORGED = "forged"
REPLAYED = "replayed"

_LAYOUT = struct.Struct(">QB8s")
_MAC_LENGTH = 16
_NONCE_LENGTH = _LAYOUT.size + _MAC_LENGTH


class NonceAuthority:
    """
    Issues and verifies nonces for one realm.

    @param clock: an C{IReactorTime}.
    @param realm: bound into every MAC, so a nonce of one realm is forged in
        another.
    @param lifetime: seconds a nonce stays fresh.
    @param secret: the MAC key; 32 random octets when L{None}.
    @param maxTracked: the most nonces whose counts are remembered.
    """

    def __init__(
        self,
        clock: IReactorTime,
        realm: str,
        lifetime: float = 300.0,
        secret: bytes | None = None,
        maxTracked: int = 100_000,
    ) -> None:
        self.clock = clock
        self.realm = realm.encode("utf-8", "surrogateescape")
        self.lifetime = lifetime
        self._secret = secret if secret else os.urandom(32)
        self.maxTracked = maxTracked
        # nonce -> (issued ms, highest nc), oldest insertion first.
        self._counts: OrderedDict[str, tuple[int, int]] = OrderedDict()
        self._floor = -1

    def __len__(self) -> int:
        """
        How many nonces' counts are remembered.
        """
        return len(self._counts)

    def _mac(self, payload: bytes) -> bytes:
        return hmac.new(self._secret, payload + self.realm, hashlib.sha256).digest()[:_MAC_LENGTH]

    def issue(self, failures: int = 0) -> str:
        """
        A new nonce.

        @param failures: failed attempts before this challenge (0..255), read
            back by L{failures}.
        """
        issued = int(self.clock.seconds() * 1000)
        payload = _LAYOUT.pack(issued, min(max(failures, 0), 255), os.urandom(8))
        return base64.urlsafe_b64encode(payload + self._mac(payload)).decode("ascii").rstrip("=")

    def _decode(self, nonce: str) -> tuple[int, int] | None:
        if len(nonce) != 44:
            return None
        try:
            raw = base64.urlsafe_b64decode(nonce + "=")
        except (ValueError, TypeError):
            return None
        if len(raw) != _NONCE_LENGTH:
            return None
        payload, mac = raw[: _LAYOUT.size], raw[_LAYOUT.size :]
        if not hmac.compare_digest(self._mac(payload), mac):
            return None
        issued, failures, _ = _LAYOUT.unpack(payload)
        return issued, failures

    def failures(self, nonce: str) -> int:
        """
        The failure count a genuine C{nonce} carries (0 for a forged one).
        """
        decoded = self._decode(nonce)
        return 0 if decoded is None else decoded[1]

    def verify(self, nonce: str, nc: int, record: bool = True) -> str:
        """
        Check C{nonce} and its count C{nc}.

        @param record: remember C{nc} as the highest seen (only once the
            credentials proved right, so a wrong guess cannot burn counts).
        @return: L{FRESH}, L{STALE} (genuine but expired, or evicted),
            L{FORGED} (not made by this authority) or L{REPLAYED} (C{nc}
            not above the highest seen for this nonce).
        """
        decoded = self._decode(nonce)
        if decoded is None:
            return FORGED
        issued = decoded[0]
        nowMs = int(self.clock.seconds() * 1000)
        self._expire(nowMs)
        if nowMs - issued > self.lifetime * 1000:
            return STALE
        counts = self._counts
        seen = counts.get(nonce)
        if seen is None:
            if issued <= self._floor:
                return STALE
            if record:
                while len(counts) >= self.maxTracked:
                    _, (evictedIssued, _) = counts.popitem(last=False)
                    self._floor = max(self._floor, evictedIssued)
                counts[nonce] = (issued, nc)
            return FRESH
        if nc <= seen[1]:
            return REPLAYED
        if record:
            counts[nonce] = (issued, nc)
        return FRESH

    def _expire(self, nowMs: int) -> None:
        """
        Forget up to a few expired nonces from the old end: O(1) per call.
        """
        counts = self._counts
        horizon = nowMs - self.lifetime * 1000
        for _ in range(4):
            if not counts:
                return
            nonce, (issued, _) = next(iter(counts.items()))
            if issued >= horizon:
                return
            del counts[nonce]


__all__ = ["FORGED", "FRESH", "NonceAuthority", "REPLAYED", "STALE"]
