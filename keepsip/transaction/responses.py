"""
Responses built from requests (RFC 3261 §8.2.6), for the transaction layer's
100 Trying, the proxy core and the stateless error path.
"""

from __future__ import annotations

from keepsip.sip.message import Request, Response
from keepsip.transaction._headers import tag


def responseFromRequest(
    request: Request, code: int, phrase: str | None = None, toTag: str | None = None
) -> Response:
    """
    Build a response to C{request} per RFC 3261 §8.2.6.2: every Via value in
    order, From, To, Call-ID and CSeq copied; a To tag added if C{toTag} is
    given and the request's To has none; for a 100 the Timestamp copied
    (§8.2.6.1). The header lists are new lists, so the response can be
    changed without touching the request.

    @param code: the status code.
    @param phrase: the reason phrase; the standard one if L{None}.
    @param toTag: the tag to add to To, or L{None} for none.
    """
    response = Response(code, phrase)
    headers = response.headers
    source = request.headers
    for name in ("via", "from", "to", "call-id", "cseq"):
        values = source.get(name)
        if values:
            headers[name] = list(values)
    if toTag is not None:
        to = headers.get("to")
        if to and tag(to[0]) is None:
            to[0] = f"{to[0]};tag={toTag}"
    if code == 100:
        timestamp = source.get("timestamp")
        if timestamp:
            headers["timestamp"] = list(timestamp)
    return response
