"""
Replayed keepalives do not keep a dead call up (issue 8 item 2): real SIPp
user agents through a real keepsip process, and a second SIPp on another
loopback address (C{127.0.0.2}) replaying the caller's last keepalive,
unchanged, after the caller fell silent.

The forger needs the exact keepalive, so the test "sniffs" it from the
caller's SIPp message trace once the caller sent it, and writes a scenario
that sends that text again and again (only its Content-Length line is left
to SIPp to compute). Its Via branch is that of the caller's last keepalive,
whose server transaction keepsip still holds, so each replay is, to the
transaction layer, a retransmission: the path that used to count them.
"""

from __future__ import annotations

from twisted.internet.defer import inlineCallbacks
from twisted.internet.task import deferLater
from twisted.python.filepath import FilePath

from tests.integration._harness import SippMessage, SippResult, parseSippMessages
from tests.integration.test_accounting import describeRecords, readRecords, stops, waitForRecords
from tests.integration.test_keepalive import (
    INTERVAL,
    LATEST,
    SLACK,
    KeepaliveTestCase,
    timedMessages,
    timesOf,
)

#: Where the forger sends from: another loopback address.
FORGER_HOST = "127.0.0.2"
#: Keepalives the real caller sends before it falls silent.
KEEPALIVES = 3
#: Replays the forger sends, and the milliseconds between them: they go on
#: for longer than the call may stay silent.
REPLAYS = 14
REPLAY_EVERY_MS = 500


def replayScenario(message: SippMessage, count: int, everyMs: int) -> str:
    """
    A SIPp scenario sending C{message} unchanged C{count} times,
    C{everyMs} ms apart, expecting nothing back.
    """
    head, _, body = message.text.replace("\r\n", "\n").partition("\n\n")
    lines = [
        "Content-Length: [len]" if line.lower().startswith(("content-length:", "l:")) else line
        for line in head.strip().split("\n")
    ]
    text = "\n".join(lines) + "\n\n" + body.strip() + "\n"
    steps = []
    for n in range(count):
        if n:
            steps.append(f'  <pause milliseconds="{everyMs}"/>')
        steps.append(f"  <send>\n    <![CDATA[\n\n{text}\n    ]]>\n  </send>")
    return (
        '<?xml version="1.0" encoding="ISO-8859-1" ?>\n'
        '<scenario name="replay a sniffed keepalive">\n' + "\n".join(steps) + "\n</scenario>\n"
    )


class ReplayedKeepaliveTests(KeepaliveTestCase):
    """
    A kept-alive call whose caller falls silent while a forger on another
    address replays the caller's last keepalive.
    """

    timeout = 90

    @inlineCallbacks
    def waitForKeepalives(self, directory: FilePath, count: int, timeout: float):  # type: ignore[no-untyped-def]
        """
        Poll the caller's message trace until it has sent C{count}
        keepalives (INVITEs after the first).

        @return: a Deferred firing with the last one sent, a L{SippMessage}.
        """
        deadline = self.reactor.seconds() + timeout
        trace = directory.child("messages.log")
        while True:
            if trace.exists():
                text = trace.getContent().decode("utf-8", "replace")
                invites = [
                    m
                    for m in parseSippMessages(text)
                    if m.direction == "sent" and m.method == "INVITE"
                ]
                if len(invites) > count:
                    return invites[-1]
            if self.reactor.seconds() > deadline:
                raise AssertionError(f"the caller did not send {count} keepalives in {timeout}s")
            yield deferLater(self.reactor, 0.05, lambda: None)

    @inlineCallbacks
    def test_replaysDoNotKeepADeadCallUp(self):  # type: ignore[no-untyped-def]
        """
        The caller sends 3 keepalives 2 s apart and falls silent; from
        127.0.0.2 a forger sends that last keepalive again, unchanged, 14
        times 0.5 s apart. keepsip ends the call on time anyway — its BYE
        reaches the caller 4-4.5 s after the caller's last keepalive, while
        replays are still arriving — and the forger gets no answer at all
        (its SIPp, which fails on any unexpected message, succeeds). The
        record says keepalive-timeout with the caller's 3 keepalives, billed
        until the caller's last one, with 3 interim records (one per real
        keepalive, none per replay), and keepsip logged the forger once.
        """
        keepsip, callee, cdr = yield self.startCallee("uas_keepalive.xml", 1)
        callerProcess = self.startCaller(
            "uac_keepalive.xml",
            keepsip,
            1,
            "-d",
            str(int(INTERVAL * 1000)),
            "-set",
            "keepalives",
            str(KEEPALIVES),
        )
        last = yield self.waitForKeepalives(
            callerProcess.directory, KEEPALIVES, KEEPALIVES * INTERVAL + 10
        )
        scenario = FilePath(self.mktemp())
        scenario.setContent(replayScenario(last, REPLAYS, REPLAY_EVERY_MS).encode("utf-8"))
        forgerProcess = self.startSipp(
            scenario.path,
            "-i",
            FORGER_HOST,
            "-m",
            "1",
            "-timeout",
            "25s",
            "-timeout_error",
            remote=keepsip.address,
            timeout=30,
        )
        caller: SippResult = yield callerProcess.result()
        answered: SippResult = yield callee.result()
        forger: SippResult = yield forgerProcess.result()
        self.assertAllCallsSucceeded(caller, 1)
        self.assertAllCallsSucceeded(answered, 1)
        self.assertAllCallsSucceeded(forger, 1)

        # The forger really replayed the caller's keepalive, from elsewhere,
        # and got nothing back: no 200, no 403 either (a retransmission of
        # a transaction keepsip holds is absorbed, not answered).
        replays = [m for m in forger.messages if m.direction == "sent"]
        self.assertEqual(len(replays), REPLAYS, forger.describe())
        for header in ("Via", "Call-ID", "CSeq", "From", "To"):
            self.assertEqual(replays[0].headers(header), last.headers(header), header)
        self.assertEqual([m for m in forger.messages if m.direction == "received"], [])

        # keepsip's BYE came on time after the caller's last keepalive, and
        # replays kept arriving in the meantime (so they would have kept the
        # call up if they counted).
        timed = timedMessages(callerProcess.directory)
        lastKeepalive = timesOf(timed, "sent", "INVITE", "INVITE")[-1]
        [byeAt] = timesOf(timed, "received", "BYE", "BYE")
        self.assertOnTime(lastKeepalive, byeAt, "caller")
        replayTimes = [when for when, m in timedMessages(forgerProcess.directory)]
        during = [t for t in replayTimes if lastKeepalive < t < byeAt]
        self.assertGreaterEqual(len(during), 5, (lastKeepalive, byeAt, replayTimes))
        self.assertTrue(replayTimes[-1] > byeAt, "the replays ended before the BYE")

        records = yield waitForRecords(
            self.reactor, lambda: readRecords(cdr), lambda rs: len(stops(rs)) >= 1, 10, "stop"
        )
        [stop] = stops(records)
        self.assertEqual(
            (stop["end_cause"], stop["keepalive"]["count"]),
            ("keepalive-timeout", KEEPALIVES),
            describeRecords(records),
        )
        interims = [r for r in records if r["type"] == "interim"]
        self.assertEqual(len(interims), KEEPALIVES, describeRecords(records))
        self.assertTrue(
            abs(stop["end_epoch"] - lastKeepalive) <= SLACK,
            f"billed until {stop['end_epoch']}, the caller's last keepalive was {lastKeepalive}",
        )
        self.assertTrue(stop["detected_epoch"] - stop["end_epoch"] <= LATEST + SLACK, stop)
        self.assertEqual(keepsip.output().count("forged keepalive"), 1, keepsip.output()[-3000:])
