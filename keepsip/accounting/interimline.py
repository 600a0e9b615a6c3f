"""
Call records straight to their JSON lines.

With C{--interim-on-keepalive} (the default) every keepalive makes an
C{interim} record; building its C{dict} (L{RecordBuilder.build}) and then
encoding it (L{keepsip.accounting.wire.wireSafe}) was most of a keepalive's
CPU. L{recordLine} writes the same line directly (for interim, start and
stop records alike): each field is formatted once, in the order of
C{docs/cdr.md}, and no C{dict} of the record is made; the delivery decodes
the line into one only for a backend that asks for records (the JSON lines
backend writes the line as it is).

The line is byte for byte what C{wireSafe(builder.build(...))} gives; a
record holding a string that is not UTF-8 (a byte the parser kept as a
surrogate) or a value JSON writes otherwise (a non-finite float) is not made
here: L{recordLine} returns L{None} and the caller takes the slow path,
which writes the C{octets} form.
"""

from __future__ import annotations

import json
import math
from json.encoder import encode_basestring
from collections.abc import Mapping
from typing import Any, Callable

from keepsip.accounting.callstate import currentEstimate
from keepsip.accounting.cdr import (
    INTERIM,
    SCHEMA_VERSION,
    START,
    STOP,
    RecordBuilder,
    _address,
    _epoch,
    _volumeField,
    isoTime,
    recordID,
)
from keepsip.dialog.model import Dialog

_fallbackEncoder = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)


def _makeEncoder() -> Callable[[Any], str]:
    c_make_encoder = getattr(json.encoder, "c_make_encoder", None)
    if c_make_encoder is None:  # pragma: no cover - CPython has _json
        return _fallbackEncoder.encode
    # Without circular checks: what it encodes here (media summaries,
    # volume, charge) is built by keepsip and never refers to itself.
    encoder = c_make_encoder(
        None, _fallbackEncoder.default, encode_basestring, None, ":", ",", False, False, True
    )
    return lambda value: "".join(encoder(value, 0))


#: Compact JSON of any JSON-compatible value, as C{json.dumps} with
#: C{separators=(",", ":"), ensure_ascii=False} writes it.
_encode = _makeEncoder()


class _NotHere(Exception):
    """
    A value this module does not write as C{json.dumps} would (a non-finite
    float): the slow path writes the record.
    """


def _value(value: Any) -> str:
    """
    One JSON value, as C{json.dumps} writes it.
    """
    if value is None:
        return "null"
    kind = type(value)
    if kind is str:
        return encode_basestring(value)
    if kind is int:
        return int.__repr__(value)
    if kind is float:
        if not math.isfinite(value):
            raise _NotHere()
        return float.__repr__(value)
    if kind is bool:
        return "true" if value else "false"
    return _encode(value)


#: The parts of a record that stay the same through a call (who, where,
#: its state, when it was invited and answered, its media), as JSON text,
#: by what they are made of: a call's four or more records format them
#: once while it is among the last 1024 calls recorded. Bounded memos,
#: cleared when full: about 0.9 KB per call memoised, so at most about
#: 1 MB whatever the number of calls held.
_parties: dict[tuple[Any, ...], str] = {}
_states: dict[tuple[Any, ...], str] = {}
_medias: dict[tuple[Any, ...], str] = {}
_SEGMENTS_MAX = 1024


def _partiesText(dialog: Dialog, destination: str | None) -> str:
    """
    C{"call_id"} to C{"destination"} of a record of C{dialog}, as JSON
    members followed by a comma.
    """
    caller, callee = dialog.caller, dialog.callee
    key = (
        dialog.callID,
        caller.tag,
        callee.tag,
        caller.uri,
        caller.source,
        caller.remoteTarget,
        dialog.authUser,
        callee.uri,
        callee.source,
        callee.remoteTarget,
        dialog.requestURI,
        destination,
    )
    text = _parties.get(key)
    if text is None:
        v = _value
        text = (
            f'"call_id":{v(dialog.callID)},'
            f'"tags":{{"caller":{v(caller.tag)},"callee":{v(callee.tag)}}},'
            f'"caller":{{"uri":{v(caller.uri)},"address":{v(_address(caller.source))},'
            f'"contact":{v(caller.remoteTarget)},"auth_user":{v(dialog.authUser)}}},'
            f'"callee":{{"uri":{v(callee.uri)},"address":{v(_address(callee.source))},'
            f'"contact":{v(callee.remoteTarget)}}},'
            f'"request_uri":{v(dialog.requestURI)},"destination":{v(destination)},'
        )
        if len(_parties) >= _SEGMENTS_MAX:
            _parties.clear()
        _parties[key] = text
    return text


def _stateText(
    state: Any,
    answered: bool,
    finalStatus: int | None,
    invitedAt: float | None,
    answeredAt: float | None,
) -> str:
    """
    C{"state"} to C{"answer_epoch"} of a record, as JSON members followed
    by a comma.
    """
    key = (state, answered, finalStatus, invitedAt, answeredAt)
    text = _states.get(key)
    if text is None:
        v = _value
        text = (
            f'"state":{v(state)},"answered":{v(answered)},'
            f'"final_status":{v(finalStatus)},'
            f'"invite_time":{v(isoTime(invitedAt))},'
            f'"invite_epoch":{v(_epoch(invitedAt))},'
            f'"answer_time":{v(isoTime(answeredAt))},"answer_epoch":{v(_epoch(answeredAt))},'
        )
        if len(_states) >= _SEGMENTS_MAX:
            _states.clear()
        _states[key] = text
    return text


def _mediaText(dialog: Dialog) -> str:
    """
    The C{"media"} value of a record of C{dialog}: the summaries of
    L{keepsip.accounting.cdr.mediaEstimate}, as JSON. Memoised by the
    shared estimate and the call's ports and addresses, which are all the
    summaries are made of.
    """
    estimate, places = currentEstimate(dialog)
    key = (estimate, places)
    text = _medias.get(key)
    if text is None:
        text = _encode(estimate.summaries(places))
        if len(_medias) >= _SEGMENTS_MAX:
            _medias.clear()
        _medias[key] = text
    return text


#: The ending members of a start or interim record: not ended yet.
_NOT_ENDED = '"end_time":null,"end_epoch":null,"detected_time":null,"detected_epoch":null,'


def interimLine(builder: RecordBuilder, dialog: Dialog, now: float, sequence: int) -> bytes | None:
    """
    The JSON line of an C{interim} record of C{dialog} made at C{now}.

    @param sequence: the interim number (1, 2, ...).
    @return: see L{recordLine}.
    """
    return recordLine(builder, dialog, INTERIM, now, sequence)


def recordLine(
    builder: RecordBuilder,
    dialog: Dialog,
    kind: str,
    now: float,
    sequence: int = 0,
    cause: str | None = None,
    detail: Mapping[str, Any] | None = None,
) -> bytes | None:
    """
    The JSON line of a record of C{dialog}, without its C{dict}.

    @param builder: the builder whose tariffs price the call.
    @param kind, now, sequence, cause, detail: as for L{RecordBuilder.build}.
    @return: the line, newline-terminated, as
        L{keepsip.accounting.wire.wireSafe} writes the record
        C{builder.build(dialog, kind, now, sequence, cause, detail)}; or
        L{None} if that record needs the slow path (a string that is not
        UTF-8, a non-finite float).
    """
    caller, callee = dialog.caller, dialog.callee
    answeredAt = dialog.answeredAt
    answered = answeredAt is not None
    endedAt: float | None
    if kind == STOP:
        endedAt = dialog.endedAt if dialog.endedAt is not None else now
        until: float | None = endedAt
        cause = cause or dialog.endCause
        endDetail: dict[str, Any] | None = dict(
            detail if detail is not None else dialog.endDetail
        )
        detectedAt = dialog.detectedAt
    else:
        endedAt = None
        # As build(): a start record is "as of the answer".
        until = answeredAt if kind == START and answered else now
        cause = None
        endDetail = None
        detectedAt = None
    if answeredAt is not None and until is not None:
        talk = max(0, round((until - answeredAt) * 1000))
    else:
        talk = 0
    keptAlive = dialog.keptAlive
    keepaliveAt = keptAlive.lastAt
    volume, volumeSource = builder.volume(dialog, until)
    destination = builder.destination(dialog)
    charge = builder.tariffs.rate(destination, answered, talk, volume)
    v = _value
    if volumeSource == "measured" and dialog.measuredMedia:
        volumeText = _encode(_volumeField(volume, volumeSource, dialog))
    else:
        # _volumeField without its measured part: the octets, then source.
        volumeText = "".join(
            [
                "{",
                *[f"{encode_basestring(kind)}:{v(octets)}," for kind, octets in volume.items()],
                f'"source":{v(volumeSource)}}}',
            ]
        )
    try:
        if kind == STOP:
            ended = (
                f'"end_time":{v(isoTime(endedAt))},"end_epoch":{v(_epoch(endedAt))},'
                f'"detected_time":{v(isoTime(detectedAt))},'
                f'"detected_epoch":{v(_epoch(detectedAt))},'
            )
            causeText = f'"end_cause":{v(cause)},"end_detail":{v(endDetail)},'
        else:
            ended = _NOT_ENDED
            causeText = '"end_cause":null,"end_detail":null,'
        text = (
            f'{{"schema":{SCHEMA_VERSION},"type":{v(kind)},'
            f'"record_id":"{recordID(dialog.callID, caller.tag or "", callee.tag or "", kind, sequence)}",'
            f'"sequence":{v(sequence)},"record_time":{v(isoTime(now))},'
            f'"record_epoch":{v(_epoch(now))},{_partiesText(dialog, destination)}'
            f"{_stateText(dialog.state, answered, dialog.finalStatus, dialog.invitedAt, answeredAt)}"
            f"{ended}"
            f'"setup_ms":{v(dialog.setupMilliseconds)},"duration_ms":{v(talk)},'
            f"{causeText}"
            f'"keepalive":{{"count":{v(keptAlive.count)},"last_time":{v(isoTime(keepaliveAt))},'
            f'"last_epoch":{v(_epoch(keepaliveAt))}}},'
            f'"media":{_mediaText(dialog)},'
            f'"volume_bytes":{v(sum(volume.values()))},'
            f'"volume":{volumeText},'
            # Charge.toDict, field by field (amounts are decimal strings).
            f'"charge":{{"fixed":"{str(charge.fixed)}","time":"{str(charge.time)}",'
            f'"volume":"{str(charge.volume)}","total":"{str(charge.total)}",'
            f'"currency":{v(charge.currency)},"tariff":{v(charge.tariff)},'
            f'"billed_seconds":{v(charge.billedSeconds)}}}}}\n'
        )
        return text.encode("utf-8")
    except (_NotHere, UnicodeEncodeError, TypeError, ValueError):
        return None


__all__ = ["interimLine", "recordLine"]
