"""
Which per-dialog state of the layers above the dialog layer survives a
restart, and how: the L{AttachmentCodec}s the composition root hands the
dialog store's L{DialogCodec}.

It lives above every layer it names, so the dialog layer never imports
keepalive or accounting.

  - keepalive: the dialog's window and whether it is subject to reaping
    (its count and last keepalive time are the dialog's own C{keptAlive});
    an absorbed answer being retransmitted and a pending ACK are transient;
  - accounting: whether the start record was made, the interim sequence
    and the media segments (its media estimate is made again from the
    dialog's SDP).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from keepsip.accounting.callstate import AccountingState
from keepsip.dialog.serial import AttachmentCodec, DialogCodec
from keepsip.keepalive.state import KeepaliveState


def _keepaliveToDict(state: KeepaliveState) -> dict[str, Any]:
    return {"window": state.window, "subject": state.subject, "forged": state.forged}


def _keepaliveFromDict(data: Mapping[str, Any]) -> KeepaliveState:
    return KeepaliveState(
        window=float(data.get("window", 0.0)),
        subject=bool(data.get("subject", False)),
        forged=int(data.get("forged", 0)),
    )


#: The attachments that survive a restart.
ATTACHMENT_CODECS = (
    AttachmentCodec("keepalive", KeepaliveState, _keepaliveToDict, _keepaliveFromDict),
    AttachmentCodec(
        "accounting", AccountingState, AccountingState.asDict, AccountingState.fromDict
    ),
)


def dialogCodec() -> DialogCodec:
    """
    @return: the L{DialogCodec} keepsip's persistent stores use.
    """
    return DialogCodec(ATTACHMENT_CODECS)


__all__ = ["ATTACHMENT_CODECS", "dialogCodec"]
