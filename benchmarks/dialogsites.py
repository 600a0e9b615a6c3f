"""
Benchmark aid: where a confirmed dialog's bytes go, by allocation site.

C{benchmarks/scale.py} says how many bytes a held dialog costs; this says
which lines of keepsip allocated them. It sets up C{--calls} calls exactly
as C{scale.py} does (the same messages, L{scale.callMessages}: INVITE and
200 parsed from bytes and handed to the dialog tracker, the ACK to the ACK
timer, on an injected clock, with the default accounting), with
C{tracemalloc} tracing one frame, and prints the live allocations that
grew over the calls, largest first: bytes and objects per dialog, and the
line that allocated them.

Usage, from the repository root::

    python3 benchmarks/dialogsites.py                   # 20,000 calls, memory store
    python3 benchmarks/dialogsites.py --calls 5000 --store sqlite --top 60

The total is live Python allocations only (no allocator overhead, no
SQLite page cache): compare it with C{scale.py --tracemalloc}, not with its
resident-memory figure.
"""

from __future__ import annotations

import argparse
import gc
import os
import random
import shutil
import sys
import tempfile
import tracemalloc

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from twisted.internet.task import Clock  # noqa: E402

import scale  # noqa: E402


def sites(calls: int, storeKind: str, top: int) -> list[str]:
    """
    Set up C{calls} calls over C{storeKind} and describe the allocation
    sites that grew.

    @return: the report's lines: the total, then C{top} sites.
    """
    from keepsip.config.settings import Config
    from keepsip.service import makeService
    from keepsip.sip.parser import parseDatagram

    directory = tempfile.mkdtemp(prefix="keepsip-sites-")
    try:
        clock = Clock()
        clock.advance(1_000_000)
        config = Config(
            dialogStore=(
                f"sqlite:path={os.path.join(directory, 'dialogs.sqlite3')}"
                if storeKind == "sqlite"
                else "memory"
            ),
            accountingSpool=os.path.join(directory, "spool"),
            accounting=(f"jsonl:path={os.path.join(directory, 'cdr.jsonl')}",),
            reap="require",
            logLevel="warn",
        )
        service = makeService(config, clock)
        service.restoreDialogs()
        service.accounting.startService()
        tracker = service.tracker
        ackReceived = service.ackTimer.ackReceived
        recordRoute = service.identity.recordRoute
        rng = random.Random(calls)
        for i in range(100):
            scale.callMessages(i, rng, recordRoute)
        gc.collect()
        tracemalloc.start(1)
        before = tracemalloc.take_snapshot()
        step = scale.WINDOW / calls
        for i in range(calls):
            inviteBytes, okBytes, ackBytes, _ = scale.callMessages(i, rng, recordRoute)
            invite = parseDatagram(inviteBytes)
            phone = invite.headers["via"][0].split()[1].split(":")[0]
            tracker.initialInvite(invite, (phone, 5060))
            tracker.inviteResponse(invite, parseDatagram(okBytes), source=("172.16.0.1", 5060))
            ackReceived(parseDatagram(ackBytes))
            if i % 64 == 63:
                clock.advance(step * 64)
        clock.advance(1.0)
        del invite
        gc.collect()
        after = tracemalloc.take_snapshot()
        tracemalloc.stop()
        grown = after.compare_to(before, "lineno")
        total = sum(stat.size_diff for stat in grown)
        lines = [f"{storeKind} store, {calls} calls: {total / calls:.0f} traced B per dialog"]
        for stat in grown[:top]:
            frame = stat.traceback[0]
            where = os.path.relpath(frame.filename) if os.path.isabs(frame.filename) else frame.filename
            lines.append(
                f"{stat.size_diff / calls:7.0f} B {stat.count_diff / calls:6.2f} objects"
                f"  {where}:{frame.lineno}"
            )
        service.accounting.stopService()
        close = getattr(service.store, "close", None)
        if close is not None:
            close()
        return lines
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[1].strip())
    parser.add_argument("--calls", type=int, default=20_000, help="calls set up (20000)")
    parser.add_argument("--store", choices=("memory", "sqlite"), default="memory")
    parser.add_argument("--top", type=int, default=40, help="sites shown (40)")
    args = parser.parse_args(argv)
    if args.calls < 64:
        parser.error("--calls: at least 64")
    print("\n".join(sites(args.calls, args.store, args.top)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
