"""
A L{Dialog} as bytes and back, for the stores that outlive the process.

The dialog layer does not know the types the layers above attach to a
dialog; the composition root hands a L{DialogCodec} one L{AttachmentCodec}
per attachment type that must survive a restart (the keepalive state, the
accounting state). Attachments without a codec are left out: they are
transient (an absorbed answer being retransmitted, a pending ACK).

The format is JSON (compact, UTF-8), versioned by L{SCHEMA_VERSION} in every
document and in every store's metadata. Bytes from the wire (the SDP
bodies, tags) that are not UTF-8 survive through C{surrogateescape}. A
document of a newer version is refused with L{SchemaError}; an older one is
migrated by L{DialogCodec.decode}. Documents written when a dialog kept its
whole last INVITE (C{lastInvite}, the request's text) are still read: the
CSeq number and From tag a keepalive must repeat are taken from it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from keepsip.dialog.legs import sharedAddress, sharedRouteSet
from keepsip.dialog.model import NO_DETAIL, Dialog, DialogState, Leg, ProofOfLife
from keepsip.logs import Logger
from keepsip.sip.sdp import offerDigest

log = Logger()

#: The version of the serialised dialog (and of each store's layout).
SCHEMA_VERSION = 1


class SchemaError(ValueError):
    """
    A stored dialog (or a store) cannot be read by this keepsip: it is
    corrupt, or written by a newer schema.
    """


@dataclass(frozen=True)
class AttachmentCodec:
    """
    How one attachment type is stored.

    @ivar name: its stable key in the stored document.
    @ivar kind: the attachment's type.
    @ivar toDict: the attachment -> a JSON-compatible C{dict}.
    @ivar fromDict: such a C{dict} -> the attachment.
    """

    name: str
    kind: type
    toDict: Callable[[Any], dict[str, Any]]
    fromDict: Callable[[Mapping[str, Any]], Any]


#: json.dumps(..., separators=(",", ":")) without making an encoder per call.
_encodeJSON = json.JSONEncoder(separators=(",", ":")).encode


def _text(data: bytes) -> str:
    return data.decode("utf-8", "surrogateescape")


def _bytes(text: str) -> bytes:
    return text.encode("utf-8", "surrogateescape")


def _offerDigest(digest: Any, offer: str | None, state: Any) -> bytes:
    # Written since dialogs keep a digest of an answered offer; a document
    # from before has the body, digested here if the call was answered.
    if digest is not None:
        if not isinstance(digest, str):
            raise TypeError("offerDigest is not a string")
        return bytes.fromhex(digest)
    if offer and state == DialogState.CONFIRMED:
        return offerDigest(_bytes(offer))
    return b""


def _legToDict(leg: Leg) -> dict[str, Any]:
    return {
        "uri": leg.uri,
        "tag": leg.tag,
        "cseq": leg.cseq,
        "remoteTarget": leg.remoteTarget,
        "routeSet": list(leg.routeSet),
        "source": list(leg.source) if leg.source is not None else None,
        "lastRequestAt": leg.lastRequestAt,
    }


def _legFromDict(data: Mapping[str, Any]) -> Leg:
    source = data.get("source")
    return Leg(
        uri=str(data["uri"]),
        tag=data.get("tag"),
        cseq=int(data.get("cseq", 0)),
        remoteTarget=data.get("remoteTarget"),
        routeSet=sharedRouteSet(str(r) for r in data.get("routeSet") or []),
        source=sharedAddress((str(source[0]), int(source[1]))) if source else None,
        lastRequestAt=data.get("lastRequestAt"),
    )


def _bodyOf(message: str) -> bytes:
    """
    The body of a serialised message (after the first empty line).
    """
    _, separator, body = message.partition("\r\n\r\n")
    return _bytes(body) if separator else b""


def _lastInviteOf(text: str) -> tuple[int | None, str | None]:
    """
    The CSeq number and From tag of an INVITE stored whole (documents
    written before dialogs kept only those), or C{(None, None)} if it does
    not parse.
    """
    from keepsip.sip.headers import cseq, fromHeader
    from keepsip.sip.parser import ParseError, parseDatagram

    try:
        request = parseDatagram(_bytes(text))
        return cseq(request).number, fromHeader(request).tag
    except (ParseError, ValueError, AttributeError) as e:
        log.error("stored INVITE unreadable: {error}", error=str(e))
        return None, None


#: Decoded dialogs are plain L{Dialog}s (the name stays for callers).
RestoredDialog = Dialog


class DialogCodec:
    """
    Encodes and decodes dialogs with their persistent attachments.

    @param attachments: the L{AttachmentCodec}s, one per attachment type.
    """

    def __init__(self, attachments: Iterable[AttachmentCodec] = ()) -> None:
        self.attachments = tuple(attachments)
        names = [codec.name for codec in self.attachments]
        if len(set(names)) != len(names):
            raise ValueError(f"attachment names must be unique: {names!r}")

    def toDict(self, dialog: Dialog) -> dict[str, Any]:
        """
        @return: C{dialog} as a JSON-compatible C{dict} with a C{"v"}
            (L{SCHEMA_VERSION}).
        """
        attached: dict[str, Any] = {}
        for codec in self.attachments:
            value = dialog.attachments.get(codec.kind)
            if value is not None:
                attached[codec.name] = codec.toDict(value)
        offer = dialog.lastOfferSDP
        return {
            "v": SCHEMA_VERSION,
            "callID": dialog.callID,
            "caller": _legToDict(dialog.caller),
            "callee": _legToDict(dialog.callee),
            "requestURI": dialog.requestURI,
            "invitedAt": dialog.invitedAt,
            "state": dialog.state,
            "answeredAt": dialog.answeredAt,
            "endedAt": dialog.endedAt,
            "detectedAt": dialog.detectedAt,
            "lastInviteCSeq": dialog.lastInviteCSeq,
            "lastInviteSender": dialog.lastInviteSender,
            "lastOfferSDP": _text(offer),
            "offerDigest": dialog.offerDigest.hex(),
            "lastAnswerSDP": _text(dialog.lastAnswerSDP),
            "finalStatus": dialog.finalStatus,
            "endCause": dialog.endCause,
            "endDetail": dict(dialog.endDetail),
            "sessionExpires": dialog.sessionExpires,
            "ending": list(dialog.ending) if dialog.ending is not None else None,
            "keptAlive": {"count": dialog.keptAlive.count, "lastAt": dialog.keptAlive.lastAt},
            "measuredBytes": dict(dialog.measuredBytes)
            if dialog.measuredBytes is not None
            else None,
            "attachments": attached,
        }

    def fromDict(self, data: Mapping[str, Any]) -> Dialog:
        """
        @return: the dialog L{toDict} gave C{data} for.
        @raise SchemaError: C{data} is from a newer schema or malformed.
        """
        version = data.get("v")
        if not isinstance(version, int) or version < 1:
            raise SchemaError(f"stored dialog has no valid schema version: {version!r}")
        if version > SCHEMA_VERSION:
            raise SchemaError(
                f"stored dialog has schema version {version}, newer than this "
                f"keepsip's {SCHEMA_VERSION}"
            )
        try:
            ending = data.get("ending")
            kept = data.get("keptAlive") or {}
            last = data.get("lastInvite")
            offer = data.get("lastOfferSDP")
            digest = data.get("offerDigest")
            number = data.get("lastInviteCSeq")
            sender = data.get("lastInviteSender")
            if last is not None:
                # Written when a dialog kept its whole last INVITE.
                if not isinstance(last, str):
                    raise TypeError("lastInvite is not a string")
                number, sender = _lastInviteOf(last)
                if offer is None:
                    offer = _text(_bodyOf(last))
            dialog = Dialog(
                callID=str(data["callID"]),
                caller=_legFromDict(data["caller"]),
                callee=_legFromDict(data["callee"]),
                requestURI=str(data["requestURI"]),
                invitedAt=float(data["invitedAt"]),
                state=str(data["state"]),
                answeredAt=data.get("answeredAt"),
                endedAt=data.get("endedAt"),
                detectedAt=data.get("detectedAt"),
                lastInviteCSeq=None if number is None else int(number),
                lastInviteSender=None if sender is None else str(sender),
                lastOfferSDP=b"" if offer is None else _bytes(offer),
                offerDigest=_offerDigest(digest, offer, data.get("state")),
                lastAnswerSDP=_bytes(data.get("lastAnswerSDP") or ""),
                finalStatus=data.get("finalStatus"),
                endCause=data.get("endCause"),
                endDetail={str(k): str(v) for k, v in (data.get("endDetail") or {}).items()}
                or NO_DETAIL,
                sessionExpires=data.get("sessionExpires"),
                ending=(str(ending[0]), float(ending[1])) if ending else None,
                keptAlive=ProofOfLife(int(kept.get("count", 0)), kept.get("lastAt")),
                measuredBytes=data.get("measuredBytes"),
            )
            attached = data.get("attachments") or {}
            for codec in self.attachments:
                if codec.name in attached:
                    dialog.attachments.set(codec.fromDict(attached[codec.name]))
        except SchemaError:
            raise
        except (KeyError, TypeError, ValueError, IndexError, AttributeError) as e:
            raise SchemaError(f"stored dialog is malformed ({type(e).__name__}: {e})") from e
        return dialog

    def encode(self, dialog: Dialog) -> bytes:
        """
        @return: C{dialog} as compact JSON.
        """
        return _encodeJSON(self.toDict(dialog)).encode("ascii")

    def encodeText(self, dialog: Dialog) -> str:
        """
        @return: L{encode}'s document as text (it is ASCII), for a store
            that keeps text: no round trip through C{bytes}.
        """
        return _encodeJSON(self.toDict(dialog))

    def decode(self, data: bytes | str) -> Dialog:
        """
        @return: the dialog L{encode} gave C{data} for.
        @raise SchemaError: C{data} is not such a document.
        """
        try:
            document = json.loads(data)
        except ValueError as e:
            raise SchemaError(f"stored dialog is not JSON ({e})") from e
        if not isinstance(document, dict):
            raise SchemaError("stored dialog is not a JSON object")
        return self.fromDict(document)


__all__ = ["SCHEMA_VERSION", "AttachmentCodec", "DialogCodec", "RestoredDialog", "SchemaError"]
