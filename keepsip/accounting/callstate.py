"""
The per-call state of accounting: an L{AccountingState} attached to each
dialog (whether the start record was made, the interim sequence, the media
segments of the call) and the estimate of the call's media from its current
offer/answer, parsed once per change of the SDP rather than per record.

A million held calls hold a million of these, so the state is small: a
slotted object, a flat tuple of segments, and estimates and rates shared
by every call with the same media (L{sharedEstimate}, L{sharedRates}); of
its current media a call keeps only what differs from call to call (each
m-line's port and address).

The state is JSON-compatible through L{AccountingState.asDict}, so a
networked dialog store can carry it across a restart, with the current
estimate: an answered call keeps only a digest of its offer, so the
estimate could not be made again from the dialog's SDP (older documents,
with the offer's body, have it made again).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from hashlib import blake2b
from types import MappingProxyType
from typing import Any

from keepsip.accounting.volume import priceClass, streamRates
from keepsip.dialog.model import Dialog
from keepsip.sip.sdp import parseSDP, parseShared


class MediaEstimate:
    """
    What an offer/answer pair says about a call's media, less what differs
    from call to call (ports and addresses): the estimated octets per second
    per price class and, per m-line of the answer (else the offer), its
    summary's shared fields. Immutable and shared by every call with the same
    media (L{sharedEstimate}): most calls through one keepsip offer the same
    few codec sets.

    @ivar rates: price class -> estimated octets per second (read-only).
    @ivar streams: per m-line, C{(type, proto, direction, codecs, bandwidth,
        estimated_bytes_per_second, estimate_source)}, C{codecs} a tuple of
        C{name/rate} strings, C{bandwidth} a tuple of C{(kind, value)}.
    """

    __slots__ = ("rates", "streams")

    def __init__(self, rates: Mapping[str, float], streams: tuple[tuple[Any, ...], ...]) -> None:
        self.rates: Mapping[str, float] = MappingProxyType(dict(rates))
        self.streams = streams

    def summaries(self, places: tuple[Any, ...]) -> list[dict[str, Any]]:
        """
        @param places: C{(port, address)} of each m-line, flat.
        @return: a fresh JSON-compatible summary of each m-line for a record
            (see L{keepsip.sip.sdp.MediaDescription.summary}).
        """
        return [
            {
                "type": kind,
                "port": places[2 * index],
                "proto": proto,
                "address": places[2 * index + 1],
                "direction": direction,
                "codecs": list(codecs),
                "bandwidth": dict(bandwidth),
                "estimated_bytes_per_second": estimated,
                "estimate_source": source,
            }
            for index, (kind, proto, direction, codecs, bandwidth, estimated, source) in enumerate(
                self.streams
            )
        ]


#: Shared estimates by content (bounded: all forgotten when full).
_estimates: dict[tuple[Any, ...], MediaEstimate] = {}
_ESTIMATES_MAX = 1024


def sharedEstimate(rates: Mapping[str, float], streams: tuple[tuple[Any, ...], ...]) -> MediaEstimate:
    """
    The one L{MediaEstimate} of this content.
    """
    key = (tuple(rates.items()), streams)
    found = _estimates.get(key)
    if found is None:
        if len(_estimates) >= _ESTIMATES_MAX:
            _estimates.clear()
        found = _estimates[key] = MediaEstimate(rates, streams)
    return found


#: Rates shared by every segment with the same content.
_rates: dict[tuple[tuple[str, float], ...], Mapping[str, float]] = {}


def sharedRates(rates: Mapping[str, float]) -> Mapping[str, float]:
    """
    A read-only mapping equal to C{rates}, the same object for equal
    contents (bounded like L{sharedEstimate}'s).
    """
    key = tuple(rates.items())
    found = _rates.get(key)
    if found is None:
        if len(_rates) >= _ESTIMATES_MAX:
            _rates.clear()
        found = _rates[key] = MappingProxyType(dict(rates))
    return found


class AccountingState:
    """
    This package's per-dialog state, a dialog attachment. Small: a million
    calls hold a million of these (a slotted object, a flat tuple of
    segments, shared rates and estimates).

    @ivar started: the C{start} record was made.
    @ivar interims: interim records made so far.
    """

    __slots__ = ("started", "interims", "_segments", "_estimate", "_places", "_offer", "_answer")

    def __init__(
        self,
        started: bool = False,
        interims: int = 0,
        segments: Iterable[Sequence[Any]] = (),
        media: object = None,
    ) -> None:
        """
        @param segments: C{[since, {priceClass: octetsPerSecond}]} pairs,
            oldest first.
        @param media: ignored: the media estimate is not stored but
            computed again from the dialog's SDP (kept for old callers and
            documents, which stored a cache of it).
        """
        self.started = started
        self.interims = interims
        flat: list[Any] = []
        for since, rates in segments:
            flat += (since, sharedRates(rates))
        self._segments: tuple[Any, ...] = tuple(flat)
        # The estimate of the offer/answer pair _offer/_answer (the very
        # bodies the dialog held), and the ports and addresses of its m-lines.
        self._estimate: MediaEstimate | None = None
        self._places: tuple[Any, ...] = ()
        self._offer: bytes | None = None
        self._answer: bytes | None = None

    @property
    def segments(self) -> list[list[Any]]:
        """
        C{[since, {priceClass: octetsPerSecond}]}, one per media session of
        the call, oldest first (the rates read-only and shared).
        """
        flat = self._segments
        return [[flat[index], flat[index + 1]] for index in range(0, len(flat), 2)]

    def addSegment(self, since: float, rates: Mapping[str, float]) -> None:
        """
        The media session with C{rates} runs from C{since}, unless it is
        the one running already.
        """
        flat = self._segments
        if flat and (flat[-1] is rates or flat[-1] == rates):
            return
        self._segments = flat + (since, sharedRates(rates))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, AccountingState):
            return NotImplemented
        return (self.started, self.interims, self.segments) == (
            other.started,
            other.interims,
            other.segments,
        )

    def __repr__(self) -> str:
        return (
            f"AccountingState(started={self.started!r}, interims={self.interims!r},"
            f" segments={self.segments!r})"
        )

    def asDict(self) -> dict[str, Any]:
        """
        @return: the state as a JSON-compatible C{dict}; C{"media"} is the
            current estimate and the digests of the offer/answer it is for
            (an answered call's offer body is gone, so a restarted keepsip
            could not make it again), or L{None}.
        """
        media = None
        estimate, offer, answer = self._estimate, self._offer, self._answer
        if estimate is not None and offer is not None and answer is not None:
            media = {
                "offer": offer.hex(),
                "answer": (
                    answer if type(answer) is _AnswerDigest else _answerDigest(answer)
                ).hex(),
                "rates": dict(estimate.rates),
                "streams": estimate.streams,
                "places": self._places,
            }
        return {
            "started": self.started,
            "interims": self.interims,
            "segments": [[since, dict(rates)] for since, rates in self.segments],
            "media": media,
        }

    @classmethod
    def fromDict(cls, data: Mapping[str, Any]) -> AccountingState:
        """
        @return: the state L{asDict} gave C{data} for (missing keys take
            their defaults; the media cache of older documents is computed
            again when needed).
        """
        state = cls(
            started=bool(data.get("started", False)),
            interims=int(data.get("interims", 0)),
            segments=[(float(since), rates) for since, rates in data.get("segments") or []],
        )
        media = data.get("media")
        if isinstance(media, Mapping) and "offer" in media:
            # Written since answered calls keep a digest of their offer.
            state._estimate = sharedEstimate(
                {str(kind): float(rate) for kind, rate in media["rates"].items()},
                _tuples(media["streams"]),
            )
            state._places = _tuples(media["places"])
            state._offer = bytes.fromhex(media["offer"])
            state._answer = _AnswerDigest(bytes.fromhex(media["answer"]))
        return state


class _AnswerDigest(bytes):
    """
    The digest of the answer a restored estimate is for, until the
    dialog's answer is compared with it.
    """


def _answerDigest(answer: bytes) -> bytes:
    return blake2b(answer, digest_size=16).digest()


def _tuples(value: Any) -> Any:
    # JSON gives lists where the estimate has tuples.
    if isinstance(value, list):
        return tuple(_tuples(item) for item in value)
    return value


def accountingState(dialog: Dialog) -> AccountingState:
    """
    This package's L{AccountingState} for C{dialog}, attached on first use.
    """
    return dialog.attachments.setdefault(AccountingState, AccountingState)


def _estimate(offer: bytes, answer: bytes) -> tuple[MediaEstimate, tuple[Any, ...]]:
    """
    Parse an offer/answer pair: its shared L{MediaEstimate} and the
    C{(port, address)} of each m-line of the answer (else the offer), flat.
    """
    offered, answered = parseShared(offer, parseSDP), parseSDP(answer)
    streams = streamRates(offered, answered)
    rates: dict[str, float] = {"audio": 0.0, "video": 0.0, "other": 0.0}
    for stream in streams:
        rates[priceClass(stream.type)] += stream.bytesPerSecond
    shared = []
    places: list[Any] = []
    for description, stream in zip((answered if answer else offered).media, streams):
        bandwidth = []
        if description.bandwidthAS is not None:
            bandwidth.append(("AS", description.bandwidthAS))
        if description.bandwidthTIAS is not None:
            bandwidth.append(("TIAS", description.bandwidthTIAS))
        shared.append(
            (
                description.type,
                description.proto,
                description.direction,
                tuple(codec.describe() for codec in description.codecs),
                tuple(bandwidth),
                round(stream.bytesPerSecond),
                stream.source,
            )
        )
        places += (description.port, description.address)
    return sharedEstimate(rates, tuple(shared)), tuple(places)


def currentEstimate(dialog: Dialog) -> tuple[MediaEstimate, tuple[Any, ...]]:
    """
    The estimate of the dialog's current offer/answer, parsed once per
    change of C{dialog.lastOfferSDP}/C{lastAnswerSDP} (a body with the same
    octets is no change) and kept in its L{AccountingState}.
    """
    body, answer = dialog.lastOfferSDP or b"", dialog.lastAnswerSDP or b""
    # An answered offer is known by its digest (its body is dropped).
    offer = dialog.offerDigest or body
    state = accountingState(dialog)
    estimate = state._estimate
    if estimate is not None:
        known = state._offer
        if known is offer or known == offer:
            knownAnswer = state._answer
            if knownAnswer is answer or knownAnswer == answer:
                return estimate, state._places
            if type(knownAnswer) is _AnswerDigest and knownAnswer == _answerDigest(answer):
                # Restored with the estimate: the same answer.
                state._answer = answer
                return estimate, state._places
    # Without the offer's body (a restored call whose estimate was not
    # stored), the answer alone.
    estimate, places = _estimate(body, answer)
    state._estimate, state._places = estimate, places
    state._offer, state._answer = offer, answer
    return estimate, places


def mediaEstimate(dialog: Dialog) -> dict[str, Any]:
    """
    The media of the dialog's current offer/answer (SDP parsed once per
    change, see L{currentEstimate}).

    @return: C{{"media": [summary of each m-line of the answer (else the
        offer) with C{estimated_bytes_per_second} and C{estimate_source}],
        "rates": {priceClass: octetsPerSecond}}}, the summaries made afresh
        (the caller may change them), the rates read-only.
    """
    estimate, places = currentEstimate(dialog)
    return {"media": estimate.summaries(places), "rates": estimate.rates}


def currentRates(dialog: Dialog) -> dict[str, float]:
    """
    Estimated octets per second per price class of the dialog's current
    media session (last offer/answer).
    """
    return dict(currentEstimate(dialog)[0].rates)


def noteMedia(dialog: Dialog, since: float) -> None:
    """
    Record that the dialog's media session is the one in its current
    offer/answer from C{since} on (called when the call is answered and when
    a re-INVITE changes the media).
    """
    accountingState(dialog).addSegment(since, currentEstimate(dialog)[0].rates)


__all__ = [
    "AccountingState",
    "MediaEstimate",
    "accountingState",
    "currentEstimate",
    "currentRates",
    "mediaEstimate",
    "noteMedia",
    "sharedEstimate",
    "sharedRates",
]
