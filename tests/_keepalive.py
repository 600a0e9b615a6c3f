"""
The keepalive tests' common ground: a call Alice -> keepsip -> Bob through
the whole proxy on a fake transport and a L{task.Clock}, and the keepalives
Alice sends in it (patent WO 00/33550).
"""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from keepsip.sip.message import Request

from keepsip.testing import ALICE, BOB, SDP, RecordingObserver, answer, invite

from ._proxy import ProxyHarness, startReapers, stopReapers

#: The same media as L{SDP} with a new o= version: still equal media.
SDP_NEW_ORIGIN = SDP.replace(b"2890844526 2890844526", b"2890844526 2890844999")

#: Different media: another port.
SDP_OTHER_MEDIA = SDP.replace(b"49170", b"49172")

ANSWER_SDP = SDP.replace(b"192.0.2.10", b"192.0.2.20").replace(b"alice", b"bob")


class KeepaliveTestCase(SynchronousTestCase):
    """
    A call Alice -> keepsip -> Bob, answered and ACKed, on a proxy with the
    keepalive settings a test gives.
    """

    def makeProxy(self, **config):
        config.setdefault("keepaliveInterval", 30.0)
        config.setdefault("keepaliveTolerance", 2.0)
        self.proxy = ProxyHarness(**config)
        self.observer = RecordingObserver()
        self.proxy.service.tracker.addObserver(self.observer)
        startReapers(self.proxy)
        self.addCleanup(stopReapers, self.proxy)
        return self.proxy

    def establish(self, extraInvite: str = "", answerExtra: bytes = b"") -> Request:
        """
        @return: the INVITE as Bob received it.
        """
        proxy = self.proxy
        proxy.receive(invite(extra=extraInvite) if extraInvite else invite(), ALICE)
        [atBob] = [m for m in proxy.sentTo(BOB)]
        ok = answer(atBob, 200, "OK", body=ANSWER_SDP)
        if answerExtra:
            ok = ok.replace(b"Content-Type:", answerExtra + b"\r\nContent-Type:")
        proxy.receive(ok, BOB)
        proxy.receive(self.ack(1), ALICE)
        proxy.sent()
        self.assertEqual(self.observer.names()[-1], "confirmed")
        self.dialog = self.observer.events[-1][1]
        return atBob

    def fromAlice(self, method: str, number: int, branch: str) -> None:
        """
        Alice sends an in-dialog request without a body, Route'd through
        keepsip.
        """
        self.proxy.receive(
            invite(
                method=method,
                uri="sip:bob@192.0.2.20:5060",
                branch=branch,
                cseq=number,
                toTag="bobtag",
                body=b"",
                route="<sip:192.0.2.1:5060;lr>",
            ),
            ALICE,
        )

    def ack(self, number: int, branch: str = "z9hG4bKack") -> bytes:
        return invite(
            method="ACK",
            uri="sip:bob@192.0.2.20:5060",
            branch=f"{branch}{number}",
            cseq=number,
            toTag="bobtag",
            body=b"",
            route="<sip:192.0.2.1:5060;lr>",
        )

    def keepalive(
        self,
        n: int,
        body: bytes = SDP,
        number: int = 1,
        source=ALICE,
        branch: str | None = None,
    ) -> list:
        """
        Alice sends keepalive number C{n}: an INVITE equal to her last one.

        @return: what keepsip sent.
        """
        self.proxy.receive(
            invite(
                uri="sip:bob@192.0.2.20:5060",
                branch=branch or f"z9hG4bKka{n}",
                cseq=number,
                toTag="bobtag",
                body=body,
                route="<sip:192.0.2.1:5060;lr>",
            ),
            source,
        )
        return self.proxy.sent()

    def byes(self, sent):
        return {a: m for m, a in sent if isinstance(m, Request) and m.method == "BYE"}

    def reapWithin(self, seconds: float, step: float = 0.5):
        """
        Advance the clock until keepsip sends BYEs or C{seconds} pass.

        @return: (elapsed, BYEs by destination).
        """
        elapsed = 0.0
        while elapsed <= seconds:
            self.proxy.clock.advance(step)
            elapsed += step
            byes = self.byes(self.proxy.sent())
            if byes:
                return elapsed, byes
        return elapsed, {}


__all__ = ["ANSWER_SDP", "SDP_NEW_ORIGIN", "SDP_OTHER_MEDIA", "KeepaliveTestCase"]
