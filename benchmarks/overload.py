#!/usr/bin/env python3
"""
Overload: does keepsip keep serving legitimate calls through an INVITE flood,
and does its memory come back? (issue 8 item 5; docs/security.md, "Overload")

Everything runs on loopback, each party on its own 127.0.0.0/8 address (the
per-source limit counts by address):

  - keepsip on 127.0.0.1, routing user C{sink} to a UDP socket on 127.0.0.4
    that never answers (this script binds it and never reads it) and every
    other user to a SIPp callee (C{uas.xml}) on 127.0.0.3;
  - a legitimate SIPp caller (C{uac.xml}) on 127.0.0.2 placing C{--rate}
    calls/s (20) of 1 s for the whole run;
  - after C{--warmup} seconds, a flooding SIPp (C{benchmarks/flood.xml}: one
    INVITE per call, no retransmission, responses ignored) on 127.0.0.5
    sending C{--flood-rate} INVITEs/s (20,000) to C{sink} for C{--flood}
    seconds (10);
  - the run goes on C{--after} seconds (60) after the flood, so the 64*T1 of
    every transaction the flood created has passed.

keepsip's RSS (C{VmRSS} of C{/proc/PID/status}) is sampled every second
(written to C{rss.csv} in the run's directory). C{--flood-rate 0} runs the
legitimate calls alone, for the baseline.
Reported: the legitimate calls' success ratio, RSS idle / peak during the
flood / at the end, the seconds after the flood in which a legitimate call
failed (an "outage" is such failures 30-40 s after the flood, when its
transactions time out), and what keepsip refused (from its metrics).

Run from the repository root (about warmup + flood + after + 15 s)::

    python3 benchmarks/overload.py
    python3 benchmarks/overload.py --keepsip-arg=--max-transactions-per-source=1000000 \\
        --keepsip-arg=--max-transactions=1000000     # without overload control

Prints one human summary and one JSON line; exits 1 if below the issue's
target (>= 99 % success, RSS back under twice idle, no failure 30-40 s
after the flood), 2 if it could not run.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from sipp_cpu import (  # noqa: E402
    REPO_ROOT,
    SCENARIOS,
    stop,
    waitUntilAnswering,
)

KEEPSIP, LEGIT, CALLEE, SINK, FLOODER = (
    "127.0.0.1",
    "127.0.0.2",
    "127.0.0.3",
    "127.0.0.4",
    "127.0.0.5",
)
SIPP_COMMON = ["-nostdin", "-trace_stat", "-fd", "1"]


def freePort(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def freeTCPPort() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((KEEPSIP, 0))
        return int(s.getsockname()[1])


def rssMB(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def periods(path: Path) -> list[dict[str, str]]:
    """
    Every row of a SIPp C{-trace_stat} file (one per second with C{-fd 1}).
    """
    import csv

    with open(path, newline="") as f:
        rows = [row for row in csv.reader(f, delimiter=";") if row]
    return [dict(zip(rows[0], row)) for row in rows[1:]]


def scrape(port: int) -> dict[str, float]:
    values: dict[str, float] = {}
    try:
        with urllib.request.urlopen(f"http://{KEEPSIP}:{port}/metrics", timeout=5) as r:
            text = r.read().decode()
    except OSError:
        return values
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            values[name] = float(value)
    return values


def run(args: argparse.Namespace, workdir: Path) -> dict[str, object]:
    sipp = args.sipp or shutil.which("sipp")
    if sipp is None:
        raise RuntimeError("sipp is not installed")
    proxyPort = freePort(KEEPSIP)
    calleePort, legitPort, floodPort = freePort(CALLEE), freePort(LEGIT), freePort(FLOODER)
    metricsPort = freeTCPPort()
    total = args.warmup + args.flood + args.after
    legitCalls = int(args.rate * (total - 5))
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sink.bind((SINK, 0))
    sinkPort = sink.getsockname()[1]
    procs: list[subprocess.Popen[bytes]] = []
    samples: list[tuple[float, float]] = []
    outs = [open(workdir / f"{name}.out", "wb") for name in ("callee", "keepsip", "legit", "flood")]
    try:
        callee = subprocess.Popen(
            [sipp, "-sf", str(SCENARIOS / "uas.xml"), "-i", CALLEE, "-p", str(calleePort),
             *SIPP_COMMON, "-stf", str(workdir / "callee.csv"), "-timeout", f"{total + 30}s"],
            cwd=workdir, stdout=outs[0], stderr=subprocess.STDOUT,
        )  # fmt: skip
        procs.append(callee)
        keepsip = subprocess.Popen(
            [sys.executable, "-m", "twisted", "--log-format=text",
             f"--log-file={workdir / 'keepsip.log'}", "keepsip",
             "--listen", f"udp:{KEEPSIP}:{proxyPort}", "--advertise", f"{KEEPSIP}:{proxyPort}",
             "--route", f"sink=sip:{SINK}:{sinkPort}", "--route", f"*=sip:{CALLEE}:{calleePort}",
             "--metrics", f"tcp:{metricsPort}:interface={KEEPSIP}", *args.keepsip_arg],
            cwd=workdir, env=env, stdout=outs[1], stderr=subprocess.STDOUT,
        )  # fmt: skip
        procs.append(keepsip)
        waitUntilAnswering(proxyPort, keepsip, 30.0)
        time.sleep(2)
        idle = rssMB(keepsip.pid)
        started = time.monotonic()
        legit = subprocess.Popen(
            [sipp, "-sf", str(SCENARIOS / "uac.xml"), "-s", "bob", "-i", LEGIT,
             "-p", str(legitPort), "-m", str(legitCalls), "-r", str(args.rate), "-d", "1000",
             *SIPP_COMMON, "-stf", str(workdir / "legit.csv"), "-timeout", f"{total + 30}s",
             "-recv_timeout", "40s", f"{KEEPSIP}:{proxyPort}"],
            cwd=workdir, stdout=outs[2], stderr=subprocess.STDOUT,
        )  # fmt: skip
        procs.append(legit)
        flood: subprocess.Popen[bytes] | None = None
        floodStart = floodEnd = None
        while time.monotonic() - started < total:
            now = time.monotonic() - started
            if flood is None and now >= args.warmup and args.flood_rate > 0:
                floodStart = now
                flood = subprocess.Popen(
                    [sipp, "-sf", str(Path(__file__).resolve().parent / "flood.xml"),
                     "-s", "sink", "-i", FLOODER, "-p", str(floodPort),
                     "-r", str(args.flood_rate), "-m", str(int(args.flood_rate * args.flood)),
                     *SIPP_COMMON, "-stf", str(workdir / "flood.csv"),
                     "-timeout", f"{args.flood}s", f"{KEEPSIP}:{proxyPort}"],
                    cwd=workdir, stdout=outs[3], stderr=subprocess.STDOUT,
                )  # fmt: skip
                procs.append(flood)
            if flood is not None and floodEnd is None and flood.poll() is not None:
                floodEnd = now
            if keepsip.poll() is not None:
                raise RuntimeError(f"keepsip died (status {keepsip.returncode})")
            samples.append((now, rssMB(keepsip.pid)))
            time.sleep(1)
        if floodEnd is None:
            floodEnd = args.warmup + args.flood
        with open(workdir / "rss.csv", "w") as f:
            f.write("seconds;rss_mb\n")
            f.writelines(f"{t:.1f};{rss:.1f}\n" for t, rss in samples)
        metrics = scrape(metricsPort)
        legit.wait(60)
    finally:
        for proc in reversed(procs):
            stop(proc)
        sink.close()
        for out in outs:
            out.close()
    rows = periods(workdir / "legit.csv")
    last = rows[-1]
    successful = int(last.get("SuccessfulCall(C)") or 0)
    failed = int(last.get("FailedCall(C)") or 0)
    floodRows = periods(workdir / "flood.csv") if (workdir / "flood.csv").exists() else []
    floodSent = int(floodRows[-1].get("OutgoingCall(C)") or 0) if floodRows else 0
    # Seconds (since the flood ended) in which legitimate calls failed.
    failures: list[float] = []
    for row in rows:
        if int(row.get("FailedCall(P)") or 0):
            # ElapsedTime(C) is HH:MM:SS[:mmm] since the legitimate caller
            # started, which is when this script's clock started.
            parts = [int(p) for p in (row.get("ElapsedTime(C)") or "0").split(":")[:3]]
            elapsed = parts[0] * 3600 + parts[1] * 60 + parts[2] if len(parts) == 3 else 0
            failures.append(round(elapsed - floodEnd, 1))
    during = [rss for t, rss in samples if floodStart is not None and floodStart <= t <= floodEnd + 2]
    after = [rss for t, rss in samples if t >= floodEnd + args.after - 2]
    return {
        "legit_calls": successful + failed,
        "legit_successful": successful,
        "legit_failed": failed,
        "legit_success_ratio": round(successful / max(successful + failed, 1), 4),
        "flood_invites_sent": floodSent,
        "flood_seconds": round(floodEnd - (floodStart or 0), 1),
        "refused_source": metrics.get('keepsip_overload_refused_total{limit="source"}'),
        "refused_global": metrics.get('keepsip_overload_refused_total{limit="global"}'),
        "received": metrics.get("keepsip_sip_datagrams_received_total"),
        "rss_idle_mb": round(idle, 1),
        "rss_flood_peak_mb": round(max(during), 1) if during else None,
        "rss_after_mb": round(after[-1], 1) if after else None,
        "failure_seconds_after_flood": failures,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=20, help="legitimate calls/s (20)")
    parser.add_argument("--flood-rate", type=int, default=20000, help="flood INVITEs/s (20000)")
    parser.add_argument("--flood", type=int, default=10, help="flood seconds (10)")
    parser.add_argument("--warmup", type=int, default=5, help="seconds before the flood (5)")
    parser.add_argument("--after", type=int, default=60, help="seconds after the flood (60)")
    parser.add_argument("--sipp", help="the sipp binary (default: from PATH)")
    parser.add_argument("--keepsip-arg", action="append", default=[], help="extra keepsip option")
    args = parser.parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="keepsip-overload-"))
    try:
        result = run(args, workdir)
    except (RuntimeError, OSError, subprocess.SubprocessError) as e:
        print(f"overload: cannot run: {e} (files in {workdir})", file=sys.stderr)
        return 2
    ok = (
        result["legit_success_ratio"] >= 0.99  # type: ignore[operator]
        and result["rss_after_mb"] is not None
        and result["rss_after_mb"] < 2 * result["rss_idle_mb"]  # type: ignore[operator]
        and not [s for s in result["failure_seconds_after_flood"] if 28 <= s <= 45]  # type: ignore[attr-defined]
    )
    print(
        f"legitimate calls: {result['legit_successful']}/{result['legit_calls']}"
        f" ({100 * result['legit_success_ratio']:.2f} %) through a flood of"  # type: ignore[operator]
        f" {result['flood_invites_sent']} INVITEs in {result['flood_seconds']} s;"
        f" RSS idle {result['rss_idle_mb']} MB, flood peak {result['rss_flood_peak_mb']} MB,"
        f" {args.after} s after {result['rss_after_mb']} MB;"
        f" legit failures at {result['failure_seconds_after_flood']} s after the flood;"
        f" {'meets' if ok else 'misses'} the target (files in {workdir})"
    )
    print(json.dumps(result))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
