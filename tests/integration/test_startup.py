"""
Start-up errors of a real C{twistd -n keepsip} process (issue 8 item 10):
each is one line on stderr naming the option and the resource, plus the
C{--help} hint, exit status 1, and no traceback or usage text anywhere in
its output.

Every case binds loopback ports only; the one needing a read-only file
system mounts a tmpfs (root only; skipped otherwise).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager

from twisted.trial.unittest import SynchronousTestCase

from keepsip.startup import EXIT_STATUS, HINT
from tests.helpers import freeTCPPort, freeUDPPort, skipOrFail
from tests.integration._harness import REPO_ROOT

HOST = "127.0.0.1"

#: twistd itself, run by this interpreter (the C{twistd} script may belong to
#: another one).
_TWISTD = "import sys; from twisted.scripts.twistd import run; sys.argv[0] = 'twistd'; run()"


@contextmanager
def occupied(kind: socket.SocketKind, port: int) -> Iterator[None]:
    """
    Hold C{HOST:port} bound (and listening, for TCP) meanwhile.
    """
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind((HOST, port))
        if kind == socket.SOCK_STREAM:
            s.listen()
        yield


class StartupErrorTests(SynchronousTestCase):
    """
    C{twistd -n keepsip} with a wrong option or an unusable resource.
    """

    def setUp(self) -> None:
        self.workdir = os.path.abspath(self.mktemp())
        os.makedirs(self.workdir)
        self.port = freeUDPPort(HOST)

    def keepsip(self, *args: str, listen: bool = True) -> tuple[int, str, str]:
        """
        Run C{twistd -n keepsip ARGS} in a fresh directory, at most 30 s.

        @return: exit status, stdout, stderr.
        """
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(
            [REPO_ROOT.path] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else [])
        )
        ours = ["--listen", f"udp:{HOST}:{self.port}", "--advertise", f"{HOST}:{self.port}"]
        argv = [sys.executable, "-c", _TWISTD, "-n", "--pidfile=", "keepsip"]
        argv += (ours if listen else []) + list(args)
        done = subprocess.run(
            argv, cwd=self.workdir, env=env, capture_output=True, timeout=30, stdin=subprocess.DEVNULL
        )
        return (
            done.returncode,
            done.stdout.decode("utf-8", "replace"),
            done.stderr.decode("utf-8", "replace"),
        )

    def assertOneLine(self, outcome: tuple[int, str, str], expected: str) -> None:
        """
        Exit status 1, stderr the line C{keepsip: EXPECTED...} and the hint,
        no traceback nor option list in either stream.
        """
        code, out, err = outcome
        context = f"\n--- stdout ---\n{out[-3000:]}\n--- stderr ---\n{err[-3000:]}"
        self.assertEqual(code, EXIT_STATUS, context)
        lines = err.splitlines()
        self.assertEqual(len(lines), 2, context)
        self.assertTrue(lines[0].startswith(f"keepsip: {expected}"), context)
        self.assertEqual(lines[1], HINT, context)
        for text in (out, err):
            self.assertNotIn("Traceback", text, context)
            self.assertNotIn("--registrar-min-expires", text, context)

    def test_unknownOption(self) -> None:
        """
        A misspelt option: one line, not twistd's page of usage.
        """
        self.assertOneLine(self.keepsip("--lisen", "x"), "option --lisen not recognized")

    def test_badValue(self) -> None:
        """
        A wrong value names its option.
        """
        self.assertOneLine(self.keepsip("--timer-t1", "soon"), "--timer-t1: ")

    def test_sipPortInUse(self) -> None:
        """
        The SIP port is taken by another socket.
        """
        with occupied(socket.SOCK_DGRAM, self.port):
            outcome = self.keepsip()
        self.assertOneLine(
            outcome, f"--listen: udp:{HOST}:{self.port}: cannot listen: address already in use"
        )

    def test_metricsPortInUse(self) -> None:
        """
        The metrics port is taken by another socket.
        """
        port = freeTCPPort(HOST)
        with occupied(socket.SOCK_STREAM, port):
            outcome = self.keepsip("--metrics", f"tcp:{port}:interface={HOST}")
        self.assertOneLine(
            outcome,
            f"--metrics: tcp:{port}:interface={HOST}: cannot listen: address already in use",
        )

    def test_addressNotLocal(self) -> None:
        """
        A listen address this machine does not have (a documentation
        address, RFC 5737: binding it fails before any packet is sent).
        """
        self.assertOneLine(
            self.keepsip("--listen", "udp:192.0.2.1:5060", listen=False),
            "--listen: udp:192.0.2.1:5060: cannot listen: 192.0.2.1 is not an address of "
            "this machine",
        )

    def test_spoolIsAFile(self) -> None:
        """
        The spool directory is a file.
        """
        path = os.path.join(self.workdir, "spool")
        with open(path, "w"):
            pass
        self.assertOneLine(
            self.keepsip("--accounting-spool", path), f"--accounting-spool: {path}: file exists"
        )

    def test_spoolUnwritable(self) -> None:
        """
        The spool directory is on a read-only file system (a tmpfs mounted
        read-only: permissions alone do not stop root).
        """
        mountpoint = os.path.join(self.workdir, "ro")
        os.makedirs(mountpoint)
        mounted = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "ro,size=64k", "tmpfs", mountpoint],
            capture_output=True,
        )
        if mounted.returncode != 0:
            skipOrFail(f"cannot mount a tmpfs: {mounted.stderr.decode(errors='replace')}")
        self.addCleanup(subprocess.run, ["umount", mountpoint], capture_output=True)
        outcome = self.keepsip("--accounting-spool", mountpoint)
        self.assertOneLine(outcome, "--accounting-spool: ")
        self.assertIn("read-only file system", outcome[2])

    def test_binaryToml(self) -> None:
        """
        A configuration file that is not text.
        """
        path = os.path.join(self.workdir, "keepsip.toml")
        with open(path, "wb") as f:
            f.write(bytes(range(256)))
        self.assertOneLine(
            self.keepsip("--config", path), f"--config: cannot parse {path!r}: not UTF-8 text"
        )

    def test_jsonlInMissingDirectory(self) -> None:
        """
        The jsonl accounting file is in a directory that does not exist: an
        error, not a directory made on the fly from a typo.
        """
        path = os.path.join(self.workdir, "missing", "cdr.jsonl")
        self.assertOneLine(
            self.keepsip("--accounting", f"jsonl:path={path}"),
            f"--accounting: jsonl: path={path}: no such file or directory",
        )
        self.assertFalse(os.path.exists(os.path.dirname(path)))
