"""
The ACME outbox backend: appends C{record_id type total currency} lines to an
outbox file that ACME's billing system collects.
"""

import os

from twisted.internet.defer import fail, succeed
from zope.interface import implementer

from keepsip.interfaces import IAccountingBackend


@implementer(IAccountingBackend)
class AcmeBackend:
    name = "acme"

    def __init__(self, reactor, outbox, account="default"):
        self.reactor = reactor
        self.outbox = outbox
        self.account = account
        self._file = None

    def ready(self):
        try:
            self._file = open(self.outbox, "a", encoding="utf-8")
        except OSError:
            return fail()
        return succeed(None)

    def sendRecord(self, record):
        if self._file is None:
            return fail(RuntimeError("acme outbox not open"))
        charge = record.get("charge") or {}
        self._file.write(
            f"{self.account} {record['record_id']} {record['type']} "
            f"{charge.get('total')} {charge.get('currency')}\n"
        )
        self._file.flush()
        os.fsync(self._file.fileno())
        return succeed(None)

    def close(self):
        if self._file is not None:
            self._file.close()
            self._file = None
        return succeed(None)
