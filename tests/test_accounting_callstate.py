"""
Tests for L{keepsip.accounting.callstate}: the per-call accounting state is
small (shared estimates and rates), JSON-compatible, and reads the
documents of older keepsips.
"""

from __future__ import annotations

import json

from twisted.trial.unittest import SynchronousTestCase

from keepsip.accounting.callstate import (
    AccountingState,
    accountingState,
    mediaEstimate,
    noteMedia,
)
from keepsip.accounting.cdr import RecordBuilder
from keepsip.sip.sdp import offerDigest
from tests.test_accounting_cdr import G729, PCMU, T0, TARIFFS, makeDialog

BUILDER = RecordBuilder(TARIFFS)


class AccountingStateTests(SynchronousTestCase):
    def test_stateIsJSONCompatible(self) -> None:
        """
        The L{AccountingState} is JSON-compatible (a networked dialog store
        carries it) with its media estimate: a copy read back makes the
        same record.
        """
        dialog = makeDialog()
        noteMedia(dialog, T0 + 2)
        record = BUILDER.build(dialog, "stop", T0 + 62)
        document = json.loads(json.dumps(accountingState(dialog).asDict()))
        self.assertIsNotNone(document["media"])
        copied = makeDialog()
        copied.attachments.set(AccountingState.fromDict(document))
        self.assertEqual(copied.attachments.get(AccountingState), accountingState(dialog))
        self.assertEqual(BUILDER.build(copied, "stop", T0 + 62), record)

    def test_answeredOfferRestored(self) -> None:
        """
        A call whose offer body was dropped when it was answered (only its
        digest kept) is billed the same after a restart from its stored
        state: the estimate is stored, as the offer could not be parsed
        again; and it is made again if the answer changed meanwhile.
        """
        dialog = makeDialog()
        dialog.offerDigest = offerDigest(dialog.lastOfferSDP)
        noteMedia(dialog, T0 + 2)
        dialog.lastOfferSDP = b""
        record = BUILDER.build(dialog, "stop", T0 + 62)
        document = json.loads(json.dumps(accountingState(dialog).asDict()))
        copied = makeDialog()
        copied.offerDigest, copied.lastOfferSDP = dialog.offerDigest, b""
        copied.attachments.set(AccountingState.fromDict(document))
        self.assertEqual(BUILDER.build(copied, "stop", T0 + 62), record)
        again = json.loads(json.dumps(accountingState(copied).asDict()))
        self.assertEqual(again, document)
        changed = makeDialog()
        changed.offerDigest, changed.lastOfferSDP = dialog.offerDigest, b""
        changed.lastAnswerSDP = G729
        changed.attachments.set(AccountingState.fromDict(document))
        self.assertNotEqual(BUILDER.build(changed, "stop", T0 + 62)["media"], record["media"])

    def test_oldDocumentRead(self) -> None:
        """
        A state stored by an older keepsip, with its media cache (a digest
        key, the summaries and the rates), is read: its segments are kept
        and the cache is not trusted (made again from the SDP).
        """
        dialog = makeDialog()
        old = {
            "started": True,
            "interims": 2,
            "segments": [[T0 + 2, {"audio": 1000.0, "video": 0.0, "other": 0.0}]],
            "media": {"key": "0" * 32, "media": [], "rates": {"audio": 1.0}},
        }
        dialog.attachments.set(AccountingState.fromDict(old))
        record = BUILDER.build(dialog, "stop", T0 + 62)
        self.assertEqual(record["volume_bytes"], 60 * 1000)
        self.assertEqual(record["media"][0]["codecs"], ["PCMU/8000"])
        self.assertEqual(accountingState(dialog).interims, 2)

    def test_estimatesShared(self) -> None:
        """
        Two calls with the same media share one estimate and one rates
        object (what makes the per-call state small), yet each record has
        its own call's port and address.
        """
        first, second = makeDialog(callID="one"), makeDialog(callID="two")
        second.lastAnswerSDP = PCMU.replace(b"m=audio 4000", b"m=audio 4010")
        self.assertNotEqual(second.lastAnswerSDP, PCMU)
        noteMedia(first, T0 + 2)
        noteMedia(second, T0 + 2)
        self.assertIs(
            accountingState(first).segments[0][1], accountingState(second).segments[0][1]
        )
        self.assertIs(mediaEstimate(first)["rates"], mediaEstimate(second)["rates"])
        ports = [
            BUILDER.build(d, "stop", T0 + 62)["media"][0]["port"] for d in (first, second)
        ]
        self.assertEqual(ports, [4000, 4010])
