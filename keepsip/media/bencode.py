"""
Bencode, the dictionary format of rtpengine's ng control protocol: integers
C{i42e}, byte strings C{4:spam}, lists C{l...e} and dictionaries C{d...e}.

Written here rather than taken from PyPI: the format is four rules, the
protocol needs only these, and the packages that implement it either sort or
reject what rtpengine sends (it does not keep dictionary keys in order) or are
no longer maintained.
"""

from __future__ import annotations

from typing import Any

BencodeValue = Any


class BencodeError(ValueError):
    """
    The octets are not one well-formed bencoded value.
    """


def bencode(value: BencodeValue) -> bytes:
    """
    Encode C{value}: C{int} (not C{bool}), C{bytes}, C{str} (as UTF-8),
    C{list}/C{tuple}, C{dict} with C{str} or C{bytes} keys (written in
    sorted order, as bencode wants).

    @raise TypeError: for any other type.
    """
    out: list[bytes] = []
    _encode(value, out)
    return b"".join(out)


def _encode(value: BencodeValue, out: list[bytes]) -> None:
    if isinstance(value, bool):
        raise TypeError("bencode has no booleans")
    if isinstance(value, int):
        out.append(b"i%de" % (value,))
    elif isinstance(value, str):
        _encode(value.encode("utf-8"), out)
    elif isinstance(value, bytes):
        out.append(b"%d:" % (len(value),))
        out.append(value)
    elif isinstance(value, (list, tuple)):
        out.append(b"l")
        for item in value:
            _encode(item, out)
        out.append(b"e")
    elif isinstance(value, dict):
        out.append(b"d")
        items = [
            (k.encode("utf-8") if isinstance(k, str) else k, v) for k, v in value.items()
        ]
        for key, item in sorted(items):
            if not isinstance(key, bytes):
                raise TypeError(f"bencode keys are strings, not {type(key).__name__}")
            _encode(key, out)
            _encode(item, out)
        out.append(b"e")
    else:
        raise TypeError(f"cannot bencode {type(value).__name__}")


def bdecode(data: bytes) -> BencodeValue:
    """
    Decode one value that must span all of C{data}. Byte strings stay
    C{bytes}; dictionary keys become C{str} (UTF-8, undecodable octets kept
    as surrogate escapes).

    @raise BencodeError: if C{data} is malformed or has trailing octets.
    """
    value, end = _decode(data, 0, 0)
    if end != len(data):
        raise BencodeError(f"trailing data at offset {end}")
    return value


_MAX_DEPTH = 64


def _decode(data: bytes, i: int, depth: int) -> tuple[BencodeValue, int]:
    if depth > _MAX_DEPTH:
        raise BencodeError("nested too deeply")
    if i >= len(data):
        raise BencodeError("unexpected end of data")
    lead = data[i : i + 1]
    if lead == b"i":
        end = data.find(b"e", i + 1)
        if end < 0:
            raise BencodeError("unterminated integer")
        try:
            return int(data[i + 1 : end]), end + 1
        except ValueError:
            raise BencodeError(f"bad integer at offset {i}") from None
    if lead == b"l":
        items = []
        i += 1
        while data[i : i + 1] != b"e":
            item, i = _decode(data, i, depth + 1)
            items.append(item)
        return items, i + 1
    if lead == b"d":
        result: dict[str, BencodeValue] = {}
        i += 1
        while data[i : i + 1] != b"e":
            key, i = _decode(data, i, depth + 1)
            if not isinstance(key, bytes):
                raise BencodeError(f"dictionary key is not a string at offset {i}")
            result[key.decode("utf-8", "surrogateescape")], i = _decode(data, i, depth + 1)
        return result, i + 1
    if lead.isdigit():
        colon = data.find(b":", i)
        if colon < 0:
            raise BencodeError("unterminated string length")
        try:
            length = int(data[i:colon])
        except ValueError:
            raise BencodeError(f"bad string length at offset {i}") from None
        start = colon + 1
        if start + length > len(data):
            raise BencodeError("string runs past the end of data")
        return data[start : start + length], start + length
    raise BencodeError(f"unexpected {lead!r} at offset {i}")
