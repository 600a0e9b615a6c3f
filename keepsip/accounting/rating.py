"""
Rating: what a call costs, in L{decimal.Decimal}.

A charge has three parts (claim 11 of WO 00/33550): a fixed connection fee, a
time component billed in increments, and a volume component per media type.
Tariffs come from the C{[tariffs]} table of the configuration (see
C{docs/accounting.md}); the tariff of a call is the one whose prefix is the
longest match on the destination (the Request-URI user part), else the
default tariff.

Decisions:
  - An unanswered call costs nothing: no fixed fee, no time, no volume.
  - An answered call of 0 ms bills no time; any longer call bills at least the
    first increment, then whole subsequent increments (C{"30/6"}: 31 s bills
    36 s).
  - Each component is rounded on its own with the configured rule and places;
    the total is the sum of the rounded components, so they always add up.
  - 1 MB is 1,000,000 octets.
"""

from __future__ import annotations

import decimal
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

_ROUNDINGS = frozenset(
    {
        "ROUND_UP",
        "ROUND_DOWN",
        "ROUND_CEILING",
        "ROUND_FLOOR",
        "ROUND_HALF_UP",
        "ROUND_HALF_DOWN",
        "ROUND_HALF_EVEN",
        "ROUND_05UP",
    }
)

_TARIFF_KEYS = frozenset({"fixed", "per_minute", "increments", "per_mb"})
_TOP_KEYS = frozenset({"currency", "rounding", "places", "default", "prefix"})
_MEDIA_CLASSES = ("audio", "video", "other")
_MILLION = Decimal(1000000)
_SIXTY = Decimal(60)
_ZERO = Decimal(0)


def _decimal(value: Any, key: str) -> Decimal:
    """
    Convert a TOML value (string, integer or float) to a non-negative
    L{Decimal}; raise L{ValueError} naming C{key} otherwise.
    """
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise ValueError(f"tariffs: {key}: expected a decimal number, got {value!r}")
    try:
        # str() of a float is its shortest repr: 0.1 -> "0.1", not 0.1000000000000000055...
        number = Decimal(str(value).strip())
    except decimal.InvalidOperation:
        raise ValueError(f"tariffs: {key}: expected a decimal number, got {value!r}") from None
    if not number.is_finite() or number < 0:
        raise ValueError(f"tariffs: {key}: must be a finite number >= 0, got {value!r}")
    return number


def parseIncrements(value: Any, key: str = "increments") -> tuple[int, int]:
    """
    Parse a billing increment rule C{"first/next"} in seconds, e.g. C{"60/60"},
    C{"30/6"}, C{"1/1"}.

    @return: C{(first, next)}, both positive.
    @raise ValueError: with a one-line message naming C{key}.
    """
    if not isinstance(value, str):
        raise ValueError(f'tariffs: {key}: expected "FIRST/NEXT" seconds, got {value!r}')
    first, sep, following = value.partition("/")
    try:
        if not sep:
            raise ValueError()
        parsed = (int(first), int(following))
    except ValueError:
        raise ValueError(f'tariffs: {key}: expected "FIRST/NEXT" seconds, got {value!r}') from None
    if parsed[0] <= 0 or parsed[1] <= 0:
        raise ValueError(f"tariffs: {key}: increments must be positive, got {value!r}")
    return parsed


def billedSeconds(talkMilliseconds: int, first: int, following: int) -> int:
    """
    Seconds billed for a talk time under increments C{first/following}.

    0 ms bills 0 s; up to C{first} seconds bills C{first}; beyond, every
    started C{following} seconds bills C{following} more.
    """
    if talkMilliseconds <= 0:
        return 0
    firstMs = first * 1000
    if talkMilliseconds <= firstMs:
        return first
    stepMs = following * 1000
    steps = -(-(talkMilliseconds - firstMs) // stepMs)
    return first + steps * following


@dataclass(frozen=True)
class Tariff:
    """
    The prices that apply to one destination prefix (or the default).

    @ivar name: C{"default"} or C{"prefix:<digits>"}.
    @ivar fixed: the connection fee of an answered call.
    @ivar perMinute: the price of 60 billed seconds.
    @ivar firstIncrement: seconds billed first.
    @ivar nextIncrement: seconds billed per subsequent increment.
    @ivar perMB: price per 10^6 octets for C{audio}, C{video}, C{other}.
    """

    name: str = "default"
    fixed: Decimal = _ZERO
    perMinute: Decimal = _ZERO
    firstIncrement: int = 60
    nextIncrement: int = 60
    perMB: Mapping[str, Decimal] = field(
        default_factory=lambda: {kind: _ZERO for kind in _MEDIA_CLASSES}
    )

    def derive(self, name: str, table: Mapping[str, Any], where: str) -> Tariff:
        """
        A tariff that takes the keys given in C{table} and the rest from this
        one.

        @param where: the TOML path of C{table}, for error messages.
        @raise ValueError: naming the bad key.
        """
        if not isinstance(table, Mapping):
            raise ValueError(f"tariffs: {where}: expected a table, got {table!r}")
        for key in table:
            if key not in _TARIFF_KEYS:
                raise ValueError(
                    f"tariffs: {where}.{key}: unknown key (expected one of "
                    f"{', '.join(sorted(_TARIFF_KEYS))})"
                )
        fixed = self.fixed
        perMinute = self.perMinute
        first, following = self.firstIncrement, self.nextIncrement
        perMB = dict(self.perMB)
        if "fixed" in table:
            fixed = _decimal(table["fixed"], f"{where}.fixed")
        if "per_minute" in table:
            perMinute = _decimal(table["per_minute"], f"{where}.per_minute")
        if "increments" in table:
            first, following = parseIncrements(table["increments"], f"{where}.increments")
        if "per_mb" in table:
            prices = table["per_mb"]
            if not isinstance(prices, Mapping):
                raise ValueError(
                    f"tariffs: {where}.per_mb: expected a table like "
                    f'{{audio = "0", video = "0.01", other = "0.01"}}, got {prices!r}'
                )
            for kind, price in prices.items():
                if kind not in _MEDIA_CLASSES:
                    raise ValueError(
                        f"tariffs: {where}.per_mb.{kind}: unknown media class "
                        f"(expected audio, video or other)"
                    )
                perMB[kind] = _decimal(price, f"{where}.per_mb.{kind}")
        return Tariff(name, fixed, perMinute, first, following, perMB)


@dataclass(frozen=True)
class Charge:
    """
    What a call costs.

    @ivar fixed: the connection fee.
    @ivar time: the time component.
    @ivar volume: the volume component.
    @ivar total: C{fixed + time + volume}.
    @ivar currency: an ISO 4217 code.
    @ivar tariff: the L{Tariff.name} applied.
    @ivar billedSeconds: the seconds the time component was billed for.
    """

    fixed: Decimal
    time: Decimal
    volume: Decimal
    total: Decimal
    currency: str
    tariff: str
    billedSeconds: int

    def toDict(self) -> dict[str, Any]:
        """
        @return: the C{charge} object of a call record: amounts as decimal
            strings.
        """
        return {
            "fixed": str(self.fixed),
            "time": str(self.time),
            "volume": str(self.volume),
            "total": str(self.total),
            "currency": self.currency,
            "tariff": self.tariff,
            "billed_seconds": self.billedSeconds,
        }


class Tariffs:
    """
    The tariff table: a default tariff and tariffs by destination prefix.

    @ivar currency: the ISO 4217 code of every amount.
    @ivar rounding: a L{decimal} rounding mode name, e.g. C{"ROUND_HALF_UP"}.
    @ivar places: the decimal places of every amount.
    @ivar default: the L{Tariff} for destinations no prefix matches.
    @ivar prefixes: prefix -> L{Tariff}.
    """

    def __init__(
        self,
        default: Tariff | None = None,
        prefixes: Mapping[str, Tariff] | None = None,
        currency: str = "XXX",
        rounding: str = "ROUND_HALF_UP",
        places: int = 2,
    ) -> None:
        self.default = default if default is not None else Tariff()
        self.prefixes = dict(prefixes or {})
        self.currency = currency
        self.rounding = rounding
        self.places = places
        self._quantum = Decimal(1).scaleb(-places)
        self._longest = max((len(p) for p in self.prefixes), default=0)
        # Tariffs that price everything at zero (the default table): their
        # charges need no arithmetic, every amount is this zero.
        self._zero = self._round(_ZERO)
        self._free = {
            id(tariff)
            for tariff in (self.default, *self.prefixes.values())
            if not tariff.fixed and not tariff.perMinute and not any(tariff.perMB.values())
        }

    @classmethod
    def fromConfig(cls, config: Mapping[str, Any]) -> Tariffs:
        """
        Build the table from the C{[tariffs]} table of a parsed TOML
        configuration (the table's content, not the whole document). An
        empty mapping gives zero prices in currency C{XXX}.

        @raise ValueError: a one-line message naming the bad key.
        """
        if not isinstance(config, Mapping):
            raise ValueError(f"tariffs: expected a table, got {config!r}")
        for key in config:
            if key not in _TOP_KEYS:
                raise ValueError(
                    f"tariffs.{key}: unknown key (expected one of {', '.join(sorted(_TOP_KEYS))})"
                )
        currency = config.get("currency", "XXX")
        if not (isinstance(currency, str) and len(currency) == 3 and currency.isalpha()):
            raise ValueError(
                f"tariffs.currency: expected a 3-letter ISO 4217 code, got {currency!r}"
            )
        rounding = config.get("rounding", "ROUND_HALF_UP")
        if rounding not in _ROUNDINGS:
            raise ValueError(
                f"tariffs.rounding: expected one of {', '.join(sorted(_ROUNDINGS))}, "
                f"got {rounding!r}"
            )
        places = config.get("places", 2)
        if isinstance(places, bool) or not isinstance(places, int) or not 0 <= places <= 8:
            raise ValueError(f"tariffs.places: expected an integer 0..8, got {places!r}")
        default = Tariff().derive("default", config.get("default", {}), "default")
        prefixTable = config.get("prefix", {})
        if not isinstance(prefixTable, Mapping):
            raise ValueError(f"tariffs.prefix: expected a table, got {prefixTable!r}")
        prefixes = {}
        for prefix, table in prefixTable.items():
            if not prefix:
                raise ValueError("tariffs.prefix: empty prefix")
            prefixes[prefix] = default.derive(f"prefix:{prefix}", table, f"prefix.{prefix}")
        return cls(default, prefixes, currency.upper(), rounding, places)

    def tariffFor(self, destination: str) -> Tariff:
        """
        @return: the tariff of the longest prefix of C{destination}, or the
            default tariff.
        """
        prefixes = self.prefixes
        for length in range(min(len(destination), self._longest), 0, -1):
            tariff = prefixes.get(destination[:length])
            if tariff is not None:
                return tariff
        return self.default

    def _round(self, amount: Decimal) -> Decimal:
        return amount.quantize(self._quantum, rounding=self.rounding)

    def rate(
        self,
        destination: str,
        answered: bool,
        talkMilliseconds: int,
        volumeBytes: Mapping[str, int],
    ) -> Charge:
        """
        Price a call.

        @param destination: the dialled user part, matched against prefixes.
        @param answered: whether the call was answered; unanswered calls cost
            nothing.
        @param talkMilliseconds: answer to end.
        @param volumeBytes: octets per price class (C{audio}, C{video},
            C{other}); missing classes count 0.
        """
        tariff = self.tariffFor(destination)
        if not answered:
            zero = self._round(_ZERO)
            return Charge(zero, zero, zero, zero, self.currency, tariff.name, 0)
        seconds = billedSeconds(talkMilliseconds, tariff.firstIncrement, tariff.nextIncrement)
        if id(tariff) in self._free:
            zero = self._zero
            return Charge(zero, zero, zero, zero, self.currency, tariff.name, seconds)
        fixed = self._round(tariff.fixed)
        time = self._round(tariff.perMinute * seconds / _SIXTY)
        volumeAmount = _ZERO
        for kind, octets in volumeBytes.items():
            price = tariff.perMB.get(kind, tariff.perMB.get("other", _ZERO))
            if octets and price:
                volumeAmount += price * Decimal(octets) / _MILLION
        volume = self._round(volumeAmount)
        return Charge(
            fixed,
            time,
            volume,
            fixed + time + volume,
            self.currency,
            tariff.name,
            seconds,
        )
