"""
Benchmark: keepsip holding many confirmed calls, without SIPp (issue 13
item 2).

For each dialog store (C{memory}, C{sqlite} — the default) and each size N
(C{--sizes}, default 10,000 and 100,000; 1,000,000 takes a few minutes and
about 3 GB), a child process builds keepsip with L{makeService} (default
accounting: jsonl with its spool, in a temporary directory; the
C{--reap require} mode, so every call has a keepalive deadline) on an
injected L{Clock}, and sets up N calls the way real ones are set up: for
each, a distinct INVITE (Call-ID, tags, branch, phone numbers, Contact, an
SDP offer of three codecs) and its 200 (Record-Route through keepsip and
a far SBC, Contact, SDP answer) are parsed from bytes and handed to the
dialog tracker exactly as the proxy core hands them
(L{DialogTracker.initialInvite}, L{DialogTracker.inviteResponse}), then
the ACK to the ACK timer. The messages are then dropped (their transactions
would have ended), so only what the call keeps stays. It reports:

  - C{bytes_per_dialog}: the growth of the process's resident memory
    (C{/proc/self/statm}, after a full collection) over the N calls,
    divided by N: the store, its indexes, both deadline indexes (keepalive
    and maximum duration), the keepalive and accounting state of each call.
    With C{--tracemalloc}, also C{traced_bytes_per_dialog}: the live Python
    allocations only (slower);
  - C{keepalives_per_cpu_second}: keepalive INVITEs (distinct calls,
    parsed beforehand: parsing is L{benchmarks/parse.py}'s) recognised and
    their deadline pushed through the functions the keepalive transaction
    user calls (L{KeepaliveManager.findDialog}, L{classifyInvite},
    L{isAuthentic}, L{KeepaliveManager.withinCeiling},
    L{KeepaliveManager.proofOfLife}, which tells the tracker and marks the
    call changed in the store), the SQLite store's group commit included;
  - C{idle_tick_us}: the keepalive reaper's tick (L{Reaper.reapExpired}
    over the keepalive deadline index the manager filled) when nothing
    expires, averaged over C{--ticks} ticks (after one tick that took off
    the refreshed calls' stale heap entries);
  - C{tick_1pct_ms}, C{tick_10pct_ms}: one tick when 1 % and then a further
    10 % of the calls' deadlines have passed (the calls were set up evenly
    over one keepalive window, so their deadlines are spread the same
    way), with C{per_expired_us}: the whole tick's work, its later
    batches included (the reaper ends 50 calls per reactor turn). The expiry itself (BYE to both legs)
    is replaced by a callable that counts: its cost is per expired call and
    is measured through SIPp (C{benchmarks/sipp_cpu.py}).

Usage, from the repository root::

    python3 benchmarks/scale.py                          # 10k and 100k, both stores
    python3 benchmarks/scale.py --sizes 1000000 --stores memory
    python3 benchmarks/scale.py --sizes 10000 --tracemalloc --json

One line per run, or a JSON object per line with C{--json}.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from twisted.internet.task import Clock  # noqa: E402

WINDOW = 60.0  # keepalive interval 30 s x tolerance 2 (the defaults)


def _hex(rng: random.Random, digits: int) -> str:
    return f"{rng.getrandbits(4 * digits):0{digits}x}"


def callMessages(i: int, rng: random.Random, recordRoute: str) -> tuple[bytes, bytes, bytes, bytes]:
    """
    The datagrams of call C{i}: its INVITE as keepsip received it, the 200
    as keepsip relays it upstream, the ACK, and a keepalive (the INVITE
    again, same CSeq and SDP, in the dialog).
    """
    a, b, c = 10 + i % 200, (i >> 8) & 255, i & 255
    phone = f"10.{a}.{b}.{c}"
    callee = f"172.16.{(i >> 8) & 255}.{i & 255}"
    caller, called = f"+4989{i:08d}", f"+4930{(i * 7919) % 10**8:08d}"
    callID = f"{_hex(rng, 32)}@{phone}"
    fromTag, toTag = _hex(rng, 10), f"as{_hex(rng, 8)}"
    session = rng.randrange(10**9)
    offer = (
        f"v=0\r\no=- {session} {session} IN IP4 {phone}\r\ns=-\r\nc=IN IP4 {phone}\r\n"
        f"t=0 0\r\nm=audio {10000 + 2 * (i % 5000)} RTP/AVP 8 0 101\r\n"
        "a=rtpmap:8 PCMA/8000\r\na=rtpmap:0 PCMU/8000\r\n"
        "a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\na=ptime:20\r\n"
        "a=sendrecv\r\n"
    ).encode()
    answer = (
        f"v=0\r\no=callee {session + 7} {session + 7} IN IP4 {callee}\r\ns=-\r\n"
        f"c=IN IP4 {callee}\r\nt=0 0\r\nm=audio {20000 + 2 * (i % 5000)} RTP/AVP 8 101\r\n"
        "a=rtpmap:8 PCMA/8000\r\na=rtpmap:101 telephone-event/8000\r\n"
        "a=fmtp:101 0-16\r\na=ptime:20\r\na=sendrecv\r\n"
    ).encode()

    def request(method: str, branch: str, toTagged: bool, body: bytes) -> bytes:
        to = f"<sip:{called}@keepsip.example.net>" + (f";tag={toTag}" if toTagged else "")
        lines = [
            f"{method} sip:{called}@keepsip.example.net SIP/2.0",
            f"Via: SIP/2.0/UDP {phone}:5060;branch=z9hG4bK{branch};rport",
            "Max-Forwards: 70",
            f'From: "{caller}" <sip:{caller}@carrier.example.com>;tag={fromTag}',
            f"To: {to}",
            f"Call-ID: {callID}",
            f"CSeq: 1 {method}",
            f"Contact: <sip:{caller}@{phone}:5060;transport=udp>",
        ]
        if method == "INVITE":
            lines += [
                "Allow: INVITE, ACK, CANCEL, BYE, OPTIONS, UPDATE, INFO",
                "Supported: replaces, timer",
                "User-Agent: bench-phone/1.0",
                "Content-Type: application/sdp",
            ]
        lines.append(f"Content-Length: {len(body)}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode() + body

    invite = request("INVITE", _hex(rng, 16), False, offer)
    ok = (
        "\r\n".join(
            [
                "SIP/2.0 200 OK",
                f"Via: SIP/2.0/UDP {phone}:5060;branch=z9hG4bK{_hex(rng, 16)};rport={5060}"
                f";received={phone}",
                "Record-Route: <sip:sbc.callee.example.net;lr;ftag=x>",
                f"Record-Route: {recordRoute}",
                f'From: "{caller}" <sip:{caller}@carrier.example.com>;tag={fromTag}',
                f"To: <sip:{called}@keepsip.example.net>;tag={toTag}",
                f"Call-ID: {callID}",
                "CSeq: 1 INVITE",
                f"Contact: <sip:{called}@{callee}:5060>",
                "Allow: INVITE, ACK, CANCEL, BYE, OPTIONS",
                "Content-Type: application/sdp",
                f"Content-Length: {len(answer)}",
            ]
        )
        + "\r\n\r\n"
    ).encode() + answer
    ack = request("ACK", _hex(rng, 16), True, b"")
    keepalive = request("INVITE", _hex(rng, 16), True, offer)
    return invite, ok, ack, keepalive


def _rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _cpu() -> float:
    return time.process_time()


def runOne(storeKind: str, count: int, ticks: int, traced: bool, keepalives: int) -> dict[str, Any]:
    """
    Set up C{count} calls in a keepsip over C{storeKind} and measure them.
    """
    import tracemalloc

    from keepsip.config.settings import Config
    from keepsip.keepalive.recognition import KEEPALIVE, classifyInvite, isAuthentic
    from keepsip.keepalive.reaper import Reaper
    from keepsip.service import makeService
    from keepsip.sip.parser import parseDatagram

    directory = tempfile.mkdtemp(prefix="keepsip-scale-")
    try:
        clock = Clock()
        clock.advance(1_000_000)
        storeText = (
            f"sqlite:path={os.path.join(directory, 'dialogs.sqlite3')}"
            if storeKind == "sqlite"
            else "memory"
        )
        config = Config(
            dialogStore=storeText,
            accountingSpool=os.path.join(directory, "spool"),
            accounting=(f"jsonl:path={os.path.join(directory, 'cdr.jsonl')}",),
            reap="require",
            logLevel="warn",
        )
        service: Any = makeService(config, clock)
        service.restoreDialogs()
        # Accounting runs (it spools and delivers its records); the
        # listeners do not: nothing is received from the network.
        service.accounting.startService()
        tracker, manager = service.tracker, service.keepalive
        ackReceived = service.ackTimer.ackReceived
        store = service.store
        recordRoute = service.identity.recordRoute
        rng = random.Random(count)
        # Warm up (imports, caches, first allocations) before the baseline.
        for i in range(100):
            callMessages(i, rng, recordRoute)
        gc.collect()
        if traced:
            tracemalloc.start()
        rssBefore = _rss()
        tracedBefore = tracemalloc.get_traced_memory()[0] if traced else 0
        setupStart = clock.seconds()
        sample: list[tuple[int, bytes]] = []
        step = WINDOW / count
        every = max(1, count // keepalives)
        started = _cpu()
        for i in range(count):
            inviteBytes, okBytes, ackBytes, keepaliveBytes = callMessages(i, rng, recordRoute)
            invite = parseDatagram(inviteBytes)
            phone = invite.headers["via"][0].split()[1].split(":")[0]
            source = (phone, 5060)
            tracker.initialInvite(invite, source)
            tracker.inviteResponse(
                invite, parseDatagram(okBytes), source=("172.16.0.1", 5060)
            )
            ackReceived(parseDatagram(ackBytes))
            if i % every == 0 and len(sample) < keepalives:
                sample.append((i, keepaliveBytes))
            if i % 64 == 63:
                # Calls set up evenly over one keepalive window; the
                # group commit and the accounting spool run as they would.
                clock.advance(step * 64)
        clock.advance(1.0)
        setupCPU = _cpu() - started
        del invite
        gc.collect()
        rssAfter = _rss()
        tracedAfter = tracemalloc.get_traced_memory()[0] if traced else 0
        if traced:
            tracemalloc.stop()
        held = len(store)
        result: dict[str, Any] = {
            "store": storeKind,
            "dialogs": held,
            "setup_us_per_call": round(setupCPU / count * 1e6, 1),
            "bytes_per_dialog": round((rssAfter - rssBefore) / count),
            "deadlines": len(manager.index),
        }
        if traced:
            result["traced_bytes_per_dialog"] = round((tracedAfter - tracedBefore) / count)

        # Keepalives: each call's one window after it was set up, so
        # deadlines stay spread as the calls' are.
        requests = [(i, parseDatagram(data)) for i, data in sample]
        counted = 0
        started = _cpu()
        for i, request in requests:
            due = setupStart + WINDOW + 1.0 + step * i
            if due > clock.seconds():
                clock.advance(due - clock.seconds())
            found = manager.findDialog(request)
            if found is None:
                continue
            dialog, sender, state = found
            source = (request.headers["via"][0].split()[1].split(":")[0], 5060)
            if classifyInvite(dialog, sender, request) != KEEPALIVE:
                continue
            if not isAuthentic(dialog, sender, source) or not manager.withinCeiling(request, source):
                continue
            if manager.proofOfLife(dialog, sender, state, keepalive=True):
                counted += 1
        flush = getattr(store, "flush", None)
        if flush is not None:
            flush()
        keepaliveCPU = _cpu() - started
        assert counted == len(requests), (counted, len(requests))
        result["keepalives"] = counted
        result["keepalives_per_cpu_second"] = round(counted / keepaliveCPU) if keepaliveCPU else None

        # The reaper over the manager's keepalive deadline index.
        expired: list[Any] = []
        reaper = Reaper(clock, manager.index, lambda key, when, now: expired.append(key))
        deadlines = sorted(
            when for when in (manager.index.get(d.callKey) for d in store.allDialogs()) if when
        )
        now = deadlines[0] - 0.001
        # The refreshed calls' old heap entries are due before: they go in
        # a first tick (in service, in the ticks when they come due).
        reaper.reapExpired(now)
        assert not expired
        started = time.perf_counter()
        for _ in range(ticks):
            reaper.reapExpired(now)
        result["idle_tick_us"] = round((time.perf_counter() - started) / ticks * 1e6, 3)
        assert not expired
        for label, upTo in (("1pct", 0.01), ("10pct", 0.11)):
            # The first 1 % of deadlines, then the next 10 %.
            now = deadlines[int(len(deadlines) * upTo) - 1]
            started = time.perf_counter()
            reaper.reapExpired(now)
            # The reaper ends 50 calls per reactor turn (Reaper.batch) and
            # the rest in the turns after (callLater(0)): run those too, so
            # the figure is the whole tick's work, every due call expired.
            clock.advance(0)
            elapsed = time.perf_counter() - started
            result[f"expired_{label}"] = len(expired)
            result[f"tick_{label}_ms"] = round(elapsed * 1e3, 3)
            result[f"per_expired_{label}_us"] = (
                round(elapsed / len(expired) * 1e6, 3) if expired else None
            )
            expired.clear()
        result["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
        service.accounting.stopService()
        close = getattr(store, "close", None)
        if close is not None:
            close()
        return result
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def describe(r: dict[str, Any]) -> str:
    traced = (
        f" traced_bytes/dialog={r['traced_bytes_per_dialog']}" if "traced_bytes_per_dialog" in r else ""
    )
    return (
        f"{r['store']:>6} n={r['dialogs']:>8}: bytes/dialog={r['bytes_per_dialog']}{traced}"
        f" setup={r['setup_us_per_call']}us/call"
        f" keepalives/cpu-s={r['keepalives_per_cpu_second']}"
        f" idle tick={r['idle_tick_us']}us"
        f" tick 1%={r['tick_1pct_ms']}ms ({r['expired_1pct']} expired,"
        f" {r['per_expired_1pct_us']}us each)"
        f" tick 10%={r['tick_10pct_ms']}ms ({r['expired_10pct']} expired,"
        f" {r['per_expired_10pct_us']}us each) peak_rss={r['peak_rss_mb']}MB"
    )


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10000,100000", help="comma-separated dialog counts")
    parser.add_argument("--stores", default="memory,sqlite", help="memory, sqlite or both")
    parser.add_argument("--ticks", type=int, default=10_000, help="idle ticks averaged")
    parser.add_argument(
        "--keepalives", type=int, default=20_000, help="keepalives timed (distinct calls)"
    )
    parser.add_argument("--tracemalloc", action="store_true", help="also count live allocations")
    parser.add_argument("--json", action="store_true", help="one JSON object per line")
    parser.add_argument("--one", help=argparse.SUPPRESS)  # STORE:N, in the child
    args = parser.parse_args(argv)
    if args.one:
        kind, _, size = args.one.partition(":")
        gc.freeze()
        print(json.dumps(runOne(kind, int(size), args.ticks, args.tracemalloc, args.keepalives)))
        return 0
    sizes = [int(s.replace("_", "")) for s in args.sizes.split(",") if s]
    stores = [s for s in args.stores.split(",") if s]
    for kind in stores:
        if kind not in ("memory", "sqlite"):
            parser.error(f"unknown store {kind!r}")
    status = 0
    for size in sizes:
        for kind in stores:
            # A process per run: resident memory is measured from a clean start.
            command = [sys.executable, os.path.abspath(__file__), "--one", f"{kind}:{size}"]
            command += ["--ticks", str(args.ticks), "--keepalives", str(args.keepalives)]
            if args.tracemalloc:
                command.append("--tracemalloc")
            done = subprocess.run(command, capture_output=True, text=True)
            if done.returncode != 0:
                sys.stderr.write(done.stdout + done.stderr)
                status = 1
                continue
            result = json.loads(done.stdout.strip().splitlines()[-1])
            print(json.dumps(result) if args.json else describe(result), flush=True)
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
