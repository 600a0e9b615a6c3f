"""
A bounded mutation fuzzer over the whole proxy (issue 8 item 11).

Seeds: the RFC 4475 torture messages in C{tests/data/rfc4475} and keepsip's
own call flow (L{keepsip.testing}: INVITE, its 200 as Bob sends it, ACK,
in-dialog INVITE/BYE/OPTIONS, CANCEL, REGISTER). Each round mutates a seed
(octet flips, insertions of odd octets, deletions, truncation, header
duplication and removal, huge and negative numbers, splicing two seeds) and
feeds it to keepsip from one of a few sources.

keepsip runs on a L{FakeSIPNetwork} and a L{Clock} (no real socket: the
mutated messages name foreign hosts and IP literals, and nothing may be
sent to them), with C{--reap require} so that even a fuzzed call that got
answered and acknowledged is ended by its reaper.

Asserted at the end: no traceback was logged (the failing input is in the
message), keepsip still answers OPTIONS, and once every timer has run the
transaction and dialog counts are back to zero.

In the suite the fuzzer runs about two seconds; set C{KEEPSIP_FUZZ_SECONDS}
for a longer run and C{KEEPSIP_FUZZ_SEED} for another sequence (the seed in
use is in the failure message).
"""

from __future__ import annotations

import os
import random
import re
import time
from typing import Any

from twisted.logger import globalLogPublisher
from twisted.python.filepath import FilePath
from twisted.trial.unittest import SynchronousTestCase

from keepsip.sip.message import Request, Response
from keepsip.testing import (
    ALICE,
    BOB,
    SDP,
    ack,
    answer,
    inDialog,
    invite,
)

from ._proxy import ProxyHarness, startReapers, stopReapers

DATA = FilePath(__file__).sibling("data")

#: Where fuzzed datagrams come from (loopback and documentation addresses:
#: the network is fake, nothing is sent anywhere).
SOURCES = [ALICE, BOB, ("127.0.0.1", 5070), ("198.51.100.7", 5060), ("2001:db8::7", 5060)]

#: Octets a mutation inserts: separators, NUL, non-UTF-8, high bytes.
ODD = [b"\x00", b"\xff", b"\xc3", b"\r", b"\n", b"\r\n", b":", b";", b",", b"<", b">",
       b"\"", b"\\", b"%", b"[", b"]", b"@", b" ", b"\t", b"=", b"\xe2\x80\xa8"]  # fmt: skip

_NUMBER = re.compile(rb"\d+")


def seeds() -> list[bytes]:
    """
    The seed messages: the RFC 4475 torture tests and keepsip's own flow.
    """
    corpus = [path.getContent() for path in sorted(DATA.child("rfc4475").globChildren("*.dat"))]
    proxy = ProxyHarness()
    proxy.receive(invite(), ALICE)
    forwarded = proxy.sentTo(BOB)
    flow = [
        invite(),
        invite(body=SDP),
        ack(),
        inDialog("INVITE", 2, "z9hG4bKka1", body=SDP),
        inDialog("OPTIONS", 3, "z9hG4bKopt"),
        inDialog("BYE", 4, "z9hG4bKbye"),
        invite(method="CANCEL"),
        invite(method="REGISTER", uri="sip:192.0.2.1"),
    ]
    for message in forwarded:
        if isinstance(message, Request):
            flow.append(answer(message, 200, "OK", body=SDP))
            flow.append(answer(message, 180, "Ringing"))
            flow.append(answer(message, 486, "Busy Here"))
    return corpus + [m.encode("utf-8") if isinstance(m, str) else m for m in flow]


def mutate(rng: random.Random, data: bytes, others: list[bytes]) -> bytes:
    """
    One to four random mutations of C{data}.
    """
    for _ in range(rng.randint(1, 4)):
        kind = rng.randrange(9)
        n = len(data)
        at = rng.randrange(n + 1)
        if kind == 0 and n:
            data = data[:at] + bytes([rng.randrange(256)]) + data[at + 1 :]
        elif kind == 1:
            data = data[:at] + rng.choice(ODD) * rng.randint(1, 3) + data[at:]
        elif kind == 2 and n:
            data = data[:at] + data[at + rng.randint(1, 40) :]
        elif kind == 3:
            data = data[:at]
        elif kind == 4:
            lines = data.split(b"\r\n")
            if len(lines) > 2:
                i = rng.randrange(1, len(lines))
                lines.insert(i, lines[rng.randrange(1, len(lines))])
            data = b"\r\n".join(lines)
        elif kind == 5:
            lines = data.split(b"\r\n")
            if len(lines) > 2:
                del lines[rng.randrange(1, len(lines))]
            data = b"\r\n".join(lines)
        elif kind == 6:
            numbers = list(_NUMBER.finditer(data))
            if numbers:
                m = rng.choice(numbers)
                value = rng.choice([b"0", b"-1", b"4294967296", b"9" * 40, b"65536", b"00"])
                data = data[: m.start()] + value + data[m.end() :]
        elif kind == 7:
            other = rng.choice(others)
            data = data[:at] + other[rng.randrange(len(other) + 1) :]
        else:
            data = data.replace(b"\r\n", rng.choice([b"\n", b"\r", b"\r\n\r\n", b"\r\n "]), 1)
    return data[:65535]


class FuzzTests(SynchronousTestCase):
    """
    Mutated messages through the proxy: no traceback, alive, no leak.
    """

    def setUp(self) -> None:
        self.seconds = float(os.environ.get("KEEPSIP_FUZZ_SECONDS", "2"))
        self.seed = int(os.environ.get("KEEPSIP_FUZZ_SEED", "8"))
        base = self.mktemp()
        os.makedirs(base)
        self.proxy = ProxyHarness(
            accounting=(f"jsonl:path={os.path.join(base, 'cdr.jsonl')},fsync=never",),
            accountingSpool=os.path.join(base, "spool"),
            reap="require",
        )
        self.proxy.service.accounting.startService()
        startReapers(self.proxy)
        self.events: list[dict[str, Any]] = []
        globalLogPublisher.addObserver(self.events.append)
        self.addCleanup(globalLogPublisher.removeObserver, self.events.append)

    def tearDown(self) -> None:
        stopReapers(self.proxy)
        self.proxy.service.accounting.stopService()

    def failures(self) -> list[dict[str, Any]]:
        return [e for e in self.events if e.get("log_failure") is not None]

    def test_fuzz(self) -> None:
        """
        For C{KEEPSIP_FUZZ_SECONDS}: every mutated datagram is answered or
        dropped without a logged traceback; afterwards keepsip answers an
        OPTIONS, and after 10 minutes of its clock (every transaction timer,
        the ACK timer, the keepalive reaper) no transaction or dialog is
        left.
        """
        rng = random.Random(self.seed)
        corpus = seeds()
        transport = self.proxy.transport
        clock = self.proxy.clock
        deadline = time.monotonic() + self.seconds
        count = 0
        while time.monotonic() < deadline:
            data = mutate(rng, rng.choice(corpus), corpus)
            source = rng.choice(SOURCES)
            self.proxy.receive(data, source)
            count += 1
            if count % 50 == 0:
                clock.advance(0.1)
                transport.written.clear()
            failures = self.failures()
            if failures:
                self.fail(
                    f"traceback after datagram {count} (seed {self.seed}) from {source}:\n"
                    f"{data!r}\n{failures[0]['log_failure'].getTraceback()}"
                )
        self.flushLoggedErrors()
        transport.written.clear()
        self.proxy.receive(
            "OPTIONS sip:192.0.2.1:5060 SIP/2.0\r\n"
            "Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bKlive\r\n"
            "Max-Forwards: 0\r\nFrom: <sip:probe@192.0.2.10>;tag=p\r\n"
            "To: <sip:192.0.2.1>\r\nCall-ID: live@192.0.2.10\r\n"
            "CSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n",
            ALICE,
        )
        answers = [m for m in self.proxy.sentTo(ALICE) if isinstance(m, Response)]
        self.assertTrue(answers, f"no answer to OPTIONS after {count} datagrams")
        for _ in range(600):
            clock.advance(1.0)
            transport.written.clear()
        transactions = self.proxy.service.transactions
        self.assertEqual(self.failures(), [], f"seed {self.seed}")
        self.assertEqual(
            (transactions.serverCount, transactions.clientCount, len(self.proxy.service.store)),
            (0, 0, 0),
            f"left behind after {count} datagrams (seed {self.seed})",
        )
