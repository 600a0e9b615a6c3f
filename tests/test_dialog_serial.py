"""
Tests for L{keepsip.dialog.serial}: a dialog survives encoding with every
field, its legs and the attachments that have a codec.
"""

import dataclasses
import json
from dataclasses import dataclass

from twisted.trial.unittest import SynchronousTestCase

from keepsip.dialog.model import Dialog, DialogState, EndCause, Leg, ProofOfLife
from keepsip.dialog.serial import SCHEMA_VERSION, AttachmentCodec, DialogCodec, SchemaError
from keepsip.sip.parser import parseDatagram
from keepsip.sip.sdp import offerDigest
from keepsip.testing import SDP, invite


@dataclass
class Note:
    text: str = ""


@dataclass
class Transient:
    value: int = 0


NOTE = AttachmentCodec("note", Note, lambda n: {"text": n.text}, lambda d: Note(d["text"]))


def fullDialog():
    """
    A dialog with every field set to a value other than its default, wire
    bytes that are not UTF-8 included.
    """
    dialog = Dialog(
        callID="call-1",
        caller=Leg(
            uri="sip:alice@example.com",
            tag="alicetag",
            cseq=3,
            remoteTarget="sip:alice@192.0.2.10:5060",
            routeSet=("<sip:edge.example.com;lr>",),
            source=("192.0.2.10", 5060),
            lastRequestAt=105.5,
        ),
        callee=Leg(
            uri="sip:bob@example.com",
            tag="bobtag",
            cseq=1,
            remoteTarget="sip:bob@192.0.2.20:5060",
            routeSet=(),
            source=("192.0.2.20", 5062),
            lastRequestAt=101.0,
        ),
        requestURI="sip:bob@192.0.2.1",
        invitedAt=100.0,
        state=DialogState.CONFIRMED,
        answeredAt=101.0,
        endedAt=200.0,
        detectedAt=201.0,
        lastInviteCSeq=3,
        lastInviteSender="alicetag",
        lastOfferSDP=SDP + b"a=x:\xff\xfe\r\n",
        offerDigest=offerDigest(SDP),
        lastAnswerSDP=b"v=0\r\n",
        finalStatus=200,
        endCause=EndCause.KEEPALIVE_TIMEOUT,
        endDetail={"caller": "408", "callee": "200"},
        sessionExpires=90,
        ending=("caller", 150.0),
        keptAlive=ProofOfLife(count=4, lastAt=140.0),
        measuredBytes={"audio": 12345},
    )
    dialog.attachments.set(Note("hello"))
    dialog.attachments.set(Transient(7))
    return dialog


class DialogCodecTests(SynchronousTestCase):
    def roundTrip(self, dialog):
        codec = DialogCodec([NOTE])
        return codec.decode(codec.encode(dialog))

    def test_everyFieldSurvives(self):
        """
        Every field of L{Dialog} (found through the dataclass, so a field
        added later without serialisation fails this test) survives a round
        trip.
        """
        original = fullDialog()
        copy = self.roundTrip(original)
        for field in dataclasses.fields(Dialog):
            if field.name in ("attachments", "_callKey"):
                continue
            self.assertEqual(getattr(copy, field.name), getattr(original, field.name), field.name)
        self.assertEqual(copy.dialogID, original.dialogID)
        self.assertEqual(copy.callKey, original.callKey)

    def test_encodeText(self):
        """
        C{encodeText} is C{encode}'s document as text, the compact JSON of
        C{toDict}, and decodes to the same dialog.
        """
        codec = DialogCodec([NOTE])
        original = fullDialog()
        text = codec.encodeText(original)
        self.assertEqual(text.encode("ascii"), codec.encode(original))
        self.assertEqual(json.loads(text), json.loads(json.dumps(codec.toDict(original))))
        self.assertNotIn(", ", text)
        self.assertEqual(codec.decode(text).dialogID, original.dialogID)

    def test_attachmentsWithCodecSurvive(self):
        """
        An attachment with a codec survives; one without (transient state)
        is left out.
        """
        copy = self.roundTrip(fullDialog())
        self.assertEqual(copy.attachments.get(Note), Note("hello"))
        self.assertIsNone(copy.attachments.get(Transient))

    def test_minimalDialog(self):
        """
        A dialog just created (no callee tag, no INVITE kept, defaults
        everywhere) survives too.
        """
        dialog = Dialog(
            callID="c", caller=Leg("sip:a@x", tag="a"), callee=Leg("sip:b@x"),
            requestURI="sip:b@x", invitedAt=1.0,
        )
        copy = self.roundTrip(dialog)
        self.assertEqual(copy.callKey, ("c", "a"))
        self.assertIsNone(copy.callee.tag)
        self.assertIsNone(copy.lastInviteCSeq)
        self.assertIsNone(copy.lastInviteSender)
        self.assertEqual(copy.keptAlive, ProofOfLife())

    def test_versioned(self):
        """
        Every document carries the schema version.
        """
        document = json.loads(DialogCodec().encode(fullDialog()))
        self.assertEqual(document["v"], SCHEMA_VERSION)

    def test_newerVersionRefused(self):
        """
        A document from a newer schema is refused, not half read.
        """
        codec = DialogCodec()
        document = json.loads(codec.encode(fullDialog()))
        document["v"] = SCHEMA_VERSION + 1
        e = self.assertRaises(SchemaError, codec.decode, json.dumps(document))
        self.assertIn("newer", str(e))

    def test_malformedRefused(self):
        """
        Not JSON, not an object, a missing field or a stored INVITE that is
        not text: each is a L{SchemaError}, never another exception.
        """
        codec = DialogCodec()
        good = json.loads(codec.encode(fullDialog()))
        missing = dict(good)
        del missing["caller"]
        badInvite = dict(good, lastInvite=12)
        for data in ("{", "[]", json.dumps({"v": "1"}), json.dumps(missing), json.dumps(badInvite)):
            self.assertRaises(SchemaError, codec.decode, data)

    def oldDocument(self, **changes):
        """
        A document as written when a dialog kept its whole last INVITE:
        C{lastInvite} the request's text, C{lastOfferSDP} L{None} when the
        offer was that INVITE's body.
        """
        document = json.loads(DialogCodec().encode(fullDialog()))
        del document["lastInviteCSeq"], document["lastInviteSender"]
        document["lastInvite"] = invite(cseq=3).decode()
        document["lastOfferSDP"] = None
        document.update(changes)
        return json.dumps(document)

    def test_oldDocumentsRead(self):
        """
        A document with the whole last INVITE is read: its CSeq number and
        From tag become the dialog's, and an offer stored as L{None} is that
        INVITE's body.
        """
        copy = DialogCodec().decode(self.oldDocument())
        self.assertEqual(copy.lastInviteCSeq, 3)
        self.assertEqual(copy.lastInviteSender, "alicetag")
        self.assertEqual(copy.lastOfferSDP, parseDatagram(invite(cseq=3)).body)

    def test_oldDocumentOfferDigested(self):
        """
        A confirmed call stored before dialogs kept a digest of the answered
        offer (its body in the document, no digest) gets the digest of that
        body, so its keepalives are told as before; the body is kept (its
        accounting estimate may need it).
        """
        document = json.loads(DialogCodec().encode(fullDialog()))
        del document["offerDigest"]
        copy = DialogCodec().decode(json.dumps(document))
        self.assertEqual(copy.offerDigest, offerDigest(fullDialog().lastOfferSDP))
        self.assertEqual(copy.lastOfferSDP, fullDialog().lastOfferSDP)
        document["state"] = DialogState.EARLY
        self.assertEqual(DialogCodec().decode(json.dumps(document)).offerDigest, b"")

    def test_oldDocumentBadInvite(self):
        """
        An old document whose INVITE does not parse is read without it (the
        call then has no INVITE to compare keepalives with) instead of
        failing the whole start.
        """
        copy = DialogCodec().decode(self.oldDocument(lastInvite="garbage"))
        self.assertIsNone(copy.lastInviteCSeq)
        self.assertIsNone(copy.lastInviteSender)
        self.assertEqual(copy.callID, "call-1")

    def test_noInviteKept(self):
        """
        A new document stores the last INVITE's CSeq and sender, not the
        request.
        """
        document = json.loads(DialogCodec().encode(fullDialog()))
        self.assertNotIn("lastInvite", document)
        self.assertEqual((document["lastInviteCSeq"], document["lastInviteSender"]), (3, "alicetag"))

    def test_uniqueNames(self):
        """
        Two attachment codecs with one name are refused.
        """
        self.assertRaises(ValueError, DialogCodec, [NOTE, NOTE])
