"""
Plumbing shared by the SIPp benchmarks (C{sipp_cpu.py}, C{compare.py}): free
ports, waiting for a proxy to answer, SIPp's statistics files, and a proxy's
CPU time and memory read from C{/proc} over all of its processes.

Not a package module: the benchmark scripts run from C{benchmarks/} (their
directory is first on C{sys.path}) and import it as C{sipprun}.
"""

from __future__ import annotations

import csv
import os
import socket
import subprocess
import threading
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = REPO_ROOT / "tests" / "integration" / "scenarios"
HOST = "127.0.0.1"
SIPP_COMMON = ["-nostdin", "-default_behaviors", "abortunexp", "-trace_stat", "-fd", "1"]
CLK_TCK = os.sysconf("SC_CLK_TCK")


def freeUDPPort() -> int:
    """
    A UDP port of 127.0.0.1 that was free a moment ago.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def _statFields(pid: int) -> list[str]:
    """
    The fields of C{/proc/<pid>/stat} after the command name: C{[0]} is
    field 3 (state), C{[1]} field 4 (ppid), C{[11]}/C{[12]} utime/stime,
    C{[13]}/C{[14]} cutime/cstime (clock ticks).
    """
    with open(f"/proc/{pid}/stat") as f:
        stat = f.read()
    return stat[stat.rindex(")") + 2 :].split()


def cpuSeconds(pid: int) -> float:
    """
    User plus system CPU time of process C{pid} so far, in seconds, from
    fields 14 and 15 of C{/proc/<pid>/stat} (clock ticks).
    """
    fields = _statFields(pid)
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def processTree(root: int) -> list[int]:
    """
    C{root} and all its living descendants, from the parent pids in
    C{/proc/*/stat}.
    """
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            ppid = int(_statFields(int(entry))[1])
        except (OSError, ValueError, IndexError):
            continue
        children.setdefault(ppid, []).append(int(entry))
    tree, todo = [], [root]
    while todo:
        pid = todo.pop()
        tree.append(pid)
        todo.extend(children.get(pid, []))
    return tree


def treeCPU(root: int) -> dict[int, float]:
    """
    CPU seconds (utime + stime + cutime + cstime: the process's own and that
    of its children it has reaped) of each process of C{root}'s tree, by pid.
    """
    times = {}
    for pid in processTree(root):
        try:
            f = _statFields(pid)
        except OSError:
            continue
        times[pid] = (int(f[11]) + int(f[12]) + int(f[13]) + int(f[14])) / CLK_TCK
    return times


def cpuSince(before: dict[int, float], root: int) -> float:
    """
    CPU seconds C{root}'s tree used since C{before} (a L{treeCPU} result): a
    process born since counts from zero; one that ended since is lost unless
    its parent reaped it (then it is in the parent's cutime/cstime).
    """
    after = treeCPU(root)
    return sum(t - before.get(pid, 0.0) for pid, t in after.items())


def _statusKB(pid: int, field: str) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field):
                return int(line.split()[1])
    return 0


def _pssKB(pid: int) -> int:
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            if line.startswith("Pss:"):
                return int(line.split()[1])
    return 0


def treePeakRSSKB(root: int) -> int:
    """
    The sum over C{root}'s tree of each process's peak resident set
    (C{VmHWM}, kB). Pages shared between processes (Kamailio's shared
    memory) count once per process: see L{MemorySampler} for PSS.
    """
    total = 0
    for pid in processTree(root):
        try:
            total += _statusKB(pid, "VmHWM:")
        except OSError:
            pass
    return total


class MemorySampler:
    """
    Samples the proportional set size (PSS, C{/proc/<pid>/smaps_rollup}:
    shared pages divided among the processes sharing them) of a process
    tree every C{interval} seconds in a thread, and keeps the first and the
    highest sum.
    """

    def __init__(self, root: int, interval: float = 0.5) -> None:
        self.root = root
        self.interval = interval
        self.firstKB = 0
        self.peakKB = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def sample(self) -> int:
        """
        The tree's PSS now, kB (0 when C{smaps_rollup} is unreadable).
        """
        total = 0
        for pid in processTree(self.root):
            try:
                total += _pssKB(pid)
            except OSError:
                pass
        return total

    def _run(self) -> None:
        while True:
            kb = self.sample()
            if not self.firstKB:
                self.firstKB = kb
            self.peakKB = max(self.peakKB, kb)
            if self._stop.wait(self.interval):
                return

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """
        Take a last sample and end the thread.
        """
        self._stop.set()
        self._thread.join()
        self.peakKB = max(self.peakKB, self.sample())


def waitUntilAnswering(
    port: int, proc: subprocess.Popen[bytes], limit: float, name: str = "keepsip"
) -> None:
    """
    Send OPTIONS (Max-Forwards: 0) to the proxy on C{port} until any SIP
    response comes back.

    @raise RuntimeError: if the proxy exits or stays silent for C{limit} s.
    """
    deadline = time.monotonic() + limit
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((HOST, 0))
        s.settimeout(0.1)
        local = s.getsockname()[1]
        n = 0
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"{name} exited with status {proc.returncode}")
            n += 1
            s.sendto(
                (
                    f"OPTIONS sip:{HOST}:{port} SIP/2.0\r\n"
                    f"Via: SIP/2.0/UDP {HOST}:{local};branch=z9hG4bK-bench-{n}\r\n"
                    f"Max-Forwards: 0\r\nFrom: <sip:bench@{HOST}:{local}>;tag=b{n}\r\n"
                    f"To: <sip:{HOST}:{port}>\r\nCall-ID: bench-{local}@{HOST}\r\n"
                    f"CSeq: {n} OPTIONS\r\nContent-Length: 0\r\n\r\n"
                ).encode("ascii"),
                (HOST, port),
            )
            try:
                if s.recv(65535).startswith(b"SIP/2.0 "):
                    return
            except (TimeoutError, ConnectionRefusedError):
                pass
    raise RuntimeError(f"{name} did not answer OPTIONS within {limit}s")


def finalStats(path: Path) -> dict[str, str]:
    """
    The last row of a SIPp C{-trace_stat} file, by column name.
    """
    with open(path, newline="") as f:
        rows = [row for row in csv.reader(f, delimiter=";") if row]
    if len(rows) < 2:
        raise RuntimeError(f"no statistics in {path}")
    return dict(zip(rows[0], rows[-1]))


def rttSamples(directory: Path) -> list[tuple[float, float]]:
    """
    The response times SIPp wrote with C{-trace_rtt} into C{directory}
    (C{<scenario>_<pid>_rtt.csv}): (milliseconds since SIPp started,
    response time in ms) for each C{rtd="true"} measure.
    """
    samples = []
    for path in sorted(directory.glob("*_rtt.csv")):
        with open(path, newline="") as f:
            for row in csv.reader(f, delimiter=";"):
                try:
                    samples.append((float(row[0]), float(row[1])))
                except (ValueError, IndexError):
                    continue
    return samples


def percentile(values: list[float], q: float) -> float | None:
    """
    The C{q}-th percentile (0-100) of C{values}, nearest rank; C{None} if
    there are none.
    """
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * q // 100))
    return ordered[int(rank) - 1]


def waitWithUsage(proc: subprocess.Popen[bytes], timeout: float) -> float | None:
    """
    Wait up to C{timeout} s for C{proc} to exit and return the CPU seconds
    it used (user + system, from C{wait4}); C{None} if it is still running.
    """
    deadline = time.monotonic() + timeout
    while True:
        if proc.returncode is not None:
            return None
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            proc.returncode = os.waitstatus_to_exitcode(status)
            return usage.ru_utime + usage.ru_stime
        if time.monotonic() >= deadline:
            return None
        time.sleep(0.05)


def stop(proc: subprocess.Popen[bytes], grace: float = 5.0) -> None:
    """
    SIGTERM C{proc}, SIGKILL it if it is still there after C{grace} s.
    """
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
