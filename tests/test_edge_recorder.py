"""
Tests for L{keepsip.edge.recorder}.
"""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from keepsip.edge.recorder import CoreInvites
from keepsip.sip.message import Request
from keepsip.sip.parser import parseDatagram
from keepsip.testing import invite

CORE = ("192.0.2.20", 5060)


class FakeLayer:
    def __init__(self) -> None:
        self.started: list[tuple[Request, tuple[str, int], object]] = []

    def request(self, message: Request, destination: tuple[str, int], user: object) -> str:
        self.started.append((message, destination, user))
        return "transaction"


def parsed(data: bytes) -> Request:
    request = parseDatagram(data)
    assert isinstance(request, Request)
    return request


class CoreInvitesTests(SynchronousTestCase):
    def test_remembersInvitesToCore(self) -> None:
        """
        Every request is handed to the layer; an INVITE to the core is kept
        (a copy: later changes to the sent one do not show) by Call-ID and
        From tag, the latest one winning; others are not; L{forget} drops it.
        """
        layer = FakeLayer()
        invites = CoreInvites(layer, CORE)
        first = parsed(invite())
        self.assertEqual(invites.request(first, CORE, None), "transaction")
        invites.request(parsed(invite(callID="elsewhere")), ("192.0.2.99", 5060), None)
        invites.request(parsed(invite(method="OPTIONS", callID="opt")), CORE, None)
        self.assertEqual(len(layer.started), 3)
        key = ("call-1", "alicetag")
        kept = invites.lastInvite(key)
        assert kept is not None
        first.headers["cseq"] = ["9 INVITE"]
        self.assertEqual(kept.headers["cseq"], ["1 INVITE"])
        reinvite = parsed(invite(cseq=2, toTag="bobtag"))
        invites.request(reinvite, CORE, None)
        kept = invites.lastInvite(key)
        assert kept is not None
        self.assertEqual(kept.headers["cseq"], ["2 INVITE"])
        self.assertEqual(len(invites), 1)
        invites.forget(key)
        self.assertIsNone(invites.lastInvite(key))
