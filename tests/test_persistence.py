"""
Tests for L{keepsip.persistence}: the keepalive and accounting state a
restart needs survive the store's codec.
"""

from twisted.trial.unittest import SynchronousTestCase

from keepsip.accounting.cdr import AccountingState
from keepsip.keepalive.state import KeepaliveState
from keepsip.persistence import dialogCodec
from keepsip.testing import answerDialog, makeDialog


class DialogCodecTests(SynchronousTestCase):
    def test_keepaliveAndAccountingStateSurvive(self):
        """
        The keepalive window, subject flag and forged count, the keepalive
        count and last time, and the accounting state (start made, interim
        sequence, media segments) come back after a round trip;
        the transient absorbed-answer state does not.
        """
        dialog = makeDialog(1, 100.0)
        answerDialog(dialog, 101.0)
        dialog.keptAlive.count = 3
        dialog.keptAlive.lastAt = 160.0
        dialog.attachments.set(KeepaliveState(window=60.0, subject=True, pendingAck=4, forged=2))
        dialog.attachments.set(
            AccountingState(
                started=True,
                interims=3,
                segments=[[101.0, {"audio": 8000.0}]],
                media={"key": "k", "streams": []},
            )
        )
        codec = dialogCodec()
        copy = codec.decode(codec.encode(dialog))
        self.assertEqual(
            copy.attachments.get(KeepaliveState),
            KeepaliveState(window=60.0, subject=True, forged=2),
        )
        self.assertEqual(
            copy.attachments.get(AccountingState), dialog.attachments.get(AccountingState)
        )
        self.assertEqual((copy.keptAlive.count, copy.keptAlive.lastAt), (3, 160.0))
