"""
Tests for L{keepsip.metrics}: the Prometheus exposition (checked by a strict
parser), the counters it reads moving as calls pass through keepsip, the HTTP
resource, the service wiring, and real HTTP on a loopback port.
"""

from __future__ import annotations

import math
import os
import re
import shutil
import tempfile
from typing import Any

import treq
from treq.testing import StubTreq
from twisted.internet import defer
from twisted.internet.endpoints import UNIXClientEndpoint
from twisted.internet.testing import MemoryReactorClock
from twisted.trial.unittest import SynchronousTestCase, TestCase
from twisted.web.client import Agent, HTTPConnectionPool
from twisted.web.iweb import IAgentEndpointFactory
from zope.interface import implementer
from zope.interface.verify import verifyObject

from keepsip.config.settings import Config
from keepsip.config.values import ListenAddress
from keepsip.dialog.model import EndCause
from keepsip.interfaces import IDialogObserver
from keepsip.metrics import (
    CONTENT_TYPE,
    EndCauseCounter,
    Metric,
    MetricsResource,
    collectMetrics,
    escapeLabelValue,
    formatValue,
    metricsSite,
    renderExposition,
)
from keepsip.service import makeService

from keepsip.testing import ALICE, BOB, PROXY, SDP, answer, invite

from ._proxy import ProxyHarness, keepAliveThenFallSilent, startReapers, stopReapers

# --------------------------------------------------------------------------
# A strict parser of the text format 0.0.4

_NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
_LABEL = r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"'
_SAMPLE = re.compile(rf"^({_NAME})(?:\{{((?:{_LABEL})(?:,{_LABEL})*)?\}})? (\S+)$")
_HELP = re.compile(rf"^# HELP ({_NAME}) (.*)$")
_TYPE = re.compile(rf"^# TYPE ({_NAME}) (counter|gauge)$")
_VALUE = re.compile(r"^(?:[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?|NaN|[+-]Inf)$")


def _unescape(text: str) -> str:
    return re.sub(r"\\(.)", lambda m: {"n": "\n"}.get(m.group(1), m.group(1)), text)


def parseExposition(body: bytes) -> dict[str, dict[str, Any]]:
    """
    Parse Prometheus text 0.0.4 strictly: UTF-8, ending in a line feed, no
    blank lines; per family C{# HELP} then C{# TYPE} then its samples, each
    exactly once and contiguous; every sample C{name{labels} value} with the
    family's name; a counter's name ends in C{_total}; no sample twice.

    @return: family name -> C{{"help", "type", "samples": {labels: value}}},
        C{labels} a sorted tuple of C{(name, value)} pairs, values unescaped.
    @raise AssertionError: on the first violation, naming the line.
    """
    text = body.decode("utf-8")
    assert text.endswith("\n"), "exposition must end with a line feed"
    families: dict[str, dict[str, Any]] = {}
    current: str | None = None
    expect = "help"
    for n, line in enumerate(text[:-1].split("\n"), 1):
        where = f"line {n}: {line!r}"
        helpMatch, typeMatch = _HELP.match(line), _TYPE.match(line)
        if helpMatch:
            name = helpMatch.group(1)
            assert name not in families, f"{where}: second HELP for {name}"
            assert expect in ("help", "sample"), f"{where}: HELP before previous TYPE"
            families[name] = {"help": _unescape(helpMatch.group(2)), "samples": {}}
            current, expect = name, "type"
        elif typeMatch:
            assert expect == "type" and typeMatch.group(1) == current, (
                f"{where}: TYPE not after HELP"
            )
            families[current]["type"] = typeMatch.group(2)
            if typeMatch.group(2) == "counter":
                assert current.endswith("_total"), f"{where}: counter without _total"
            expect = "sample"
        else:
            assert not line.startswith("#"), f"{where}: unknown comment"
            sample = _SAMPLE.match(line)
            assert sample, f"{where}: not name{{labels}} value"
            assert expect == "sample", f"{where}: sample before HELP and TYPE"
            assert sample.group(1) == current, f"{where}: sample of another family"
            labelText, valueText = sample.group(2) or "", sample.groups()[-1]
            assert _VALUE.match(valueText), f"{where}: bad value"
            labels = tuple(
                sorted((m.group(1), _unescape(m.group(2))) for m in re.finditer(_LABEL, labelText))
            )
            assert len({k for k, _ in labels}) == len(labels), f"{where}: label repeated"
            samples = families[current]["samples"]
            assert labels not in samples, f"{where}: sample repeated"
            samples[labels] = float(valueText)
    for name, family in families.items():
        assert "type" in family, f"{name} has no TYPE"
    return families


def value(families: dict[str, dict[str, Any]], name: str, **labels: str) -> float:
    """
    One sample's value.
    """
    return families[name]["samples"][tuple(sorted(labels.items()))]


#: Every family keepsip exposes, with its type.
FAMILIES = {
    "keepsip_sip_datagrams_received_total": "counter",
    "keepsip_sip_datagrams_dropped_total": "counter",
    "keepsip_transactions": "gauge",
    "keepsip_dialogs": "gauge",
    "keepsip_dialogs_ended_total": "counter",
    "keepsip_dialog_store_operations_total": "counter",
    "keepsip_dialog_store_errors_total": "counter",
    "keepsip_dialog_store_loaded": "gauge",
    "keepsip_keepalive_dialogs": "gauge",
    "keepsip_keepalives_total": "counter",
    "keepsip_keepalive_forged_total": "counter",
    "keepsip_dialog_untrusted_requests_total": "counter",
    "keepsip_dialog_legs_rebound_total": "counter",
    "keepsip_keepalive_expired_total": "counter",
    "keepsip_keepalive_rate_limited_total": "counter",
    "keepsip_keepalive_too_frequent_total": "counter",
    "keepsip_reaper_ticks_total": "counter",
    "keepsip_reaper_reaped_total": "counter",
    "keepsip_reaper_failures_total": "counter",
    "keepsip_registrar_bindings": "gauge",
    "keepsip_accounting_backlog_records": "gauge",
    "keepsip_accounting_records_sent_total": "counter",
    "keepsip_accounting_send_failures_total": "counter",
    "keepsip_accounting_write_errors_total": "counter",
    "keepsip_accounting_outage": "gauge",
}


class ParserSelfTests(SynchronousTestCase):
    """
    The strict parser refuses what Prometheus would refuse, so the tests
    that use it can fail.
    """

    def test_rejects(self) -> None:
        """
        A missing HELP or TYPE, a sample of another family, a counter
        without C{_total}, an unescaped quote, a repeated sample, a missing
        final line feed and a bad value are each refused.
        """
        bad = [
            b"# TYPE a gauge\na 1\n",
            b"# HELP a x\na 1\n",
            b"# HELP a x\n# TYPE a gauge\nb 1\n",
            b"# HELP a x\n# TYPE a counter\na 1\n",
            b'# HELP a x\n# TYPE a gauge\na{l="q"q"} 1\n',
            b'# HELP a x\n# TYPE a gauge\na{l="1"} 1\na{l="1"} 2\n',
            b"# HELP a x\n# TYPE a gauge\na 1",
            b"# HELP a x\n# TYPE a gauge\na one\n",
            b"# HELP a x\n# TYPE a gauge\na  1\n",
            b"# HELP a x\n# TYPE a gauge\n\na 1\n",
            b"# HELP a x\n# TYPE a gauge\na 1\n# HELP a y\n# TYPE a gauge\n",
        ]
        for body in bad:
            self.assertRaises(AssertionError, parseExposition, body)

    def test_accepts(self) -> None:
        """
        A well-formed family with escaped labels parses to unescaped values.
        """
        families = parseExposition(
            b'# HELP a_total x\n# TYPE a_total counter\na_total{l="a\\"b\\\\c\\nd",m="2"} +Inf\n'
        )
        self.assertEqual(
            families["a_total"]["samples"], {(("l", 'a"b\\c\nd'), ("m", "2")): math.inf}
        )


class RenderTests(SynchronousTestCase):
    """
    L{renderExposition} writes the text format.
    """

    def test_families(self) -> None:
        """
        Each family gets HELP and TYPE lines, then its samples; labels are
        escaped and written in the order given; the whole parses.
        """
        body = renderExposition(
            [
                Metric("x_total", "counter", "Things\\seen\nhere.", [((), 3)]),
                Metric(
                    "y",
                    "gauge",
                    "Y.",
                    [((("b", 'q"\\\n'), ("a", "1")), 1.5), ((("b", ""), ("a", "2")), 0)],
                ),
            ]
        )
        self.assertEqual(
            body,
            b"# HELP x_total Things\\\\seen\\nhere.\n"
            b"# TYPE x_total counter\n"
            b"x_total 3\n"
            b"# HELP y Y.\n"
            b"# TYPE y gauge\n"
            b'y{b="q\\"\\\\\\n",a="1"} 1.5\n'
            b'y{b="",a="2"} 0\n',
        )
        families = parseExposition(body)
        self.assertEqual(value(families, "y", a="1", b='q"\\\n'), 1.5)

    def test_escapeLabelValue(self) -> None:
        """
        Backslash, double quote and line feed are escaped; nothing else.
        """
        self.assertEqual(escapeLabelValue('a\\b"c\nd é'), 'a\\\\b\\"c\\nd é')

    def test_formatValue(self) -> None:
        """
        Integers and integral floats print without a fraction, others with
        C{repr}; NaN and infinities as the format spells them.
        """
        self.assertEqual(formatValue(7), "7")
        self.assertEqual(formatValue(7.0), "7")
        self.assertEqual(formatValue(0.25), "0.25")
        self.assertEqual(formatValue(float("nan")), "NaN")
        self.assertEqual(formatValue(float("inf")), "+Inf")
        self.assertEqual(formatValue(float("-inf")), "-Inf")
        self.assertEqual(formatValue(1e300), "1e+300")

    def test_metricChecks(self) -> None:
        """
        Invalid names, types, counters without C{_total} and reserved or
        invalid label names are refused when the family is made.
        """
        self.assertRaises(ValueError, Metric, "bad-name", "gauge", "h", [])
        self.assertRaises(ValueError, Metric, "x", "histogram", "h", [])
        self.assertRaises(ValueError, Metric, "x", "counter", "h", [])
        self.assertRaises(ValueError, Metric, "x", "gauge", "h", [((("__x", "1"),), 1)])
        self.assertRaises(ValueError, Metric, "x", "gauge", "h", [((("a-b", "1"),), 1)])


class EndCauseCounterTests(SynchronousTestCase):
    """
    L{EndCauseCounter} counts ended calls by cause.
    """

    def test_interface(self) -> None:
        """
        It provides L{IDialogObserver}.
        """
        self.assertTrue(verifyObject(IDialogObserver, EndCauseCounter()))

    def test_counts(self) -> None:
        """
        Every known cause starts at 0; each C{dialogTerminated} adds one to
        its cause, an unknown cause included; other events count nothing.
        """
        counter = EndCauseCounter()
        self.assertEqual(counter.counts, dict.fromkeys(EndCause.ALL, 0))
        counter.dialogConfirmed(None)  # type: ignore[arg-type]
        counter.dialogExpired(None)  # type: ignore[arg-type]
        counter.dialogTerminated(None, EndCause.CALLER_BYE, {})  # type: ignore[arg-type]
        counter.dialogTerminated(None, EndCause.CALLER_BYE, {})  # type: ignore[arg-type]
        counter.dialogTerminated(None, "something-new", {})  # type: ignore[arg-type]
        self.assertEqual(counter.counts[EndCause.CALLER_BYE], 2)
        self.assertEqual(counter.counts["something-new"], 1)
        self.assertEqual(sum(counter.counts.values()), 3)


def bye(branch: str = "z9hG4bKalice-bye", cseq: int = 2) -> bytes:
    """
    Alice's BYE for the call L{ProxyMetricsTests.callUp} sets up.
    """
    return invite(
        method="BYE",
        uri="sip:bob@192.0.2.20:5060",
        branch=branch,
        cseq=cseq,
        toTag="bobtag",
        body=b"",
        route="<sip:192.0.2.1:5060;lr>",
    )


def register(contact: str = "<sip:carol@198.51.100.30:5060>") -> bytes:
    """
    A REGISTER binding Carol for 60 seconds.
    """
    return (
        "REGISTER sip:192.0.2.1 SIP/2.0\r\n"
        "Via: SIP/2.0/UDP 198.51.100.30:5060;branch=z9hG4bKreg1\r\n"
        "Max-Forwards: 70\r\n"
        "From: <sip:carol@192.0.2.1>;tag=reg\r\n"
        "To: <sip:carol@192.0.2.1>\r\n"
        "Call-ID: reg-1\r\n"
        "CSeq: 1 REGISTER\r\n"
        f"Contact: {contact}\r\n"
        "Expires: 60\r\n"
        "Content-Length: 0\r\n\r\n"
    ).encode()


class ProxyMetricsTests(SynchronousTestCase):
    """
    The exposition of a L{ProxyService} on a clock follows what happens to
    calls, registrations and records.
    """

    def setUp(self) -> None:
        base = self.mktemp()
        os.makedirs(base)
        self.cdr = os.path.join(base, "cdr.jsonl")
        self.proxy = ProxyHarness(
            accounting=(f"jsonl:path={self.cdr},fsync=never",),
            accountingSpool=os.path.join(base, "spool"),
            reap="require",
        )
        [self.backend] = [d.key for d in self.proxy.service.accounting.deliveries]

    def scrape(self) -> dict[str, dict[str, Any]]:
        """
        Render and strictly parse the exposition.
        """
        return parseExposition(renderExposition(collectMetrics(self.proxy.service.metricsReaders)))

    def callUp(self) -> None:
        """
        Alice calls Bob, Bob answers, Alice ACKs.
        """
        self.proxy.receive(invite(), ALICE)
        [atBob] = self.proxy.sentTo(BOB)
        self.proxy.receive(answer(atBob, 200, "OK", body=SDP), BOB)
        self.proxy.receive(
            invite(
                method="ACK",
                uri="sip:bob@192.0.2.20:5060",
                branch="z9hG4bKalice-ack",
                toTag="bobtag",
                body=b"",
                route="<sip:192.0.2.1:5060;lr>",
            ),
            ALICE,
        )
        self.proxy.sent()

    def test_everyFamilyAtStart(self) -> None:
        """
        Before any traffic every family is there with HELP and TYPE, all
        values 0, one series per end cause, per reaper, per transaction kind
        and per accounting backend.
        """
        families = self.scrape()
        self.assertEqual({n: f["type"] for n, f in families.items()}, FAMILIES)
        for name, family in families.items():
            self.assertTrue(family["help"], name)
            self.assertEqual(set(family["samples"].values()), {0.0}, name)
        self.assertEqual(
            set(families["keepsip_dialogs_ended_total"]["samples"]),
            {(("cause", cause),) for cause in EndCause.ALL},
        )
        self.assertEqual(
            set(families["keepsip_reaper_ticks_total"]["samples"]),
            {(("reaper", "keepalive"),), (("reaper", "max-duration"),)},
        )
        self.assertEqual(
            set(families["keepsip_transactions"]["samples"]),
            {(("kind", "server"),), (("kind", "client"),)},
        )
        self.assertEqual(
            set(families["keepsip_accounting_backlog_records"]["samples"]),
            {(("backend", self.backend),)},
        )

    def test_callUpAndHungUp(self) -> None:
        """
        While a call is up the dialog and keepalive gauges are 1 and the
        INVITE's transactions are counted; after Alice's BYE is answered the
        gauges are back to 0 and the call is counted once under caller-bye.
        """
        self.callUp()
        during = self.scrape()
        self.assertEqual(value(during, "keepsip_sip_datagrams_received_total"), 3)
        self.assertEqual(value(during, "keepsip_dialogs"), 1)
        self.assertEqual(value(during, "keepsip_keepalive_dialogs"), 1)
        self.assertEqual(value(during, "keepsip_transactions", kind="server"), 1)
        self.assertEqual(value(during, "keepsip_transactions", kind="client"), 1)
        self.assertEqual(value(during, "keepsip_dialogs_ended_total", cause="caller-bye"), 0)

        self.proxy.receive(bye(), ALICE)
        [atBob] = self.proxy.sentTo(BOB)
        self.proxy.receive(answer(atBob, 200, "OK", toTag=None), BOB)
        after = self.scrape()
        self.assertEqual(value(after, "keepsip_sip_datagrams_received_total"), 5)
        self.assertEqual(value(after, "keepsip_dialogs"), 0)
        self.assertEqual(value(after, "keepsip_keepalive_dialogs"), 0)
        self.assertEqual(value(after, "keepsip_dialogs_ended_total", cause="caller-bye"), 1)
        self.assertEqual(sum(after["keepsip_dialogs_ended_total"]["samples"].values()), 1)
        # Timers J/K (64 x T1, T4) end the transactions.
        self.proxy.clock.advance(64 * 0.5 + 1)
        done = self.scrape()
        self.assertEqual(value(done, "keepsip_transactions", kind="server"), 0)
        self.assertEqual(value(done, "keepsip_transactions", kind="client"), 0)

    def test_keepalivesThenSilence(self) -> None:
        """
        Two keepalives count; when they stop the reaper ends the call: the
        expired and reaped counters and the keepalive-timeout cause move.
        """
        startReapers(self.proxy)
        self.addCleanup(stopReapers, self.proxy)
        self.callUp()
        keepAliveThenFallSilent(self.proxy)
        families = self.scrape()
        self.assertEqual(value(families, "keepsip_keepalives_total"), 2)
        self.assertEqual(value(families, "keepsip_keepalive_expired_total"), 1)
        self.assertEqual(value(families, "keepsip_reaper_reaped_total", reaper="keepalive"), 1)
        # One tick a second through the 60 s of silence (Clock.advance(30)
        # runs a LoopingCall once, so the calls' first minute adds ~2).
        self.assertGreaterEqual(
            value(families, "keepsip_reaper_ticks_total", reaper="keepalive"), 60
        )
        self.assertEqual(
            value(families, "keepsip_dialogs_ended_total", cause="keepalive-timeout"), 1
        )
        self.assertEqual(value(families, "keepsip_dialogs"), 0)

    def test_registrationAndDropped(self) -> None:
        """
        A REGISTER adds a binding; a datagram that is not SIP is dropped.
        """
        self.proxy.receive(register(), ("198.51.100.30", 5060))
        self.proxy.receive(b"\x00\x01 not sip", ("198.51.100.99", 5060))
        families = self.scrape()
        self.assertEqual(value(families, "keepsip_registrar_bindings"), 1)
        self.assertEqual(value(families, "keepsip_sip_datagrams_dropped_total"), 1)
        self.assertEqual(value(families, "keepsip_sip_datagrams_received_total"), 2)

    def test_accountingBacklogAndSent(self) -> None:
        """
        A call's records wait in the backlog while accounting is stopped,
        and are counted as sent (backlog 0) once it runs.
        """
        self.callUp()
        self.proxy.clock.advance(0.01)
        waiting = self.scrape()
        self.assertEqual(
            value(waiting, "keepsip_accounting_backlog_records", backend=self.backend), 1
        )
        self.assertEqual(
            value(waiting, "keepsip_accounting_records_sent_total", backend=self.backend), 0
        )
        accounting = self.proxy.service.accounting
        accounting.startService()
        self.addCleanup(accounting.stopService)
        self.proxy.clock.advance(0.01)
        sent = self.scrape()
        self.assertEqual(value(sent, "keepsip_accounting_backlog_records", backend=self.backend), 0)
        self.assertEqual(
            value(sent, "keepsip_accounting_records_sent_total", backend=self.backend), 1
        )
        self.assertEqual(
            value(sent, "keepsip_accounting_send_failures_total", backend=self.backend), 0
        )
        self.assertEqual(
            value(sent, "keepsip_accounting_write_errors_total", backend=self.backend), 0
        )
        self.assertEqual(value(sent, "keepsip_accounting_outage", backend=self.backend), 0)


class ResourceTests(SynchronousTestCase):
    """
    L{MetricsResource} answers by path.
    """

    def setUp(self) -> None:
        self.collected = 0

        def collect() -> list[Metric]:
            self.collected += 1
            return [Metric("t", "gauge", "T.", [((), self.collected)])]

        self.client = StubTreq(MetricsResource(collect))

    def get(self, path: str, method: str = "GET") -> tuple[Any, bytes]:
        response = self.successResultOf(self.client.request(method, "http://metrics" + path))
        return response, self.successResultOf(response.content())

    def test_metrics(self) -> None:
        """
        C{GET /metrics} collects afresh and answers 200 with the exposition
        and the 0.0.4 content type.
        """
        response, body = self.get("/metrics")
        self.assertEqual(response.code, 200)
        self.assertEqual(response.headers.getRawHeaders(b"content-type"), [CONTENT_TYPE])
        self.assertEqual(body, b"# HELP t T.\n# TYPE t gauge\nt 1\n")
        self.assertEqual(self.get("/metrics?x=1")[1].splitlines()[-1], b"t 2")

    def test_healthz(self) -> None:
        """
        C{GET /healthz} is 200 C{ok} and collects nothing.
        """
        response, body = self.get("/healthz")
        self.assertEqual((response.code, body), (200, b"ok"))
        self.assertEqual(self.collected, 0)

    def test_otherPaths(self) -> None:
        """
        Any other path, the root and C{/metrics/} included, is 404.
        """
        for path in ["/", "/metric", "/metrics/", "/metrics/x", "/healthz/x"]:
            self.assertEqual(self.get(path)[0].code, 404, path)
        self.assertEqual(self.collected, 0)

    def test_otherMethods(self) -> None:
        """
        Methods other than GET and HEAD are refused with 405; HEAD has no body.
        """
        self.assertEqual(self.get("/metrics", "POST")[0].code, 405)
        response, body = self.get("/metrics", "HEAD")
        self.assertEqual((response.code, body), (200, b""))


def _config(**kw: Any) -> Config:
    return Config(listen=(ListenAddress("udp", PROXY[0], PROXY[1]),), advertise=PROXY, **kw)


class WiringTests(SynchronousTestCase):
    """
    L{ProxyService} listens for metrics only when C{--metrics} is given.
    """

    def test_off(self) -> None:
        """
        Without C{metrics} there is no metrics service, but ended calls are
        still counted (the observer is always there).
        """
        service = makeService(_config(), MemoryReactorClock())
        self.assertRaises(KeyError, service.getServiceNamed, "metrics")
        self.assertIn(service.endCauses, service.tracker.observers)

    def test_listens(self) -> None:
        """
        With C{metrics="tcp:9460:interface=127.0.0.1"} the metrics child
        listens there on the service's reactor, with a site serving this
        service's exposition.
        """
        reactor = MemoryReactorClock()
        service = makeService(_config(metrics="tcp:9460:interface=127.0.0.1"), reactor)
        child = service.getServiceNamed("metrics")
        child.startService()
        [(port, site, _backlog, interface)] = reactor.tcpServers
        self.assertEqual((port, interface), (9460, "127.0.0.1"))
        response = self.successResultOf(StubTreq(site.resource).get("http://x/metrics"))
        families = parseExposition(self.successResultOf(response.content()))
        self.assertEqual(value(families, "keepsip_dialogs"), 0)
        service.endCauses.dialogTerminated(None, EndCause.SHUTDOWN, {})
        response = self.successResultOf(StubTreq(site.resource).get("http://x/metrics"))
        families = parseExposition(self.successResultOf(response.content()))
        self.assertEqual(value(families, "keepsip_dialogs_ended_total", cause="shutdown"), 1)
        self.successResultOf(defer.maybeDeferred(child.stopService))


@implementer(IAgentEndpointFactory)
class _UNIXEndpoints:
    """
    Connects every request of an L{Agent} to one UNIX socket.
    """

    def __init__(self, reactor: Any, path: str) -> None:
        self.reactor = reactor
        self.path = path

    def endpointForURI(self, uri: Any) -> UNIXClientEndpoint:
        return UNIXClientEndpoint(self.reactor, self.path)


class RealHTTPTests(TestCase):
    """
    The metrics site over real sockets on the global reactor.
    """

    def setUp(self) -> None:
        from twisted.internet import reactor

        self.reactor = reactor
        self.pool = HTTPConnectionPool(reactor, persistent=False)
        self.addCleanup(self.pool.closeCachedConnections)
        self.proxy = ProxyHarness()

    @defer.inlineCallbacks
    def test_loopbackTCP(self) -> Any:
        """
        A site on a free loopback TCP port answers C{GET /metrics} with a
        parseable exposition reflecting a datagram keepsip received, and
        C{/healthz} with 200 ok.
        """
        port = self.reactor.listenTCP(
            0, metricsSite(self.proxy.service.metricsReaders, self.reactor), interface="127.0.0.1"
        )
        self.addCleanup(port.stopListening)
        self.proxy.receive(register(), ("198.51.100.30", 5060))
        base = f"http://127.0.0.1:{port.getHost().port}"
        response = yield treq.get(base + "/metrics", pool=self.pool)
        self.assertEqual(response.code, 200)
        self.assertEqual(response.headers.getRawHeaders(b"content-type"), [CONTENT_TYPE])
        families = parseExposition((yield response.content()))
        self.assertEqual(set(families), set(FAMILIES))
        self.assertEqual(value(families, "keepsip_registrar_bindings"), 1)
        response = yield treq.get(base + "/healthz", pool=self.pool)
        self.assertEqual((response.code, (yield response.content())), (200, b"ok"))

    @defer.inlineCallbacks
    def test_serviceOnUNIXSocket(self) -> Any:
        """
        C{--metrics unix:PATH}: starting the service's metrics child makes
        it answer on that socket; stopping it closes the socket.
        """
        # A short path: UNIX socket paths are limited to about 100 bytes.
        directory = tempfile.mkdtemp(prefix="keepsip-metrics-")
        self.addCleanup(shutil.rmtree, directory, True)
        path = os.path.join(directory, "m.sock")
        service = makeService(_config(metrics=f"unix:{path}"), self.reactor)
        child = service.getServiceNamed("metrics")
        child.startService()
        self.addCleanup(lambda: child.stopService() if child.running else None)
        agent = Agent.usingEndpointFactory(
            self.reactor, _UNIXEndpoints(self.reactor, path), pool=self.pool
        )
        response = yield treq.request("GET", "http://keepsip/metrics", agent=agent)
        families = parseExposition((yield response.content()))
        self.assertEqual(value(families, "keepsip_dialogs"), 0)
        yield child.stopService()
        self.assertFalse(os.path.exists(path))


class MediaMetricsTests(SynchronousTestCase):
    """
    L{keepsip.metrics.mediaMetrics} reads the relay and the media timeout.
    """

    def test_relayCounters(self) -> None:
        """
        With one call up and 5 packets relayed, the reader reports 5
        packets, their octets, one stream, one session, 4 ports in use and
        one watched call; after the media timeout ended the call (both
        BYEs answered), one timeout and 0 ports.
        """
        from keepsip.metrics import mediaMetrics

        from ._media import ALICE_RTP, PACKET, MediaProxyTestCase, mediaPort

        case = MediaProxyTestCase()
        proxy = case.makeProxy()
        self.addCleanup(case.doCleanups)
        atBob, ok = case.establish()
        case.rtp(mediaPort(ok.body), ALICE_RTP, 5)
        read = mediaMetrics(proxy.service.media)

        def values() -> dict[str, float]:
            return {m.name: m.samples[0][1] for m in read()}

        now = values()
        self.assertEqual(now["keepsip_media_relayed_packets_total"], 5)
        self.assertEqual(now["keepsip_media_relayed_bytes_total"], 5 * len(PACKET))
        self.assertEqual(now["keepsip_media_streams"], 1)
        self.assertEqual(now["keepsip_media_sessions"], 1)
        self.assertEqual(now["keepsip_media_ports_in_use"], 4)
        self.assertEqual(now["keepsip_media_watched_calls"], 1)
        case.reactor.advance(5)
        case.answerByes(case.byes())
        later = values()
        self.assertEqual(later["keepsip_media_timeouts_total"], 1)
        self.assertEqual(later["keepsip_media_ports_in_use"], 0)
        self.assertEqual(later["keepsip_media_relayed_packets_total"], 5)


class DialogStoreMetricsTests(SynchronousTestCase):
    def test_counts(self) -> None:
        """
        The dialog store family reports the SQLite store's rows written,
        failed writes and calls loaded at start.
        """
        from twisted.internet.task import Clock

        from keepsip.dialog.serial import DialogCodec
        from keepsip.dialog.sqlite import SQLiteDialogStore
        from keepsip.metrics import dialogStoreMetrics
        from tests._dialogstore import makeDialog

        clock = Clock()
        path = self.mktemp()
        store = SQLiteDialogStore(path, clock, DialogCodec(), commitDelay=0)
        store.open()
        store.add(makeDialog("a"))
        store.add(makeDialog("b"))
        clock.advance(0)
        store.close()
        again = SQLiteDialogStore(path, clock, DialogCodec())
        again.open()
        self.addCleanup(again.close)
        metrics = {m.name: m.samples for m in dialogStoreMetrics(store)()}
        self.assertEqual(metrics["keepsip_dialog_store_operations_total"], [((), 2)])
        self.assertEqual(metrics["keepsip_dialog_store_errors_total"], [((), 0)])
        loaded = {m.name: m.samples for m in dialogStoreMetrics(again)()}
        self.assertEqual(loaded["keepsip_dialog_store_loaded"], [((), 2)])
