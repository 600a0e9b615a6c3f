"""
Tests for L{keepsip.accounting.plugin}: C{--accounting} parsing, plugin
discovery (including a backend from another distribution,
C{tests/custom_backend}) and backend construction.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap

from twisted.internet.task import Clock
from twisted.plugin import pluginPackagePaths
from twisted.trial.unittest import SkipTest, SynchronousTestCase
from zope.interface.verify import verifyObject

import keepsip.plugins
from keepsip.accounting.jsonl import JsonLinesBackend
from keepsip.accounting.plugin import (
    DEFAULT_ACCOUNTING,
    Argument,
    BackendFactory,
    availableBackends,
    backendKey,
    helpText,
    makeBackends,
    nonNegativeInt,
    parseAccountingOption,
    port,
)
from keepsip.accounting.tracker import AccountingTracker
from keepsip.dialog.model import Dialog, EndCause, Leg
from keepsip.interfaces import IAccountingBackend, IAccountingBackendFactory
from keepsip.testing import RecordingBackend

HERE = os.path.dirname(os.path.abspath(__file__))
CUSTOM = os.path.join(HERE, "custom_backend")
CHECKOUT = os.path.dirname(HERE)


def requireExternal(reason: str) -> None:
    """
    Skip, or fail when KEEPSIP_REQUIRE_EXTERNAL=1.
    """
    if os.environ.get("KEEPSIP_REQUIRE_EXTERNAL") == "1":
        raise AssertionError(reason)
    raise SkipTest(reason)


class ParseOptionTests(SynchronousTestCase):
    def test_parse(self) -> None:
        """
        TYPE:key=value,... splits into the type and a dict; values keep '='
        and ':'; '\\,' is a literal comma; a bare TYPE has no arguments.
        """
        self.assertEqual(
            parseAccountingOption("redis:host=h,port=6379,db=2"),
            ("redis", {"host": "h", "port": "6379", "db": "2"}),
        )
        self.assertEqual(
            parseAccountingOption("http:url=https://x.example/cdr?a=1&b=2"),
            ("http", {"url": "https://x.example/cdr?a=1&b=2"}),
        )
        self.assertEqual(
            parseAccountingOption(r"jsonl:path=/var/log/a\,b.jsonl"),
            ("jsonl", {"path": "/var/log/a,b.jsonl"}),
        )
        self.assertEqual(parseAccountingOption("jsonl"), ("jsonl", {}))
        self.assertEqual(parseAccountingOption("jsonl:"), ("jsonl", {}))
        self.assertEqual(parseAccountingOption("jsonl:path="), ("jsonl", {"path": ""}))

    def test_errors(self) -> None:
        """
        Malformed values raise a one-line ValueError.
        """
        for bad in [
            ":path=x",
            "",
            "jsonl:path",
            "jsonl:=x",
            "jsonl:path=a,path=b",
            "js onl:path=x",
            "jsonl:path=a,,fsync=never",
        ]:
            with self.assertRaises(ValueError, msg=bad) as caught:
                parseAccountingOption(bad)
            self.assertNotIn("\n", str(caught.exception))


class FactoryTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.built: list = []
        self.factory = BackendFactory(
            name="demo",
            help="A demo.",
            arguments=[
                Argument("host", "H"),
                Argument("port", "P", parse=port),
                Argument("db", "N", parse=nonNegativeInt, default=0),
                Argument("stream", "KEY", default="keepsip:cdr"),
            ],
            builder=lambda reactor, **kw: self.built.append((reactor, kw)) or RecordingBackend(),
        )

    def test_interface(self) -> None:
        """
        BackendFactory provides IAccountingBackendFactory.
        """
        self.assertTrue(verifyObject(IAccountingBackendFactory, self.factory))

    def test_argumentFormat(self) -> None:
        """
        The format lists required arguments plain and optional ones in
        brackets, in declaration order.
        """
        self.assertEqual(self.factory.argumentFormat, "host=H,port=P[,db=N][,stream=KEY]")

    def test_makeBackend(self) -> None:
        """
        Arguments are parsed, defaults filled in, and the builder called
        with the reactor and keyword arguments.
        """
        reactor = Clock()
        backend = self.factory.makeBackend({"host": "h", "port": "6379"}, reactor)
        self.assertIsInstance(backend, RecordingBackend)
        self.assertEqual(
            self.built, [(reactor, {"host": "h", "port": 6379, "db": 0, "stream": "keepsip:cdr"})]
        )

    def test_argumentErrors(self) -> None:
        """
        Unknown, missing and malformed arguments raise one-line ValueErrors
        naming the argument.
        """
        for args, name in [
            ({"host": "h", "port": "1", "dbb": "1"}, "dbb"),
            ({"port": "1"}, "host"),
            ({"host": "h", "port": "99999"}, "port"),
            ({"host": "h", "port": "x"}, "port"),
            ({"host": "h", "port": "1", "db": "-1"}, "db"),
            ({"host": "", "port": "1"}, "host"),
        ]:
            with self.assertRaises(ValueError) as caught:
                self.factory.makeBackend(args, Clock())
            message = str(caught.exception)
            self.assertIn(name, message)
            self.assertTrue(message.startswith("demo: "), message)
            self.assertNotIn("\n", message)
        self.assertEqual(self.built, [])


class DiscoveryTests(SynchronousTestCase):
    def test_jsonlFound(self) -> None:
        """
        getPlugins finds the jsonl type in keepsip.plugins, and it provides
        IAccountingBackendFactory.
        """
        backends = availableBackends()
        self.assertIn("jsonl", backends)
        self.assertTrue(verifyObject(IAccountingBackendFactory, backends["jsonl"]))
        self.assertEqual(
            backends["jsonl"].argumentFormat,
            "path=FILE[,fsync=always|never|interval][,interval=SECONDS]",
        )

    def test_helpText(self) -> None:
        """
        --help-accounting names the default and each type with its format.
        """
        text = helpText()
        self.assertIn(DEFAULT_ACCOUNTING, text)
        self.assertIn("jsonl:path=FILE[,fsync=always|never|interval]", text)

    def test_makeBackendsDefault(self) -> None:
        """
        No --accounting means one jsonl backend writing keepsip-cdr.jsonl in
        the working directory.
        """
        [(key, backend)] = makeBackends([], Clock())
        self.assertIsInstance(backend, JsonLinesBackend)
        self.assertEqual(backend.path, "keepsip-cdr.jsonl")
        self.assertEqual(key, backendKey("jsonl", {"path": "keepsip-cdr.jsonl"}))
        self.assertTrue(verifyObject(IAccountingBackend, backend))

    def test_makeBackendsSeveral(self) -> None:
        """
        Several specs make several backends with distinct keys that do not
        depend on their order; strings and parsed pairs are both accepted.
        """
        made = makeBackends(
            ["jsonl:path=a.jsonl,fsync=never", ("jsonl", {"path": "b.jsonl"})], Clock()
        )
        self.assertEqual([b.path for _, b in made], ["a.jsonl", "b.jsonl"])
        self.assertEqual(made[0][1].fsync, "never")
        swapped = makeBackends(["jsonl:path=b.jsonl", "jsonl:fsync=never,path=a.jsonl"], Clock())
        self.assertEqual({k for k, _ in made}, {k for k, _ in swapped})

    def test_makeBackendsErrors(self) -> None:
        """
        An unknown type lists the available ones; a duplicate backend and bad
        arguments are refused, each in one line.
        """
        with self.assertRaises(ValueError) as caught:
            makeBackends(["nosuch:x=1"], Clock())
        self.assertIn("'nosuch'", str(caught.exception))
        self.assertIn("jsonl", str(caught.exception))
        with self.assertRaises(ValueError):
            makeBackends(["jsonl:path=a", "jsonl:path=a"], Clock())
        with self.assertRaises(ValueError) as caught:
            makeBackends(["jsonl:path=a,fsync=sometimes"], Clock())
        self.assertIn("fsync", str(caught.exception))


CUSTOM_SCRIPT = textwrap.dedent(
    """
    import json, sys
    from twisted.internet.task import Clock
    from keepsip.accounting.plugin import availableBackends, helpText, makeBackends
    from keepsip.accounting.tracker import AccountingTracker
    from keepsip.dialog.model import Dialog, Leg

    outbox, spool = sys.argv[1], sys.argv[2]
    clock = Clock()
    tracker = AccountingTracker(
        makeBackends(["acme:outbox=" + outbox + ",account=tenant7"], clock), clock, spool
    )
    tracker.startService()
    dialog = Dialog("c1", Leg("sip:a@x", tag="t"), Leg("sip:b@y"), "sip:b@y", 0.0)
    tracker.dialogTerminated(dialog, "rejected", {})
    tracker.stopService()
    print(json.dumps({"types": sorted(availableBackends()), "help": "acme:outbox=FILE" in helpText()}))
    """
)


class CustomBackendTests(SynchronousTestCase):
    """
    An operator's package (C{tests/custom_backend}) with its own
    C{keepsip/plugins/acme_backend.py} adds the C{acme} type.
    """

    def test_inProcess(self) -> None:
        """
        With the package's directory on sys.path when keepsip.plugins
        computes its path (simulated by recomputing it), getPlugins finds
        acme; makeBackends builds it and the tracker delivers to it.
        """
        self.assertNotIn("acme", availableBackends())
        self.patch(sys, "path", [CUSTOM] + sys.path)
        self.patch(
            keepsip.plugins,
            "__path__",
            [keepsip.plugins.__path__[0]] + pluginPackagePaths("keepsip.plugins"),
        )
        self.addCleanup(sys.modules.pop, "acme_accounting.backend", None)
        self.addCleanup(sys.modules.pop, "acme_accounting", None)
        self.addCleanup(sys.modules.pop, "keepsip.plugins.acme_backend", None)
        self.assertIn(os.path.join(CUSTOM, "keepsip", "plugins"), keepsip.plugins.__path__)
        backends = availableBackends()
        self.assertIn("acme", backends)
        self.assertIn("jsonl", backends)
        self.assertTrue(verifyObject(IAccountingBackendFactory, backends["acme"]))

        outbox = self.mktemp()
        clock = Clock()
        tracker = AccountingTracker(
            makeBackends([f"acme:outbox={outbox}"], clock), clock, self.mktemp()
        )
        tracker.installSignalHandler = lambda *a, **k: False  # type: ignore[method-assign]
        tracker.startService()
        self.assertTrue(verifyObject(IAccountingBackend, tracker.deliveries[0].backend))
        dialog = Dialog("c1", Leg("sip:a@x", tag="t"), Leg("sip:b@y"), "sip:b@y", 0.0)
        tracker.dialogTerminated(dialog, EndCause.CANCELLED, {})
        self.successResultOf(tracker.stopService())
        with open(outbox) as f:
            [line] = f.read().splitlines()
        self.assertEqual(line.split()[0], "default")
        self.assertEqual(line.split()[2], "stop")

    def runScript(self, pythonPath: list[str]) -> dict:
        import json

        outbox = os.path.abspath(self.mktemp())
        spool = os.path.abspath(self.mktemp())
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(pythonPath))
        workdir = os.path.abspath(self.mktemp())
        os.makedirs(workdir)
        result = subprocess.run(
            [sys.executable, "-c", CUSTOM_SCRIPT, outbox, spool],
            env=env,
            cwd=workdir,
            capture_output=True,
            text=True,
            timeout=60,
        )
        self.assertEqual(result.returncode, 0, result.stderr)
        report = json.loads(result.stdout.strip().splitlines()[-1])
        with open(outbox) as f:
            report["outbox"] = f.read().splitlines()
        return report

    def test_onPythonPath(self) -> None:
        """
        A fresh interpreter with the package on PYTHONPATH (as a develop
        install puts it) lists acme in --help-accounting and delivers a
        record to it with its arguments.
        """
        report = self.runScript([CUSTOM, CHECKOUT])
        self.assertIn("acme", report["types"])
        self.assertIn("jsonl", report["types"])
        self.assertTrue(report["help"])
        [line] = report["outbox"]
        self.assertEqual(line.split()[0], "tenant7")
        self.assertEqual(line.split()[2:], ["stop", "0.00", "XXX"])

    def test_installed(self) -> None:
        """
        pip-installing the package (into a target directory) ships its
        plugin file where keepsip finds it.
        """
        target = os.path.abspath(self.mktemp())
        source = os.path.abspath(self.mktemp())
        # build from a copy: setuptools leaves build/ and *.egg-info behind
        shutil.copytree(
            CUSTOM, source, ignore=shutil.ignore_patterns("build", "*.egg-info", "dropin.cache")
        )
        try:
            import setuptools  # noqa: F401
        except ImportError:
            requireExternal("setuptools is needed to build the example package")
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "install",
                "--quiet",
                "--no-deps",
                "--no-build-isolation",
                "--no-index",
                "--target",
                target,
                source,
            ],
            capture_output=True,
            text=True,
            timeout=300,
        )
        if result.returncode != 0:
            requireExternal(f"pip could not build the example package: {result.stderr[-500:]}")
        self.assertTrue(
            os.path.exists(os.path.join(target, "keepsip", "plugins", "acme_backend.py"))
        )
        self.assertFalse(os.path.exists(os.path.join(target, "keepsip", "plugins", "__init__.py")))
        report = self.runScript([target, CHECKOUT])
        self.assertIn("acme", report["types"])
        self.assertEqual(len(report["outbox"]), 1)
