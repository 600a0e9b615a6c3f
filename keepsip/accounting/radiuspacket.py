"""
RFC 2866 Accounting-Request packets for the C{radius} accounting backend
(L{keepsip.accounting.radius}): the attributes of a record, the packet with
its Request Authenticator, and the check of a Response Authenticator.

Attributes (the mapping is documented in C{docs/accounting.md}):

  - Acct-Status-Type; Acct-Session-Id: 32 hex digits of SHA-256 over the
    Call-ID and both tags, the same for every record of the call;
    Acct-Multi-Session-Id: the SIP Call-ID;
  - User-Name: the caller's URI; Calling-Station-Id: the user part of the
    caller's URI; Called-Station-Id: the dialled destination;
  - NAS-Identifier (C{nasid}, default C{keepsip}) and, for IPv4, the
    NAS-IP-Address the UDP socket sends from;
  - Event-Timestamp: when keepsip made the record; Acct-Delay-Time: seconds
    since then;
  - Interim-Update and Stop: Acct-Session-Time (talk time, whole seconds,
    rounded), Acct-Input/Output-Octets (+ Gigawords) when the media volume
    was measured; Stop: Acct-Terminate-Cause from L{TERMINATE_CAUSES}.

Packets are encoded with pyrad and an embedded dictionary of just these
attributes; the Response Authenticator is checked here (RFC 2866 section 3).
"""

from __future__ import annotations

import hashlib
import hmac
import io
from typing import Any

ACCOUNTING_REQUEST = 4
ACCOUNTING_RESPONSE = 5

#: Acct-Status-Type per record type.
STATUS_TYPES = {"start": 1, "stop": 2, "interim": 3}

#: Acct-Terminate-Cause (RFC 2866 section 5.10) per keepsip end cause.
TERMINATE_CAUSES = {
    "caller-bye": 1,  # User-Request
    "callee-bye": 1,  # User-Request
    "cancelled": 1,  # User-Request: the caller hung up before the answer
    "keepalive-timeout": 2,  # Lost-Carrier: the endpoint stopped proving it is there
    "ack-timeout": 3,  # Lost-Service: the caller never confirmed the answer
    "media-timeout": 4,  # Idle-Timeout: no media flowed
    "max-duration": 5,  # Session-Timeout
    "shutdown": 7,  # Admin-Reboot: keepsip was stopped by its operator
    "error": 9,  # NAS-Error
    "no-answer": 15,  # Service-Unavailable: the callee never answered the INVITE
    "rejected": 18,  # Host-Request: the callee refused the call
}

#: The RADIUS dictionary of the attributes keepsip sends (RFC 2865, 2866,
#: 2869), in FreeRADIUS dictionary syntax, for pyrad.
DICTIONARY = """\
ATTRIBUTE User-Name 1 string
ATTRIBUTE NAS-IP-Address 4 ipaddr
ATTRIBUTE Called-Station-Id 30 string
ATTRIBUTE Calling-Station-Id 31 string
ATTRIBUTE NAS-Identifier 32 string
ATTRIBUTE Acct-Status-Type 40 integer
ATTRIBUTE Acct-Delay-Time 41 integer
ATTRIBUTE Acct-Input-Octets 42 integer
ATTRIBUTE Acct-Output-Octets 43 integer
ATTRIBUTE Acct-Session-Id 44 string
ATTRIBUTE Acct-Session-Time 46 integer
ATTRIBUTE Acct-Terminate-Cause 49 integer
ATTRIBUTE Acct-Multi-Session-Id 50 string
ATTRIBUTE Acct-Input-Gigawords 52 integer
ATTRIBUTE Acct-Output-Gigawords 53 integer
ATTRIBUTE Event-Timestamp 55 date
"""

_dictionary: Any = None


def dictionary() -> Any:
    """
    The pyrad dictionary of L{DICTIONARY}, made once.
    """
    global _dictionary
    if _dictionary is None:
        from pyrad.dictionary import Dictionary  # type: ignore[import-untyped]

        _dictionary = Dictionary(io.StringIO(DICTIONARY))
    return _dictionary


def sessionID(record: dict[str, Any]) -> str:
    """
    The Acct-Session-Id of C{record}'s call: 32 hex digits of SHA-256 over
    the Call-ID and the caller's and callee's tags, so every record of one
    call (and only of that dialog) has it.
    """
    tags = record.get("tags") or {}
    key = "\x00".join(
        [str(record.get("call_id") or ""), tags.get("caller") or "", tags.get("callee") or ""]
    )
    return hashlib.sha256(key.encode("utf-8", "surrogateescape")).hexdigest()[:32]


def userPart(uri: str) -> str:
    """
    C{alice} of C{sip:alice@example.com;transport=udp}; the URI without its
    scheme and parameters when it has no user part.
    """
    rest = uri.partition(":")[2] or uri
    user, at, _ = rest.partition("@")
    part = user if at else rest
    return part.split(";", 1)[0] or uri


def _text(value: Any) -> str:
    """
    A string attribute value cut to RADIUS's 253 octets (on a UTF-8
    character boundary).
    """
    data = str(value).encode("utf-8", "surrogateescape")
    if len(data) <= 253:
        return str(value)
    return data[:253].decode("utf-8", "ignore")


def recordAttributes(
    record: dict[str, Any], now: float, nasIdentifier: str, nasAddress: str | None
) -> list[tuple[str, Any]]:
    """
    The attributes of the Accounting-Request for C{record}.

    @param now: the clock now (for Acct-Delay-Time).
    @param nasAddress: the IPv4 address to send as NAS-IP-Address, or
        L{None}.
    @return: C{(name, value)} pairs in the order sent.
    @raise ValueError: for a record type other than start, interim, stop.
    """
    kind = record.get("type")
    if kind not in STATUS_TYPES:
        raise ValueError(f"radius: cannot send a record of type {kind!r}")
    caller = record.get("caller") or {}
    callerURI = str(caller.get("uri") or "")
    epoch = float(record.get("record_epoch") or now)
    attributes: list[tuple[str, Any]] = [
        ("Acct-Status-Type", STATUS_TYPES[kind]),
        ("Acct-Session-Id", sessionID(record)),
        ("Acct-Multi-Session-Id", _text(record.get("call_id") or "")),
        ("User-Name", _text(callerURI)),
        ("Calling-Station-Id", _text(userPart(callerURI))),
        (
            "Called-Station-Id",
            _text(record.get("destination") or record.get("request_uri") or ""),
        ),
        ("NAS-Identifier", _text(nasIdentifier)),
    ]
    if nasAddress is not None:
        attributes.append(("NAS-IP-Address", nasAddress))
    attributes.append(("Event-Timestamp", int(epoch)))
    attributes.append(("Acct-Delay-Time", max(0, int(now - epoch))))
    if kind != "start":
        attributes.append(
            ("Acct-Session-Time", (int(record.get("duration_ms") or 0) + 500) // 1000)
        )
        volume = record.get("volume") or {}
        if volume.get("source") == "measured":
            # The record has the octets of both directions together; the
            # sum of input and output is exact, the split an even one.
            total = int(record.get("volume_bytes") or 0)
            received = total // 2
            for name, octets in (("Input", received), ("Output", total - received)):
                attributes.append((f"Acct-{name}-Octets", octets & 0xFFFFFFFF))
                if octets >> 32:
                    attributes.append((f"Acct-{name}-Gigawords", octets >> 32))
    if kind == "stop":
        cause = TERMINATE_CAUSES.get(str(record.get("end_cause")))
        if cause is not None:
            attributes.append(("Acct-Terminate-Cause", cause))
    return attributes


def encodeRequest(
    attributes: list[tuple[str, Any]], identifier: int, secret: bytes
) -> tuple[bytes, bytes]:
    """
    An Accounting-Request packet with its Request Authenticator: MD5 over
    code, identifier, length, 16 zero octets, the attributes and the secret
    (RFC 2866 section 3).

    @return: C{(packet, request authenticator)}.
    """
    from pyrad.packet import AcctPacket  # type: ignore[import-untyped]

    packet = AcctPacket(code=ACCOUNTING_REQUEST, id=identifier, secret=secret, dict=dictionary())
    for name, value in attributes:
        packet.AddAttribute(name, value)
    raw: bytes = packet.RequestPacket()
    return raw, raw[4:20]


def verifyResponse(data: bytes, requestAuthenticator: bytes, secret: bytes) -> bool:
    """
    Whether C{data} (one whole packet) carries the Response Authenticator
    of a response to the request with C{requestAuthenticator}: MD5 over
    code, identifier, length, the request authenticator, the response's
    attributes and the secret.
    """
    expected = hashlib.md5(data[:4] + requestAuthenticator + data[20:] + secret).digest()
    return hmac.compare_digest(expected, data[4:20])
