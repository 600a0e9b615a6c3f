"""
Tests for L{keepsip.tap}: the command line, the TOML file, their precedence,
validation, and L{keepsip.tap.makeService}.
"""

from __future__ import annotations

import ipaddress
import os
import sys
import types
from typing import Any

from twisted.application.service import Service
from twisted.python import usage
from twisted.trial.unittest import SkipTest, SynchronousTestCase

from keepsip import tap
from keepsip.config import load
from keepsip.config.options import OPTIONS
from keepsip.config.settings import Config
from keepsip.config.values import ListenAddress, Route


class OptionsTestsMixin:
    """
    Helpers: parse a command line, with a TOML file written to a temporary
    path; the primary-address discovery is replaced by a constant.
    """

    def setUp(self) -> None:
        self.patch(load, "primaryIPv4", lambda socketFactory=None: "192.0.2.55")  # type: ignore[attr-defined]

    def writeToml(self, text: str) -> str:
        path: str = self.mktemp()  # type: ignore[attr-defined]
        with open(path, "w") as f:
            f.write(text)
        return path

    def parse(self, *argv: str, toml: str | None = None) -> tap.Options:
        options = tap.Options()
        if toml is not None:
            argv = ("--config", self.writeToml(toml)) + argv
        options.parseOptions(list(argv))
        return options

    def usageError(self, *argv: str, toml: str | None = None) -> str:
        e = self.assertRaises(usage.UsageError, self.parse, *argv, toml=toml)  # type: ignore[attr-defined]
        message = str(e)
        self.assertNotIn("\n", message)  # type: ignore[attr-defined]
        return message


#: An htdigest file for --auth.
USERS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "users.htdigest")

EVERY_OPTION_CLI = [
    "--listen", "udp:127.0.0.1:5071",
    "--listen", "udp:[::1]:5072",
    "--advertise", "proxy.example.com:5080",
    "--route", "*=sip:10.0.0.1",
    "--route", "49=sip:10.0.0.2:5070",
    "--route", "@example.org=sip:10.0.0.3",
    "--domain", "example.com",
    "--domain", "sip.example.com",
    "--registrar-min-expires", "30",
    "--registrar-max-expires", "7200",
    "--registrar-default-expires", "600",
    "--registrar-max-contacts", "3",
    "--registrar-max-source-bindings", "50",
    "--registrar-rate-limit", "7",
    "--auth", f"htdigest:path={USERS}",
    "--auth-realm", "sip.example.com",
    "--auth-algorithms", "SHA-256,MD5",
    "--auth-nonce-lifetime", "60",
    "--auth-secret", "s3cret",
    "--no-auth-from-check",
    "--auth-challenge-rate-limit", "4",
    "--trusted", "192.0.2.0/24,2001:db8::1",
    "--trusted", "10.1.2.3",
    "--timer-t1", "0.25",
    "--timer-t2", "2",
    "--timer-t4", "3.5",
    "--keepalive-interval", "20",
    "--keepalive-tolerance", "1.5",
    "--reaper-tick", "0.5",
    "--keepalive-policy", "forward",
    "--keepalive-legs", "either",
    "--reap", "require",
    "--max-duration", "7200",
    "--keepalive-methods", "INVITE,options,SESSION-REFRESH",
    "--session-timer-assist",
    "--end-time", "detection",
    "--keepalive-rate-limit", "5",
    "--accounting", "jsonl:path=cdr.jsonl",
    "--accounting", "jsonl:path=other.jsonl",
    "--accounting-spool", "spool",
    "--accounting-commit-delay", "0.02",
    "--interim-interval", "60",
    "--no-interim-on-keepalive",
    "--log-level", "debug",
    "--metrics", "tcp:9460:interface=127.0.0.1",
    "--shutdown-timeout", "3.5",
    "--workers", "1",
    "--worker-ports", "6000",
    "--media-relay", "builtin",
    "--rtp-address", "::1",
    "--rtp-ports", "20000-20099",
    "--media-timeout", "3",
    "--hold-timeout", "0",
    "--dialog-store", "memory",
    "--on-stop", "end",
    "--max-transactions", "500",
    "--max-transactions-per-source", "50",
    "--require-keepalives-from", "192.0.2.0/24,::1",
    "--role", "edge",
    "--core", "sip:192.0.2.1:5070",
]  # fmt: skip

EVERY_OPTION_TOML = f"""
listen = ["udp:127.0.0.1:5071", "udp:[::1]:5072"]
advertise = "proxy.example.com:5080"
route = ["*=sip:10.0.0.1", "49=sip:10.0.0.2:5070", "@example.org=sip:10.0.0.3"]
domain = ["example.com", "sip.example.com"]
registrar-min-expires = 30
registrar-max-expires = 7200
registrar-default-expires = 600
registrar-max-contacts = 3
registrar-max-source-bindings = 50
registrar-rate-limit = 7
auth = "htdigest:path={USERS}"
auth-realm = "sip.example.com"
auth-algorithms = "SHA-256,MD5"
auth-nonce-lifetime = 60
auth-secret = "s3cret"
auth-from-check = false
auth-challenge-rate-limit = 4
trusted = ["192.0.2.0/24,2001:db8::1", "10.1.2.3"]
timer-t1 = 0.25
timer-t2 = 2
timer-t4 = 3.5
keepalive-interval = 20
keepalive-tolerance = 1.5
reaper-tick = 0.5
keepalive-policy = "forward"
keepalive-legs = "either"
reap = "require"
max-duration = 7200
keepalive-methods = "INVITE,options,SESSION-REFRESH"
session-timer-assist = true
end-time = "detection"
keepalive-rate-limit = 5
accounting = ["jsonl:path=cdr.jsonl", "jsonl:path=other.jsonl"]
accounting-spool = "spool"
accounting-commit-delay = 0.02
interim-interval = 60
interim-on-keepalive = false
log-level = "debug"
metrics = "tcp:9460:interface=127.0.0.1"
shutdown-timeout = 3.5
workers = 1
worker-ports = 6000
media-relay = "builtin"
rtp-address = "::1"
rtp-ports = "20000-20099"
media-timeout = 3
hold-timeout = 0
dialog-store = "memory"
on-stop = "end"
max-transactions = 500
max-transactions-per-source = 50
require-keepalives-from = "192.0.2.0/24,::1"
role = "edge"
core = "sip:192.0.2.1:5070"
"""

EVERY_OPTION_CONFIG = Config(
    listen=(ListenAddress("udp", "127.0.0.1", 5071), ListenAddress("udp", "::1", 5072)),
    advertise=("proxy.example.com", 5080),
    routes=(
        Route("", None, "10.0.0.1", 5060),
        Route("49", None, "10.0.0.2", 5070),
        Route("", "example.org", "10.0.0.3", 5060),
    ),
    domains=frozenset({"example.com", "sip.example.com"}),
    registrarMinExpires=30,
    registrarMaxExpires=7200,
    registrarDefaultExpires=600,
    registrarMaxContacts=3,
    registrarMaxSourceBindings=50,
    registrarRateLimit=7.0,
    auth=f"htdigest:path={USERS}",
    authRealm="sip.example.com",
    authAlgorithms=("SHA-256", "MD5"),
    authNonceLifetime=60.0,
    authSecret="s3cret",
    authFromCheck=False,
    authChallengeRateLimit=4.0,
    trusted=(
        (ipaddress.ip_network("192.0.2.0/24"), ipaddress.ip_network("2001:db8::1")),
        (ipaddress.ip_network("10.1.2.3"),),
    ),
    timerT1=0.25,
    timerT2=2.0,
    timerT4=3.5,
    keepaliveInterval=20.0,
    keepaliveTolerance=1.5,
    reaperTick=0.5,
    keepalivePolicy="forward",
    keepaliveLegs="either",
    reap="require",
    maxDuration=7200.0,
    keepaliveMethods=frozenset({"INVITE", "OPTIONS", "SESSION-REFRESH"}),
    sessionTimerAssist=True,
    endTime="detection",
    keepaliveRateLimit=5.0,
    accounting=("jsonl:path=cdr.jsonl", "jsonl:path=other.jsonl"),
    accountingSpool="spool",
    accountingCommitDelay=0.02,
    interimInterval=60.0,
    interimOnKeepalive=False,
    logLevel="debug",
    metrics="tcp:9460:interface=127.0.0.1",
    shutdownTimeout=3.5,
    workers=1,
    workerPorts=6000,
    mediaRelay="builtin",
    rtpAddress="::1",
    rtpPorts=(20000, 20099),
    mediaTimeout=3.0,
    holdTimeout=0.0,
    dialogStore="memory",
    onStop="end",
    maxTransactions=500,
    maxTransactionsPerSource=50,
    requireKeepalivesFrom=(ipaddress.ip_network("192.0.2.0/24"), ipaddress.ip_network("::1")),
    role="edge",
    core=("192.0.2.1", 5070),
)


class OptionsTests(OptionsTestsMixin, SynchronousTestCase):
    """
    L{tap.Options} parses, merges and validates.
    """

    def test_defaults(self) -> None:
        """
        With no arguments and no file, the configuration is the documented
        default, advertising the discovered primary address.
        """
        options = self.parse()
        self.assertEqual(options.config, Config(advertise=("192.0.2.55", 5060)))
        self.assertIsNone(options.config.configFile)

    def test_everyOptionFromCommandLine(self) -> None:
        """
        Every option can be given on the command line.
        """
        options = self.parse(*EVERY_OPTION_CLI)
        self.assertEqual(options.config, EVERY_OPTION_CONFIG)

    def test_everyOptionFromToml(self) -> None:
        """
        Every option can be given in the TOML file under its long name.
        """
        options = self.parse(toml=EVERY_OPTION_TOML)
        self.assertEqual(options.config, EVERY_OPTION_CONFIG)
        self.assertEqual(options.config.configFile, options["config"])

    def test_testsCoverEveryOption(self) -> None:
        """
        The two tests above name every row of the option table, so a new
        row without a test here fails.
        """
        flags = {o.name for o in OPTIONS if o.flag}
        cli = {arg[2:] for arg in EVERY_OPTION_CLI if arg.startswith("--")}
        cli = {name[3:] if name[3:] in flags else name for name in cli}
        toml = {line.split(" = ")[0] for line in EVERY_OPTION_TOML.splitlines() if " = " in line}
        self.assertEqual(cli, {o.name for o in OPTIONS})
        self.assertEqual(toml, {o.name for o in OPTIONS})

    def test_itemsHoldParsedValues(self) -> None:
        """
        After parsing, C{options[name]} holds the parsed value of each option.
        """
        options = self.parse(*EVERY_OPTION_CLI)
        self.assertEqual(options["listen"], EVERY_OPTION_CONFIG.listen)
        self.assertEqual(options["route"], EVERY_OPTION_CONFIG.routes)
        self.assertEqual(options["timer-t1"], 0.25)
        self.assertEqual(options["log-level"], "debug")

    def test_commandLineWins(self) -> None:
        """
        A value on the command line beats the file's, option by option; a
        repeatable option replaces the file's whole list; options only in
        the file keep the file's value.
        """
        options = self.parse(
            "--timer-t1", "0.1", "--listen", "udp:127.0.0.1:6000", toml=EVERY_OPTION_TOML
        )
        c = options.config
        self.assertEqual(c.timerT1, 0.1)
        self.assertEqual(c.listen, (ListenAddress("udp", "127.0.0.1", 6000),))
        self.assertEqual(c.timerT2, 2.0)
        self.assertEqual(c.logLevel, "debug")
        self.assertEqual(c.routes, EVERY_OPTION_CONFIG.routes)

    def test_flagPairs(self) -> None:
        """
        Each flag row is a C{--x} / C{--no-x} pair; C{--no-x} on the command
        line beats C{x = true} in the file, and C{--x} beats C{x = false}.
        """
        flags = [o for o in OPTIONS if o.flag]
        self.assertTrue(flags)
        for option in flags:
            on = self.parse(f"--{option.name}", toml=f"{option.name} = false\n")
            off = self.parse(f"--no-{option.name}", toml=f"{option.name} = true\n")
            self.assertIs(getattr(on.config, option.attribute), True, option.name)
            self.assertIs(getattr(off.config, option.attribute), False, option.name)
            self.assertIs(getattr(self.parse().config, option.attribute), option.default)

    def test_singleStringForRepeatableInToml(self) -> None:
        """
        A repeatable option may be a single string in TOML.
        """
        options = self.parse(toml='listen = "udp:127.0.0.1:5090"\n')
        self.assertEqual(options.config.listen, (ListenAddress("udp", "127.0.0.1", 5090),))
        self.assertEqual(options.config.advertise, ("127.0.0.1", 5090))

    def test_lastSingleValueWins(self) -> None:
        """
        A single-valued option given twice on the command line keeps the last.
        """
        self.assertEqual(
            self.parse("--log-level", "warn", "--log-level", "error").config.logLevel, "error"
        )

    def test_badCommandLineValues(self) -> None:
        """
        Each wrong command-line value gives one UsageError line naming its
        option.
        """
        cases = [
            (["--listen", "tcp:x"], "--listen: expected udp:HOST:PORT, got 'tcp:x'"),
            (["--listen", "udp:127.0.0.1:99999"], "--listen: "),
            (["--advertise", "not a host"], "--advertise: "),
            (["--route", "49:sip:10.0.0.1"], "--route: "),
            (["--domain", "bad_name"], "--domain: "),
            (["--registrar-min-expires", "0"], "--registrar-min-expires: "),
            (["--registrar-max-expires", "ten"], "--registrar-max-expires: "),
            (["--registrar-default-expires", "-5"], "--registrar-default-expires: "),
            (["--registrar-min-expires", "4000"], "--registrar-min-expires: "),
            (["--registrar-default-expires", "30"], "--registrar-default-expires: "),
            (["--timer-t1", "0"], "--timer-t1: "),
            (["--timer-t2", "nan"], "--timer-t2: "),
            (["--timer-t4", "-1"], "--timer-t4: "),
            (["--timer-t1", "5"], "--timer-t1: must be less than --timer-t2"),
            (["--log-level", "verbose"], "--log-level: expected one of debug|info|warn|error"),
            (["--metrics", "9460"], "--metrics: expected an endpoint like tcp:PORT"),
            (["--metrics", "udp:9460"], "--metrics: expected an endpoint like tcp:PORT"),
            (["--metrics", "tcp:abc"], "--metrics: not a valid tcp endpoint: 'tcp:abc'"),
            (["--metrics", "tcp:9460:bogus=1"], "--metrics: not a valid tcp endpoint"),
            (["--metrics", "tcp:65536"], "--metrics: port out of range"),
        ]
        for argv, prefix in cases:
            message = self.usageError(*argv)
            self.assertTrue(message.startswith(prefix), (argv, message))

    def test_badTomlValues(self) -> None:
        """
        Wrong values and wrong TOML types in the file give one UsageError
        line naming the option and the file.
        """
        cases = [
            ('listen = ["tcp:x"]', "--listen: expected udp:HOST:PORT, got 'tcp:x'"),
            ("listen = [5060]", "--listen: expected an array of strings"),
            ('registrar-min-expires = "60"', "--registrar-min-expires: expected an integer"),
            ("registrar-max-expires = true", "--registrar-max-expires: expected an integer"),
            ("registrar-default-expires = 1.5", "--registrar-default-expires: expected an integer"),
            ("timer-t1 = -0.5", "--timer-t1: expected a positive number"),
            ('timer-t2 = "4"', "--timer-t2: expected a float"),
            ("advertise = 5", "--advertise: expected a string"),
            ('log-level = "loud"', "--log-level: "),
            ("metrics = 9460", "--metrics: expected a string"),
            ('metrics = "http:9460"', "--metrics: expected an endpoint like tcp:PORT"),
            ('route = ["x=sip:10.0.0.1", "x=sip:10.0.0.2"]', "--route: more than one route"),
        ]
        for text, prefix in cases:
            message = self.usageError(toml=text + "\n")
            self.assertTrue(message.startswith(prefix), (text, message))
            if "more than one" not in message:
                self.assertIn("(in ", message)

    def test_unknownTomlKey(self) -> None:
        """
        A key that is no option is an error naming the key (with a hint).
        """
        message = self.usageError(toml='lisen = ["udp:127.0.0.1:5060"]\n')
        self.assertIn("unknown option 'lisen'", message)
        self.assertIn("did you mean 'listen'", message)
        message = self.usageError(toml="[registrar]\nmin-expires = 5\n")
        self.assertIn("unknown option 'registrar'", message)

    def test_configKeyInToml(self) -> None:
        """
        C{config} is a command-line-only option: in the file it is unknown.
        """
        self.assertIn("unknown option 'config'", self.usageError(toml='config = "x.toml"\n'))

    def test_unreadableOrBrokenFile(self) -> None:
        """
        A missing file or invalid TOML is an error naming --config.
        """
        message = self.usageError("--config", self.mktemp())
        self.assertTrue(message.startswith("--config: cannot read"), message)
        message = self.usageError(toml="listen = [\n")
        self.assertTrue(message.startswith("--config: cannot parse"), message)

    def test_unknownCommandLineOption(self) -> None:
        """
        An unknown command-line option is refused by usage.Options.
        """
        self.assertRaises(usage.UsageError, self.parse, "--lisen", "udp:127.0.0.1:5060")

    def test_badMediaValuesNameTheOption(self) -> None:
        """
        A wrong media option is one usage line naming it, on the command
        line and in the file; builtin with a host name to advertise and no
        --rtp-address names --rtp-address.
        """
        for name, value in (
            ("media-relay", "bogus"),
            ("media-relay", "rtpengine:host=127.0.0.1"),
            ("rtp-address", "relay.example.com"),
            ("rtp-ports", "40000-30000"),
            ("media-timeout", "-1"),
            ("hold-timeout", "soon"),
        ):
            self.assertIn(f"--{name}", self.usageError(f"--{name}", value))
            self.assertIn(name, self.usageError(toml=f'{name} = "{value}"\n'))
        message = self.usageError("--media-relay", "builtin", "--advertise", "sip.example.com")
        self.assertIn("--rtp-address", message)

    def test_badKeepaliveValuesNameTheOption(self) -> None:
        """
        Each keepalive option rejects a wrong value with one line naming it,
        from the command line and from the TOML file.
        """
        cases = [
            ("keepalive-interval", "0"),
            ("keepalive-tolerance", "-1"),
            ("reaper-tick", "soon"),
            ("keepalive-policy", "drop"),
            ("keepalive-legs", "both"),
            ("reap", "sometimes"),
            ("max-duration", "-5"),
            ("keepalive-methods", "INVITE,BYE"),
            ("end-time", "now"),
            ("keepalive-rate-limit", "0"),
            ("accounting", "nosuch:x=1"),
            ("accounting", "jsonl"),
            ("interim-interval", "-1"),
        ]
        for name, value in cases:
            self.assertIn(f"--{name}", self.usageError(f"--{name}", value))
            self.assertIn(name, self.usageError(toml=f'{name} = "{value}"\n'))

    def test_tariffsTable(self) -> None:
        """
        The TOML file's [tariffs] table reaches the configuration; a wrong
        tariff gives one line naming its key.
        """
        options = self.parse(
            toml='[tariffs]\ncurrency = "EUR"\n[tariffs.default]\nper_minute = "0.02"\n'
        )
        self.assertEqual(options.config.tariffs["currency"], "EUR")
        message = self.usageError(toml='[tariffs.default]\nincrements = "6"\n')
        self.assertIn("increments", message)
        message = self.usageError(toml='tariffs = "cheap"\n')
        self.assertIn("tariffs", message)

    def test_helpAccounting(self) -> None:
        """
        --help-accounting lists every backend type with its arguments and
        exits.
        """
        import io

        out = io.StringIO()
        self.patch(sys, "stdout", out)
        self.assertRaises(SystemExit, self.parse, "--help-accounting")
        for name in ("jsonl", "path="):
            self.assertIn(name, out.getvalue())

    def test_helpListsEveryOption(self) -> None:
        """
        C{--help} documents every row of the option table and --config.
        """
        text = tap.Options().getUsage()
        for option in OPTIONS:
            if option.flag:
                self.assertIn(f"--{option.name} ", text)
                self.assertIn(f"--no-{option.name} ", text)
            else:
                self.assertIn(f"--{option.name}=", text)
        self.assertIn("--config=", text)


class MakeServiceTests(OptionsTestsMixin, SynchronousTestCase):
    """
    L{tap.makeService} hands the configuration to L{keepsip.service}.
    """

    def test_makeService(self) -> None:
        """
        C{makeService} calls C{keepsip.service.makeService(config, reactor)}
        with the parsed configuration and the global reactor, and returns
        its service inside an L{tap.ExitOnStartupError}.
        """
        calls: list[tuple[Any, Any]] = []
        service = Service()

        def fakeMakeService(c: Config, reactor: Any) -> Service:
            calls.append((c, reactor))
            return service

        fake = types.ModuleType("keepsip.service")
        fake.makeService = fakeMakeService  # type: ignore[attr-defined]
        previous = sys.modules.get("keepsip.service")
        sys.modules["keepsip.service"] = fake

        def restore() -> None:
            if previous is None:
                del sys.modules["keepsip.service"]
            else:
                sys.modules["keepsip.service"] = previous

        self.addCleanup(restore)
        tuned: list[bool] = []
        self.patch(tap, "tuneGarbageCollector", lambda: tuned.append(True))

        options = self.parse("--listen", "udp:127.0.0.1:0")
        root = tap.makeService(options)
        self.assertIsInstance(root, tap.ExitOnStartupError)
        self.assertIs(root.proxy, service)
        self.assertIs(list(root)[0], service)
        from twisted.internet import reactor

        self.assertEqual(calls, [(options.config, reactor)])
        self.assertEqual(tuned, [True])

    def test_tuneGarbageCollector(self) -> None:
        """
        keepsip's process makes full garbage collections rare (the middle
        threshold of a full collection is L{tap.FULL_COLLECTION_EVERY}) and
        freezes what exists at startup; the young generations keep their
        thresholds.
        """
        import gc

        before = gc.get_threshold()
        self.addCleanup(gc.set_threshold, *before)
        self.addCleanup(gc.unfreeze)
        tap.tuneGarbageCollector()
        self.assertEqual(gc.get_threshold(), (before[0], before[1], tap.FULL_COLLECTION_EVERY))
        self.assertGreater(gc.get_freeze_count(), 0)


    def test_mallocTrimmer(self) -> None:
        """
        On glibc the process gives the C allocator's free pages back every
        L{tap.TRIM_INTERVAL} seconds: C{mallocTrimmer} is a service that,
        started on a clock, calls C{malloc_trim} at once and again each
        interval, and leaves no delayed call once stopped.
        """
        import platform

        from twisted.internet.task import Clock

        if platform.libc_ver()[0] != "glibc":
            raise SkipTest("malloc_trim is glibc's")
        clock = Clock()
        trimmer = tap.mallocTrimmer(clock)
        assert trimmer is not None
        trimmer.startService()
        self.assertEqual([c.getTime() for c in clock.getDelayedCalls()], [tap.TRIM_INTERVAL])
        clock.advance(tap.TRIM_INTERVAL)
        self.assertEqual(
            [c.getTime() for c in clock.getDelayedCalls()], [2 * tap.TRIM_INTERVAL]
        )
        trimmer.stopService()
        self.assertEqual(clock.getDelayedCalls(), [])


    def test_processRootTrimsAndTunes(self) -> None:
        """
        L{tap.processRoot}, the root of the single process and of every
        C{--workers} worker (L{keepsip.workers.process}), tunes the garbage
        collector and, on glibc, runs the L{tap.mallocTrimmer} beside the
        proxy: started, it arms the trimmer's timer; stopped, nothing is
        left on the clock.
        """
        import platform

        from twisted.application.service import Service
        from twisted.internet.task import Clock

        tuned: list[bool] = []
        self.patch(tap, "tuneGarbageCollector", lambda: tuned.append(True))
        clock = Clock()
        proxy = Service()
        root = tap.processRoot(proxy, clock)
        self.assertEqual(tuned, [True])
        self.assertIs(root.proxy, proxy)
        others = [child for child in root if child is not proxy]
        if platform.libc_ver()[0] != "glibc":
            self.assertEqual(others, [])
            return
        self.assertEqual(len(others), 1)
        root.startService()
        self.assertTrue(proxy.running)
        self.assertEqual([c.getTime() for c in clock.getDelayedCalls()], [tap.TRIM_INTERVAL])
        root.stopService()
        self.assertEqual(clock.getDelayedCalls(), [])


class WorkersOptionTests(OptionsTestsMixin, SynchronousTestCase):
    """
    C{--workers} and C{--worker-ports} on the command line and in TOML.
    """

    def test_auto(self) -> None:
        """
        C{auto} is the number of cores this process may use, from the
        command line or TOML (where a number is an integer).
        """
        from keepsip.config.cores import cpuCount

        self.assertEqual(self.parse("--workers", "auto").config.workers, cpuCount())
        self.assertEqual(self.parse(toml='workers = "auto"').config.workers, cpuCount())
        self.assertEqual(self.parse(toml="workers = 3").config.workers, 3)
        self.assertEqual(self.parse().config.workers, 1)

    def test_workerPortsComputed(self) -> None:
        """
        Without --worker-ports, worker 1's own port is the first listen port
        + 1; given, it is kept.
        """
        options = self.parse("--listen", "udp:127.0.0.1:5070", "--workers", "2")
        self.assertEqual(options.config.workerPorts, 5071)
        options = self.parse("--workers", "2", "--worker-ports", "7000")
        self.assertEqual(options.config.workerPorts, 7000)

    def test_badValues(self) -> None:
        """
        Each wrong value is one line naming the option that is wrong.
        """
        cases = [
            (("--workers", "0"), "--workers: "),
            (("--workers", "many"), "--workers: "),
            (("--workers", "-2"), "--workers: "),
            (("--workers", "2", "--role", "edge", "--core", "sip:192.0.2.1"), "--workers: "),
            (("--workers", "2", "--listen", "udp:127.0.0.1:0"), "--workers: "),
            (("--worker-ports", "70000"), "--worker-ports: "),
            (("--workers", "3", "--worker-ports", "65534"), "--worker-ports: "),
            (("--workers", "2", "--listen", "udp:127.0.0.1:5060", "--worker-ports", "5059"),
             "--worker-ports: "),
            (("--workers", "2", "--metrics", "systemd:domain=INET:index=0"), "--metrics: "),
        ]  # fmt: skip
        for argv, prefix in cases:
            message = self.usageError(*argv)
            self.assertTrue(message.startswith(prefix), (argv, message))
        message = self.usageError(toml="workers = 1.5")
        self.assertTrue(message.startswith("--workers: "), message)

    def test_supervisorService(self) -> None:
        """
        With more than one worker, twistd runs the supervisor (which binds
        nothing until started); with one, the proxy itself.
        """
        from keepsip.proxyservice import ProxyService
        from keepsip.workers.supervisor import WorkerSupervisor

        root = tap.makeService(self.parse("--workers", "2", "--dialog-store", "memory"))
        self.assertIsInstance(root.proxy, WorkerSupervisor)
        root = tap.makeService(self.parse("--dialog-store", "memory"))
        self.assertIsInstance(root.proxy, ProxyService)
