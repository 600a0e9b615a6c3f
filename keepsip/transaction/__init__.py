"""
keepsip's transaction layer: RFC 3261 §17 with the RFC 6026 corrections.

The proxy core creates one L{TransactionLayer}, feeds it every request and
response the transport reads, and starts client transactions through
L{TransactionLayer.request}.
"""

from keepsip.transaction.client import ClientTransaction
from keepsip.transaction.interfaces import (
    IAdmission,
    IClientTransaction,
    IClientTransactionUser,
    IServerTransaction,
    ITransaction,
    ITransactionUser,
)
from keepsip.transaction.layer import TransactionLayer
from keepsip.transaction.requests import ackForResponse, cancelForRequest
from keepsip.transaction.server import ServerTransaction
from keepsip.transaction.timers import TimerSettings

__all__ = [
    "ClientTransaction",
    "IAdmission",
    "IClientTransaction",
    "IClientTransactionUser",
    "IServerTransaction",
    "ITransaction",
    "ITransactionUser",
    "ServerTransaction",
    "TimerSettings",
    "TransactionLayer",
    "ackForResponse",
    "cancelForRequest",
]
