"""
Test doubles for the transaction layer, for keepsip's tests and for anyone
testing code that sits on top of it (the proxy core).
"""

from __future__ import annotations

import heapq
from typing import Any

from twisted.internet.base import DelayedCall
from twisted.internet.interfaces import IReactorTime
from keepsip.sip.uri import parseURI
from zope.interface import implementer

from keepsip.sip.message import Message, Request, Response
from keepsip.transaction.interfaces import IClientTransactionUser, ITransactionUser
from keepsip.sip.responses import responseFromRequest


class RecordingSender:
    """
    A C{send} callable recording C{(message, destination)} pairs.

    @ivar sent: everything sent, in order.
    @ivar times: C{clock.seconds()} at each send, if a clock was given.
    """

    def __init__(self, clock: IReactorTime | None = None) -> None:
        self.sent: list[tuple[Message, tuple[str, int]]] = []
        self.times: list[float] = []
        self._clock = clock

    def __call__(self, message: Message, destination: tuple[str, int]) -> None:
        self.sent.append((message, destination))
        if self._clock is not None:
            self.times.append(self._clock.seconds())

    def messages(self) -> list[Message]:
        """
        @return: the messages sent, without destinations.
        """
        return [message for message, _ in self.sent]

    def startLines(self) -> list[str]:
        """
        @return: the start line of each message sent, e.g. C{"SIP/2.0 100 Trying"}.
        """
        return [message.startLine() for message, _ in self.sent]

    def clear(self) -> None:
        del self.sent[:]
        del self.times[:]


@implementer(ITransactionUser)
class RecordingTransactionUser:
    """
    An L{ITransactionUser} recording each call as C{(name, args...)} in
    C{events}, and absorbed retransmissions as C{(request, serverTransaction)}
    in C{retransmissions}.
    """

    def __init__(self) -> None:
        self.events: list[tuple[Any, ...]] = []
        self.retransmissions: list[tuple[Request, Any]] = []

    def requestReceived(self, request: Request, serverTransaction: Any) -> None:
        self.events.append(("requestReceived", request, serverTransaction))

    def ackReceived(self, request: Request, source: tuple[str, int]) -> None:
        self.events.append(("ackReceived", request, source))

    def cancelReceived(
        self, cancel: Request, serverTransaction: Any, inviteTransaction: Any
    ) -> None:
        self.events.append(("cancelReceived", cancel, serverTransaction, inviteTransaction))

    def strayResponse(self, response: Response, source: tuple[str, int]) -> None:
        self.events.append(("strayResponse", response, source))

    def serverTimedOut(self, serverTransaction: Any) -> None:
        self.events.append(("serverTimedOut", serverTransaction))

    def requestRetransmitted(self, request: Request, serverTransaction: Any) -> None:
        # Kept apart from C{events}: most tests are about what reaches the
        # user as new work, and retransmissions are not that.
        self.retransmissions.append((request, serverTransaction))

    def names(self) -> list[str]:
        """
        @return: the method names called, in order.
        """
        return [event[0] for event in self.events]


@implementer(IClientTransactionUser)
class RecordingClientUser:
    """
    An L{IClientTransactionUser} recording each call as C{(name, args...)}
    in C{events}.
    """

    def __init__(self) -> None:
        self.events: list[tuple[Any, ...]] = []

    def responseReceived(self, response: Response, clientTransaction: Any) -> None:
        self.events.append(("responseReceived", response, clientTransaction))

    def timedOut(self, clientTransaction: Any) -> None:
        self.events.append(("timedOut", clientTransaction))

    def transportFailed(self, clientTransaction: Any) -> None:
        self.events.append(("transportFailed", clientTransaction))

    def codes(self) -> list[int]:
        """
        @return: the status codes of the responses received, in order.
        """
        return [e[1].code for e in self.events if e[0] == "responseReceived"]

    def names(self) -> list[str]:
        return [event[0] for event in self.events]


def makeRequest(
    method: str,
    branch: str = "z9hG4bKtest1",
    sentBy: str = "192.0.2.10:5060",
    cseqNumber: int = 1,
    callID: str = "call-1@192.0.2.10",
    fromTag: str = "fromtag1",
    toTag: str | None = None,
    extraVias: tuple[str, ...] = (),
    viaParams: str = "",
    transport: str = "UDP",
) -> Request:
    """
    Build a request as a peer would send it, with the headers the transaction
    layer reads (no parser involved).

    @param branch: the top Via branch; L{None} or a value without
        C{z9hG4bK} for an RFC 2543 peer.
    @param viaParams: appended to the top Via, e.g. C{";rport"}.
    """
    request = Request(method, parseURI("sip:bob@example.com"))
    via = f"SIP/2.0/{transport} {sentBy}"
    if branch is not None:
        via += f";branch={branch}"
    request.addHeader("via", via + viaParams)
    for extra in extraVias:
        request.addHeader("via", extra)
    request.addHeader("max-forwards", "70")
    request.addHeader("from", f"Alice <sip:alice@example.org>;tag={fromTag}")
    to = "Bob <sip:bob@example.com>"
    if toTag is not None:
        to += f";tag={toTag}"
    request.addHeader("to", to)
    request.addHeader("call-id", callID)
    request.addHeader("cseq", f"{cseqNumber} {method}")
    return request


def makeAck(invite: Request, response: Response, branch: str | None = None) -> Request:
    """
    Build the ACK a peer sends for C{response} to C{invite}: the INVITE's top
    Via (or one with C{branch}, as for a 2xx ACK), To from the response.
    """
    ack = Request("ACK", invite.uri)
    via = invite.headers["via"][0]
    if branch is not None:
        via = via.split(";branch=")[0] + f";branch={branch}"
    ack.addHeader("via", via)
    ack.addHeader("max-forwards", "70")
    ack.addHeader("from", invite.headers["from"][0])
    ack.addHeader("to", response.headers["to"][0])
    ack.addHeader("call-id", invite.headers["call-id"][0])
    number = invite.headers["cseq"][0].split()[0]
    ack.addHeader("cseq", f"{number} ACK")
    return ack


def makeCancel(invite: Request) -> Request:
    """
    Build the CANCEL a peer sends for C{invite}: same top Via (branch), same
    Request-URI, From, To, Call-ID and CSeq number.
    """
    cancel = Request("CANCEL", invite.uri)
    cancel.addHeader("via", invite.headers["via"][0])
    cancel.addHeader("max-forwards", "70")
    for name in ("from", "to", "call-id"):
        cancel.addHeader(name, invite.headers[name][0])
    number = invite.headers["cseq"][0].split()[0]
    cancel.addHeader("cseq", f"{number} CANCEL")
    return cancel


def makeResponse(request: Request, code: int, toTag: str | None = "totag1") -> Response:
    """
    Build the response a peer sends to C{request} (all its Vias).
    """
    return responseFromRequest(request, code, toTag=toTag if code > 100 else None)


def advanceTo(clock: Any, when: float) -> None:
    """
    Advance a L{twisted.internet.task.Clock} to C{when}, stopping exactly at
    each delayed call's time on the way, so that timers fire at their exact
    times with no accumulated floating-point step error.
    """
    while True:
        pending = [call.getTime() for call in clock.getDelayedCalls()]
        nextTime = min(pending) if pending else None
        if nextTime is None or nextTime > when:
            break
        clock.rightNow = max(clock.rightNow, nextTime)
        clock.advance(0)
    clock.rightNow = max(clock.rightNow, when)
    clock.advance(0)


class HeapClock:
    """
    An L{IReactorTime} like L{twisted.internet.task.Clock} (C{seconds},
    C{callLater}, C{getDelayedCalls}, C{advance}, C{rightNow}), whose delayed
    calls sit in a heap: C{task.Clock} sorts its whole list on every
    C{callLater} and pops from its front, quadratic with the tens of
    thousands of timers a flood test arms. Cancelled and reset calls are
    skipped lazily when they reach the top.
    """

    def __init__(self) -> None:
        self.rightNow = 0.0
        self._heap: list[tuple[float, int, DelayedCall]] = []
        self._sequence = 0
        self._live: dict[DelayedCall, int] = {}

    def seconds(self) -> float:
        return self.rightNow

    def _push(self, call: DelayedCall) -> None:
        self._sequence += 1
        self._live[call] = self._sequence
        heapq.heappush(self._heap, (call.getTime(), self._sequence, call))

    def _cancelled(self, call: DelayedCall) -> None:
        self._live.pop(call, None)

    def callLater(self, delay: float, callable: Any, *args: Any, **kw: Any) -> DelayedCall:
        call = DelayedCall(
            self.seconds() + delay, callable, args, kw, self._cancelled, self._push, self.seconds
        )
        self._push(call)
        return call

    def getDelayedCalls(self) -> list[DelayedCall]:
        return list(self._live)

    def advance(self, amount: float) -> None:
        """
        Move time on by C{amount} and run every call due, in time order.
        """
        self.rightNow += amount
        heap = self._heap
        while heap and heap[0][0] <= self.rightNow:
            _, sequence, call = heapq.heappop(heap)
            if self._live.get(call) != sequence:
                continue
            del self._live[call]
            call.called = 1
            call.func(*call.args, **call.kw)
