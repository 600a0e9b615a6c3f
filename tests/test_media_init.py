"""
Tests for L{keepsip.media.makeMediaRelay}: C{--media-relay} parsing.
"""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from keepsip.media import makeMediaRelay
from keepsip.media.builtin import BuiltinRelay
from keepsip.media.rtpengine import RtpengineRelay
from keepsip.media.testing import FakeUDPReactor


class MakeMediaRelayTests(SynchronousTestCase):
    def make(self, spec: str, address: str = "127.0.0.1", ports: tuple[int, int] = (30000, 30100)):  # type: ignore[no-untyped-def]
        return makeMediaRelay(spec, FakeUDPReactor(), address, ports)

    def test_none(self) -> None:
        """
        C{none} means no relay.
        """
        self.assertIsNone(self.make("none"))

    def test_builtin(self) -> None:
        """
        C{builtin} makes the built-in relay, binding nothing yet.
        """
        relay = self.make("builtin", "::1")
        self.assertIsInstance(relay, BuiltinRelay)
        self.assertEqual(relay.portsInUse, 0)  # type: ignore[union-attr]

    def test_rtpengine(self) -> None:
        """
        C{rtpengine:host=H,port=P[,timeout=S]} makes the rtpengine client.
        """
        self.assertIsInstance(self.make("rtpengine:host=127.0.0.1,port=2223"), RtpengineRelay)
        self.assertIsInstance(
            self.make("rtpengine:host=::1,port=2223,timeout=1.5"), RtpengineRelay
        )

    def test_badSpecs(self) -> None:
        """
        Bad specs raise a one-line ValueError naming the option at fault.
        """
        cases = {
            "bogus": "--media-relay",
            "builtin:x=1": "--media-relay",
            "rtpengine": "--media-relay",
            "rtpengine:host=127.0.0.1": "--media-relay",
            "rtpengine:host=example.com,port=1": "--media-relay rtpengine host",
            "rtpengine:host=127.0.0.1,port=99999": "--media-relay",
            "rtpengine:host=127.0.0.1,port=1,timeout=0": "--media-relay",
            "rtpengine:host=127.0.0.1,port=1,colour=red": "--media-relay",
            "rtpengine:host": "--media-relay",
        }
        for spec, option in cases.items():
            e = self.assertRaises(ValueError, self.make, spec)
            self.assertTrue(str(e).startswith(option), str(e))
            self.assertNotIn("\n", str(e))

    def test_builtinBadAddressOrPorts(self) -> None:
        """
        The built-in relay needs an IP literal for C{--rtp-address} and a
        usable C{--rtp-ports}.
        """
        e = self.assertRaises(ValueError, self.make, "builtin", "localhost")
        self.assertIn("--rtp-address", str(e))
        e = self.assertRaises(ValueError, self.make, "builtin", "127.0.0.1", (30001, 30001))
        self.assertIn("--rtp-ports", str(e))
