"""
Tests for L{keepsip.accounting.rating}.
"""

from decimal import Decimal

from twisted.trial.unittest import SynchronousTestCase

from keepsip.accounting.rating import Tariffs, billedSeconds, parseIncrements

CONFIG = {
    "currency": "EUR",
    "rounding": "ROUND_HALF_UP",
    "places": 2,
    "default": {
        "fixed": "0.10",
        "per_minute": "0.60",
        "increments": "60/60",
        "per_mb": {"audio": "0", "video": "0.05", "other": "0.02"},
    },
    "prefix": {
        "44": {"per_minute": "1.20", "increments": "30/6"},
        "4420": {"fixed": "0.25", "increments": "1/1"},
    },
}


class BilledSecondsTests(SynchronousTestCase):
    def test_zero(self) -> None:
        """
        A 0 ms call bills nothing under any rule.
        """
        for rule in [(60, 60), (30, 6), (1, 1)]:
            self.assertEqual(billedSeconds(0, *rule), 0)

    def test_sixtySixty(self) -> None:
        """
        60/60: 1 ms bills a minute, exactly 60 s bills one minute, one ms
        more bills two.
        """
        self.assertEqual(billedSeconds(1, 60, 60), 60)
        self.assertEqual(billedSeconds(60000, 60, 60), 60)
        self.assertEqual(billedSeconds(60001, 60, 60), 120)
        self.assertEqual(billedSeconds(120000, 60, 60), 120)

    def test_thirtySix(self) -> None:
        """
        30/6: up to 30 s bills 30, then each started 6 s bills 6 more.
        """
        self.assertEqual(billedSeconds(5000, 30, 6), 30)
        self.assertEqual(billedSeconds(30000, 30, 6), 30)
        self.assertEqual(billedSeconds(30001, 30, 6), 36)
        self.assertEqual(billedSeconds(36000, 30, 6), 36)
        self.assertEqual(billedSeconds(36001, 30, 6), 42)
        self.assertEqual(billedSeconds(61000, 30, 6), 66)

    def test_perSecond(self) -> None:
        """
        1/1: every started second counts.
        """
        self.assertEqual(billedSeconds(1000, 1, 1), 1)
        self.assertEqual(billedSeconds(1001, 1, 1), 2)
        self.assertEqual(billedSeconds(59999, 1, 1), 60)

    def test_parseIncrements(self) -> None:
        """
        Increment rules parse as FIRST/NEXT; others raise naming the key.
        """
        self.assertEqual(parseIncrements("30/6"), (30, 6))
        for bad in ["60", "a/b", "0/1", "1/-1", 60, "60/"]:
            with self.assertRaises(ValueError) as caught:
                parseIncrements(bad, "prefix.44.increments")
            self.assertIn("prefix.44.increments", str(caught.exception))


class TariffsTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.tariffs = Tariffs.fromConfig(CONFIG)

    def test_longestPrefix(self) -> None:
        """
        The longest matching prefix wins; no match gives the default.
        """
        self.assertEqual(self.tariffs.tariffFor("442071234567").name, "prefix:4420")
        self.assertEqual(self.tariffs.tariffFor("441611234567").name, "prefix:44")
        self.assertEqual(self.tariffs.tariffFor("4").name, "default")
        self.assertEqual(self.tariffs.tariffFor("").name, "default")
        self.assertEqual(self.tariffs.tariffFor("33123").name, "default")

    def test_prefixInheritsDefault(self) -> None:
        """
        A prefix tariff takes the keys it does not set from the default.
        """
        uk = self.tariffs.tariffFor("441")
        self.assertEqual(uk.fixed, Decimal("0.10"))
        self.assertEqual(uk.perMinute, Decimal("1.20"))
        self.assertEqual((uk.firstIncrement, uk.nextIncrement), (30, 6))
        london = self.tariffs.tariffFor("4420")
        self.assertEqual(london.perMinute, Decimal("0.60"))
        self.assertEqual(london.fixed, Decimal("0.25"))

    def test_rateAnswered(self) -> None:
        """
        fixed + time (billed increments) + volume per MB, rounded to 2
        places, as decimal strings; the parts add up to the total.
        """
        charge = self.tariffs.rate(
            "33123", True, 61000, {"audio": 5_000_000, "video": 3_000_000, "other": 0}
        )
        self.assertEqual(charge.billedSeconds, 120)
        self.assertEqual(
            charge.toDict(),
            {
                "fixed": "0.10",
                "time": "1.20",
                "volume": "0.15",
                "total": "1.45",
                "currency": "EUR",
                "tariff": "default",
                "billed_seconds": 120,
            },
        )

    def test_rateThirtySix(self) -> None:
        """
        At 1.20/min with 30/6, 31 s bills 36 s = 0.72.
        """
        charge = self.tariffs.rate("441", True, 31000, {})
        self.assertEqual((charge.time, charge.total), (Decimal("0.72"), Decimal("0.82")))

    def test_rateZeroDuration(self) -> None:
        """
        An answered call of 0 ms pays the fixed fee only.
        """
        charge = self.tariffs.rate("33", True, 0, {})
        self.assertEqual(
            (charge.fixed, charge.time, charge.total),
            (Decimal("0.10"), Decimal("0.00"), Decimal("0.10")),
        )

    def test_rateUnanswered(self) -> None:
        """
        An unanswered call costs nothing, not even the fixed fee.
        """
        charge = self.tariffs.rate("4420", False, 0, {"audio": 10**9})
        self.assertEqual(charge.total, Decimal("0.00"))
        self.assertEqual(charge.tariff, "prefix:4420")

    def test_roundingRule(self) -> None:
        """
        The configured rounding and places apply to each component: 1 s at
        0.01/min is 0.000166.. -> 0.0002 with ROUND_HALF_UP at 4 places,
        0.0001 with ROUND_DOWN.
        """
        base = {"default": {"per_minute": "0.01", "increments": "1/1"}, "places": 4}
        up = Tariffs.fromConfig(dict(base, rounding="ROUND_HALF_UP"))
        down = Tariffs.fromConfig(dict(base, rounding="ROUND_DOWN"))
        self.assertEqual(str(up.rate("1", True, 1000, {}).time), "0.0002")
        self.assertEqual(str(down.rate("1", True, 1000, {}).time), "0.0001")

    def test_unknownMediaClassPricedAsOther(self) -> None:
        """
        Volume of a class without its own price uses the C{other} price.
        """
        charge = self.tariffs.rate("33", True, 1, {"image": 1_000_000})
        self.assertEqual(charge.volume, Decimal("0.02"))

    def test_numbersAsTOMLTypes(self) -> None:
        """
        Integers and floats from TOML are taken as their decimal text.
        """
        tariffs = Tariffs.fromConfig({"default": {"fixed": 1, "per_minute": 0.1}})
        self.assertEqual(tariffs.default.fixed, Decimal(1))
        self.assertEqual(tariffs.default.perMinute, Decimal("0.1"))

    def test_emptyConfig(self) -> None:
        """
        No [tariffs] gives zero prices in currency XXX.
        """
        charge = Tariffs.fromConfig({}).rate("1", True, 90000, {"audio": 10**6})
        self.assertEqual((charge.total, charge.currency), (Decimal("0.00"), "XXX"))


class FromConfigErrorTests(SynchronousTestCase):
    def assertBadKey(self, config: dict, key: str) -> None:
        with self.assertRaises(ValueError) as caught:
            Tariffs.fromConfig(config)
        message = str(caught.exception)
        self.assertIn(key, message)
        self.assertNotIn("\n", message)

    def test_errorsNameTheKey(self) -> None:
        """
        Each kind of mistake raises a one-line ValueError naming the key.
        """
        self.assertBadKey({"currenci": "EUR"}, "tariffs.currenci")
        self.assertBadKey({"currency": "euro"}, "tariffs.currency")
        self.assertBadKey({"rounding": "UP"}, "tariffs.rounding")
        self.assertBadKey({"places": 9}, "tariffs.places")
        self.assertBadKey({"places": True}, "tariffs.places")
        self.assertBadKey({"default": {"fixd": "1"}}, "default.fixd")
        self.assertBadKey({"default": {"fixed": "abc"}}, "default.fixed")
        self.assertBadKey({"default": {"fixed": "-1"}}, "default.fixed")
        self.assertBadKey({"default": {"fixed": True}}, "default.fixed")
        self.assertBadKey({"default": {"per_minute": "NaN"}}, "default.per_minute")
        self.assertBadKey({"default": {"per_mb": {"data": "1"}}}, "default.per_mb.data")
        self.assertBadKey({"default": {"per_mb": "1"}}, "default.per_mb")
        self.assertBadKey({"prefix": {"44": {"increments": "6"}}}, "prefix.44.increments")
        self.assertBadKey({"prefix": {"44": "1.0"}}, "prefix.44")
        self.assertBadKey({"prefix": []}, "tariffs.prefix")
