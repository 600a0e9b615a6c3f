"""
Benchmark: packets the built-in media relay forwards per CPU second, at 100,
500 and 1,000 concurrent G.711 calls (50 packets/s each way: 20 ms PCMU,
172-octet RTP datagrams), on loopback.

The relay runs in a child process (C{--serve}) on the default Twisted
reactor (epoll on Linux), with N calls allocated through L{BuiltinRelay}
(offer and answer with C{a=rtcp-mux}, so one port per call side). The parent
plays the 2N phones: plain non-blocking sockets, each sending one datagram
every 20 ms to the relay port it was given, spread evenly across the 20 ms
in groups sent every C{--pace} ms (0.5 by default: as fine as a sleeping
Python sender keeps; real phones are spread finer still, so this errs
towards bursts, which favour the relay only slightly), and never reading
what comes back (the kernel drops it once a phone's buffer is
full: the relay's work is the same, the generator's halves). The
child measures over a fixed window after a warm-up: datagrams relayed
(received from a phone and forwarded; L{BuiltinRelay.totals}) and its own
CPU time (user + system, C{getrusage(RUSAGE_SELF)}: the relay process
only, not the phones); the figure is their quotient. On loopback the
relay's system time includes delivering its datagrams into the phones'
sockets, as the phones' includes delivering theirs into the relay's.

Run from the repository root::

    python3 benchmarks/relay.py                      # 100, 500, 1000 calls, 10 s each
    python3 benchmarks/relay.py --calls 1000 --seconds 5 --profile

Output: one human line and one JSON line per size; with C{--profile} the
child also prints the top functions by internal time (cProfile) to stderr.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import socket
import subprocess
import sys
import time

HOST = "127.0.0.1"
RATE = 50  # packets per second per direction (20 ms ptime)
PACKET = b"\x80\x00" + b"\x00" * 10 + b"\xff" * 160  # RTP header + 160 octets of PCMU


def sdp(port: int) -> bytes:
    return (
        f"v=0\r\no=- 1 1 IN IP4 {HOST}\r\ns=-\r\nc=IN IP4 {HOST}\r\nt=0 0\r\n"
        f"m=audio {port} RTP/AVP 0\r\na=rtcp-mux\r\na=sendrecv\r\n"
    ).encode("ascii")


def cpuSeconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def systemSeconds() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_stime


def wakeups(relay: object) -> int:
    return getattr(relay, "wakeups", None) or 0


def serve(args: argparse.Namespace) -> None:
    """
    The relay process: reads the phones' ports (JSON) from stdin, writes the
    relay ports, measures and prints the result.
    """
    sys.path.insert(0, os.getcwd())
    from twisted.internet import reactor

    from keepsip.media.builtin import BuiltinRelay
    from keepsip.media.model import CALLEE, CALLER
    from keepsip.media.sdp import relayStreams

    phones = json.loads(sys.stdin.readline())
    relay = BuiltinRelay(reactor, HOST, args.low, args.low + 8 * len(phones) + 100)
    ports = []
    for i, (callerPort, calleePort) in enumerate(phones):
        toCallee: list[bytes] = []
        toCaller: list[bytes] = []
        relay.allocate(f"call{i}", "a", CALLER, sdp(callerPort)).addCallback(toCallee.append)
        relay.answer(f"call{i}", "a", "b", CALLEE, sdp(calleePort)).addCallback(toCaller.append)
        ports.append((relayStreams(toCaller[0])[0].port, relayStreams(toCallee[0])[0].port))
    print(json.dumps(ports), flush=True)

    profiler = None
    state: dict[str, float] = {}

    def begin() -> None:
        nonlocal profiler
        state["cpu"], state["wall"] = cpuSeconds(), time.monotonic()
        state["sys"], state["wakeups"] = systemSeconds(), wakeups(relay)
        state["packets"] = relay.totals()["packets"]
        if args.profile:
            import cProfile

            profiler = cProfile.Profile()
            profiler.enable()

    def end() -> None:
        if profiler is not None:
            profiler.disable()
        cpu = cpuSeconds() - state["cpu"]
        system = systemSeconds() - state["sys"]
        woken = wakeups(relay) - state["wakeups"]
        wall = time.monotonic() - state["wall"]
        packets = relay.totals()["packets"] - state["packets"]
        result = {
            "calls": len(phones),
            "offered_pps": len(phones) * 2 * RATE,
            "relayed_pps": round(packets / wall),
            "cpu_s": round(cpu, 3),
            "wall_s": round(wall, 3),
            "cpu_share": round(cpu / wall, 3),
            "packets_per_cpu_second": round(packets / cpu) if cpu else None,
            "relayed": packets,
            "system_share_of_cpu": round(system / cpu, 3) if cpu else None,
            "packets_per_wakeup": round(packets / woken, 2) if woken else None,
        }
        print(json.dumps(result), flush=True)
        if profiler is not None:
            import pstats

            pstats.Stats(profiler, stream=sys.stderr).sort_stats("tottime").print_stats(15)
        relay.close()
        reactor.stop()

    reactor.callLater(args.warmup, begin)
    reactor.callLater(args.warmup + args.seconds, end)
    reactor.run()


def run(
    calls: int, seconds: float, warmup: float, profile: bool, low: int, pace: float = 0.0005
) -> dict:
    """
    Start a relay child for C{calls} calls, play the phones, return its
    result.
    """
    phones = []
    sockets = []
    for _ in range(calls):
        pair = []
        for _side in range(2):
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.bind((HOST, 0))
            s.setblocking(False)
            sockets.append(s)
            pair.append(s.getsockname()[1])
        phones.append(pair)
    argv = [sys.executable, __file__, "--serve", "--seconds", str(seconds),
            "--warmup", str(warmup), "--low", str(low)]
    if profile:
        argv.append("--profile")
    child = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert child.stdin is not None and child.stdout is not None
    child.stdin.write(json.dumps(phones) + "\n")
    child.stdin.flush()
    relayPorts = json.loads(child.stdout.readline())
    targets = []
    for i, (toCaller, toCallee) in enumerate(relayPorts):
        targets.append((sockets[2 * i], (HOST, toCaller)))
        targets.append((sockets[2 * i + 1], (HOST, toCallee)))
    interval = 1.0 / RATE
    slot = interval / len(targets)
    # Phones in groups, one group every `pace` seconds across the interval.
    group = max(1, round(len(targets) * pace / interval))
    deadline = time.monotonic() + warmup + seconds + 1.0
    tick = time.monotonic()
    while time.monotonic() < deadline:
        for n, (s, target) in enumerate(targets):
            try:
                s.sendto(PACKET, target)
            except (BlockingIOError, ConnectionRefusedError):
                pass
            if n % group == group - 1:
                pause = tick + (n + 1) * slot - time.monotonic()
                if pause > 0:
                    time.sleep(pause)
        tick += interval
        pause = tick - time.monotonic()
        if pause > 0:
            time.sleep(pause)
    line = child.stdout.readline()
    child.wait(30)
    for s in sockets:
        s.close()
    return json.loads(line)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, action="append", help="concurrent calls (repeatable)")
    parser.add_argument("--seconds", type=float, default=10.0, help="measured window per size")
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument("--low", type=int, default=40000, help="first relay port")
    parser.add_argument("--profile", action="store_true", help="cProfile the relay's window")
    parser.add_argument(
        "--pace", type=float, default=0.5, help="ms between groups of phones' packets"
    )
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args)
        return 0
    for calls in args.calls or [100, 500, 1000]:
        result = run(calls, args.seconds, args.warmup, args.profile, args.low, args.pace / 1000)
        print(
            f"calls={result['calls']} offered_pps={result['offered_pps']} "
            f"relayed_pps={result['relayed_pps']} cpu_share={result['cpu_share']} "
            f"packets_per_cpu_second={result['packets_per_cpu_second']} "
            f"packets_per_wakeup={result.get('packets_per_wakeup')}",
            flush=True,
        )
        print(json.dumps(result, sort_keys=True), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
