"""
Tests for L{keepsip.logs}.
"""

from twisted.logger import LogLevel, globalLogPublisher
from twisted.trial.unittest import SynchronousTestCase

from keepsip import logs


class LogLevelTests(SynchronousTestCase):
    def setUp(self):
        self.events = []
        globalLogPublisher.addObserver(self.events.append)
        self.addCleanup(globalLogPublisher.removeObserver, self.events.append)
        self.addCleanup(logs.setLogLevel, "info")

    def test_namespaceIsTheCreatingModule(self):
        """
        A keepsip L{logs.Logger} is named after the module that made it.
        """
        self.assertEqual(logs.Logger().namespace, __name__)

    def test_levelFilters(self):
        """
        Below the configured level nothing reaches the global publisher; at
        or above it, events pass.
        """
        log = logs.Logger(namespace="keepsip.test")
        logs.setLogLevel("warn")
        log.info("hidden")
        log.warn("shown")
        self.assertEqual([e["log_level"] for e in self.events], [LogLevel.warn])
        logs.setLogLevel("debug")
        log.debug("now shown")
        self.assertEqual(self.events[-1]["log_format"], "now shown")


class WireBytesTests(SynchronousTestCase):
    """
    Logging never fails on a message's bytes (issue 8, item 1).
    """

    def test_nonUTF8FieldWritten(self):
        """
        A field holding an octet that was not UTF-8 (a lone surrogate, as the
        parser keeps it) reaches a strict UTF-8 log file as C{\\xNN}; the
        line is not lost.
        """
        import io

        from twisted.logger import textFileLogObserver

        out = io.TextIOWrapper(io.BytesIO(), encoding="utf-8", errors="strict")
        observer = textFileLogObserver(out)
        globalLogPublisher.addObserver(observer)
        self.addCleanup(globalLogPublisher.removeObserver, observer)
        log = logs.Logger(namespace="keepsip.test")
        callID = b"abc\xffdef".decode("utf-8", "surrogateescape")
        log.info("call {callID} from {peer}", callID=callID, peer=(callID, 5060))
        out.flush()
        written = out.buffer.getvalue().decode("utf-8")
        self.assertIn("call abc\\xffdef from ('abc\\\\xffdef', 5060)", written)
