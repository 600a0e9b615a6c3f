#!/usr/bin/env python3
"""
Memory per held call: keepsip's PSS growth with C{--calls} calls up at once
(issue 13: <= 6 KiB per held call through SIPp).

keepsip, a SIPp callee (C{uas.xml}) and a SIPp caller (C{uac.xml}) run on
127.0.0.1 with free ports, as in C{sipp_cpu.py}. The caller places
C{--calls} calls at C{--rate} calls/s and holds each (its C{-d}) until all
are set up and every transaction of their set-up has ended, then sends the
BYEs. keepsip's C{Pss} (C{/proc/PID/smaps_rollup}; C{VmRSS} too) is sampled
every half second into C{memory.csv} in the run's directory, with its
C{Pss_Anon} (the process's own memory: the PSS of the shared libraries
moves with whatever else maps them, by a few MB between two samples on a
busy machine, which is about 1 KB per call at 5,000 calls), and read at
three moments:

  - C{idle}: keepsip answering, no call yet;
  - C{held}: 2 s after the last call was placed: every call up, and the
    INVITE transactions of the last 32 s (64*T1) still alive (the issue's
    measurement);
  - C{settled}: 35 s later: every set-up transaction ended, the calls still
    up (the dialogs, their accounting state, and what the allocator did not
    give back).

Bytes per held call are C{(PSS - idle PSS) / calls} at C{held} and
C{settled}, and the same of C{Pss_Anon}. keepsip runs with C{--keepalive-interval} long enough that no
call is reaped meanwhile (SIPp's caller sends no keepalive).

Run from the repository root (about 2 x calls/rate + 45 s)::

    python3 benchmarks/heldcalls.py                      # 5000 calls at 200/s
    python3 benchmarks/heldcalls.py --calls 10000 --rate 400

One human line and one JSON line; exit 0 when every call succeeded, 1
otherwise (the work directory is kept), 2 if it could not run.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from sipp_cpu import (  # noqa: E402
    HOST,
    REPO_ROOT,
    SCENARIOS,
    SIPP_COMMON,
    finalStats,
    freeUDPPort,
    stop,
    waitUntilAnswering,
)

#: Seconds after the last call is placed when every set-up transaction has
#: ended (64*T1 = 32 s, plus slack).
SETTLE = 35.0


def memory(pid: int) -> tuple[int, int, int]:
    """
    @return: C{(Pss, VmRSS, Pss_Anon)} of process C{pid}, in bytes.
    """
    pss = rss = anon = 0
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            if line.startswith("Pss:"):
                pss = int(line.split()[1]) * 1024
            elif line.startswith("Pss_Anon:"):
                anon = int(line.split()[1]) * 1024
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1]) * 1024
                break
    return pss, rss, anon


def run(args: argparse.Namespace, workdir: Path) -> dict[str, object]:
    sipp = args.sipp or shutil.which("sipp")
    if sipp is None:
        raise RuntimeError("sipp is not installed")
    proxyPort, uasPort, uacPort = freeUDPPort(), freeUDPPort(), freeUDPPort()
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    setup = args.calls / args.rate
    heldAt = setup + 2.0
    settledAt = heldAt + SETTLE
    holdMS = int((settledAt + 3.0) * 1000)
    sippTimeout = int(setup + holdMS / 1000 + 60)
    samples: list[tuple[float, int, int, int]] = []
    with (
        open(workdir / "uas.out", "wb") as uasOut,
        open(workdir / "keepsip.out", "wb") as keepsipOut,
        open(workdir / "uac.out", "wb") as uacOut,
    ):
        procs: list[subprocess.Popen[bytes]] = []
        try:
            uas = subprocess.Popen(
                [sipp, "-sf", str(SCENARIOS / "uas.xml"), "-i", HOST, "-p", str(uasPort),
                 "-m", str(args.calls), *SIPP_COMMON, "-stf", str(workdir / "uas.csv"),
                 "-timeout", f"{sippTimeout}s"],
                cwd=workdir, stdout=uasOut, stderr=subprocess.STDOUT,
            )
            procs.append(uas)
            keepsip = subprocess.Popen(
                [sys.executable, "-m", "twisted", "--log-format=text",
                 f"--log-file={workdir / 'keepsip.log'}", "keepsip",
                 "--listen", f"udp:{HOST}:{proxyPort}", "--advertise", f"{HOST}:{proxyPort}",
                 "--route", f"*=sip:{HOST}:{uasPort}", "--keepalive-interval", "3600",
                 *args.keepsip_arg],
                cwd=workdir, env=env, stdout=keepsipOut, stderr=subprocess.STDOUT,
            )
            procs.append(keepsip)
            waitUntilAnswering(proxyPort, keepsip, 30.0)
            time.sleep(1.0)
            idle = memory(keepsip.pid)
            started = time.monotonic()
            uac = subprocess.Popen(
                [sipp, "-sf", str(SCENARIOS / "uac.xml"), "-s", "bob", "-i", HOST,
                 "-p", str(uacPort), "-m", str(args.calls), "-r", str(args.rate),
                 "-rp", "1000", "-d", str(holdMS), *SIPP_COMMON,
                 "-stf", str(workdir / "uac.csv"), "-timeout", f"{sippTimeout}s",
                 "-timeout_error", "-recv_timeout", "10s", f"{HOST}:{proxyPort}"],
                cwd=workdir, stdout=uacOut, stderr=subprocess.STDOUT,
            )
            procs.append(uac)
            held = settled = None
            while uac.poll() is None:
                now = time.monotonic() - started
                if keepsip.poll() is not None:
                    raise RuntimeError(f"keepsip died during the run ({keepsip.returncode})")
                sample = memory(keepsip.pid)
                samples.append((now, *sample))
                if held is None and now >= heldAt:
                    held = sample
                if settled is None and now >= settledAt:
                    settled = sample
                time.sleep(0.5)
            try:
                uas.wait(sippTimeout)
            except subprocess.TimeoutExpired:
                pass
        finally:
            for proc in reversed(procs):
                stop(proc)
    with open(workdir / "memory.csv", "w") as f:
        f.write("seconds;pss_bytes;rss_bytes;pss_anon_bytes\n")
        for now, pss, rss, anon in samples:
            f.write(f"{now:.1f};{pss};{rss};{anon}\n")
    if held is None or settled is None:
        raise RuntimeError("the caller ended before the calls were all held")
    uacStats = finalStats(workdir / "uac.csv")
    uasStats = finalStats(workdir / "uas.csv")
    successful = int(uacStats.get("SuccessfulCall(C)") or 0)
    failed = int(uacStats.get("FailedCall(C)") or 0) + int(uasStats.get("FailedCall(C)") or 0)
    calls = args.calls
    return {
        "calls": calls,
        "rate": args.rate,
        "successful_calls": successful,
        "failed_calls": failed,
        "pss_idle_mb": round(idle[0] / 2**20, 1),
        "pss_held_mb": round(held[0] / 2**20, 1),
        "pss_settled_mb": round(settled[0] / 2**20, 1),
        "rss_idle_mb": round(idle[1] / 2**20, 1),
        "rss_held_mb": round(held[1] / 2**20, 1),
        "rss_settled_mb": round(settled[1] / 2**20, 1),
        "pss_bytes_per_held_call": round((held[0] - idle[0]) / calls),
        "pss_bytes_per_settled_call": round((settled[0] - idle[0]) / calls),
        "pss_anon_bytes_per_held_call": round((held[2] - idle[2]) / calls),
        "pss_anon_bytes_per_settled_call": round((settled[2] - idle[2]) / calls),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=5000, help="calls held at once (5000)")
    parser.add_argument("--rate", type=float, default=200, help="calls per second (200)")
    parser.add_argument("--sipp", help="path of the sipp binary (default: from PATH)")
    parser.add_argument(
        "--keepsip-arg", action="append", default=[],
        help="extra keepsip option, repeatable, e.g. --keepsip-arg=--log-level=warn",
    )
    args = parser.parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="keepsip-held-"))
    try:
        result = run(args, workdir)
    except (RuntimeError, OSError, subprocess.SubprocessError) as e:
        print(f"heldcalls: cannot run: {e} (files in {workdir})", file=sys.stderr)
        return 2
    print(
        f"{result['successful_calls']}/{result['calls']} calls held at {result['rate']}/s: "
        f"PSS idle {result['pss_idle_mb']} MB, held {result['pss_held_mb']} MB "
        f"({result['pss_bytes_per_held_call']} B/call), settled {result['pss_settled_mb']} MB "
        f"({result['pss_bytes_per_settled_call']} B/call); anonymous memory "
        f"{result['pss_anon_bytes_per_held_call']} B/call held, "
        f"{result['pss_anon_bytes_per_settled_call']} B/call settled (files in {workdir})"
    )
    print(json.dumps(result, sort_keys=True))
    ok = result["failed_calls"] == 0 and result["successful_calls"] == args.calls
    if ok:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
