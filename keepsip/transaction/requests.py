"""
Requests the transaction layer builds itself: the ACK for a non-2xx final
response (RFC 3261 §17.1.1.3) and CANCEL (§9.1).
"""

from __future__ import annotations

from keepsip.sip.message import Request, Response
from keepsip.transaction.headers import cseq, topViaValue


def _hopByHop(original: Request, method: str, to: list[str] | None) -> Request:
    number, _ = cseq(original)
    request = Request(method, original.uri, original.version)
    headers = request.headers
    source = original.headers
    headers["via"] = [topViaValue(original)]
    maxForwards = source.get("max-forwards")
    headers["max-forwards"] = list(maxForwards) if maxForwards else ["70"]
    if "from" in source:
        headers["from"] = list(source["from"])
    if to:
        headers["to"] = list(to)
    if "call-id" in source:
        headers["call-id"] = list(source["call-id"])
    headers["cseq"] = [f"{number} {method}"]
    route = source.get("route")
    if route:
        headers["route"] = list(route)
    return request


def ackForResponse(original: Request, response: Response) -> Request:
    """
    Build the ACK for a 300-699 response to the INVITE C{original}: same
    Request-URI, Call-ID, From, CSeq number and top Via only; To from the
    response; the original's Route header values.
    """
    return _hopByHop(original, "ACK", response.headers.get("to"))


def cancelForRequest(original: Request) -> Request:
    """
    Build a CANCEL for C{original}: same Request-URI, Call-ID, From, To, CSeq
    number, top Via (so the same branch) and Route values; method CANCEL.
    """
    return _hopByHop(original, "CANCEL", original.headers.get("to"))
