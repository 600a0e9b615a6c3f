#!/usr/bin/env python3
"""
CPU per call: keepsip's own CPU time while SIPp pushes calls through it.

Starts keepsip (C{python3 -m twisted keepsip}, the foreground runner, so the
child's pid is keepsip's), a SIPp callee and a SIPp caller placing C{--calls}
calls at C{--rate} calls/s through keepsip over UDP on 127.0.0.1, and reads
keepsip's utime+stime from C{/proc/<pid>/stat} right before the first call
and right after the last (start-up is not counted).  Prints one human line
and one JSON line; exits 1 if any call failed or fewer calls completed than
asked, 2 if it could not run at all.

Run from the repository root::

    python3 benchmarks/sipp_cpu.py --calls 2000 --rate 200
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

from sipprun import (
    HOST,
    REPO_ROOT,
    SCENARIOS,
    SIPP_COMMON,
    cpuSeconds,
    finalStats,
    freeUDPPort,
    stop,
    waitUntilAnswering,
)


def run(args: argparse.Namespace, workdir: Path) -> dict[str, object]:
    """
    Run the benchmark in C{workdir}.

    @return: the measurements (see L{main} for the keys).
    """
    sipp = args.sipp or shutil.which("sipp")
    if sipp is None:
        raise RuntimeError("sipp is not installed")
    proxyPort, uasPort, uacPort = freeUDPPort(), freeUDPPort(), freeUDPPort()
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    # SIPp's own timeout: the calls at the given rate, plus slack.
    sippTimeout = int(args.calls / args.rate + args.duration_ms / 1000 + 30)
    with (
        open(workdir / "uas.out", "wb") as uasOut,
        open(workdir / "keepsip.out", "wb") as keepsipOut,
        open(workdir / "uac.out", "wb") as uacOut,
    ):
        procs: list[subprocess.Popen[bytes]] = []
        try:
            uas = subprocess.Popen(
                [
                    sipp,
                    "-sf",
                    str(SCENARIOS / "uas.xml"),
                    "-i",
                    HOST,
                    "-p",
                    str(uasPort),
                    "-m",
                    str(args.calls),
                    *SIPP_COMMON,
                    "-stf",
                    str(workdir / "uas.csv"),
                    "-timeout",
                    f"{sippTimeout}s",
                ],
                cwd=workdir,
                stdout=uasOut,
                stderr=subprocess.STDOUT,
            )
            procs.append(uas)
            keepsip = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "twisted",
                    "--log-format=text",
                    f"--log-file={workdir / 'keepsip.log'}",
                    "keepsip",
                    "--listen",
                    f"udp:{HOST}:{proxyPort}",
                    "--advertise",
                    f"{HOST}:{proxyPort}",
                    "--route",
                    f"*=sip:{HOST}:{uasPort}",
                    *args.keepsip_arg,
                ],
                cwd=workdir,
                env=env,
                stdout=keepsipOut,
                stderr=subprocess.STDOUT,
            )
            procs.append(keepsip)
            waitUntilAnswering(proxyPort, keepsip, 30.0)
            cpuBefore = cpuSeconds(keepsip.pid)
            started = time.monotonic()
            uac = subprocess.run(
                [
                    sipp,
                    "-sf",
                    str(SCENARIOS / "uac.xml"),
                    "-s",
                    "bob",
                    "-i",
                    HOST,
                    "-p",
                    str(uacPort),
                    "-m",
                    str(args.calls),
                    "-r",
                    str(args.rate),
                    "-rp",
                    "1000",
                    "-d",
                    str(args.duration_ms),
                    *SIPP_COMMON,
                    "-stf",
                    str(workdir / "uac.csv"),
                    "-timeout",
                    f"{sippTimeout}s",
                    "-timeout_error",
                    "-recv_timeout",
                    "10s",
                    f"{HOST}:{proxyPort}",
                ],
                cwd=workdir,
                stdout=uacOut,
                stderr=subprocess.STDOUT,
                timeout=sippTimeout + 15,
                check=False,
            )
            try:
                uas.wait(sippTimeout)
            except subprocess.TimeoutExpired:
                pass
            elapsed = time.monotonic() - started
            if keepsip.poll() is not None:
                raise RuntimeError(f"keepsip died during the run (status {keepsip.returncode})")
            cpu = cpuSeconds(keepsip.pid) - cpuBefore
        finally:
            for proc in reversed(procs):
                stop(proc)
    uacStats = finalStats(workdir / "uac.csv")
    uasStats = finalStats(workdir / "uas.csv")
    successful = int(uacStats.get("SuccessfulCall(C)") or 0)
    failed = int(uacStats.get("FailedCall(C)") or 0) + int(uasStats.get("FailedCall(C)") or 0)
    retransmissions = int(uacStats.get("Retransmissions(C)") or 0) + int(
        uasStats.get("Retransmissions(C)") or 0
    )
    return {
        "calls": args.calls,
        "rate": args.rate,
        "successful_calls": successful,
        "failed_calls": failed,
        "retransmissions": retransmissions,
        "uac_exit": uac.returncode,
        "elapsed_s": round(elapsed, 3),
        "cpu_s": round(cpu, 3),
        "cpu_ms_per_call": round(cpu * 1000 / max(successful, 1), 4),
        "clk_tck": os.sysconf("SC_CLK_TCK"),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=2000, help="calls to place (2000)")
    parser.add_argument("--rate", type=float, default=200, help="calls per second (200)")
    parser.add_argument(
        "--duration-ms", type=int, default=0, help="call length before the caller's BYE, ms (0)"
    )
    parser.add_argument("--sipp", help="path of the sipp binary (default: from PATH)")
    parser.add_argument(
        "--keepsip-arg",
        action="append",
        default=[],
        help="extra keepsip option, repeatable, e.g. --keepsip-arg=--log-level=warn",
    )
    parser.add_argument(
        "--keep",
        action="store_true",
        help="keep the work directory (logs, SIPp statistics) and print its path",
    )
    args = parser.parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="keepsip-bench-"))
    try:
        result = run(args, workdir)
    except (RuntimeError, OSError, subprocess.SubprocessError) as e:
        print(f"sipp_cpu: cannot run: {e} (logs in {workdir})", file=sys.stderr)
        return 2
    finally:
        if args.keep:
            print(f"sipp_cpu: work directory {workdir}", file=sys.stderr)
    print(
        f"calls={result['calls']} successful={result['successful_calls']} "
        f"failed={result['failed_calls']} retransmissions={result['retransmissions']} "
        f"cpu_s={result['cpu_s']} cpu_ms_per_call={result['cpu_ms_per_call']} "
        f"rate={result['rate']} elapsed_s={result['elapsed_s']}"
    )
    print(json.dumps(result, sort_keys=True))
    ok = result["failed_calls"] == 0 and result["successful_calls"] == args.calls
    if ok and not args.keep:
        shutil.rmtree(workdir, ignore_errors=True)
    elif not ok:
        print(f"sipp_cpu: calls failed; logs in {workdir}", file=sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
