"""
The SIPp scenario pairs run UAC -> UAS directly, without keepsip: proves the
scenario files themselves are right, so a failure in L{test_calls} points at
keepsip, not at a scenario.
"""

from __future__ import annotations

from twisted.internet.defer import inlineCallbacks

from tests.integration._harness import IntegrationTestCase


class DirectScenarioTests(IntegrationTestCase):
    """
    Each UAC scenario against its UAS scenario, no proxy in between.
    """

    @inlineCallbacks
    def _pair(self, uas: str, uac: str, calls: int = 2):  # type: ignore[no-untyped-def]
        callee = self.startSipp(uas, "-m", str(calls))
        yield callee.whenListening()
        caller = yield self.runSipp(
            uac,
            "-s",
            "bob",
            "-m",
            str(calls),
            "-r",
            "10",
            "-recv_timeout",
            "5s",
            remote=callee.address,
            timeout=30,
        )
        answered = yield callee.result()
        self.assertAllCallsSucceeded(caller, calls)
        self.assertAllCallsSucceeded(answered, calls)
        return caller, answered

    def test_basicCall(self):  # type: ignore[no-untyped-def]
        """
        uac.xml and uas.xml complete INVITE/180/200/ACK/BYE/200 with no
        failure, retransmission or unexpected message on either side.
        """
        return self._pair("uas.xml", "uac.xml")

    def test_calleeHangsUp(self):  # type: ignore[no-untyped-def]
        """
        uas_callee_bye.xml's BYE, built from the INVITE's From/To/Contact,
        is accepted by uac_callee_bye.xml.
        """
        return self._pair("uas_callee_bye.xml", "uac_callee_bye.xml")

    def test_busy(self):  # type: ignore[no-untyped-def]
        """
        uac_busy.xml gets the 486 of uas_busy.xml and its ACK ends the
        callee's transaction.
        """
        return self._pair("uas_busy.xml", "uac_busy.xml")

    @inlineCallbacks
    def test_cancel(self):  # type: ignore[no-untyped-def]
        """
        uac_cancel.xml cancels while ringing; uas_cancel.xml answers the
        CANCEL with 200 and the INVITE with 487 carrying the INVITE's Via.
        """
        caller, answered = yield self._pair("uas_cancel.xml", "uac_cancel.xml")
        [invite] = answered.received("INVITE")[:1]
        [terminated] = caller.received(487)[:1]
        self.assertEqual(terminated.headers("Via"), invite.headers("Via"))
