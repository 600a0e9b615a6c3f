"""
What each worker of C{--workers N} is given: L{workerConfig} derives worker
i's L{Config} from the supervisor's, a pure function of the two.

Worker i (1..N):

  - listens on its own port, C{--worker-ports} + i - 1, on every listen host
    (L{privateAddresses}), and on every C{--listen} address (the
    supervisor's C{SO_REUSEPORT} socket for it); it sends requests from its
    own port (the first in its C{listen}), so peers that answer the source
    address reach it too, and responses from the port the request came to
    (L{keepsip.transport.selector.ReplyAddress});
  - advertises its own port in Via and Record-Route (the C{--advertise}
    host, or the computed one, with that port), so that responses and
    in-dialog requests come back to it;
  - keeps its own dialog store unless the store is shared: C{sqlite} gets a
    file per worker (C{dialogs.sqlite3} -> C{dialogs.w1.sqlite3}), C{memory}
    is per process anyway, C{redis} is shared as it is between nodes (each
    worker is a node, named by its addresses);
  - keeps its own accounting spool directory (C{keepsip-spool.w1}) and its
    own C{jsonl} file (C{calls.w1.jsonl}): several processes appending to one
    file interleave badly and each reopens it on its own; the networked
    backends (C{http}, C{radius}, C{redis}) are shared, as between nodes;
  - serves its own metrics: C{tcp:}/C{ssl:} on the configured port + i - 1,
    C{unix:} on the path with C{.wi} (L{workerMetrics});
  - anchors media (C{--media-relay builtin}) in its own slice of
    C{--rtp-ports} (L{workerRtpPorts}).
"""

from __future__ import annotations

import dataclasses
import os

from keepsip.config.settings import Config
from keepsip.config.values import ListenAddress


class WorkerSettingsError(ValueError):
    """
    An option cannot be split between the workers.

    @ivar option: the option's long name.
    @ivar message: what is wrong.
    """

    def __init__(self, option: str, message: str) -> None:
        super().__init__(f"--{option}: {message}")
        self.option = option
        self.message = message


def workerPath(path: str, index: int) -> str:
    """
    Worker C{index}'s copy of a file or directory name: C{.wN} before the
    extension of the last component (C{calls.jsonl} -> C{calls.w2.jsonl},
    C{keepsip-spool} -> C{keepsip-spool.w2}).
    """
    directory, name = os.path.split(path)
    stem, extension = os.path.splitext(name)
    return os.path.join(directory, f"{stem}.w{index}{extension}")


def _splitRaw(text: str, separator: str) -> list[str]:
    """
    Split C{text} at each C{separator} not escaped by a backslash, keeping
    the escapes in the parts.
    """
    parts: list[str] = []
    current: list[str] = []
    escaped = False
    for char in text:
        if escaped:
            current.append(char)
            escaped = False
        elif char == "\\":
            current.append(char)
            escaped = True
        elif char == separator:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    parts.append("".join(current))
    return parts


def _unescape(text: str) -> str:
    out: list[str] = []
    escaped = False
    for char in text:
        if escaped or char != "\\":
            out.append(char)
            escaped = False
        else:
            escaped = True
    return "".join(out)


def _escape(text: str, separator: str) -> str:
    return text.replace("\\", "\\\\").replace(separator, "\\" + separator)


def _withWorkerPath(spec: str, index: int, key: str = "path") -> str:
    """
    C{TYPE:key=value,...} with the value of C{key} made worker C{index}'s
    (L{workerPath}); unchanged if it has no such argument.
    """
    kind, sep, rest = spec.partition(":")
    if not sep:
        return spec
    items = _splitRaw(rest, ",")
    for n, item in enumerate(items):
        name, equals, value = item.partition("=")
        if equals and name.strip() == key:
            items[n] = f"{name}={_escape(workerPath(_unescape(value), index), ',')}"
    return f"{kind}:{','.join(items)}"


def workerAccounting(specs: tuple[str, ...], index: int) -> tuple[str, ...]:
    """
    The C{--accounting} values of worker C{index}: a C{jsonl} file per
    worker (the default one too), every other backend as it is.
    """
    from keepsip.accounting.plugin import DEFAULT_ACCOUNTING

    return tuple(
        _withWorkerPath(spec, index) if spec.partition(":")[0].strip() == "jsonl" else spec
        for spec in specs or (DEFAULT_ACCOUNTING,)
    )


def workerDialogStore(spec: str, index: int) -> str:
    """
    The C{--dialog-store} of worker C{index}: a C{sqlite} file per worker;
    C{memory} and C{redis} as they are.
    """
    if spec.partition(":")[0].strip() == "sqlite":
        return _withWorkerPath(spec, index)
    return spec


def workerMetrics(endpoint: str, index: int) -> str:
    """
    The C{--metrics} endpoint of worker C{index}: C{tcp:}/C{ssl:} on the
    given port + C{index} - 1 (port 0 stays 0), C{unix:} on the path with
    C{.wN}; empty stays empty.

    @raise WorkerSettingsError: for another endpoint type.
    """
    if not endpoint:
        return ""
    parts = _splitRaw(endpoint, ":")
    kind = parts[0]
    if kind in ("tcp", "ssl"):
        key = "port"
    elif kind == "unix":
        key = "address"
    else:
        raise WorkerSettingsError(
            "metrics", f"with --workers, only tcp:, ssl: and unix: endpoints, got {endpoint!r}"
        )
    for n, part in enumerate(parts[1:], 1):
        name, equals, value = part.partition("=")
        if equals and name != key:
            continue
        raw = value if equals else part
        if key == "port":
            if not raw.isdigit():
                raise WorkerSettingsError("metrics", f"expected a port number, got {raw!r}")
            port = int(raw)
            derived = str(port + index - 1 if port else 0)
            if int(derived) > 65535:
                raise WorkerSettingsError("metrics", f"worker {index}'s port {derived} is beyond 65535")
        else:
            derived = _escape(workerPath(_unescape(raw), index), ":")
        parts[n] = f"{name}={derived}" if equals else derived
        return ":".join(parts)
    raise WorkerSettingsError("metrics", f"no {key} in {endpoint!r}")


def workerRtpPorts(ports: tuple[int, int], count: int, index: int) -> tuple[int, int]:
    """
    Worker C{index}'s slice of C{--rtp-ports}: the even/odd pairs of the
    range cut into C{count} runs, the last taking what is left.

    @raise WorkerSettingsError: if there are fewer pairs than workers.
    """
    low, high = ports
    first = low + (low % 2)
    pairs = (high - first + 1) // 2
    each = pairs // count
    if each < 1:
        raise WorkerSettingsError(
            "rtp-ports", f"{low}-{high} holds {pairs} port pairs, fewer than {count} workers"
        )
    start = first + 2 * each * (index - 1)
    end = high if index == count else start + 2 * each - 1
    return start, end


def checkDerivable(metrics: str, rtpPorts: tuple[int, int], count: int, mediaRelay: str) -> None:
    """
    Check that the options L{workerConfig} splits can be split C{count}
    ways.

    @raise WorkerSettingsError: naming the option.
    """
    for index in range(1, count + 1):
        workerMetrics(metrics, index)
    if mediaRelay == "builtin":
        workerRtpPorts(rtpPorts, count, count)


def workerPort(config: Config, index: int) -> int:
    """
    Worker C{index}'s own port.
    """
    assert config.workerPorts is not None, "--worker-ports is computed by buildConfig"
    return config.workerPorts + index - 1


def privateAddresses(config: Config, index: int) -> tuple[ListenAddress, ...]:
    """
    The addresses worker C{index} alone listens on: its own port on each
    listen host (once per host).
    """
    port = workerPort(config, index)
    hosts = dict.fromkeys(a.host for a in config.listen)
    return tuple(ListenAddress("udp", host, port) for host in hosts)


def workerConfig(config: Config, index: int) -> Config:
    """
    Worker C{index}'s configuration (1 <= C{index} <= C{config.workers}),
    as the module docstring says. Its C{listen} is L{privateAddresses}
    then the shared addresses; its C{workers} is 1.
    """
    if not 1 <= index <= config.workers:
        raise ValueError(f"worker {index} of {config.workers}")
    host, _ = config.advertise
    return dataclasses.replace(
        config,
        workers=1,
        # Its own port first: keepsip sends requests out of the first socket
        # of a family, and peers that answer the source address reach it.
        listen=privateAddresses(config, index) + config.listen,
        advertise=(host, workerPort(config, index)),
        dialogStore=workerDialogStore(config.dialogStore, index),
        accounting=workerAccounting(config.accounting, index),
        accountingSpool=workerPath(config.accountingSpool, index),
        metrics=workerMetrics(config.metrics, index),
        rtpPorts=workerRtpPorts(config.rtpPorts, config.workers, index)
        if config.mediaRelay == "builtin"
        else config.rtpPorts,
    )
