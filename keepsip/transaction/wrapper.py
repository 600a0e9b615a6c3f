"""
L{TransactionUserWrapper}: a transaction user that adds a policy in front of
another and delegates the rest, as Twisted's
C{twisted.protocols.policies.ProtocolWrapper} does for protocols.

keepsip stacks such wrappers in front of the proxy core (authentication,
then keepalives; the edge role adds one of its own): each overrides the
events its policy is about and inherits plain delegation for the others, so
no wrapper repeats the transaction-user interface and none knows the
others' insides.
"""

from __future__ import annotations

from zope.interface import implementer

from keepsip.sip.message import Request, Response
from keepsip.transaction.interfaces import IServerTransaction, ITransactionUser


@implementer(ITransactionUser)
class TransactionUserWrapper:
    """
    Delegates every L{ITransactionUser} event to C{wrapped}.

    @ivar wrapped: the L{ITransactionUser} behind this one.
    """

    def __init__(self, wrapped: ITransactionUser) -> None:
        self.wrapped = wrapped

    def requestReceived(self, request: Request, serverTransaction: IServerTransaction) -> None:
        self.wrapped.requestReceived(request, serverTransaction)

    def ackReceived(self, request: Request, source: tuple[str, int]) -> None:
        self.wrapped.ackReceived(request, source)

    def cancelReceived(
        self,
        cancel: Request,
        serverTransaction: IServerTransaction,
        inviteTransaction: IServerTransaction | None,
    ) -> None:
        self.wrapped.cancelReceived(cancel, serverTransaction, inviteTransaction)

    def strayResponse(self, response: Response, source: tuple[str, int]) -> None:
        self.wrapped.strayResponse(response, source)

    def serverTimedOut(self, serverTransaction: IServerTransaction) -> None:
        self.wrapped.serverTimedOut(serverTransaction)

    def requestRetransmitted(self, request: Request, serverTransaction: IServerTransaction) -> None:
        self.wrapped.requestRetransmitted(request, serverTransaction)
