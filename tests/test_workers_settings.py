"""
Tests for L{keepsip.workers.settings}: what each worker of C{--workers N}
is given.
"""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from keepsip.config.load import buildConfig
from keepsip.config.values import ListenAddress
from keepsip.workers.settings import (
    WorkerSettingsError,
    privateAddresses,
    workerAccounting,
    workerConfig,
    workerDialogStore,
    workerMetrics,
    workerPath,
    workerRtpPorts,
)


def config(**commandLine: object):  # type: ignore[no-untyped-def]
    values = {"listen": ["udp:127.0.0.1:5060"], "workers": "2"}
    values.update({k.replace("_", "-"): v for k, v in commandLine.items()})
    return buildConfig(values)


class WorkerPathTests(SynchronousTestCase):
    def test_beforeExtension(self) -> None:
        """
        C{.wN} goes before the extension of the last component, or at the
        end when there is none; directories are kept.
        """
        self.assertEqual(workerPath("/var/lib/calls.jsonl", 2), "/var/lib/calls.w2.jsonl")
        self.assertEqual(workerPath("keepsip-spool", 1), "keepsip-spool.w1")
        self.assertEqual(workerPath("a.b/c", 3), "a.b/c.w3")


class SpecTests(SynchronousTestCase):
    def test_accounting(self) -> None:
        """
        A jsonl file per worker, its other arguments and escaped commas
        kept; networked backends shared unchanged.
        """
        self.assertEqual(
            workerAccounting(
                (
                    "jsonl:path=/x/a\\,b.jsonl,fsync=always",
                    "http:url=http://127.0.0.1:8080/cdr",
                ),
                2,
            ),
            ("jsonl:path=/x/a\\,b.w2.jsonl,fsync=always", "http:url=http://127.0.0.1:8080/cdr"),
        )

    def test_defaultAccounting(self) -> None:
        """
        Without --accounting each worker writes its own copy of the default
        jsonl file.
        """
        self.assertEqual(workerAccounting((), 2), ("jsonl:path=keepsip-cdr.w2.jsonl",))

    def test_dialogStore(self) -> None:
        """
        An SQLite file per worker; memory and redis unchanged.
        """
        self.assertEqual(
            workerDialogStore("sqlite:path=d.sqlite3,commit-delay=0.1", 1),
            "sqlite:path=d.w1.sqlite3,commit-delay=0.1",
        )
        self.assertEqual(workerDialogStore("memory", 1), "memory")
        redis = "redis:host=127.0.0.1,port=6379"
        self.assertEqual(workerDialogStore(redis, 2), redis)

    def test_metrics(self) -> None:
        """
        tcp/ssl ports count up from the given one (0 stays 0); unix paths
        get C{.wN}; empty stays off; other types are refused naming the
        option.
        """
        self.assertEqual(workerMetrics("tcp:9460:interface=127.0.0.1", 2), "tcp:9461:interface=127.0.0.1")
        self.assertEqual(workerMetrics("tcp:port=9460", 3), "tcp:port=9462")
        self.assertEqual(workerMetrics("tcp:0", 3), "tcp:0")
        self.assertEqual(workerMetrics("unix:/run/k.sock", 1), "unix:/run/k.w1.sock")
        self.assertEqual(workerMetrics("", 2), "")
        e = self.assertRaises(WorkerSettingsError, workerMetrics, "systemd:domain=INET:index=0", 1)
        self.assertTrue(str(e).startswith("--metrics: "), str(e))

    def test_rtpPorts(self) -> None:
        """
        The even/odd pairs are cut into one run per worker, the last taking
        the rest; too few pairs is refused.
        """
        self.assertEqual(
            [workerRtpPorts((30000, 30011), 2, i) for i in (1, 2)], [(30000, 30005), (30006, 30011)]
        )
        self.assertEqual(
            [workerRtpPorts((30001, 30013), 3, i) for i in (1, 2, 3)],
            [(30002, 30005), (30006, 30009), (30010, 30013)],
        )
        self.assertRaises(WorkerSettingsError, workerRtpPorts, (30000, 30003), 3, 1)


class WorkerConfigTests(SynchronousTestCase):
    def test_ownPortAdvertised(self) -> None:
        """
        Worker i listens on its own port (first, on each listen host once)
        and the shared ones, and advertises the advertise host with its own
        port; it is a single worker itself.
        """
        c = buildConfig(
            {
                "listen": ["udp:127.0.0.1:5060", "udp:127.0.0.1:5080", "udp:[::1]:5060"],
                "advertise": "203.0.113.5:5060",
                "workers": "2",
            }
        )
        second = workerConfig(c, 2)
        self.assertEqual(
            second.listen,
            (
                ListenAddress("udp", "127.0.0.1", 5062),
                ListenAddress("udp", "::1", 5062),
            )
            + c.listen,
        )
        self.assertEqual(second.advertise, ("203.0.113.5", 5062))
        self.assertEqual(second.workers, 1)
        self.assertEqual(privateAddresses(c, 1)[0], ListenAddress("udp", "127.0.0.1", 5061))

    def test_filesPerWorker(self) -> None:
        """
        Each worker has its own SQLite file, spool and jsonl file; the other
        settings are the supervisor's.
        """
        c = config(
            dialog_store="sqlite:path=d.sqlite3",
            accounting=["jsonl:path=c.jsonl"],
            accounting_spool="spool",
            keepalive_interval="7",
        )
        derived = [workerConfig(c, i) for i in (1, 2)]
        self.assertEqual([d.dialogStore for d in derived], ["sqlite:path=d.w1.sqlite3", "sqlite:path=d.w2.sqlite3"])
        self.assertEqual([d.accounting for d in derived], [("jsonl:path=c.w1.jsonl",), ("jsonl:path=c.w2.jsonl",)])
        self.assertEqual([d.accountingSpool for d in derived], ["spool.w1", "spool.w2"])
        self.assertEqual({d.keepaliveInterval for d in derived}, {7.0})

    def test_builtinRelaySlices(self) -> None:
        """
        With the builtin media relay each worker anchors media in its own
        slice of --rtp-ports; otherwise the range is left alone.
        """
        c = config(media_relay="builtin", rtp_ports="30000-30099")
        self.assertEqual(
            [workerConfig(c, i).rtpPorts for i in (1, 2)], [(30000, 30049), (30050, 30099)]
        )
        self.assertEqual(workerConfig(config(), 2).rtpPorts, config().rtpPorts)

    def test_indexOutOfRange(self) -> None:
        """
        There is no worker 0 nor N + 1.
        """
        c = config()
        self.assertRaises(ValueError, workerConfig, c, 0)
        self.assertRaises(ValueError, workerConfig, c, 3)
