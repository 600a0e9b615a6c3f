"""
The last INVITE of each call as the core saw it.

L{CoreInvites} stands between the proxy core and the transaction layer
(it provides the one method the core calls, C{request}): it keeps a copy of
every INVITE the edge forwards to the core, after the core's own changes
(its Via, Record-Route, Max-Forwards) and the media anchor's SDP rewriting.
A keepalive must equal that INVITE in Call-ID, tags, CSeq and media, so the
keepalive generator builds it from this copy.
"""

from __future__ import annotations

from typing import Any

from keepsip.sip.headers import callID, fromHeader
from keepsip.sip.message import Message, Request


class CoreInvites:
    """
    Starts client transactions on C{transactions}, remembering each INVITE
    sent to C{core} by C{(Call-ID, From tag)}: the call key of a dialog
    whose caller is the local phone.

    @param transactions: the L{keepsip.transaction.layer.TransactionLayer}.
    @param core: the core's C{(host, port)}.
    """

    def __init__(self, transactions: Any, core: tuple[str, int]) -> None:
        self.transactions = transactions
        self.core = core
        self._invites: dict[tuple[str, str], Request] = {}

    def __len__(self) -> int:
        return len(self._invites)

    def request(self, message: Message, destination: tuple[str, int], user: Any) -> Any:
        """
        Start a client transaction (see C{TransactionLayer.request}); an
        INVITE to the core is remembered first.
        """
        if (
            isinstance(message, Request)
            and message.method == "INVITE"
            and destination == self.core
        ):
            try:
                key = (callID(message), fromHeader(message).tag or "")
            except ValueError:
                key = None
            if key is not None:
                copy = message.copy()
                assert isinstance(copy, Request)
                self._invites[key] = copy
        return self.transactions.request(message, destination, user)

    def lastInvite(self, key: tuple[str, str]) -> Request | None:
        """
        @return: the last INVITE sent to the core for call C{key}, or L{None}.
        """
        return self._invites.get(key)

    def forget(self, key: tuple[str, str]) -> None:
        """
        The call ended: drop its INVITE.
        """
        self._invites.pop(key, None)


__all__ = ["CoreInvites"]
