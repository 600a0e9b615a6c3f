"""
Benchmark: starting keepsip over an SQLite dialog store holding N confirmed
calls (issue 10 asks for 100,000 in under 10 s), and the cost of the group
commit that keeps keepalive refreshes.

  - fill: N answered calls (SDP offer and answer, keepalive and accounting
    state attached) written to a fresh file in one commit;
  - start: a new keepsip service over the file (L{makeService} then
    L{ProxyService.restoreDialogs}): the file opened, every dialog decoded
    and indexed, its keepalive and max-duration deadlines re-armed;
  - refresh: 10% of the calls marked changed (a keepalive each) and written
    in one group commit.

Usage: python benchmarks/dialog_store.py [N]
"""

from __future__ import annotations

import os
import sys
import tempfile
import time

from twisted.internet.task import Clock

from keepsip.accounting.cdr import AccountingState
from keepsip.config.settings import Config
from keepsip.dialog.model import Dialog, DialogState, Leg
from keepsip.dialog.sqlite import SQLiteDialogStore
from keepsip.keepalive.state import KeepaliveState
from keepsip.persistence import dialogCodec
from keepsip.service import makeService
from keepsip.testing import SDP


def sampleDialog(n: int) -> Dialog:
    dialog = Dialog(
        callID=f"call-{n}@example.com",
        caller=Leg(
            "sip:alice@example.com",
            tag=f"a{n}",
            cseq=1,
            remoteTarget="sip:alice@192.0.2.10:5060",
            source=("192.0.2.10", 5060),
            lastRequestAt=1000.0,
        ),
        callee=Leg(
            "sip:bob@example.com",
            tag=f"b{n}",
            cseq=0,
            remoteTarget="sip:bob@192.0.2.20:5060",
            source=("192.0.2.20", 5060),
            lastRequestAt=1000.0,
        ),
        requestURI="sip:bob@192.0.2.1",
        invitedAt=999.0,
        state=DialogState.CONFIRMED,
        answeredAt=1000.0,
        lastInviteCSeq=1,
        lastInviteSender=f"a{n}",
        lastOfferSDP=SDP,
        lastAnswerSDP=SDP,
        finalStatus=200,
    )
    dialog.keptAlive.count = 3
    dialog.keptAlive.lastAt = 1090.0
    dialog.attachments.set(KeepaliveState(window=60.0, subject=True))
    dialog.attachments.set(AccountingState(started=True, interims=3))
    return dialog


def main(count: int) -> None:
    directory = tempfile.mkdtemp(prefix="keepsip-bench-")
    path = os.path.join(directory, "dialogs.sqlite3")
    clock = Clock()
    clock.advance(1100)
    store = SQLiteDialogStore(path, clock, dialogCodec(), commitDelay=0)
    store.open()
    started = time.perf_counter()
    for n in range(count):
        store.add(sampleDialog(n))
    store.flush()
    filled = time.perf_counter() - started
    store.close()
    size = os.path.getsize(path)
    print(f"fill: {count} dialogs in {filled:.2f} s ({size / 1e6:.1f} MB)")

    config = Config(
        dialogStore=f"sqlite:path={path}",
        accountingSpool=os.path.join(directory, "spool"),
        accounting=(f"jsonl:path={os.path.join(directory, 'cdr.jsonl')}",),
    )
    started = time.perf_counter()
    service = makeService(config, clock)
    restored = service.restoreDialogs()
    elapsed = time.perf_counter() - started
    print(f"start: {restored} of {count} calls resumed in {elapsed:.2f} s")

    dialogs = service.store.allDialogs()
    started = time.perf_counter()
    for dialog in dialogs[: count // 10]:
        dialog.keptAlive.count += 1
        service.store.update(dialog)
    marked = time.perf_counter() - started
    started = time.perf_counter()
    clock.advance(0.01)
    committed = time.perf_counter() - started
    print(
        f"refresh: {count // 10} keepalives marked in {marked * 1e3:.1f} ms, "
        f"written in one commit in {committed:.2f} s"
    )
    service.store.close()


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 100_000)
