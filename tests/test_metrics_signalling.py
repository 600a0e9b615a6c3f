"""
Tests for L{keepsip.metrics.signalling}: the transport, transaction and registrar
families follow a registration and a dropped datagram.
"""

from __future__ import annotations

from ._metrics import ProxyMetricsCase, register, value


class ProxyMetricsTests(ProxyMetricsCase):
    """
    The signalling families of a L{ProxyService} follow its traffic.
    """

    def test_registrationAndDropped(self) -> None:
        """
        A REGISTER adds a binding; a datagram that is not SIP is dropped.
        """
        self.proxy.receive(register(), ("198.51.100.30", 5060))
        self.proxy.receive(b"\x00\x01 not sip", ("198.51.100.99", 5060))
        families = self.scrape()
        self.assertEqual(value(families, "keepsip_registrar_bindings"), 1)
        self.assertEqual(value(families, "keepsip_sip_datagrams_dropped_total"), 1)
        self.assertEqual(value(families, "keepsip_sip_datagrams_received_total"), 2)
