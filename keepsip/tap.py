"""
The twistd entry point: C{twistd -n keepsip [options]}.

L{Options} is built from the option table L{keepsip.config.options.OPTIONS}: one
command-line handler per row, plus C{--config PATH} for a TOML file whose
keys are the same option names.  L{Options.postOptions} merges the file and
the command line (the command line wins, option by option), validates
everything and leaves the result in C{options.config}, a
L{keepsip.config.settings.Config}.  L{makeService} hands it to
L{keepsip.service.makeService} with the global reactor: this module is the
one place that imports it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from twisted.application.service import IService, MultiService
from twisted.python import usage

from keepsip.config.load import buildConfig, loadToml
from keepsip.config.option import Option
from keepsip.config.options import OPTIONS
from keepsip.config.parsers import ConfigError
from keepsip.config.settings import Config
from keepsip.startup import StartupError, exitWithError


class Options(usage.Options):
    """
    keepsip's command line; see C{--help} or docs/configuration.md.

    After L{parseOptions}, C{self.config} is the validated
    L{keepsip.config.settings.Config} and C{self[name]} holds each option's parsed
    value under its long name.
    """

    synopsis = "[options]"
    longdesc = (
        "keepsip: a transaction- and dialog-stateful SIP proxy that ends calls "
        "whose keepalives stop. Every option may also be set in the TOML file "
        "given with --config, under the same name; the command line wins."
    )

    config: Config

    def __init__(self) -> None:
        super().__init__()
        #: Raw values given on the command line, by option name.
        self._commandLine: dict[str, Any] = {}
        self["config"] = None

    def parseOptions(self, options: Any = None) -> None:
        """
        Parse and validate. Standalone (tests, tools) a wrong option raises
        L{usage.UsageError}; under C{twistd} (a parent options object) it
        ends the process with one line naming the option and a hint to
        C{--help} (L{exitWithError}) instead of twistd's whole usage text.
        """
        try:
            super().parseOptions(options)
        except usage.UsageError as e:
            if self.parent is None:
                raise
            # Logging has not begun yet: the line goes to stderr only.
            exitWithError(str(e), log=False)

    def opt_config(self, path: str) -> None:
        """
        TOML configuration file; its keys are the long option names.
        """
        self["config"] = path

    def opt_help_accounting(self) -> None:
        """
        List the accounting backend types and their arguments, and exit.
        """
        import sys

        from keepsip.accounting.plugin import helpText

        sys.stdout.write(helpText())
        raise SystemExit(0)

    def opt_help_auth(self) -> None:
        """
        List the credentials checker types for --auth and their arguments, and exit.
        """
        import sys

        from keepsip.auth.checkers import helpText

        sys.stdout.write(helpText())
        raise SystemExit(0)

    def postOptions(self) -> None:
        """
        Merge the TOML file (if any) under the command line, validate every
        value, and set C{self.config}.

        @raise usage.UsageError: naming the first wrong option.
        """
        path = self["config"]
        try:
            fileValues = loadToml(path) if path is not None else {}
            self.config = buildConfig(self._commandLine, fileValues, path)
        except ConfigError as e:
            raise usage.UsageError(str(e))
        for option in OPTIONS:
            self[option.name] = getattr(self.config, option.attribute)


def _addHandlers(options: type[Options], option: Option) -> None:
    """
    Give L{Options} the C{opt_} method(s) of one row of the option table.
    Handlers only record the raw text; L{Options.postOptions} parses it.
    """
    method = "opt_" + option.name.replace("-", "_")
    if option.flag:

        def setTrue(self: Options) -> None:
            self._commandLine[option.name] = True

        def setFalse(self: Options) -> None:
            self._commandLine[option.name] = False

        setTrue.__doc__ = f"{option.help} (default: {'on' if option.default else 'off'})"
        setFalse.__doc__ = f"Turn --{option.name} off."
        setattr(options, method, setTrue)
        setattr(options, "opt_no_" + option.name.replace("-", "_"), setFalse)
        return

    def append(self: Options, value: str) -> None:
        self._commandLine.setdefault(option.name, []).append(value)

    def replace(self: Options, value: str) -> None:
        self._commandLine[option.name] = value

    handler: Callable[[Options, str], None] = append if option.multiple else replace
    default = option.default
    if isinstance(default, list):
        default = ", ".join(default) if default else "none"
    elif default == "":
        default = "none"
    handler.__doc__ = f"{option.help} [{option.metavar}]" + (
        "" if default is None else f" (default: {default})"
    )
    setattr(options, method, handler)


for _option in OPTIONS:
    _addHandlers(Options, _option)
del _option


def makeService(options: Options) -> MultiService:
    """
    Build keepsip's service tree from parsed options.

    @param options: parsed L{Options}.
    @return: the service returned by L{keepsip.service.makeService}, or
        with C{--workers} above 1 the L{keepsip.workers.supervisor.WorkerSupervisor}.
    """
    from twisted.internet import reactor

    from keepsip.service import makeService as _makeService

    if options.config.workers > 1:
        from keepsip.workers.supervisor import WorkerSupervisor

        # Worker processes run the proxy (docs/architecture.md, Workers).
        return ExitOnStartupError(WorkerSupervisor(options.config, reactor))
    return processRoot(_makeService(options.config, reactor), reactor)


def processRoot(service: IService, reactor: Any) -> ExitOnStartupError:
    """
    The root service of a process that runs keepsip's proxy: the single
    process, or one C{--workers} worker (L{keepsip.workers.process}), so
    both get the same memory care.

    Tunes the garbage collector (L{tuneGarbageCollector}: call it once the
    service tree is built, so that tree is frozen) and adds, where the C
    library has it, the L{mallocTrimmer} beside C{service}.

    @param service: keepsip's service (L{keepsip.service.makeService}).
    @param reactor: the reactor the trimmer's timer runs on.
    @return: an L{ExitOnStartupError} starting C{service} (its C{proxy}).
    """
    tuneGarbageCollector()
    root = ExitOnStartupError(service)
    trimmer = mallocTrimmer(reactor)
    if trimmer is not None:
        trimmer.setServiceParent(root)
    return root


class ExitOnStartupError(MultiService):
    """
    The process's root service: starts keepsip's service and, if a resource
    it needs cannot be used (L{StartupError}), ends the process with that one
    line (L{exitWithError}) instead of a traceback.

    @ivar proxy: the service it starts.
    """

    def __init__(self, proxy: IService) -> None:
        MultiService.__init__(self)
        self.proxy = proxy
        proxy.setServiceParent(self)

    def privilegedStartService(self) -> None:
        try:
            MultiService.privilegedStartService(self)
        except StartupError as e:
            exitWithError(str(e))

    def startService(self) -> None:
        try:
            MultiService.startService(self)
        except StartupError as e:
            exitWithError(str(e))


#: Collections of the middle generation between two full collections
#: (CPython's default is 10).
FULL_COLLECTION_EVERY = 1000


def tuneGarbageCollector() -> None:
    """
    Keep CPython's full garbage collections rare in the keepsip process.

    A proxy holds every transaction for up to 64 x T1 (32 s) after it ends,
    so at 200 calls/s some 6,000 calls' worth of messages are alive; a full
    collection walks all of them and stopped the reactor for 300-470 ms every
    few seconds, long enough for SIPp callers to see retransmissions and
    failed calls after 15 s of load. Transactions, messages and dialogs are
    freed by reference counting when they end: an ended transaction drops
    its user and user context, so a call through the proxy leaves nothing
    for the cyclic collector (tests/test_transaction_layer.py,
    C{ProxyReferenceCycleTests}); doing full collections 100 times less
    often leaves memory flat and removed the failures. Objects made at
    startup are frozen out of the collector's sight altogether.
    """
    import gc

    young, middle, _ = gc.get_threshold()
    gc.set_threshold(young, middle, FULL_COLLECTION_EVERY)
    gc.freeze()


#: Seconds between two returns of the C allocator's free pages to the system.
TRIM_INTERVAL = 10.0


def mallocTrimmer(clock: Any, interval: float = TRIM_INTERVAL) -> IService | None:
    """
    A service that gives the C allocator's free pages back to the system
    (glibc's C{malloc_trim(0)}) every C{interval} seconds, less often when a
    trim takes long (L{keepsip.trim}: never more than 0.1 % of the time),
    or L{None} where the C library has no C{malloc_trim}.

    @param clock: the reactor (L{IReactorTime}).
    """
    import ctypes
    import ctypes.util

    from keepsip.trim import MallocTrimService

    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c"))
        trim = libc.malloc_trim
    except (OSError, AttributeError, TypeError):
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return MallocTrimService(clock, lambda: trim(0), interval)
