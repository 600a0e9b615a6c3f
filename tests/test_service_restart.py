"""
Tests for the restart of L{keepsip.proxyservice.ProxyService} over a persistent
dialog store (issue 10): calls set up before a crash continue after it,
calls that fell silent while keepsip was down are reaped at once and billed
until their last proof of life, and a graceful stop keeps or ends calls per
C{--on-stop}.

A restart is a new service over the same SQLite file on a clock set to the
time of the crash (or later); the first service is abandoned without a stop,
as a C{kill -9} would leave it. Records are read back from the jsonl backend
the accounting writes.
"""

from __future__ import annotations

import json
import os

from twisted.trial.unittest import SynchronousTestCase

from keepsip.dialog.model import EndCause
from keepsip.sip.message import Request
from keepsip.testing import ALICE, BOB, SDP, RecordingObserver, answer, invite

from ._keepalive import ANSWER_SDP, SDP_OTHER_MEDIA
from ._proxy import ProxyHarness, startReapers, stopReapers


class RestartTestCase(SynchronousTestCase):
    def setUp(self):
        self.directory = os.path.abspath(self.mktemp())
        os.makedirs(self.directory)
        self.storePath = os.path.join(self.directory, "dialogs.sqlite3")
        self.cdrPath = os.path.join(self.directory, "cdr.jsonl")
        self.observers = []

    def start(self, at=0.0, store=None, **config):
        """
        A keepsip on the shared store file, its clock at C{at}, its dialogs
        restored, its reapers and accounting running.
        """
        config.setdefault("keepaliveInterval", 30.0)
        config.setdefault("keepaliveTolerance", 2.0)
        proxy = ProxyHarness(
            dialogStore=store or f"sqlite:path={self.storePath},commit-delay=0",
            accounting=(f"jsonl:path={self.cdrPath}",),
            accountingSpool=os.path.join(self.directory, "spool"),
            accountingCommitDelay=0.0,
            **config,
        )
        proxy.clock.advance(at)
        observer = RecordingObserver()
        proxy.service.tracker.addObserver(observer)
        self.observers.append(observer)
        proxy.service.accounting.startService()
        self.addCleanup(proxy.service.accounting.stopService)
        proxy.service.restoreDialogs()
        self.addCleanup(proxy.service.store.close)
        startReapers(proxy)
        self.addCleanup(stopReapers, proxy)
        return proxy

    def crash(self, proxy):
        """
        Let the commit windows pass, then abandon C{proxy} as a SIGKILL
        would (no stop, nothing more written).
        """
        proxy.clock.advance(0)
        stopReapers(proxy)

    def records(self):
        if not os.path.exists(self.cdrPath):
            return []
        with open(self.cdrPath) as f:
            return [json.loads(line) for line in f if line.strip()]

    def establish(self, proxy):
        proxy.receive(invite(), ALICE)
        [atBob] = proxy.sentTo(BOB)
        proxy.receive(answer(atBob, 200, "OK", body=ANSWER_SDP), BOB)
        proxy.receive(self.request("ACK", 1, "z9hG4bKack1", b""), ALICE)
        proxy.sent()

    def request(self, method, number, branch, body=SDP):
        return invite(
            method=method,
            uri="sip:bob@192.0.2.20:5060",
            branch=branch,
            cseq=number,
            toTag="bobtag",
            body=body,
            route="<sip:192.0.2.1:5060;lr>",
        )

    def keepalive(self, proxy, n):
        proxy.receive(self.request("INVITE", 1, f"z9hG4bKka{n}"), ALICE)
        return proxy.sent()

    def byes(self, sent):
        return {a: m for m, a in sent if isinstance(m, Request) and m.method == "BYE"}

    def events(self, name):
        return [e for o in self.observers for e in o.events if e[0] == name]


class RestartTests(RestartTestCase):
    def test_callContinuesAfterCrash(self):
        """
        After a crash and a restart, Alice's keepalive in a call set up
        before is absorbed (answered 200 by keepsip, nothing to Bob), her
        re-INVITE with new media is forwarded with her CSeq, and her BYE
        ends the call normally: one start record (made before the crash,
        never again) and one stop record.
        """
        first = self.start()
        self.establish(first)
        first.clock.advance(30)
        self.keepalive(first, 1)
        self.crash(first)

        second = self.start(at=first.clock.seconds() + 5)
        self.assertEqual(second.service.loadedDialogs, 1)
        self.assertEqual([e[0] for e in self.observers[1].events], ["restored"])
        second.clock.advance(20)
        sent = self.keepalive(second, 2)
        toAlice = [m for m, a in sent if a == ALICE]
        self.assertEqual([m.code for m in toAlice][-1:], [200])
        self.assertEqual([a for m, a in sent if a == BOB], [])
        self.assertEqual(len(self.events("keptAlive")), 2)

        second.receive(self.request("INVITE", 2, "z9hG4bKre2", SDP_OTHER_MEDIA), ALICE)
        [reinvite] = [m for m in second.sentTo(BOB) if isinstance(m, Request)]
        self.assertEqual(reinvite.header("cseq"), "2 INVITE")
        second.receive(answer(reinvite, 200, "OK", body=ANSWER_SDP), BOB)
        second.receive(self.request("ACK", 2, "z9hG4bKack2", b""), ALICE)
        second.sent()

        second.receive(self.request("BYE", 3, "z9hG4bKbye", b""), ALICE)
        [byeAtBob] = [m for m in second.sentTo(BOB) if isinstance(m, Request)]
        second.receive(answer(byeAtBob, 200, "OK", toTag=None), BOB)
        second.clock.advance(0)
        [terminated] = self.events("terminated")
        self.assertEqual(terminated[2], EndCause.CALLER_BYE)
        kinds = [r["type"] for r in self.records()]
        self.assertEqual(kinds.count("start"), 1)
        self.assertEqual(kinds.count("stop"), 1)
        self.assertEqual(self.events("confirmed").__len__(), 1)

    def test_silentCallReapedAtOnce(self):
        """
        A call whose keepalives stopped while keepsip was down is reaped on
        the first reaper tick after the restart: BYE to both legs, ended as
        a keepalive timeout at its last proof of life (the keepalive before
        the crash), with exactly one stop record.
        """
        first = self.start()
        self.establish(first)
        first.clock.advance(30)
        self.keepalive(first, 1)
        lastProof = first.clock.seconds()
        self.crash(first)

        second = self.start(at=lastProof + 300)
        second.clock.advance(1.0)
        byes = self.byes(second.sent())
        self.assertEqual(set(byes), {ALICE, BOB})
        for address, bye in byes.items():
            second.receive(answer(bye, 200, "OK", toTag=None), address)
        second.clock.advance(0)
        [terminated] = self.events("terminated")
        self.assertEqual(terminated[2], EndCause.KEEPALIVE_TIMEOUT)
        self.assertEqual(terminated[1].endedAt, lastProof)
        stops = [r for r in self.records() if r["type"] == "stop"]
        self.assertEqual(len(stops), 1)
        self.assertEqual([r["type"] for r in self.records()].count("start"), 1)

    def test_deadlineResumesFromLastProof(self):
        """
        A restored call's deadline is its last proof of life plus the
        window, not the restart time plus the window: restarted 50 s after
        the last keepalive with a 60 s window, the call is reaped about 10 s
        later, not 60.
        """
        first = self.start()
        self.establish(first)
        first.clock.advance(30)
        self.keepalive(first, 1)
        self.crash(first)
        second = self.start(at=first.clock.seconds() + 50)
        second.clock.advance(9.0)
        self.assertEqual(self.byes(second.sent()), {})
        second.clock.advance(2.0)
        self.assertEqual(set(self.byes(second.sent())), {ALICE, BOB})

    def test_unansweredCallEndedAtRestart(self):
        """
        A call not yet answered when keepsip died ends at the restart (its
        INVITE transaction died with the process), with one stop record.
        """
        first = self.start()
        first.receive(invite(), ALICE)
        self.crash(first)
        second = self.start(at=first.clock.seconds() + 1)
        second.clock.advance(0)
        [terminated] = self.events("terminated")
        self.assertEqual(terminated[2], EndCause.ERROR)
        self.assertEqual([r["type"] for r in self.records()], ["stop"])


class StopTests(RestartTestCase):
    def test_persistentStoreKeepsCalls(self):
        """
        A graceful stop with the SQLite store (default C{--on-stop keep})
        sends no BYE and writes no stop record; the call is in the file for
        the next start.
        """
        first = self.start()
        self.establish(first)
        self.assertEqual(first.service.onStop(), "keep")
        self.assertEqual(first.service.stopCalls(), 0)
        self.assertEqual(self.byes(first.sent()), {})
        first.service.store.close()
        self.assertEqual(self.events("terminated"), [])
        self.start(at=1)
        self.assertEqual(len(self.events("restored")), 1)

    def test_memoryStoreEndsCallsWithBye(self):
        """
        With the memory store (default C{--on-stop end}) a graceful stop
        sends BYE to both legs before the stop record is made.
        """
        proxy = self.start(store="memory")
        self.establish(proxy)
        written = []
        proxy.service.tracker.addObserver(_AtTermination(lambda: written.extend(proxy.sent())))
        self.assertEqual(proxy.service.onStop(), "end")
        self.assertEqual(proxy.service.stopCalls(), 1)
        self.assertEqual(set(self.byes(written)), {ALICE, BOB})
        [terminated] = self.events("terminated")
        self.assertEqual(terminated[2], EndCause.SHUTDOWN)

    def test_onStopEndWithPersistentStore(self):
        """
        C{--on-stop end} ends calls at a graceful stop even with a
        persistent store, and the next start finds none.
        """
        first = self.start(onStop="end")
        self.establish(first)
        self.assertEqual(first.service.stopCalls(), 1)
        first.clock.advance(0)
        self.start(at=1)
        self.assertEqual(self.events("restored"), [])


class _AtTermination(RecordingObserver):
    def __init__(self, callback):
        RecordingObserver.__init__(self)
        self.callback = callback

    def dialogTerminated(self, dialog, cause, detail):
        self.callback()
