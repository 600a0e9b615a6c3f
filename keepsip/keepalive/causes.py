"""
What the answers to keepsip's BYEs say about why a call's keepalives
stopped.

keepsip sends a BYE to both legs, the silent one too, and each answer tells
something about that leg:

  - C{"answered"}: a 2xx, the leg was still up (its keepalives were lost, or
    it is the other party);
  - C{"gone"}: 481, the leg had already ended the dialog, e.g. with a BYE sent
    directly to the other end, bypassing keepsip;
  - C{"unreachable"}: 408 or no answer at all (transaction timeout): the
    endpoint crashed, or the link to it is down;
  - C{"refused"}: an ICMP port unreachable: the host is up, the endpoint
    process is gone;
  - C{"rejected-<code>"}: any other final response;
  - C{"unknown"}: no information (e.g. the BYE could not be sent).

L{summariseEnd} turns the two into a dialog's C{endDetail}.
"""

from __future__ import annotations

ANSWERED = "answered"
GONE = "gone"
UNREACHABLE = "unreachable"
REFUSED = "refused"
UNKNOWN = "unknown"
REJECTED_PREFIX = "rejected-"

CALLER = "caller"
CALLEE = "callee"


def classifyByeOutcome(code: int | None, timedOut: bool, icmp: bool) -> str:
    """
    Classify what happened to the BYE sent to one leg.

    A final response is the strongest evidence and wins over the flags; then
    an ICMP error (which usually ends the transaction early); then a timeout.

    @param code: the final status code of the BYE, or L{None} if none came
        (provisional codes count as none).
    @param timedOut: whether the BYE's client transaction timed out
        (Timer F).
    @param icmp: whether an ICMP port unreachable came back for it.
    @return: C{"answered"}, C{"gone"}, C{"unreachable"}, C{"refused"},
        C{"rejected-<code>"} or C{"unknown"}.
    """
    if code is not None and code >= 200:
        if code < 300:
            return ANSWERED
        if code == 481:
            return GONE
        if code == 408:
            return UNREACHABLE
        return f"{REJECTED_PREFIX}{code}"
    if icmp:
        return REFUSED
    if timedOut:
        return UNREACHABLE
    return UNKNOWN


def _describe(leg: str, detail: str) -> str:
    if detail == GONE:
        return f"{leg} ended the call directly (481)"
    if detail == UNREACHABLE:
        return f"{leg} unreachable (crashed or link down)"
    if detail == REFUSED:
        return f"{leg} host up but its SIP endpoint is gone (ICMP port unreachable)"
    if detail == ANSWERED:
        return f"{leg} still up (answered the BYE)"
    if detail.startswith(REJECTED_PREFIX):
        return f"{leg} rejected the BYE ({detail[len(REJECTED_PREFIX) :]})"
    return f"{leg} state unknown"


def summariseEnd(callerDetail: str, calleeDetail: str, silentLeg: str) -> dict[str, str]:
    """
    Summarise the end of a call whose keepalives stopped.

    The explanation is about the silent leg (the one whose keepalives
    stopped); the other leg is mentioned only when it did not simply answer,
    and when both are unreachable, keepsip's own link is the likely cause.

    @param callerDetail: L{classifyByeOutcome} for the caller's BYE.
    @param calleeDetail: L{classifyByeOutcome} for the callee's BYE.
    @param silentLeg: C{"caller"} or C{"callee"}.
    @return: the dialog's C{endDetail}: C{{"caller": ..., "callee": ...,
        "silent": ..., "why": ...}}.
    @raise ValueError: if C{silentLeg} is neither C{"caller"} nor
        C{"callee"}.
    """
    if silentLeg == CALLER:
        silentDetail, otherLeg, otherDetail = callerDetail, CALLEE, calleeDetail
    elif silentLeg == CALLEE:
        silentDetail, otherLeg, otherDetail = calleeDetail, CALLER, callerDetail
    else:
        raise ValueError(f"silentLeg must be 'caller' or 'callee', not {silentLeg!r}")

    bothUnreachable = silentDetail == UNREACHABLE and otherDetail == UNREACHABLE
    if bothUnreachable:
        why = "both ends unreachable (keepsip's own link down?)"
    elif silentDetail == ANSWERED:
        why = f"{silentLeg} still up but its keepalives stopped arriving (lost on the way?)"
    else:
        why = _describe(silentLeg, silentDetail)
    if otherDetail != ANSWERED and not bothUnreachable:
        why = f"{why}; {_describe(otherLeg, otherDetail)}"
    return {
        CALLER: callerDetail,
        CALLEE: calleeDetail,
        "silent": silentLeg,
        "why": why,
    }


__all__ = [
    "ANSWERED",
    "GONE",
    "REFUSED",
    "REJECTED_PREFIX",
    "UNKNOWN",
    "UNREACHABLE",
    "classifyByeOutcome",
    "summariseEnd",
]
