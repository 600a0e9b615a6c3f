"""
Real servers for keepsip's integration tests: C{redis-server} and FreeRADIUS,
each started on a loopback port in a temporary directory, with every wait
bounded.

The helpers block (they are for test set-up and for the moments a test
stops or restarts a server on purpose); each wait polls with a deadline and
raises L{ServerFailed}, with the tail of the server's log, when it passes.

The calls and records those tests send come from L{keepsip.testing}
(L{keepsip.testing.callRecords}).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from typing import Any

from tests.helpers import freeTCPPort, freeUDPPort, requireExternal


class ServerFailed(Exception):
    """
    A server did not start or stop in time, or answered garbage.
    """


def waitUntil(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    """
    Poll C{predicate} every 20 ms until it is true.

    @raise ServerFailed: naming C{what} if C{timeout} seconds pass first.
    """
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise ServerFailed(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.02)


class _Process:
    """
    A child process with its output in a log file.
    """

    name = "server"

    def __init__(self, directory: str) -> None:
        directory = os.path.abspath(directory)
        os.makedirs(directory, exist_ok=True)
        self.directory = directory
        self.logPath = os.path.join(directory, f"{self.name}.log")
        self.process: subprocess.Popen[bytes] | None = None

    def _spawn(self, argv: list[str]) -> None:
        with open(self.logPath, "ab") as log:
            self.process = subprocess.Popen(
                argv,
                cwd=self.directory,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def logTail(self, lines: int = 30) -> str:
        try:
            with open(self.logPath, encoding="utf-8", errors="replace") as f:
                return "".join(f.readlines()[-lines:])
        except OSError:
            return ""

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def _checkAlive(self) -> None:
        if self.process is not None and self.process.poll() is not None:
            raise ServerFailed(
                f"{self.name} exited with {self.process.returncode}:\n{self.logTail()}"
            )

    def kill(self, timeout: float = 5.0) -> None:
        """
        SIGKILL the server (a crash: no clean shutdown) and reap it.
        """
        if self.running:
            assert self.process is not None
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout)
        self.process = None

    def stop(self, timeout: float = 5.0) -> None:
        """
        SIGTERM the server, then SIGKILL it if it has not exited within
        C{timeout} seconds. Safe to call when it is not running.
        """
        if self.running:
            assert self.process is not None
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill(timeout)
        self.process = None


# -- Redis -----------------------------------------------------------------


def _encodeCommand(args: tuple[Any, ...]) -> bytes:
    parts = [b"*%d\r\n" % len(args)]
    for arg in args:
        data = arg if isinstance(arg, bytes) else str(arg).encode("utf-8")
        parts.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(parts)


def _readReply(stream: Any) -> Any:
    line = stream.readline()
    if not line.endswith(b"\r\n"):
        raise ServerFailed(f"truncated Redis reply {line!r}")
    kind, rest = line[:1], line[1:-2]
    if kind == b"+":
        return rest.decode()
    if kind == b"-":
        raise ServerFailed(f"Redis error: {rest.decode()}")
    if kind == b":":
        return int(rest)
    if kind == b"$":
        size = int(rest)
        if size < 0:
            return None
        data = stream.read(size + 2)
        return data[:-2].decode("utf-8")
    if kind == b"*":
        size = int(rest)
        if size < 0:
            return None
        return [_readReply(stream) for _ in range(size)]
    raise ServerFailed(f"unexpected Redis reply {line!r}")


class RedisServer(_Process):
    """
    A C{redis-server} on 127.0.0.1.

    @ivar port: its TCP port.
    @ivar persistent: with C{appendonly yes} and C{appendfsync always}, so
        what it acknowledged survives L{kill}; otherwise C{--save ''
        --appendonly no} (nothing on disk).
    """

    name = "redis"

    def __init__(self, directory: str, port: int | None = None, persistent: bool = False) -> None:
        _Process.__init__(self, directory)
        self.binary = requireExternal("redis-server")
        self.port = port if port is not None else freeTCPPort()
        self.persistent = persistent

    def start(self, timeout: float = 10.0) -> None:
        """
        Start it (again, on the same port and directory) and wait until it
        answers PING.
        """
        argv = [
            self.binary,
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--dir",
            self.directory,
            "--save",
            "",
            "--daemonize",
            "no",
            "--logfile",
            "",
        ]
        if self.persistent:
            argv += ["--appendonly", "yes", "--appendfsync", "always"]
        else:
            argv += ["--appendonly", "no"]
        self._spawn(argv)

        def answers() -> bool:
            self._checkAlive()
            try:
                return bool(self.command("PING", timeout=0.5) == "PONG")
            except (OSError, ServerFailed):
                return False

        try:
            waitUntil(answers, timeout, f"redis-server on port {self.port}")
        except ServerFailed as e:
            self.stop()
            raise ServerFailed(f"{e}\n{self.logTail()}") from None

    def command(self, *args: Any, db: int = 0, timeout: float = 5.0) -> Any:
        """
        Run one command in database C{db} on a fresh connection (independent
        of the code under test) and return the decoded reply.
        """
        with (
            socket.create_connection(("127.0.0.1", self.port), timeout=timeout) as s,
            s.makefile("rb") as stream,
        ):
            if db:
                s.sendall(_encodeCommand(("SELECT", db)))
                _readReply(stream)
            s.sendall(_encodeCommand(args))
            return _readReply(stream)


# -- FreeRADIUS ------------------------------------------------------------

_RADIUSD_CONF = """\
# A minimal accounting-only FreeRADIUS 3 configuration written by keepsip's
# tests: one listener, one client, the detail module.
prefix = /usr
exec_prefix = /usr
sysconfdir = /etc
localstatedir = {dir}
sbindir = /usr/sbin
logdir = {dir}
raddbdir = {dir}
radacctdir = {dir}
name = freeradius
confdir = {dir}
modconfdir = {dir}
certdir = {dir}
cadir = {dir}
run_dir = {dir}
db_dir = {dir}
libdir = /usr/lib/freeradius
pidfile = {dir}/radiusd.pid
max_request_time = 30
cleanup_delay = 5
max_requests = 1024
hostname_lookups = no
checkrad = /bin/false

log {{
  destination = stdout
  colourise = no
  auth = no
}}

security {{
  allow_core_dumps = no
  max_attributes = 200
  reject_delay = 0
  status_server = no
  allow_vulnerable_openssl = yes
}}

thread pool {{
  start_servers = 1
  max_servers = 4
  min_spare_servers = 1
  max_spare_servers = 4
  max_requests_per_server = 0
}}

client keepsip {{
  ipaddr = 127.0.0.1
  secret = "{secret}"
  proto = udp
  require_message_authenticator = no
}}

modules {{
  detail {{
    filename = {detail}
    escape_filenames = no
    permissions = 0600
    header = "%t"
    locking = no
  }}
}}

server keepsip_acct {{
  listen {{
    type = acct
    ipaddr = 127.0.0.1
    port = {port}
  }}
  preacct {{
  }}
  accounting {{
    detail
  }}
}}
"""


class FreeRadiusServer(_Process):
    """
    A FreeRADIUS 3 accounting server on 127.0.0.1, started in the foreground
    with its own configuration directory (so a system instance, auto-started
    by the package or not, plays no part), writing every Accounting-Request
    it accepts to a C{detail} file.

    @ivar port: its UDP port.
    @ivar secret: the shared secret of its one client, 127.0.0.1.
    @ivar detailPath: the detail file.
    """

    name = "freeradius"

    def __init__(self, directory: str, secret: str, port: int | None = None) -> None:
        _Process.__init__(self, directory)
        self.binary = requireExternal("freeradius")
        self.secret = secret
        self.port = port if port is not None else freeUDPPort()
        self.detailPath = os.path.join(self.directory, "detail")
        self.confDirectory = os.path.join(self.directory, "raddb")

    def writeConfiguration(self) -> None:
        os.makedirs(self.confDirectory, exist_ok=True)
        with open(os.path.join(self.confDirectory, "radiusd.conf"), "w") as f:
            f.write(
                _RADIUSD_CONF.format(
                    dir=self.confDirectory,
                    secret=self.secret.replace("\\", "\\\\").replace('"', '\\"'),
                    detail=self.detailPath,
                    port=self.port,
                )
            )

    def start(self, timeout: float = 15.0) -> None:
        """
        Write the configuration, start C{freeradius -f -l stdout -d DIR}, and
        wait for "Ready to process requests".
        """
        self.writeConfiguration()
        self._spawn([self.binary, "-f", "-l", "stdout", "-d", self.confDirectory])

        def isReady() -> bool:
            self._checkAlive()
            return "Ready to process requests" in self.logTail(200)

        try:
            waitUntil(isReady, timeout, f"freeradius on UDP port {self.port}")
        except ServerFailed as e:
            self.stop()
            raise ServerFailed(f"{e}\n{self.logTail()}") from None

    def detailRecords(self) -> list[dict[str, str]]:
        """
        The records of the detail file, oldest first: attribute name ->
        value as FreeRADIUS printed it (string values without their quotes;
        an attribute given twice keeps the last).
        """
        try:
            with open(self.detailPath, encoding="utf-8", errors="replace") as f:
                text = f.read()
        except FileNotFoundError:
            return []
        records: list[dict[str, str]] = []
        current: dict[str, str] | None = None
        for line in text.splitlines():
            if not line.strip():
                current = None
                continue
            if not line[0].isspace():
                current = {}
                records.append(current)
                continue
            name, sep, value = line.strip().partition(" = ")
            if sep and current is not None:
                if len(value) >= 2 and value[0] == value[-1] == '"':
                    value = value[1:-1]
                current[name] = value
        return records
