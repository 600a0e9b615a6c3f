"""
Tests for L{keepsip.edge.registrations}.
"""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from keepsip.edge.registrations import EdgeRegistrations
from keepsip.sip.message import Request
from keepsip.sip.parser import parseDatagram

PHONE = ("10.0.0.5", 5060)


def register(contact: str, expires: str | None) -> Request:
    lines = [
        "REGISTER sip:example.com SIP/2.0",
        "Via: SIP/2.0/UDP 10.0.0.5:5060;branch=z9hG4bKr",
        "From: <sip:a@example.com>;tag=t",
        "To: <sip:a@example.com>",
        "Call-ID: r",
        "CSeq: 1 REGISTER",
        f"Contact: {contact}",
    ]
    if expires is not None:
        lines.append(f"Expires: {expires}")
    request = parseDatagram(("\r\n".join(lines) + "\r\nContent-Length: 0\r\n\r\n").encode())
    assert isinstance(request, Request)
    return request


class EdgeRegistrationsTests(SynchronousTestCase):
    def test_expiry(self) -> None:
        """
        A registration holds until now + the expiry asked (contact parameter
        over the Expires header); afterwards L{expiredAt} says when it ran
        out; an unknown source never expired.
        """
        registrations = EdgeRegistrations()
        registrations.registered(register("<sip:a@10.0.0.5>;expires=120", "60"), PHONE, 10)
        self.assertIsNone(registrations.expiredAt(PHONE, 129))
        self.assertEqual(registrations.expiredAt(PHONE, 131), 130)
        self.assertIsNone(registrations.expiredAt(("10.0.0.6", 5060), 1000))
        self.assertIsNone(registrations.expiredAt(None, 1000))

    def test_unregisterAndDefault(self) -> None:
        """
        Expires 0 (or C{Contact: *}) expires at once; no expiry at all means
        3600 s; a malformed one changes nothing.
        """
        registrations = EdgeRegistrations()
        registrations.registered(register("<sip:a@10.0.0.5>", None), PHONE, 0)
        self.assertIsNone(registrations.expiredAt(PHONE, 3599))
        registrations.registered(register("<sip:a@10.0.0.5>", "x"), PHONE, 100)
        self.assertIsNone(registrations.expiredAt(PHONE, 3599))
        registrations.registered(register("*", "0"), PHONE, 100)
        self.assertEqual(registrations.expiredAt(PHONE, 100), 100)
