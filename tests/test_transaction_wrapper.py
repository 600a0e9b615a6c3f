"""
Tests for L{keepsip.transaction.wrapper.TransactionUserWrapper}.
"""

from __future__ import annotations

from typing import Any

from twisted.trial.unittest import SynchronousTestCase
from zope.interface import implementer
from zope.interface.verify import verifyObject

from keepsip.transaction.interfaces import ITransactionUser
from keepsip.transaction.wrapper import TransactionUserWrapper


@implementer(ITransactionUser)
class Recorder:
    """
    A transaction user recording every event with its arguments.
    """

    def __init__(self) -> None:
        self.events: list[tuple[Any, ...]] = []

    def requestReceived(self, *args: Any) -> None:
        self.events.append(("requestReceived", *args))

    def ackReceived(self, *args: Any) -> None:
        self.events.append(("ackReceived", *args))

    def cancelReceived(self, *args: Any) -> None:
        self.events.append(("cancelReceived", *args))

    def strayResponse(self, *args: Any) -> None:
        self.events.append(("strayResponse", *args))

    def serverTimedOut(self, *args: Any) -> None:
        self.events.append(("serverTimedOut", *args))

    def requestRetransmitted(self, *args: Any) -> None:
        self.events.append(("requestRetransmitted", *args))


class WrapperTests(SynchronousTestCase):
    def test_delegatesEveryEvent(self) -> None:
        """
        The wrapper is an L{ITransactionUser} and hands each event, with its
        arguments unchanged, to the user it wraps.
        """
        inner = Recorder()
        wrapper = TransactionUserWrapper(inner)
        self.assertTrue(verifyObject(ITransactionUser, wrapper))
        request, response, txn, invite, source = object(), object(), object(), object(), ("h", 1)
        wrapper.requestReceived(request, txn)  # type: ignore[arg-type]
        wrapper.ackReceived(request, source)  # type: ignore[arg-type]
        wrapper.cancelReceived(request, txn, invite)  # type: ignore[arg-type]
        wrapper.strayResponse(response, source)  # type: ignore[arg-type]
        wrapper.serverTimedOut(txn)  # type: ignore[arg-type]
        wrapper.requestRetransmitted(request, txn)  # type: ignore[arg-type]
        self.assertEqual(
            inner.events,
            [
                ("requestReceived", request, txn),
                ("ackReceived", request, source),
                ("cancelReceived", request, txn, invite),
                ("strayResponse", response, source),
                ("serverTimedOut", txn),
                ("requestRetransmitted", request, txn),
            ],
        )

    def test_overrideOne(self) -> None:
        """
        A subclass overriding one event keeps plain delegation for the rest.
        """

        class Refusing(TransactionUserWrapper):
            def ackReceived(self, request: Any, source: Any) -> None:
                pass

        inner = Recorder()
        wrapper = Refusing(inner)
        wrapper.ackReceived(object(), ("h", 1))  # type: ignore[arg-type]
        txn = object()
        wrapper.serverTimedOut(txn)  # type: ignore[arg-type]
        self.assertEqual(inner.events, [("serverTimedOut", txn)])
