#!/usr/bin/env python3
"""
keepsip beside Kamailio: the same SIPp scenarios through each proxy, interleaved.

For every scenario, round and proxy (keepsip, Kamailio, in turn: A B A B ...)
it starts a SIPp callee, the proxy on a free port of 127.0.0.1 and a SIPp
caller placing C{--calls} calls at C{--rate} calls/s through it, then reports
calls attempted/succeeded/failed, retransmissions, the achieved rate, the
INVITE response time (p50/p99), the proxy's CPU per call (all its processes,
from C{/proc}) and its peak memory, each with the ratio keepsip / Kamailio.
C{--step} raises the rate until a proxy fails or retransmits on more than
0.1 % of the calls, and reports each proxy's highest clean rate.

Run from the repository root::

    python3 benchmarks/compare.py              # three scenarios, 2 rounds (~5 min)
    python3 benchmarks/compare.py --quick      # one round of 1000 calls (~2 min)
    python3 benchmarks/compare.py --step       # highest clean basic-call rate
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from sipprun import (
    CLK_TCK,
    HOST,
    REPO_ROOT,
    SCENARIOS,
    SIPP_COMMON,
    MemorySampler,
    cpuSince,
    finalStats,
    freeUDPPort,
    percentile,
    rttSamples,
    stop,
    treeCPU,
    treePeakRSSKB,
    waitUntilAnswering,
    waitWithUsage,
)

KAMAILIO_CFG = REPO_ROOT / "etc" / "kamailio" / "kamailio-bench.cfg"
PROXIES = ("keepsip", "kamailio")
# Failures or retransmissions above this share of the calls end a clean rate.
CLEAN_LIMIT = 0.001


@dataclass(frozen=True)
class Scenario:
    """
    A caller/callee pair of SIPp scenarios and how long one call lasts.

    @ivar holdPauses: pauses of C{-d} ms in one call (keepalive intervals).
    @ivar waitsForTimeout: whether the call ends only when the proxy's
        dialog timeout fires (the caller then waits for the proxy's BYE).
    """

    name: str
    uac: str
    uas: str
    keepalives: bool
    holdPauses: int
    waitsForTimeout: bool


def scenarios(keepalives: int) -> dict[str, Scenario]:
    """
    The scenarios by name, for C{keepalives} keepalives per call.
    """
    return {
        # INVITE, 180, 200, ACK, BYE, 200 at once.
        "basic": Scenario("basic", "uac.xml", "uas.xml", False, 0, False),
        # N same-CSeq keepalive INVITEs every interval, then the caller's BYE.
        "keepalive": Scenario(
            "keepalive",
            "uac_keepalive_bye_direct.xml",
            "uas_keepalive.xml",
            True,
            keepalives + 1,
            False,
        ),
        # N keepalives, then silence: the proxy's BYE ends the call.
        "abandoned": Scenario(
            "abandoned", "uac_keepalive.xml", "uas_keepalive.xml", True, keepalives, True
        ),
    }


def proxyCommand(
    name: str, args: argparse.Namespace, workdir: Path, port: int, uasPort: int
) -> list[str]:
    """
    The command line starting proxy C{name} on C{port}, routing every new
    call to the callee on C{uasPort}, ending a dialog silent for
    C{--keepalive-interval} x C{--keepalive-tolerance} seconds.
    """
    if name == "keepsip":
        return [
            sys.executable,
            "-m",
            "twisted",
            "--log-format=text",
            f"--log-file={workdir / 'keepsip.log'}",
            "keepsip",
            "--listen",
            f"udp:{HOST}:{port}",
            "--advertise",
            f"{HOST}:{port}",
            "--route",
            f"*=sip:{HOST}:{uasPort}",
            "--keepalive-interval",
            f"{args.keepalive_interval:g}",
            "--keepalive-tolerance",
            f"{args.keepalive_tolerance:g}",
            *args.keepsip_arg,
        ]
    timeout = max(1, round(args.keepalive_interval * args.keepalive_tolerance))
    return [
        args.kamailio,
        "-f",
        str(KAMAILIO_CFG),
        "-DD",
        "-E",
        "-w",
        str(workdir),
        "-l",
        f"udp:{HOST}:{port}",
        "-A",
        f'UAS_URI="sip:{HOST}:{uasPort}"',
        "-A",
        f"DLG_TIMEOUT={timeout}",
        "-m",
        "256",
        "-M",
        "16",
        *args.kamailio_arg,
    ]


def keepsipWorkers(args: argparse.Namespace) -> int:
    """
    How many worker processes the C{--keepsip-arg} options ask keepsip for
    (C{--workers=N} or C{--workers N}; C{auto}: the cores this process may
    run on).
    """
    value = "1"
    options = list(args.keepsip_arg)
    for i, option in enumerate(options):
        if option.startswith("--workers="):
            value = option.split("=", 1)[1]
        elif option == "--workers" and i + 1 < len(options):
            value = options[i + 1]
    if value == "auto":
        return len(os.sched_getaffinity(0))
    return int(value)


def uacTransport(args: argparse.Namespace) -> str:
    """
    SIPp's C{-t} for the caller: C{un} (a socket, so a source port, per
    call) with C{--uac-sockets per-call}, or by default when keepsip runs
    several workers: the kernel hands the datagrams of the shared
    C{SO_REUSEPORT} port to a worker by the hash of the source address, so
    one caller port would load one worker only. Else C{u1} (one socket).
    """
    sockets = args.uac_sockets
    if sockets == "auto":
        sockets = "per-call" if "keepsip" in args.proxy and keepsipWorkers(args) > 1 else "one"
    return "un" if sockets == "per-call" else "u1"


def _openFileLimit() -> int:
    import resource

    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    return soft if soft != resource.RLIM_INFINITY else 50000


def waitForWorkers(log: Path, count: int, proc: subprocess.Popen[bytes], limit: float) -> None:
    """
    Wait until keepsip's log says each of its C{count} workers is ready
    (one answering OPTIONS is not all of them: the CPU of another still
    starting would count in the run).

    @raise RuntimeError: if keepsip exits or they are not ready in C{limit} s.
    """
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"keepsip exited with status {proc.returncode}")
        text = log.read_text(errors="replace") if log.exists() else ""
        if len(set(re.findall(r"worker (\d+) ready", text))) >= count:
            return
        time.sleep(0.1)
    raise RuntimeError(f"keepsip's {count} workers were not ready within {limit}s")


def runOnce(
    proxy: str, scenario: Scenario, rate: float, calls: int, args: argparse.Namespace, workdir: Path
) -> dict[str, object]:
    """
    One run: C{calls} calls of C{scenario} at C{rate} calls/s through
    C{proxy}, everything started afresh in C{workdir}.

    @return: the figures of the run (see docs/performance.md).
    @raise RuntimeError: if a program could not start or died.
    """
    workdir.mkdir(parents=True)
    proxyPort, uasPort, uacPort = freeUDPPort(), freeUDPPort(), freeUDPPort()
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    intervalMs = int(args.keepalive_interval * 1000)
    hold = scenario.holdPauses * args.keepalive_interval
    recvTimeout = 10.0
    if scenario.waitsForTimeout:
        hold += args.keepalive_interval * args.keepalive_tolerance + 2
        recvTimeout += hold
    sippTimeout = int(calls / rate + hold + 30)
    uacArgs = ["-d", str(intervalMs if scenario.keepalives else 0)]
    if uacTransport(args) == "un":
        # SIPp refuses to start when its socket limit (50000) exceeds the
        # open-file limit.
        uacArgs += ["-max_socket", str(max(64, _openFileLimit() - 100))]
    if scenario.keepalives:
        uacArgs += ["-set", "keepalives", str(args.keepalives)]
    procs: list[subprocess.Popen[bytes]] = []
    with (
        open(workdir / "uas.out", "wb") as uasOut,
        open(workdir / "proxy.out", "wb") as proxyOut,
        open(workdir / "uac.out", "wb") as uacOut,
    ):
        try:
            uas = subprocess.Popen(
                [args.sipp, "-sf", str(SCENARIOS / scenario.uas), "-i", HOST, "-p", str(uasPort),
                 "-m", str(calls), *SIPP_COMMON, "-stf", str(workdir / "uas.csv"),
                 "-timeout", f"{sippTimeout}s"],
                cwd=workdir, stdout=uasOut, stderr=subprocess.STDOUT,
            )  # fmt: skip
            procs.append(uas)
            server = subprocess.Popen(
                proxyCommand(proxy, args, workdir, proxyPort, uasPort),
                cwd=workdir, env=env, stdout=proxyOut, stderr=subprocess.STDOUT,
            )  # fmt: skip
            procs.append(server)
            waitUntilAnswering(proxyPort, server, 30.0, proxy)
            if proxy == "keepsip" and keepsipWorkers(args) > 1:
                waitForWorkers(workdir / "keepsip.log", keepsipWorkers(args), server, 30.0)
            cpuBefore = treeCPU(server.pid)
            memory = MemorySampler(server.pid)
            memory.start()
            started = time.monotonic()
            uac = subprocess.Popen(
                [args.sipp, "-sf", str(SCENARIOS / scenario.uac), "-s", "bob", "-i", HOST,
                 "-t", uacTransport(args), "-p", str(uacPort), "-m", str(calls), "-r", f"{rate:g}", "-rp", "1000",
                 *uacArgs, *SIPP_COMMON, "-stf", str(workdir / "uac.csv"),
                 "-trace_rtt", "-rtt_freq", "1",
                 "-timeout", f"{sippTimeout}s", "-timeout_error",
                 "-recv_timeout", f"{int(recvTimeout)}s", f"{HOST}:{proxyPort}"],
                cwd=workdir, stdout=uacOut, stderr=subprocess.STDOUT,
            )  # fmt: skip
            procs.append(uac)
            uacCPU = waitWithUsage(uac, sippTimeout + 15)
            uasCPU = waitWithUsage(uas, 15)
            elapsed = time.monotonic() - started
            if server.poll() is not None:
                raise RuntimeError(f"{proxy} died during the run (status {server.returncode})")
            cpu = cpuSince(cpuBefore, server.pid)
            peakRSS = treePeakRSSKB(server.pid)
            memory.stop()
        finally:
            for proc in reversed(procs):
                stop(proc)
    uacStats = finalStats(workdir / "uac.csv")
    uasStats = finalStats(workdir / "uas.csv")

    def stat(stats: dict[str, str], key: str) -> int:
        return int(stats.get(key) or 0)

    attempted = stat(uacStats, "OutgoingCall(C)")
    succeeded = stat(uacStats, "SuccessfulCall(C)")
    # Calls SIPp counted as failed, and those still open when it stopped.
    failed = stat(uacStats, "FailedCall(C)") + stat(uacStats, "CurrentCall")
    samples = rttSamples(workdir)
    times = [rtt for _, rtt in samples]
    stamps = sorted(at for at, _ in samples)
    achieved = None
    if len(stamps) > 1 and stamps[-1] > stamps[0]:
        achieved = round((len(stamps) - 1) * 1000 / (stamps[-1] - stamps[0]), 1)
    sippCPU = (uacCPU or 0.0) + (uasCPU or 0.0)
    return {
        "proxy": proxy,
        "scenario": scenario.name,
        "rate": rate,
        "attempted": attempted,
        "succeeded": succeeded,
        "failed": failed,
        "callee_failed": stat(uasStats, "FailedCall(C)"),
        "retransmissions": stat(uacStats, "Retransmissions(C)")
        + stat(uasStats, "Retransmissions(C)"),
        "achieved_rate": achieved,
        "invite_p50_ms": percentile(times, 50),
        "invite_p99_ms": percentile(times, 99),
        "rtt_samples": len(times),
        "cpu_s": round(cpu, 3),
        "cpu_us_per_call": round(cpu * 1e6 / max(attempted, 1)),
        "cpu_share": round(cpu / elapsed, 3),
        "sipp_cpu_us_per_call": round(sippCPU * 1e6 / max(attempted, 1)),
        "peak_rss_kb": peakRSS,
        "pss_start_kb": memory.firstKB,
        "peak_pss_kb": memory.peakKB,
        "elapsed_s": round(elapsed, 3),
        "uac_exit": uac.returncode,
        "uac_transport": uacTransport(args),
    }


def isClean(run: dict[str, object]) -> bool:
    """
    Whether a run placed every call and had failures and retransmissions
    each at most 0.1 % of the calls attempted.
    """
    attempted = int(run["attempted"])  # type: ignore[call-overload]
    bad = int(run["failed"]) + int(run["callee_failed"])  # type: ignore[call-overload]
    retrans = int(run["retransmissions"])  # type: ignore[call-overload]
    return attempted > 0 and bad <= CLEAN_LIMIT * attempted and retrans <= CLEAN_LIMIT * attempted


def summarize(runs: list[dict[str, object]]) -> dict[str, object]:
    """
    One proxy's runs of one scenario added up: counts summed, CPU per call
    over all calls attempted, response times over all samples (from the runs' medians
    and 99th percentiles: the worst of them), memory at its highest.
    """

    def total(key: str) -> int:
        return sum(int(r[key]) for r in runs)  # type: ignore[call-overload]

    def values(key: str) -> list[float]:
        return [float(r[key]) for r in runs if r[key] is not None]  # type: ignore[arg-type]

    succeeded = total("succeeded")
    attempted = total("attempted")
    cpu = sum(values("cpu_s"))
    rates = values("achieved_rate")
    p50 = values("invite_p50_ms")
    p99 = values("invite_p99_ms")
    return {
        "runs": len(runs),
        "attempted": attempted,
        "succeeded": succeeded,
        "failed": total("failed"),
        "callee_failed": total("callee_failed"),
        "retransmissions": total("retransmissions"),
        "achieved_rate": round(sum(rates) / len(rates), 1) if rates else None,
        "invite_p50_ms": percentile(p50, 50),
        "invite_p99_ms": max(p99) if p99 else None,
        "cpu_us_per_call": round(cpu * 1e6 / max(attempted, 1)),
        "cpu_share": max(values("cpu_share")),
        "sipp_cpu_us_per_call": round(sum(values("sipp_cpu_us_per_call")) / len(runs)),
        "peak_rss_kb": max(values("peak_rss_kb")),
        "peak_pss_kb": max(values("peak_pss_kb")),
        "pss_growth_kb": max(
            float(r["peak_pss_kb"]) - float(r["pss_start_kb"])  # type: ignore[arg-type]
            for r in runs
        ),
    }


FIGURES = (
    ("attempted", "calls attempted"),
    ("succeeded", "calls succeeded"),
    ("failed", "calls failed (caller)"),
    ("callee_failed", "calls failed (callee)"),
    ("retransmissions", "retransmissions"),
    ("achieved_rate", "achieved rate, calls/s"),
    ("invite_p50_ms", "INVITE->200 p50, ms"),
    ("invite_p99_ms", "INVITE->200 p99, ms"),
    ("cpu_us_per_call", "proxy CPU per call, us"),
    ("cpu_share", "proxy CPU, cores busy"),
    ("sipp_cpu_us_per_call", "SIPp CPU per call, us"),
    ("peak_rss_kb", "peak RSS, kB"),
    ("peak_pss_kb", "peak PSS, kB"),
    ("pss_growth_kb", "PSS growth, kB"),
)


def fmt(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, float) and not value.is_integer():
        return f"{value:,.2f}" if abs(value) < 100 else f"{value:,.0f}"
    return f"{int(value):,}" if isinstance(value, (int, float)) else str(value)


def ratio(a: object, b: object) -> str:
    if not isinstance(a, (int, float)) or not isinstance(b, (int, float)) or not b:
        return ""
    return f"{a / b:.2f}x"


def table(summaries: dict[str, dict[str, dict[str, object]]], proxies: list[str]) -> str:
    """
    The human report: per scenario, one row per figure, one column per
    proxy, and the ratio of the first proxy to the second.
    """
    lines = []
    head = f"{'scenario':<10} {'figure':<26}" + "".join(f"{p:>12}" for p in proxies)
    if len(proxies) > 1:
        head += f"{proxies[0] + '/' + proxies[1]:>20}"
    lines.append(head)
    for name, byProxy in summaries.items():
        for i, (key, label) in enumerate(FIGURES):
            row = f"{name if i == 0 else '':<10} {label:<26}"
            row += "".join(f"{fmt(byProxy[p][key]):>12}" for p in proxies)
            if len(proxies) > 1:
                row += f"{ratio(byProxy[proxies[0]][key], byProxy[proxies[1]][key]):>20}"
            lines.append(row)
    return "\n".join(lines)


def compare(args: argparse.Namespace, workdir: Path) -> dict[str, object]:
    """
    The fixed-rate comparison: every scenario, C{--rounds} times, each
    proxy in turn.
    """
    known = scenarios(args.keepalives)
    runs: list[dict[str, object]] = []
    for rnd in range(args.rounds):
        for name in args.scenario:
            for proxy in args.proxy:
                run = runOnce(
                    proxy, known[name], args.rate, args.calls, args,
                    workdir / f"{name}-{proxy}-{rnd}",
                )  # fmt: skip
                runs.append(run)
                progress(run)
    summaries = {
        name: {
            proxy: summarize([r for r in runs if r["scenario"] == name and r["proxy"] == proxy])
            for proxy in args.proxy
        }
        for name in args.scenario
    }
    print(table(summaries, args.proxy))
    return {"mode": "compare", "runs": runs, "summary": summaries}


def step(args: argparse.Namespace, workdir: Path) -> dict[str, object]:
    """
    Step mode: from C{--step-start} calls/s up by C{--step-increment}, each
    proxy in turn at each rate, C{--step-seconds} of calls per step, until
    the proxy's run is not clean (L{isClean}) or C{--step-max} is passed.
    """
    known = scenarios(args.keepalives)
    result: dict[str, object] = {"mode": "step", "runs": []}
    runs: list[dict[str, object]] = []
    best: dict[str, dict[str, float | None]] = {}
    stillClean: dict[str, list[str]] = {}
    for name in args.scenario:
        best[name] = {proxy: None for proxy in args.proxy}
        going = list(args.proxy)
        rate = args.step_start
        while going and rate <= args.step_max:
            for proxy in list(going):
                calls = max(1, int(rate * args.step_seconds))
                run = runOnce(
                    proxy, known[name], rate, calls, args, workdir / f"step-{name}-{proxy}-{rate:g}"
                )
                run["clean"] = isClean(run)
                runs.append(run)
                progress(run)
                if run["clean"]:
                    best[name][proxy] = rate
                else:
                    going.remove(proxy)
            rate += args.step_increment
        stillClean[name] = list(going)
    for name, byProxy in best.items():
        parts = [
            f"{proxy} {fmt(r)} calls/s"
            + (
                f" (still clean at --step-max {args.step_max:g})"
                if proxy in stillClean[name]
                else ""
            )
            for proxy, r in byProxy.items()
        ]
        print(
            f"{name}: highest clean rate (failures, retransmissions <= 0.1 %): " + ", ".join(parts)
        )
    result["runs"] = runs
    result["highest_clean_rate"] = best
    return result


def progress(run: dict[str, object]) -> None:
    print(
        f"compare: {run['scenario']} {run['proxy']} rate={run['rate']:g} "
        f"attempted={run['attempted']} succeeded={run['succeeded']} failed={run['failed']} "
        f"retrans={run['retransmissions']} cpu_us_per_call={run['cpu_us_per_call']} "
        f"p99_ms={run['invite_p99_ms']} peak_pss_kb={run['peak_pss_kb']}",
        file=sys.stderr,
        flush=True,
    )


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        description=(__doc__ or "").split("\n\n")[0],
        epilog="Figures and how they are taken: docs/performance.md.",
    )
    p.add_argument(
        "--scenario", action="append", choices=("basic", "keepalive", "abandoned"),
        help="scenario to run, repeatable (default: all three; with --step: basic)",
    )  # fmt: skip
    p.add_argument(
        "--proxy", action="append", choices=PROXIES,
        help="proxy to measure, repeatable, in this order (default: keepsip, kamailio)",
    )  # fmt: skip
    p.add_argument("--calls", type=int, default=2000, help="calls per run (2000)")
    p.add_argument("--rate", type=float, default=200, help="calls per second (200)")
    p.add_argument("--rounds", type=int, default=2, help="runs of each proxy per scenario (2)")
    p.add_argument(
        "--quick", action="store_true", help="one round of 1000 calls (unless given otherwise)"
    )
    p.add_argument(
        "--keepalive-interval", type=float, default=2.0,
        help="seconds between the caller's keepalives, and keepsip's --keepalive-interval (2)",
    )  # fmt: skip
    p.add_argument(
        "--keepalive-tolerance", type=float, default=2.0,
        help="keepsip's --keepalive-tolerance; Kamailio's dialog timeout is interval x this (2)",
    )  # fmt: skip
    p.add_argument("--keepalives", type=int, default=2, help="keepalives per call (2)")
    p.add_argument("--step", action="store_true", help="step mode: find the highest clean rate")
    p.add_argument("--step-start", type=float, default=200, help="first rate of --step (200)")
    p.add_argument("--step-increment", type=float, default=200, help="rate step (200)")
    p.add_argument("--step-max", type=float, default=3000, help="last rate tried (3000)")
    p.add_argument("--step-seconds", type=float, default=10, help="seconds of calls per step (10)")
    p.add_argument("--sipp", help="sipp binary (default: from PATH)")
    p.add_argument("--kamailio", help="kamailio binary (default: from PATH or /usr/sbin)")
    p.add_argument(
        "--keepsip-arg", action="append", default=[],
        help="extra keepsip option, repeatable, e.g. --keepsip-arg=--workers=2",
    )  # fmt: skip
    p.add_argument(
        "--kamailio-arg", action="append", default=[], help="extra kamailio option, repeatable"
    )
    p.add_argument(
        "--uac-sockets", choices=("auto", "one", "per-call"), default="auto",
        help="the caller's source ports: one socket (SIPp -t u1) or one per call (-t un); "
        "auto: per call when keepsip runs several --workers (SO_REUSEPORT hashes a source "
        "address to one worker), else one",
    )  # fmt: skip
    p.add_argument("--json", type=Path, help="also write the full results to this file")
    p.add_argument("--keep", action="store_true", help="keep the work directory (logs, stats)")
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    args.proxy = args.proxy or list(PROXIES)
    args.scenario = args.scenario or (
        ["basic"] if args.step else ["basic", "keepalive", "abandoned"]
    )
    if args.quick:
        given = argv if argv is not None else sys.argv[1:]
        if not any(a.startswith("--calls") for a in given):
            args.calls = 1000
        if not any(a.startswith("--rounds") for a in given):
            args.rounds = 1
    if args.keepalives < 1 and "abandoned" in args.scenario:
        print("compare: the abandoned scenario needs --keepalives >= 1", file=sys.stderr)
        return 2
    args.sipp = args.sipp or shutil.which("sipp")
    path = os.environ.get("PATH", "") + os.pathsep + "/usr/local/sbin:/usr/sbin:/sbin"
    args.kamailio = args.kamailio or shutil.which("kamailio", path=path)
    missing = [n for n, b in (("sipp", args.sipp), ("kamailio", args.kamailio)) if b is None]
    if "kamailio" not in args.proxy and "kamailio" in missing:
        missing.remove("kamailio")
    if missing:
        print(f"compare: cannot run: {', '.join(missing)} not installed", file=sys.stderr)
        return 2
    workdir = Path(tempfile.mkdtemp(prefix="keepsip-compare-"))
    started = time.time()
    try:
        result = step(args, workdir) if args.step else compare(args, workdir)
    except (RuntimeError, OSError, subprocess.SubprocessError) as e:
        print(f"compare: cannot run: {e} (logs in {workdir})", file=sys.stderr)
        return 2
    result["command"] = " ".join(["python3", "benchmarks/compare.py", *(argv or sys.argv[1:])])
    result["started"] = time.strftime("%Y-%m-%d %H:%M:%S %z", time.localtime(started))
    result["clk_tck"] = CLK_TCK
    result["nproc"] = os.cpu_count()
    print(json.dumps(result, sort_keys=True))
    if args.json:
        args.json.write_text(json.dumps(result, sort_keys=True, indent=1) + "\n")
    runs = result["runs"]
    assert isinstance(runs, list)
    failedRuns = [r for r in runs if r["failed"] or r["callee_failed"]]
    if args.keep or (failedRuns and not args.step):
        print(f"compare: work directory {workdir}", file=sys.stderr)
    else:
        shutil.rmtree(workdir, ignore_errors=True)
    return 1 if failedRuns and not args.step else 0


if __name__ == "__main__":
    sys.exit(main())
