"""
Tests for L{keepsip.dialog.model}: the compact dialog (slots, one call key
tuple, attachments in a short list) behaves as the layers above expect.
"""

from dataclasses import dataclass

from twisted.trial.unittest import SynchronousTestCase

from keepsip.dialog.model import Attachments, Dialog, Leg


@dataclass
class First:
    value: int = 0


@dataclass
class Second:
    value: int = 0


class FirstChild(First):
    pass


def dialog() -> Dialog:
    return Dialog("c1", Leg("sip:a@x", tag="a"), Leg("sip:b@x"), "sip:b@x", 0.0)


class AttachmentsTests(SynchronousTestCase):
    def test_byType(self):
        """
        Each attachment is found by its exact type; a second one of a type
        replaces the first; a subclass is a type of its own.
        """
        attachments = Attachments()
        self.assertIsNone(attachments.get(First))
        attachments.set(First(1))
        attachments.set(Second(2))
        attachments.set(First(3))
        attachments.set(FirstChild(4))
        self.assertEqual(attachments.get(First), First(3))
        self.assertEqual(attachments.get(Second), Second(2))
        self.assertEqual(attachments.get(FirstChild), FirstChild(4))
        self.assertEqual(len(attachments), 3)
        self.assertIn(Second, attachments)
        self.assertNotIn(int, attachments)

    def test_setdefault(self):
        """
        C{setdefault} makes and attaches an attachment only when there is
        none of the type.
        """
        attachments = Attachments()
        made = attachments.setdefault(First, lambda: First(5))
        self.assertIs(attachments.setdefault(First, lambda: First(6)), made)
        self.assertEqual(attachments.get(First), First(5))


class DialogTests(SynchronousTestCase):
    def test_slotted(self):
        """
        Dialogs and legs have no per-object dictionary (their memory is
        their fields only), so a misspelt field is an error, not a new
        attribute.
        """
        d = dialog()
        self.assertFalse(hasattr(d, "__dict__"))
        self.assertFalse(hasattr(d.caller, "__dict__"))
        self.assertRaises(AttributeError, setattr, d, "lastInvite", None)

    def test_callKeyShared(self):
        """
        The call key is one tuple per dialog (shared by the store and the
        deadline indexes), made again when the caller's tag or the Call-ID
        is replaced.
        """
        d = dialog()
        key = d.callKey
        self.assertEqual(key, ("c1", "a"))
        self.assertIs(d.callKey, key)
        d.caller.tag = "other"
        self.assertEqual(d.callKey, ("c1", "other"))
        d.callID = "c2"
        self.assertEqual(d.callKey, ("c2", "other"))
        d.caller.tag = None
        self.assertEqual(d.callKey, ("c2", ""))

    def test_noteInvite(self):
        """
        C{noteInvite} records the CSeq number and sender of the dialog's
        last INVITE.
        """
        d = dialog()
        self.assertIsNone(d.lastInviteCSeq)
        d.noteInvite(4, "a")
        self.assertEqual((d.lastInviteCSeq, d.lastInviteSender), (4, "a"))


class EndDetailTests(SynchronousTestCase):
    def test_sharedUntilEnded(self):
        """
        A dialog not ended has an empty end detail shared by every dialog,
        which cannot be changed in place (that would change every call's);
        a detail set when the call ends is the call's own.
        """
        first, second = dialog(), dialog()
        self.assertEqual(first.endDetail, {})
        self.assertIs(first.endDetail, second.endDetail)
        self.assertRaises(TypeError, first.endDetail.__setitem__, "caller", "200")
        self.assertRaises(TypeError, first.endDetail.update, {"caller": "200"})
        self.assertEqual(second.endDetail, {})
        first.endDetail = {"caller": "200"}
        first.endDetail["callee"] = "408"
        self.assertEqual(first.endDetail, {"caller": "200", "callee": "408"})
        self.assertEqual(second.endDetail, {})
