"""
Tests for L{keepsip.dialog.messages}: what the dialog tracker reads from
the messages that pass.
"""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from keepsip.dialog.messages import contactURI, isSDP, sessionExpires, splitRouteSets, uriString
from keepsip.sip.parser import parseDatagram
from keepsip.testing import ALICE, SDP, invite

MINE = "<sip:192.0.2.1:5060;lr>"


class MessageTests(SynchronousTestCase):
    def test_isSDP(self) -> None:
        """
        A body with Content-Type application/sdp (parameters and case
        aside) is SDP; an empty body or another type is not.
        """
        self.assertTrue(isSDP(parseDatagram(invite(), ALICE)))
        self.assertFalse(isSDP(parseDatagram(invite(body=b""), ALICE)))
        other = invite(extra="Content-Type: text/plain\r\n").replace(
            b"Content-Type: application/sdp\r\n", b""
        )
        self.assertFalse(isSDP(parseDatagram(other, ALICE)))

    def test_sessionExpires(self) -> None:
        """
        Session-Expires gives its delta-seconds; parameters are ignored; a
        missing, malformed or zero value gives L{None}.
        """
        def value(header: str) -> int | None:
            return sessionExpires(parseDatagram(invite(extra=header), ALICE))

        self.assertEqual(value("Session-Expires: 1800;refresher=uac\r\n"), 1800)
        self.assertIsNone(value(""))
        self.assertIsNone(value("Session-Expires: soon\r\n"))
        self.assertIsNone(value("Session-Expires: 0\r\n"))

    def test_contactAndURIString(self) -> None:
        """
        The first Contact URI as text; L{None} without one; C{*} for no URI.
        """
        self.assertEqual(
            contactURI(parseDatagram(invite(), ALICE)), "sip:alice@192.0.2.10:5060"
        )
        withoutContact = invite().replace(b"Contact: <sip:alice@192.0.2.10:5060>\r\n", b"")
        self.assertIsNone(contactURI(parseDatagram(withoutContact, ALICE)))
        self.assertEqual(uriString(None), "*")

    def test_splitRouteSets(self) -> None:
        """
        Entries above keepsip's own lead to the callee, nearest first; those
        below it to the caller; without keepsip's entry all lead to the
        callee.
        """
        routes = ["<sip:p3;lr>", "<sip:p2;lr>", MINE, "<sip:p1;lr>"]
        self.assertEqual(
            splitRouteSets(routes, MINE), (["<sip:p2;lr>", "<sip:p3;lr>"], ["<sip:p1;lr>"])
        )
        self.assertEqual(
            splitRouteSets(["<sip:a;lr>", "<sip:b;lr>"], MINE), (["<sip:b;lr>", "<sip:a;lr>"], [])
        )
        self.assertEqual(splitRouteSets([], MINE), ([], []))
