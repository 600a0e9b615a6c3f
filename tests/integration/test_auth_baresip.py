"""
Two real C{baresip} phones registering with passwords (C{;auth_pass=} in
their account lines) at a real keepsip with digest authentication, and one
calling the other through it (dialled over baresip's C{ctrl_tcp}).
"""

from __future__ import annotations

import json
import re
import socket
import time
import wave
from typing import Any

from twisted.internet.defer import inlineCallbacks
from twisted.internet.task import deferLater
from twisted.internet.threads import deferToThread
from twisted.python.filepath import FilePath

from tests.helpers import freeTCPPort, freeUDPPort, requireExternal
from tests.integration._harness import HOST, IntegrationTestCase
from tests.integration.test_accounting import readRecords, stops, waitForRecords
from tests.integration.test_auth import REALM, htdigest

CONFIG = """\
poll_method poll
sip_listen {host}:{sip}
net_interface {host}
sip_trans_def udp
audio_source aufile,{silence}
audio_player aubridge,x
audio_alert aubridge,x
rtp_ports {rtp}-{rtpEnd}
module_path /usr/lib/baresip/modules
module g711.so
module aufile.so
module aubridge.so
module account.so
module menu.so
module ctrl_tcp.so
ctrl_tcp_listen {host}:{ctrl}
"""


def netstring(command: dict[str, str]) -> bytes:
    data = json.dumps(command).encode()
    return str(len(data)).encode() + b":" + data + b","


def converse(port: int, target: str, talk: float, timeout: float) -> list[str]:
    """
    Over baresip's ctrl_tcp (blocking; run in a thread): dial C{target},
    wait for the call to be established, talk, hang up, wait for it to
    close.

    @return: the event types seen, in order.
    """
    seen: list[str] = []
    with socket.create_connection((HOST, port), timeout=timeout) as control:
        control.settimeout(0.2)

        received = b""

        def until(event: str) -> bool:
            nonlocal received
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                try:
                    chunk = control.recv(65536)
                except socket.timeout:
                    continue
                if not chunk:
                    return False
                received += chunk
                seen[:] = [found.decode() for found in re.findall(rb'"type":"(\w+)"', received)]
                if event in seen:
                    return True
            return False

        control.sendall(netstring({"command": "dial", "params": target, "token": "dial"}))
        if until("CALL_ESTABLISHED"):
            time.sleep(talk)
            control.sendall(netstring({"command": "hangup", "token": "hangup"}))
            until("CALL_CLOSED")
    return seen


class BaresipTests(IntegrationTestCase):
    """
    baresip phones with passwords through keepsip.
    """

    def setUp(self) -> None:
        super().setUp()
        self.baresip = requireExternal("baresip")
        self.users = FilePath(self.mktemp())
        binary = requireExternal("htdigest")
        htdigest(binary, self.users, "alice", "wonderland")
        htdigest(binary, self.users, "bob", "builder")
        self.silence = FilePath(self.mktemp())
        with wave.open(self.silence.path, "wb") as out:
            out.setnchannels(1)
            out.setsampwidth(2)
            out.setframerate(8000)
            out.writeframes(b"\0\0" * 8000 * 30)

    def startPhone(self, user: str, password: str, registrar: str, rtp: int, extra: str = "") -> tuple[Any, int]:
        """
        Start baresip as C{user} registering at C{registrar} with
        C{password}.

        @return: the child process and its ctrl_tcp port.
        """
        directory = FilePath(self.mktemp())
        directory.makedirs()
        ctrl = freeTCPPort(HOST)
        config = CONFIG.format(
            host=HOST, sip=freeUDPPort(HOST), ctrl=ctrl, silence=self.silence.path,
            rtp=rtp, rtpEnd=rtp + 40,
        )  # fmt: skip
        directory.child("config").setContent(config.encode())
        account = f"<sip:{user}@{registrar};transport=udp>;auth_pass={password};regint=300{extra}\n"
        directory.child("accounts").setContent(account.encode())
        child = self._spawn(f"baresip {user}", [self.baresip, "-f", directory.path], directory.path, 60)
        return child, ctrl

    @inlineCallbacks
    def waitForOutput(self, child: Any, text: bytes, timeout: float = 10.0):  # type: ignore[no-untyped-def]
        deadline = self.reactor.seconds() + timeout
        while text not in child.output():
            if self.reactor.seconds() > deadline or not child.running:
                raise AssertionError(f"{child.name} never said {text!r}:\n{child.output()[-3000:]!r}")
            yield deferLater(self.reactor, 0.1, lambda: None)

    @inlineCallbacks
    def test_registerAndCall(self):  # type: ignore[no-untyped-def]
        """
        alice and bob register with their passwords (keepsip answers 200
        only after the digest challenge); alice calls bob through keepsip,
        bob answers automatically, alice hangs up; the call record's
        caller.auth_user is alice.
        """
        cdr = FilePath(self.mktemp())
        keepsip = yield self.startKeepsip(
            "--auth", f"htdigest:path={self.users.path}", "--auth-realm", REALM,
            "--accounting", f"jsonl:path={cdr.path}",
        )  # fmt: skip
        bob, _ = self.startPhone("bob", "builder", keepsip.address, 31000, ";answermode=auto")
        alice, control = self.startPhone("alice", "wonderland", keepsip.address, 31100)
        for phone in (bob, alice):
            yield self.waitForOutput(phone, b"200 OK")
        events = yield deferToThread(converse, control, f"sip:bob@{keepsip.address}", 1.0, 15.0)
        self.assertIn("CALL_ESTABLISHED", events, alice.output()[-3000:])
        self.assertIn("CALL_CLOSED", events)
        records = yield waitForRecords(
            self.reactor, lambda: readRecords(cdr), lambda r: bool(stops(r)), 10, "stop record"
        )
        [stop] = stops(records)
        self.assertEqual(stop["caller"]["auth_user"], "alice")
        self.assertEqual(stop["end_cause"], "caller-bye")
        self.assertTrue(stop["answered"])

    @inlineCallbacks
    def test_wrongPassword(self):  # type: ignore[no-untyped-def]
        """
        A baresip with a wrong password is not registered: keepsip answers
        its answer to the challenge with 401 again, then 403.
        """
        keepsip = yield self.startKeepsip(
            "--auth", f"htdigest:path={self.users.path}", "--auth-realm", REALM
        )
        phone, _ = self.startPhone("bob", "not-builder", keepsip.address, 31200)
        yield self.waitForOutput(phone, b"403 Forbidden")
        self.assertNotIn(b"200 OK", phone.output())
