"""
Records whatever bytes a call carried.

keepsip's parser decodes header values as UTF-8 with C{surrogateescape}, so
an octet that is not UTF-8 (a Call-ID, a user part, a Contact, a tag …)
survives as a lone surrogate (U+DC80–U+DCFF) in the C{str}. Such a string
cannot be encoded as UTF-8 JSON, nor sent as a RADIUS attribute or a Redis
field; before this module a single odd byte made both records of a call
fail to encode, and the call went unbilled.

A record therefore passes L{wireSafe} once, where it is made: every string
that is not valid Unicode text is written with each undecodable octet
replaced by U+FFFD (so every consumer gets plain UTF-8 text), and its exact
octets are added, base64-encoded, under C{octets} keyed by the field's
dotted path (C{"call_id"}, C{"end_detail.caller"}). A string is in C{octets}
if and only if it was not valid UTF-8 on the wire, so the form is lossless
and unambiguous; C{docs/cdr.md} documents it. Valid records pay one
C{json.dumps} and nothing else: the walk only runs after an encoding error.

A record that still cannot be encoded (a value JSON cannot carry) is written
in the fallback form of L{fallbackRecord} instead of being dropped.
"""

from __future__ import annotations

import base64
import json
from typing import Any

#: The field holding the exact octets of values that were not UTF-8.
OCTETS_FIELD = "octets"

#: Marks a record written in the fallback form.
UNENCODABLE_FIELD = "unencodable"


def _dumps(record: dict[str, Any]) -> bytes:
    return json.dumps(record, separators=(",", ":"), ensure_ascii=False).encode("utf-8") + b"\n"


def _octets(value: str) -> bytes:
    try:
        return value.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        # A surrogate that is not an escaped octet (not from keepsip's
        # parser): keep its code unit as UTF-16 would.
        return value.encode("utf-8", "surrogatepass")


def _isText(value: str) -> bool:
    if value.isascii():
        return True
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _clean(value: Any, path: str, octets: dict[str, str]) -> Any:
    if isinstance(value, str):
        if _isText(value):
            return value
        raw = _octets(value)
        octets[path] = base64.b64encode(raw).decode("ascii")
        return raw.decode("utf-8", "replace")
    if isinstance(value, dict):
        cleaned = {}
        for key, item in value.items():
            # Keys are keepsip's own names; one from the wire is only made
            # valid text.
            name = _clean(key, "", {}) if isinstance(key, str) else key
            cleaned[name] = _clean(item, f"{path}.{name}" if path else str(name), octets)
        return cleaned
    if isinstance(value, (list, tuple)):
        return [_clean(item, f"{path}.{i}", octets) for i, item in enumerate(value)]
    return value


def fallbackRecord(record: dict[str, Any], error: Exception) -> dict[str, Any]:
    """
    The documented last resort for a record JSON cannot carry: its identity
    (schema, id, type, Call-ID), the error, and C{repr} of the whole record,
    all as text. It keeps the record's C{record_id} so backends still
    deduplicate it.
    """
    def text(value: Any) -> Any:
        return None if value is None else _clean(str(value), "", {})

    return {
        "schema": record.get("schema"),
        "record_id": text(record.get("record_id")),
        "type": text(record.get("type")),
        "call_id": text(record.get("call_id")),
        UNENCODABLE_FIELD: f"{type(error).__name__}: {error}",
        "repr": _clean(repr(record), "", {}),
    }


def wireSafe(record: dict[str, Any]) -> tuple[dict[str, Any], bytes]:
    """
    A record every backend can carry, and its JSON line.

    @return: C{(record, line)}: C{record} itself and its line when it
        encodes as it is; otherwise a copy whose non-UTF-8 strings are
        replaced and listed under C{octets}, or the L{fallbackRecord}.
        C{line} is compact UTF-8 JSON ending in a newline.
    """
    try:
        return record, _dumps(record)
    except UnicodeEncodeError:
        pass
    except (TypeError, ValueError) as e:
        fallback = fallbackRecord(record, e)
        return fallback, _dumps(fallback)
    octets: dict[str, str] = {}
    cleaned = _clean(record, "", octets)
    if octets:
        cleaned[OCTETS_FIELD] = octets
    try:
        return cleaned, _dumps(cleaned)
    except (TypeError, ValueError, UnicodeEncodeError) as e:
        fallback = fallbackRecord(record, e)
        return fallback, _dumps(fallback)
