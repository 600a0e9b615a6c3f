"""
One-pass parsing of a SIP datagram into a L{Request} or L{Response}.

L{parseDatagram} reads a whole datagram at once: it finds the end of the
header section with one search, decodes the header section once (UTF-8 with
C{surrogateescape}, so every byte survives L{Message.toBytes}), unfolds
continuation lines with one substitution, splits the lines, and frames the
body by its octet C{Content-Length}. Nothing is kept between calls, so a bad
datagram cannot affect the next one.

Framing rules (UDP, RFC 3261 §18.3 and RFC 4475):
  - the header section ends at the first empty line (CRLF or bare LF line
    endings); a datagram without one ends its header section at its end
    (RFC 4475 baddn as archived);
  - octets after C{Content-Length} are ignored (dblreq); without
    C{Content-Length} the body runs to the end of the datagram (inv2543);
  - a C{Content-Length} larger than what is left, negative, not a number or
    given twice with different values is an error (clerr, ncl, mcl01).

Start lines:
  - C{Method SP Request-URI SP SIP-Version}. Extra spaces between the three
    elements and after the version are tolerated (RFC 4475 lwsstart, trws:
    RFC 4475 allows that, and the start line is re-serialised from its parts,
    so the extra spaces are never forwarded). A Request-URI in C{<>} or with
    whitespace inside is rejected with 400 (ltgtruri, lwsruri), as is an
    unbracketed IPv6 host (RFC 5118 ipv6-bad).
  - A SIP-Version other than C{SIP/2.0} is answered 505 (badvers).
  - C{SIP-Version SP Status-Code SP Reason-Phrase}: the code must be three
    digits, 100-699 (bigcode); the phrase may be empty (noreason).
"""

from __future__ import annotations

import re

from keepsip.sip.grammar import TOKEN, splitList
from keepsip.sip.message import (
    MULTI_VALUE_HEADERS,
    Message,
    Request,
    Response,
    longName,
)
from keepsip.sip.uri import URI, AbsoluteURI, UnparsedURI, parseURI

#: The most header lines a message may have.
MAX_HEADER_LINES = 256

#: The longest header line (after unfolding) accepted, in characters.
MAX_LINE_LENGTH = 16384

_HEADER_END = re.compile(rb"\n\r?\n")
_FOLD = re.compile(r"\n[ \t]+")
_VERSION = re.compile(r"SIP/[0-9]+\.[0-9]+\Z", re.I)

# Raw header name as seen on the wire (possibly with trailing LWS) -> long
# lower-case name; bounded so hostile traffic cannot grow it.
_names: dict[str, str] = {}
_NAMES_MAX = 2048


class ParseError(Exception):
    """
    A datagram that is not a SIP message keepsip can process.

    @ivar code: the status code to answer a request with (400, 505), or
        L{None} to drop the datagram silently (always L{None} for a response,
        and when not even a request line could be recognised).
    @ivar reason: a short phrase for the log and the reason phrase.
    @ivar message: what could be parsed: for a request, a L{Request} holding
        every well-formed header line (enough to build an error response from
        its Via, From, To, Call-ID and CSeq); its C{uri} may be an
        L{UnparsedURI}. L{None} if even the start line failed.
    """

    def __init__(
        self,
        code: int | None,
        reason: str,
        message: Request | Response | None = None,
    ) -> None:
        Exception.__init__(self, code, reason)
        self.code = code
        self.reason = reason
        self.message = message

    def __repr__(self) -> str:
        return f"ParseError({self.code!r}, {self.reason!r})"


def parseDatagram(
    data: bytes, source: tuple[str, int] | None = None
) -> Request | Response:
    """
    Parse one datagram holding one SIP message.

    @param data: the datagram.
    @param source: C{(host, port)} it came from, stored as C{msg.source}.
    @return: the message.
    @raise ParseError: if it is not acceptable; never anything else.
    """
    try:
        return _parse(data, source)
    except ParseError:
        raise
    except Exception as e:
        isResponse = bytes(data[:16]).lstrip(b"\r\n")[:4].upper() == b"SIP/"
        raise ParseError(
            None if isResponse else 400, f"Malformed message ({type(e).__name__})"
        ) from e


def _parse(data: bytes, source: tuple[str, int] | None) -> Request | Response:
    if type(data) is not bytes:
        data = bytes(data)
    end = len(data)
    start = 0
    # RFC 3261 §7.5: CRLFs before the start line are ignored.
    while start < end and data[start] in (13, 10):
        start += 1
    if start == end:
        raise ParseError(None, "Empty datagram")

    match = _HEADER_END.search(data, start)
    if match is not None:
        headEnd = match.start()
        bodyStart = match.end()
        if data[headEnd - 1] == 13:
            headEnd -= 1
    else:
        headEnd = bodyStart = end
        while headEnd > start and data[headEnd - 1] in (13, 10):
            headEnd -= 1

    head = data[start:headEnd].decode("utf-8", "surrogateescape")
    if "\r" in head:
        head = head.replace("\r\n", "\n")
    if "\n " in head or "\n\t" in head:
        head = _FOLD.sub(" ", head)
    lines = head.split("\n")
    if len(lines) > MAX_HEADER_LINES + 1:
        raise ParseError(_codeFor(lines[0], 400), "Too many header fields")

    msg: Message
    error: tuple[int, str] | None = None
    firstLine = lines[0]
    if firstLine[:4].upper() == "SIP/":
        msg = _parseStatusLine(firstLine)
        isRequest = False
    else:
        msg, error = _parseRequestLine(firstLine)
        isRequest = True
    msg.source = source

    headers = msg.headers
    names = _names
    multi = MULTI_VALUE_HEADERS
    for line in lines[1:]:
        colon = line.find(":")
        if colon <= 0 or len(line) > MAX_LINE_LENGTH:
            if error is None:
                error = (400, "Malformed header line" if colon <= 0 else "Header too long")
            continue
        rawName = line[:colon]
        name = names.get(rawName)
        if name is None:
            stripped = rawName.rstrip(" \t")
            if not TOKEN.match(stripped):
                if error is None:
                    error = (400, "Malformed header name")
                continue
            name = longName(stripped)
            if len(names) < _NAMES_MAX:
                names[rawName] = name
        value = line[colon + 1 :].strip(" \t")
        if name in multi:
            values = splitList(value)
            existing = headers.get(name)
            if existing is None:
                headers[name] = values
            else:
                existing.extend(values)
        else:
            existing = headers.get(name)
            if existing is None:
                headers[name] = [value]
            else:
                existing.append(value)

    remaining = end - bodyStart
    lengths = headers.get("content-length")
    if lengths:
        length = -1
        for text in lengths:
            if not (text.isascii() and text.isdigit()) or len(text.lstrip("0")) > 9:
                if error is None:
                    error = (400, "Bad Content-Length")
                length = 0
                break
            number = int(text)
            if length >= 0 and number != length:
                if error is None:
                    error = (400, "Conflicting Content-Length values")
                length = 0
                break
            length = number
        if length > remaining:
            if error is None:
                error = (400, "Content-Length larger than message")
            length = 0
        if length:
            msg.body = data[bodyStart : bodyStart + length]
    elif remaining:
        msg.body = data[bodyStart:]
    msg.finished = 1

    if error is not None:
        raise ParseError(error[0] if isRequest else None, error[1], msg)
    return msg


def _codeFor(startLine: str, code: int) -> int | None:
    """
    The code to answer with when the message is not usable: L{None} for a
    response.
    """
    return None if startLine[:4].upper() == "SIP/" else code


def _parseStatusLine(line: str) -> Response:
    parts = line.split(" ", 2)
    if len(parts) < 2:
        raise ParseError(None, "Malformed Status-Line")
    version, code = parts[0], parts[1]
    if version.upper() != "SIP/2.0":
        raise ParseError(None, "Unsupported SIP-Version")
    if len(code) != 3 or not (code.isascii() and code.isdigit()) or code[0] in "0789":
        raise ParseError(None, "Bad Status-Code")
    phrase = parts[2] if len(parts) == 3 else ""
    return Response(int(code), phrase, "SIP/2.0")


#: Request-URIs parsed, by text: a call's in-dialog requests share one (the
#: remote target), and a proxy sees few distinct ones. Bounded, cleared when
#: full; refused texts are not kept.
_requestURIs: dict[str, URI] = {}
_REQUEST_URIS_MAX = 2048


def _requestURI(text: str) -> URI | AbsoluteURI:
    """
    L{parseURI} of a Request-URI, remembered for identical texts; a C{sip}
    or C{sips} URI is the caller's own copy (a proxy may change it).

    @raise ValueError: as L{parseURI}.
    """
    known = _requestURIs.get(text)
    if known is not None:
        return known.copy()
    uri = parseURI(text)
    if type(uri) is URI:
        if len(_requestURIs) >= _REQUEST_URIS_MAX:
            _requestURIs.clear()
        _requestURIs[text] = uri.copy()
    return uri


def _parseRequestLine(line: str) -> tuple[Request, tuple[int, str] | None]:
    method, _, rest = line.partition(" ")
    rest = rest.strip(" ")
    space = rest.rfind(" ")
    if not TOKEN.match(method):
        raise ParseError(None, "Malformed Request-Line")
    if space < 0:
        raise ParseError(400, "Malformed Request-Line")
    version = rest[space + 1 :]
    uriText = rest[:space].rstrip(" ")
    error: tuple[int, str] | None = None
    if version.upper() == "SIP/2.0":
        version = "SIP/2.0"
    elif _VERSION.match(version):
        error = (505, "Version Not Supported")
    else:
        error = (400, "Malformed Request-Line")
    try:
        uri = _requestURI(uriText)
    except ValueError:
        if error is None:
            error = (400, "Malformed Request-URI")
        return Request(method, UnparsedURI(uriText), version), error
    return Request(method, uri, version), error


__all__ = ["ParseError", "parseDatagram", "MAX_HEADER_LINES", "MAX_LINE_LENGTH"]
