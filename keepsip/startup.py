"""
Start-up errors: a resource an option names cannot be used (a port in use,
an address that is not local, a spool directory that is a file, an
accounting file in a missing directory).

keepsip's services raise L{StartupError} from C{startService}; its text is
one line naming the option and the resource. L{exitWithError} is what the
C{twistd keepsip} process does with it (and with a usage error): that one
line, a hint to C{--help}, exit status 1, no traceback and no usage dump.
"""

from __future__ import annotations

import errno
import sys
from typing import NoReturn, TextIO

from twisted.internet.error import CannotListenError

from keepsip.logs import Logger

_log = Logger()

#: The hint printed after the one-line error.
HINT = "(run 'twistd keepsip --help' for the options)"

#: Exit status of a keepsip process that could not start.
EXIT_STATUS = 1


class StartupError(Exception):
    """
    keepsip cannot start. C{str()} of it is one line naming the option, e.g.
    C{--listen udp:127.0.0.1:5060: address already in use}.

    @ivar option: the long option name, without dashes.
    @ivar message: what is wrong, naming the resource.
    """

    def __init__(self, option: str, message: str) -> None:
        self.option = option
        self.message = message
        super().__init__(f"--{option}: {message}")


def describeOSError(error: OSError) -> str:
    """
    An L{OSError} as a short phrase: the C{strerror} and the file it names.
    """
    what = error.strerror or error.__class__.__name__
    if error.filename is not None:
        return f"{error.filename}: {what[:1].lower()}{what[1:]}"
    return f"{what[:1].lower()}{what[1:]}"


def listenError(option: str, value: str, error: CannotListenError) -> StartupError:
    """
    A L{StartupError} for a port that could not be bound.

    @param option: the option that asked for the port (C{listen},
        C{metrics}).
    @param value: how that option named it (C{udp:127.0.0.1:5060}).
    """
    cause = error.socketError
    code = getattr(cause, "errno", None)
    if code == errno.EADDRINUSE:
        why = "address already in use"
    elif code == errno.EADDRNOTAVAIL:
        why = f"{error.interface or 'the address'} is not an address of this machine"
    elif code == errno.EACCES:
        why = "permission denied (ports below 1024 need privileges)"
    elif isinstance(cause, OSError):
        why = describeOSError(cause)
    else:
        why = str(cause)
    return StartupError(option, f"{value}: cannot listen: {why}")


def exitWithError(message: str, stderr: TextIO | None = None, log: bool = True) -> NoReturn:
    """
    End the process as keepsip does when it cannot start: log C{message}
    (critical, if C{log}), write it and L{HINT} to the real standard error
    (twistd sends C{sys.stderr} to its log), exit with L{EXIT_STATUS}.

    @raise SystemExit: always.
    """
    if log:
        _log.critical("keepsip cannot start: {error}", error=message)
    stream = stderr if stderr is not None else (sys.__stderr__ or sys.stderr)
    try:
        stream.write(f"keepsip: {message}\n{HINT}\n")
        stream.flush()
    except (OSError, ValueError):
        pass
    raise SystemExit(EXIT_STATUS)
