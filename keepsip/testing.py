"""
Test doubles for code that uses keepsip, shipped with it (like
C{treq.testing}).

Accounting: L{RecordingBackend} is an accounting backend that keeps records
in a list and can be told to fail, to hold records in flight, or to fail to
start; L{callRecords} gives the records of one sample call, to feed a
backend of your own::

    backend = RecordingBackend()
    tracker = AccountingTracker([("test", backend)], clock, spoolDir)
    ...
    assert [r["type"] for r in backend.records] == ["start", "stop"]

SIP: a call from Alice (L{ALICE}) through keepsip (L{PROXY}) to Bob
(L{BOB}), as datagrams: L{invite} (an INVITE with the L{SDP} offer, or any
request from Alice), L{answer} (a user agent's response to what it
received), L{inDialog}, L{ack} and L{bye} (Alice's requests in the
established call, routed through keepsip), and L{FakeSIPNetwork}, the
datagram transport under a keepsip protocol that delivers datagrams to it
and records, per address, what it sends::

    network = FakeSIPNetwork()
    network.connect(protocol)
    network.receive(invite(), ALICE)
    [atBob] = network.sentTo(BOB)
    network.receive(answer(atBob, 200, "OK", body=ANSWER_SDP), BOB)
    network.receive(ack(), ALICE)

Dialogs: L{RecordingObserver} is a dialog observer that records every event
the tracker raises, in order::

    observer = RecordingObserver()
    tracker.addObserver(observer)
    ...
    assert observer.names() == ["created", "early", "confirmed", "terminated"]
"""

from __future__ import annotations

from typing import Any

from twisted.internet.defer import Deferred, fail, succeed
from twisted.internet.protocol import DatagramProtocol
from twisted.internet.testing import FakeDatagramTransport
from zope.interface import implementer

from keepsip.accounting.cdr import RecordBuilder
from keepsip.accounting.rating import Tariffs
from collections.abc import Mapping

from keepsip.dialog.model import Dialog, DialogState, EndCause, Leg
from keepsip.dialog.observer import DialogObserver
from keepsip.interfaces import IAccountingBackend
from keepsip.sip.message import Request, Response
from keepsip.sip.parser import parseDatagram


class BackendUnavailable(Exception):
    """
    The failure a L{RecordingBackend} told to fail gives.
    """


@implementer(IAccountingBackend)
class RecordingBackend:
    """
    An L{IAccountingBackend} that records what it accepts.

    @ivar records: the accepted records, in order of acceptance.
    @ivar attempts: every record offered to L{sendRecord}, accepted or not.
    @ivar failing: when true, L{sendRecord} fails with L{BackendUnavailable}.
    @ivar holding: when true, L{sendRecord} returns a Deferred kept in
        L{held} until L{release} (or L{releaseFailing}).
    @ivar held: C{(record, Deferred)} pairs of records in flight.
    @ivar readyResult: what L{ready} gives: L{None} to succeed, an exception
        to fail with.
    @ivar closed: whether L{close} was called.
    """

    def __init__(self, name: str = "recording") -> None:
        self.name = name
        self.records: list[dict[str, Any]] = []
        self.attempts: list[dict[str, Any]] = []
        self.failing = False
        self.holding = False
        self.held: list[tuple[dict[str, Any], Deferred]] = []
        self.readyResult: BaseException | None = None
        self.closed = False

    @property
    def recordIDs(self) -> list[str]:
        """
        The C{record_id} of each accepted record, in order.
        """
        return [record["record_id"] for record in self.records]

    def fail(self) -> None:
        """
        Fail every record from now on (the destination is down).
        """
        self.failing = True

    def recover(self) -> None:
        """
        Accept records again.
        """
        self.failing = False

    def ready(self) -> Deferred:
        if self.readyResult is not None:
            return fail(self.readyResult)
        return succeed(None)

    def sendRecord(self, record: dict[str, Any]) -> Deferred:
        self.attempts.append(record)
        if self.failing:
            return fail(BackendUnavailable("recording backend told to fail"))
        if self.holding:
            d: Deferred = Deferred()
            self.held.append((record, d))
            return d
        self.records.append(record)
        return succeed(None)

    def release(self) -> None:
        """
        Accept every held record, oldest first.
        """
        held, self.held = self.held, []
        for record, d in held:
            if not d.called:
                self.records.append(record)
                d.callback(None)

    def releaseFailing(self) -> None:
        """
        Fail every held record.
        """
        held, self.held = self.held, []
        for _, d in held:
            if not d.called:
                d.errback(BackendUnavailable("held record failed"))

    def close(self) -> Deferred:
        self.closed = True
        return succeed(None)


# -- sample calls and their records -------------------------------------------

#: The SDP of the sample calls' dialogs (L{makeDialog}).
PCMU = b"v=0\r\nc=IN IP4 192.0.2.1\r\nm=audio 4000 RTP/AVP 0\r\n"


def makeDialog(number: int, now: float) -> Dialog:
    """
    @return: sample call number C{number} (Call-ID C{call-N@example.com}),
        invited at C{now}, not yet answered.
    """
    return Dialog(
        callID=f"call-{number}@example.com",
        caller=Leg("sip:alice@example.com", tag=f"a{number}"),
        callee=Leg("sip:bob@example.com"),
        requestURI="sip:4420@example.com",
        invitedAt=now,
        lastOfferSDP=PCMU,
    )


def answerDialog(dialog: Dialog, now: float) -> None:
    """
    Make C{dialog} (from L{makeDialog}) answered at C{now}.
    """
    dialog.callee.tag = "b"
    dialog.state = DialogState.CONFIRMED
    dialog.answeredAt = now
    dialog.lastAnswerSDP = PCMU


def endDialog(dialog: Dialog, now: float, cause: str = EndCause.CALLER_BYE) -> None:
    """
    Make C{dialog} ended at C{now} with C{cause}.
    """
    dialog.state = DialogState.TERMINATED
    dialog.endedAt = now
    dialog.endCause = cause


def callRecords(number: int, cause: str = EndCause.CALLER_BYE) -> list[dict[str, Any]]:
    """
    @return: the start, interim (after 30 s) and stop (after 60 s, C{cause})
        records of sample call number C{number}, answered, as the accounting
        tracker hands them to a backend.
    """
    builder = RecordBuilder(Tariffs())
    dialog = makeDialog(number, 1700000000.0)
    answerDialog(dialog, 1700000001.0)
    records = [builder.build(dialog, "start", 1700000001.0)]
    records.append(builder.build(dialog, "interim", 1700000031.0, sequence=1))
    endDialog(dialog, 1700000061.0, cause)
    records.append(builder.build(dialog, "stop", 1700000061.0, detail={"caller": "BYE"}))
    return records


# -- a call on a fake network -------------------------------------------------

#: keepsip's address in the sample call.
PROXY = ("192.0.2.1", 5060)
#: The caller's address.
ALICE = ("192.0.2.10", 5060)
#: The callee's address (what keepsip routes the INVITE to).
BOB = ("192.0.2.20", 5060)

#: Alice's SDP offer.
SDP = (
    b"v=0\r\n"
    b"o=alice 2890844526 2890844526 IN IP4 192.0.2.10\r\n"
    b"s=-\r\n"
    b"c=IN IP4 192.0.2.10\r\n"
    b"t=0 0\r\n"
    b"m=audio 49170 RTP/AVP 0\r\n"
    b"a=rtpmap:0 PCMU/8000\r\n"
)
#: Bob's SDP answer.
ANSWER_SDP = SDP.replace(b"192.0.2.10", b"192.0.2.20").replace(b"alice", b"bob")


def invite(
    callID: str = "call-1",
    cseq: int = 1,
    branch: str = "z9hG4bKalice1",
    uri: str = "sip:bob@192.0.2.1",
    toTag: str | None = None,
    body: bytes = SDP,
    maxForwards: int | None = 70,
    extra: str = "",
    method: str = "INVITE",
    route: str | None = None,
) -> bytes:
    """
    @return: a request from Alice as a datagram: by default her INVITE to
        Bob through keepsip, with the L{SDP} offer.
    @param extra: header lines added as they are (CRLF-separated).
    """
    to = "<sip:bob@192.0.2.1>" + (f";tag={toTag}" if toTag else "")
    lines = [
        f"{method} {uri} SIP/2.0",
        f"Via: SIP/2.0/UDP 192.0.2.10:5060;branch={branch};rport",
    ]
    if maxForwards is not None:
        lines.append(f"Max-Forwards: {maxForwards}")
    if route:
        lines.append(f"Route: {route}")
    lines += [
        "From: Alice <sip:alice@example.com>;tag=alicetag",
        f"To: {to}",
        f"Call-ID: {callID}",
        f"CSeq: {cseq} {method}",
        "Contact: <sip:alice@192.0.2.10:5060>",
    ]
    if extra:
        lines.append(extra)
    if body:
        lines.append("Content-Type: application/sdp")
    lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def answer(
    request: Request,
    code: int,
    phrase: str,
    toTag: str | None = "bobtag",
    body: bytes = b"",
    contact: str = "<sip:bob@192.0.2.20:5060>",
) -> bytes:
    """
    @return: a user agent's response to C{request} as it received it (Via,
        Record-Route, From, To, Call-ID, CSeq copied; C{toTag} added to a To
        without one; a Contact on a 2xx to an INVITE), as a datagram.
    """
    headers = request.headers
    lines = [f"SIP/2.0 {code} {phrase}"]
    lines += [f"Via: {v}" for v in headers["via"]]
    lines += [f"Record-Route: {v}" for v in headers.get("record-route", [])]
    to = headers["to"][0]
    if toTag and ";tag=" not in to:
        to += f";tag={toTag}"
    lines += [
        f"From: {headers['from'][0]}",
        f"To: {to}",
        f"Call-ID: {headers['call-id'][0]}",
        f"CSeq: {headers['cseq'][0]}",
    ]
    if code < 300 and request.method == "INVITE":
        lines.append(f"Contact: {contact}")
    if body:
        lines.append("Content-Type: application/sdp")
    lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def inDialog(
    method: str, cseq: int = 1, branch: str = "z9hG4bKalice-in", body: bytes = b"", **kw: Any
) -> bytes:
    """
    @return: Alice's C{method} request within the answered call: to Bob's
        contact, with Bob's tag, routed through keepsip (its Record-Route).
        C{kw} go to L{invite} (e.g. C{callID}, C{extra}).
    """
    return invite(
        method=method,
        uri="sip:bob@192.0.2.20:5060",
        cseq=cseq,
        branch=branch,
        toTag="bobtag",
        body=body,
        route="<sip:192.0.2.1:5060;lr>",
        **kw,
    )


def ack(cseq: int = 1, branch: str = "z9hG4bKalice-ack") -> bytes:
    """
    @return: Alice's ACK of Bob's 2xx to her INVITE number C{cseq}.
    """
    return inDialog("ACK", cseq, branch)


def bye(cseq: int = 2, branch: str = "z9hG4bKalice-bye") -> bytes:
    """
    @return: Alice's BYE, ending the call.
    """
    return inDialog("BYE", cseq, branch)


class FakeSIPNetwork(FakeDatagramTransport):
    """
    The datagram transport under one keepsip protocol: delivers datagrams to
    it as if from the network, and records what it sends (C{written} holds
    C{(bytes, address)} pairs, as in L{FakeDatagramTransport}).

    @ivar protocol: the protocol L{connect}ed, or L{None}.
    """

    def __init__(self) -> None:
        super().__init__()
        self.protocol: DatagramProtocol | None = None
        self._read = 0

    def connect(self, protocol: DatagramProtocol) -> None:
        """
        Make this the transport of C{protocol} (its C{makeConnection}).
        """
        self.protocol = protocol
        protocol.makeConnection(self)

    def receive(self, data: bytes | str, source: tuple[str, int]) -> None:
        """
        Deliver a datagram to the protocol as if it came from C{source}.
        """
        assert self.protocol is not None, "connect() a protocol first"
        if isinstance(data, str):
            data = data.encode("utf-8")
        self.protocol.datagramReceived(data, source)

    def allSent(self) -> list[tuple[Request | Response, tuple[str, int]]]:
        """
        @return: everything sent so far, parsed, with its destination.
        """
        return [(parseDatagram(data), address) for data, address in self.written]

    def sent(self) -> list[tuple[Request | Response, tuple[str, int]]]:
        """
        @return: what was sent since the last call of L{sent} or L{sentTo},
            parsed, with its destination.
        """
        new = self.written[self._read :]
        self._read = len(self.written)
        return [(parseDatagram(data), address) for data, address in new]

    def sentTo(self, address: tuple[str, int]) -> list[Request | Response]:
        """
        @return: what was sent to C{address} since the last call of L{sent}
            or L{sentTo} (what went elsewhere in that time is passed over).
        """
        return [message for message, to in self.sent() if to == address]


class RecordingObserver(DialogObserver):
    """
    A dialog observer that records every event, in order, as tuples:
    C{("created", dialog)}, C{("early", dialog)}, C{("confirmed", dialog)},
    C{("updated", dialog)}, C{("keptAlive", dialog)}, C{("expired",
    dialog)}, C{("terminated", dialog, cause, detail)} and C{("restored",
    dialog)}.

    @ivar events: the events so far.
    """

    def __init__(self) -> None:
        self.events: list[tuple[Any, ...]] = []

    def dialogCreated(self, dialog: Dialog) -> None:
        self.events.append(("created", dialog))

    def dialogEarly(self, dialog: Dialog) -> None:
        self.events.append(("early", dialog))

    def dialogConfirmed(self, dialog: Dialog) -> None:
        self.events.append(("confirmed", dialog))

    def dialogUpdated(self, dialog: Dialog) -> None:
        self.events.append(("updated", dialog))

    def dialogKeptAlive(self, dialog: Dialog) -> None:
        self.events.append(("keptAlive", dialog))

    def dialogExpired(self, dialog: Dialog) -> None:
        self.events.append(("expired", dialog))

    def dialogTerminated(self, dialog: Dialog, cause: str, detail: Mapping[str, str]) -> None:
        self.events.append(("terminated", dialog, cause, detail))

    def dialogRestored(self, dialog: Dialog) -> None:
        self.events.append(("restored", dialog))

    def names(self) -> list[str]:
        """
        The events' names, in order.
        """
        return [event[0] for event in self.events]
