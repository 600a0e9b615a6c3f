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
