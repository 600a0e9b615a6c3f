"""
Claims on expired calls shared in Redis: the part of
L{keepsip.dialog.redis.RedisDialogStore} that decides, in one Lua script
each (L{keepsip.dialog.redislayout}), which node ends a call whose deadline
passed, so exactly one node sends its BYEs and writes its stop record; a
claim whose node died is taken over after its lease.
"""

from __future__ import annotations

from typing import Any

from twisted.internet.defer import Deferred, fail, succeed
from twisted.python.failure import Failure

from keepsip.dialog import redislayout as scripts
from keepsip.dialog.model import Dialog
from keepsip.dialog.serial import DialogCodec, SchemaError
from keepsip.logs import Logger
from keepsip.redisclient import RedisUnavailable

log = Logger()


class RedisClaims:
    """
    The claim operations of L{keepsip.dialog.redis.RedisDialogStore} (a
    mixin: they use its connection, key layout, lease, node id and
    counters, declared here for the type checker).
    """

    layout: scripts.Layout
    codec: DialogCodec
    nodeID: str
    lease: float
    errors: int
    claimsWon: int
    claimsLost: int
    reapedForOthers: int
    _pending: dict[tuple[str, str], tuple[Dialog | None, bool]]
    _down: bool
    _checked: bool

    def flush(self) -> Deferred[int]:
        raise NotImplementedError()

    @property
    def where(self) -> str:
        raise NotImplementedError()

    def _execute(self, *args: Any) -> Deferred[Any]:
        raise NotImplementedError()

    def _readFailed(self, reason: Failure) -> Failure:
        raise NotImplementedError()

    def _changed(self, key: tuple[str, str], dialog: Dialog | None, create: bool) -> None:
        raise NotImplementedError()

    def getByCallKey(self, callKey: tuple[str, str]) -> Dialog | None:
        raise NotImplementedError()

    def claim(self, callKey: tuple[str, str], kind: str, now: float) -> Deferred[Any]:
        """
        Claim the held call C{callKey}, whose C{kind} (C{keepalive} or
        C{max-duration}) deadline passed here, in one script.

        @return: a Deferred with C{("won", None)} (end it),
            C{("alive", deadline)} (another node saw it alive: its stored
            deadline is later), C{("lost", None)} (another node is ending it)
            or C{("gone", None)} (another node ended it); failing with the
            Redis error. A call whose creation was never written is won
            without asking Redis.
        """
        if self._down or not self._checked:
            # Redis failed since the last write and may have come back
            # empty: write this node's calls again first, or the claim would
            # find the call gone and nobody would end it. Still down: the
            # claim fails and the reaper tries again a tick later.
            def caughtUp(_: int) -> Deferred[Any]:
                if self._down or not self._checked:
                    self.errors += 1
                    return fail(RedisUnavailable(f"{self.where}: unreachable"))
                return self._claim(callKey, kind, now)

            return self.flush().addCallback(caughtUp)
        return self._claim(callKey, kind, now)

    def _claim(self, callKey: tuple[str, str], kind: str, now: float) -> Deferred[Any]:
        pending = self._pending.get(callKey)
        if pending is not None and pending[1]:
            self.claimsWon += 1
            return succeed(("won", None))
        layout = self.layout
        d = self._execute(
            "EVAL",
            scripts.CLAIM,
            4,
            layout.dialog(callKey),
            layout.keepalive,
            layout.maxDuration,
            layout.claims,
            layout.id(callKey),
            kind,
            repr(float(now)),
            repr(float(self.lease)),
            self.nodeID,
        )

        def decided(reply: list[Any]) -> tuple[str, Any]:
            verdict = reply[0]
            if verdict == "won":
                self.claimsWon += 1
                return ("won", None)
            self.claimsLost += 1
            if verdict == "alive":
                return ("alive", float(reply[1]))
            return (verdict, None)

        return d.addCallback(decided).addErrback(self._readFailed)

    def claimExpired(
        self, now: float, grace: float, limit: int = 100
    ) -> Deferred[list[tuple[tuple[str, str], str, float, Dialog]]]:
        """
        Claim, in one script, the calls of any node whose deadline passed
        more than C{grace} seconds ago, and those whose claim's lease ran
        out.

        @return: a Deferred with C{(callKey, kind, deadline, dialog)} for
            each claimed call (the dialog decoded, not held); failing with
            the Redis error.
        """
        layout = self.layout
        d = self._execute(
            "EVAL",
            scripts.CLAIM_EXPIRED,
            3,
            layout.keepalive,
            layout.maxDuration,
            layout.claims,
            repr(float(now)),
            repr(float(grace)),
            repr(float(self.lease)),
            self.nodeID,
            limit,
            layout.dialogPrefix,
        )

        def decode(reply: list[Any]) -> list[tuple[tuple[str, str], str, float, Dialog]]:
            claimed = []
            for id, kind, when, data in reply or []:
                callKey = layout.callKey(id)
                try:
                    dialog = self.codec.decode(data)
                except SchemaError as e:
                    self.errors += 1
                    log.error(
                        "{where}: claimed call {callID} unreadable, dropped: {error}",
                        where=self.where,
                        callID=callKey[0],
                        error=str(e),
                    )
                    self._changed(callKey, None, False)
                    continue
                self.claimsWon += 1
                if self.getByCallKey(callKey) is None:
                    self.reapedForOthers += 1
                claimed.append((callKey, kind, float(when), dialog))
            return claimed

        return d.addCallback(decode).addErrback(self._readFailed)
