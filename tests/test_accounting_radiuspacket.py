"""
Tests for L{keepsip.accounting.radiuspacket}: the helpers behind the
attributes of an Accounting-Request. The packets themselves are checked
through the backend in L{tests.test_accounting_radius}.
"""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from keepsip.accounting.radiuspacket import sessionID, userPart
from keepsip.testing import callRecords


class HelperTests(SynchronousTestCase):
    """
    L{userPart} and L{sessionID}.
    """

    def test_helpers(self) -> None:
        """
        userPart takes the user of a SIP URI (without parameters), else the
        host; sessionID differs between calls and between forks.
        """
        self.assertEqual(userPart("sip:+4420555@example.net;user=phone"), "+4420555")
        self.assertEqual(userPart("sip:example.net;transport=udp"), "example.net")
        first = callRecords(1)[0]
        self.assertNotEqual(sessionID(first), sessionID(callRecords(2)[0]))
        fork = dict(first, tags={"caller": "a1", "callee": "other"})
        self.assertNotEqual(sessionID(first), sessionID(fork))
