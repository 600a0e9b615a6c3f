"""
Call detail records: the JSON-compatible C{dict}s keepsip's accounting sends
to its backends. The schema, field by field, is C{docs/cdr.md}; bump
L{SCHEMA_VERSION} on any incompatible change.

L{RecordBuilder} turns a L{keepsip.dialog.model.Dialog} into a record; it
reads what other layers leave in the dialog's typed fields:

  - C{dialog.keptAlive}: C{count} (keepalives seen for the dialog) and
    C{lastAt} (clock time of the last one, or L{None}), written by the
    keepalive layer;
  - C{dialog.measuredBytes}: media type -> octets relayed, written by a
    media relay (see L{keepsip.accounting.volume.measuredVolume});
  - C{dialog.measuredMedia}: packets and payload octets per media type and
    direction, as the relay counted them (C{volume.measured} of a record);

and keeps its own per-dialog state in an
L{keepsip.accounting.callstate.AccountingState} attachment (the number of
interim records sent, the media segments of the call, and the estimate of
the current offer/answer's media).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

# Where they were before keepsip.accounting.callstate held them.
from keepsip.accounting.callstate import (  # noqa: F401
    AccountingState,
    accountingState,
    currentEstimate,
    currentRates,
    mediaEstimate,
    noteMedia,
)
from keepsip.accounting.rating import Tariffs
from keepsip.accounting.volume import measuredVolume
from keepsip.dialog.model import Dialog
from keepsip.sip.address import hostPort

#: The version of the record format; C{"schema"} of every record.
SCHEMA_VERSION = 1

START = "start"
INTERIM = "interim"
STOP = "stop"
RECORD_TYPES = (START, INTERIM, STOP)


def recordID(callID: str, callerTag: str, calleeTag: str, kind: str, sequence: int) -> str:
    """
    The stable identity of a record: the same call, record type and sequence
    give the same id, so a record delivered twice can be recognised
    downstream.

    @return: 32 lower-case hex digits (128 bits of SHA-256).
    """
    material = "\x00".join((callID, callerTag, calleeTag, kind, str(sequence)))
    return hashlib.sha256(material.encode("utf-8", "surrogateescape")).hexdigest()[:32]


def isoTime(epoch: float | None) -> str | None:
    """
    @return: C{epoch} as ISO 8601 UTC with milliseconds and a C{Z}, e.g.
        C{"2024-05-01T12:00:00.250Z"}, or L{None}.
    """
    if epoch is None:
        return None
    # What datetime.fromtimestamp does (microseconds rounded half to even),
    # with the formatted second cached: a record's times share few seconds.
    fraction, whole = math.modf(epoch)
    second = int(whole)
    micro = round(fraction * 1e6)
    if micro >= 1_000_000:
        second += 1
        micro -= 1_000_000
    elif micro < 0:
        second -= 1
        micro += 1_000_000
    prefix = _isoSeconds.get(second)
    if prefix is None:
        prefix = datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%dT%H:%M:%S.")
        if len(_isoSeconds) >= _ISO_SECONDS_MAX:
            _isoSeconds.clear()
        _isoSeconds[second] = prefix
    return f"{prefix}{micro // 1000:03d}Z"


#: Formatted seconds of L{isoTime}, bounded.
_isoSeconds: dict[int, str] = {}
_ISO_SECONDS_MAX = 256


def _epoch(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def userPart(uri: str | None) -> str:
    """
    The user part of a C{sip:}/C{sips:} URI, or the number of a C{tel:} URI,
    without parameters; C{""} if there is none.

    >>> userPart("sip:+4420@example.com;user=phone")
    '+4420'
    """
    if not uri:
        return ""
    uri = uri.strip()
    if uri.startswith("<"):
        uri = uri[1 : uri.find(">")] if ">" in uri else uri[1:]
    scheme, sep, rest = uri.partition(":")
    if not sep:
        return ""
    if scheme.lower() == "tel":
        return rest.split(";", 1)[0]
    user, at, _ = rest.partition("@")
    if not at:
        return ""
    return user.split(";", 1)[0].split(":", 1)[0]


def _address(source: tuple[str, int] | None) -> str | None:
    if source is None:
        return None
    return hostPort(*source)


class RecordBuilder:
    """
    Makes call records from dialogs.

    @ivar tariffs: the L{Tariffs} to price calls with.
    """

    def __init__(self, tariffs: Tariffs) -> None:
        self.tariffs = tariffs

    def destination(self, dialog: Dialog) -> str:
        """
        The dialled destination, used for tariff prefixes: the user part of
        the initial INVITE's Request-URI, else of the callee's URI.
        """
        return userPart(dialog.requestURI) or userPart(dialog.callee.uri)

    def volume(self, dialog: Dialog, until: float | None) -> tuple[dict[str, int], str]:
        """
        Octets per price class moved between answer and C{until}.

        @return: C{(volume, source)}: source is C{"measured"} when a media
            relay reported bytes, else C{"estimated"}.
        """
        measured = measuredVolume(dialog.measuredBytes)
        if measured is not None:
            return measured, "measured"
        volume = {"audio": 0, "video": 0, "other": 0}
        answeredAt = dialog.answeredAt
        if answeredAt is None or until is None or until <= answeredAt:
            return volume, "estimated"
        state = dialog.attachments.get(AccountingState)
        segments = (state.segments if state is not None else None) or [
            [answeredAt, currentEstimate(dialog)[0].rates]
        ]
        for index, (since, rates) in enumerate(segments):
            start = max(since, answeredAt)
            end = segments[index + 1][0] if index + 1 < len(segments) else until
            end = min(end, until)
            if end <= start:
                continue
            for kind, perSecond in rates.items():
                volume[kind] += int(perSecond * (end - start))
        return volume, "estimated"

    def build(
        self,
        dialog: Dialog,
        kind: str,
        now: float,
        sequence: int = 0,
        cause: str | None = None,
        detail: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """
        Make one record.

        @param kind: L{START}, L{INTERIM} or L{STOP}.
        @param now: the clock time the record is made.
        @param sequence: the interim number (1, 2, ...); 0 for start and stop.
        @param cause: the L{keepsip.dialog.model.EndCause} of a stop record
            (default C{dialog.endCause}).
        @param detail: per-leg end detail of a stop record (default
            C{dialog.endDetail}).
        @return: a JSON-compatible C{dict} as described in C{docs/cdr.md}.
        """
        caller, callee = dialog.caller, dialog.callee
        answered = dialog.answeredAt is not None
        if kind == STOP:
            endedAt = dialog.endedAt if dialog.endedAt is not None else now
            until: float | None = endedAt
            cause = cause or dialog.endCause
            detail = dict(detail if detail is not None else dialog.endDetail)
        else:
            endedAt = None
            # A start record is "as of the answer" (duration 0, docs/cdr.md),
            # however late in the reactor turn it is made.
            until = dialog.answeredAt if kind == START and answered else now
            cause = None
            detail = None
        if answered and until is not None:
            talk = max(0, round((until - dialog.answeredAt) * 1000))  # type: ignore[operator]
        else:
            talk = 0
        keepaliveCount, keepaliveAt = dialog.keptAlive.count, dialog.keptAlive.lastAt
        volume, volumeSource = self.volume(dialog, until)
        destination = self.destination(dialog)
        charge = self.tariffs.rate(destination, answered, talk, volume)
        estimate, places = currentEstimate(dialog)
        media = estimate.summaries(places)
        return {
            "schema": SCHEMA_VERSION,
            "type": kind,
            "record_id": recordID(
                dialog.callID, caller.tag or "", callee.tag or "", kind, sequence
            ),
            "sequence": sequence,
            "record_time": isoTime(now),
            "record_epoch": _epoch(now),
            "call_id": dialog.callID,
            "tags": {"caller": caller.tag, "callee": callee.tag},
            "caller": {
                "uri": caller.uri,
                "address": _address(caller.source),
                "contact": caller.remoteTarget,
                "auth_user": dialog.authUser,
            },
            "callee": {
                "uri": callee.uri,
                "address": _address(callee.source),
                "contact": callee.remoteTarget,
            },
            "request_uri": dialog.requestURI,
            "destination": destination,
            "state": dialog.state,
            "answered": answered,
            "final_status": dialog.finalStatus,
            "invite_time": isoTime(dialog.invitedAt),
            "invite_epoch": _epoch(dialog.invitedAt),
            "answer_time": isoTime(dialog.answeredAt),
            "answer_epoch": _epoch(dialog.answeredAt),
            "end_time": isoTime(endedAt),
            "end_epoch": _epoch(endedAt),
            "detected_time": isoTime(dialog.detectedAt) if kind == STOP else None,
            "detected_epoch": _epoch(dialog.detectedAt) if kind == STOP else None,
            "setup_ms": dialog.setupMilliseconds,
            "duration_ms": talk,
            "end_cause": cause,
            "end_detail": detail,
            "keepalive": {
                "count": keepaliveCount,
                "last_time": isoTime(keepaliveAt),
                "last_epoch": _epoch(keepaliveAt),
            },
            "media": media,
            "volume_bytes": sum(volume.values()),
            "volume": _volumeField(volume, volumeSource, dialog),
            "charge": charge.toDict(),
        }


def _volumeField(volume: dict[str, int], source: str, dialog: Dialog) -> dict[str, Any]:
    """
    The record's C{volume}: octets per price class, their C{source}, and
    for measured volume what the relay counted per media type and direction
    (C{measured}).
    """
    field: dict[str, Any] = dict(volume, source=source)
    if source == "measured" and dialog.measuredMedia:
        field["measured"] = {
            mediaType: {direction: dict(counts) for direction, counts in directions.items()}
            for mediaType, directions in dialog.measuredMedia.items()
        }
    return field
