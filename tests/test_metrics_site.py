"""
Tests for L{keepsip.metrics.site}: the HTTP resource, the exposition of a whole
service, the service wiring, and real HTTP on a loopback port.
"""

from __future__ import annotations

import os
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

from keepsip.config.settings import Config
from keepsip.config.values import ListenAddress
from keepsip.dialog.model import EndCause
from keepsip.metrics.exposition import (
    CONTENT_TYPE,
    Metric,
)
from keepsip.metrics.site import MetricsResource, metricsSite
from keepsip.service import makeService
from keepsip.testing import PROXY

from ._metrics import FAMILIES, ProxyMetricsCase, parseExposition, register, value
from ._proxy import ProxyHarness


class ProxyMetricsTests(ProxyMetricsCase):
    """
    The exposition of a L{ProxyService} has every family from the start.
    """

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
