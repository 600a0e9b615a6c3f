"""
keepsip's accounting output, end to end: real SIPp calls through a real
keepsip process whose call records (docs/cdr.md) go to a JSON-lines file and
to a real C{redis-server}.

Also the helpers the keepalive integration tests use to read those records
(L{readRecords}, L{waitForRecords}, L{AccountedKeepsipMixin}).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

from twisted.internet.defer import Deferred, inlineCallbacks
from twisted.internet.interfaces import IReactorTime
from twisted.internet.task import deferLater
from twisted.python.filepath import FilePath

from tests._servers import RedisServer
from tests.integration._harness import IntegrationTestCase, KeepsipProcess, SippProcess

Record = dict[str, Any]


def readRecords(path: FilePath) -> list[Record]:
    """
    Read a C{jsonl} accounting file.

    @param path: the file; missing means no records yet.
    @return: one dict per complete line (a last line still being written,
        without its newline, is left out).
    """
    if not path.exists():
        return []
    data = path.getContent().decode("utf-8")
    return [json.loads(line) for line in data.split("\n")[:-1] if line.strip()]


def describeRecords(records: Sequence[Record]) -> str:
    """
    One line per record (type, Call-ID, end cause, keepalive count), for
    assertion messages.
    """
    return "\n".join(
        f"{r.get('type')} {r.get('call_id')} cause={r.get('end_cause')} "
        f"keepalives={(r.get('keepalive') or {}).get('count')} status={r.get('final_status')}"
        for r in records
    )


@inlineCallbacks
def waitForRecords(
    clock: IReactorTime,
    fetch: Callable[[], list[Record]],
    ready: Callable[[list[Record]], bool],
    timeout: float,
    what: str,
):  # type: ignore[no-untyped-def]
    """
    Poll C{fetch} every 100 ms until C{ready} accepts what it returns.

    A record is written once keepsip has the answers to its BYEs, which may
    be a moment after the SIPp processes exited; this bounds that moment.

    @param clock: the reactor.
    @param fetch: returns the records so far (from a file, from Redis).
    @param ready: whether they are complete.
    @param timeout: seconds to wait at most.
    @param what: what is awaited, for the failure message.
    @return: a Deferred firing with the records; failing with
        L{AssertionError} listing what arrived if C{timeout} passes.
    """
    deadline = clock.seconds() + timeout
    while True:
        records = fetch()
        if ready(records):
            return records
        if clock.seconds() > deadline:
            raise AssertionError(
                f"no {what} within {timeout}s; records so far:\n{describeRecords(records)}"
            )
        yield deferLater(clock, 0.1, lambda: None)


def stops(records: Sequence[Record]) -> list[Record]:
    """
    The C{stop} records among C{records}.
    """
    return [r for r in records if r["type"] == "stop"]


class AccountedKeepsipMixin:
    """
    For L{IntegrationTestCase}s: start keepsip writing its call records to a
    C{jsonl} file of the test.
    """

    def startAccountedKeepsip(
        self, *args: str, accounting: Sequence[str] = ()
    ) -> Deferred[tuple[KeepsipProcess, FilePath]]:
        """
        Start keepsip (L{IntegrationTestCase.startKeepsip}) with
        C{--accounting jsonl:path=<a file of this test>}, its spool in this
        test's directory, and C{args}.

        @param accounting: more C{--accounting} values (another backend).
        @return: a Deferred firing with C{(keepsip, path of the jsonl file)}.
        """
        test: IntegrationTestCase = self  # type: ignore[assignment]
        directory = FilePath(test.mktemp())
        directory.makedirs()
        cdr = directory.child("cdr.jsonl")
        extra: list[str] = []
        for backend in accounting:
            extra += ["--accounting", backend]
        d = test.startKeepsip(
            "--accounting",
            f"jsonl:path={cdr.path}",
            *extra,
            "--accounting-spool",
            directory.child("spool").path,
            *args,
        )
        return d.addCallback(lambda keepsip: (keepsip, cdr))


#: A [tariffs] table (docs/accounting.md): calls to 44... cost 0.10 + 0.60
#: a started minute; others 0.05 + 0.02. No volume price, so the charge does
#: not depend on how long SIPp really held the call.
TARIFFS_TOML = """\
[tariffs]
currency = "EUR"
places = 2

[tariffs.default]
fixed = "0.05"
per_minute = "0.02"
increments = "60/60"

[tariffs.prefix."44"]
fixed = "0.10"
per_minute = "0.60"
"""

#: Who is called for each outcome (the routes send each to its callee).
ANSWERED, BUSY, CANCELLED = "4420555", "4861", "4871"


class AccountingThroughKeepsipTests(AccountedKeepsipMixin, IntegrationTestCase):
    """
    An answered call, a rejected one (486) and a cancelled one through
    keepsip, each to its own SIPp callee (routes by dialled prefix).
    """

    timeout = 90

    @inlineCallbacks
    def _threeCalls(self, *accounting: str):  # type: ignore[no-untyped-def]
        """
        Start three callees (C{uas.xml}, C{uas_busy.xml}, C{uas_cancel.xml}),
        keepsip with L{TARIFFS_TOML} as C{--config}, routes C{44}, C{486},
        C{487} to them, the jsonl backend and C{accounting}; place the three
        calls one after the other (the answered one lasts 1 s) and check
        that every SIPp succeeded.

        @return: a Deferred firing with C{(jsonl path, {service: Call-ID})}.
        """
        config = FilePath(self.mktemp())
        config.setContent(TARIFFS_TOML.encode("utf-8"))
        callees: list[tuple[str, str, SippProcess]] = []
        routes: list[str] = []
        for service, prefix, scenario, callerScenario in (
            (ANSWERED, "44", "uas.xml", "uac.xml"),
            (BUSY, "486", "uas_busy.xml", "uac_busy.xml"),
            (CANCELLED, "487", "uas_cancel.xml", "uac_cancel.xml"),
        ):
            callee = self.startSipp(scenario, "-m", "1", timeout=60)
            yield callee.whenListening()
            callees.append((service, callerScenario, callee))
            routes += ["--route", f"{prefix}=sip:{callee.address}"]
        keepsip, cdr = yield self.startAccountedKeepsip(
            "--config", config.path, *routes, accounting=accounting
        )
        callIDs = {}
        for service, callerScenario, callee in callees:
            caller = yield self.runSipp(
                callerScenario,
                "-s",
                service,
                "-m",
                "1",
                "-d",
                "1000",
                "-recv_timeout",
                "10s",
                remote=keepsip.address,
                timeout=30,
            )
            answered = yield callee.result()
            self.assertAllCallsSucceeded(caller, 1)
            self.assertAllCallsSucceeded(answered, 1)
            [invite] = [
                m for m in caller.messages if m.direction == "sent" and m.method == "INVITE"
            ]
            [callIDs[service]] = invite.headers("Call-ID")
        self.assertTrue(keepsip.running, keepsip.output()[-3000:])
        return cdr, callIDs

    def assertThreeCallRecords(self, records: list[Record], callIDs: dict[str, str]) -> None:
        """
        Assert the records of L{_threeCalls}: the answered call has a
        C{start} and a C{stop} (caller-bye, charged on the C{44} tariff:
        0.10 fixed + one started minute 0.60), the 486 and the CANCEL only a
        C{stop} (rejected / cancelled, unanswered, charged 0.00).
        """
        summary = describeRecords(records)
        byCall: dict[str, list[Record]] = {}
        for record in records:
            byCall.setdefault(record["call_id"], []).append(record)
        self.assertEqual(set(byCall), set(callIDs.values()), summary)
        self.assertEqual(len({r["record_id"] for r in records}), len(records), summary)

        start, stop = byCall[callIDs[ANSWERED]]
        self.assertEqual((start["type"], stop["type"]), ("start", "stop"), summary)
        for record in (start, stop):
            self.assertEqual(
                (
                    record["schema"],
                    record["answered"],
                    record["final_status"],
                    record["destination"],
                ),
                (1, True, 200, ANSWERED),
                record,
            )
            self.assertEqual(record["charge"]["tariff"], "prefix:44", record)
        self.assertEqual((start["end_cause"], start["duration_ms"]), (None, 0), start)
        self.assertEqual(stop["end_cause"], "caller-bye", stop)
        self.assertTrue(900 <= stop["duration_ms"] <= 3000, stop["duration_ms"])
        self.assertEqual(
            stop["charge"],
            {
                "fixed": "0.10",
                "time": "0.60",
                "volume": "0.00",
                "total": "0.70",
                "currency": "EUR",
                "tariff": "prefix:44",
                "billed_seconds": 60,
            },
        )

        for service, cause, status in ((BUSY, "rejected", 486), (CANCELLED, "cancelled", 487)):
            [only] = byCall[callIDs[service]]
            self.assertEqual(
                (
                    only["type"],
                    only["end_cause"],
                    only["answered"],
                    only["final_status"],
                    only["duration_ms"],
                    only["destination"],
                ),
                ("stop", cause, False, status, 0, service),
                only,
            )
            self.assertEqual(
                (only["charge"]["total"], only["charge"]["currency"], only["charge"]["tariff"]),
                ("0.00", "EUR", "default"),
                only,
            )

    @inlineCallbacks
    def test_jsonlRecordsOfThreeOutcomes(self):  # type: ignore[no-untyped-def]
        """
        With C{--accounting jsonl:path=FILE} and a C{[tariffs]} table in the
        C{--config} file, an answered call, a 486 and a CANCEL leave exactly
        four lines: start + stop (caller-bye, 0.70 EUR on the C{44} tariff)
        for the answered call, one stop each for the others (rejected 486,
        cancelled 487, 0.00 EUR).
        """
        cdr, callIDs = yield self._threeCalls()
        records = yield waitForRecords(
            self.reactor, lambda: readRecords(cdr), lambda rs: len(stops(rs)) >= 3, 10, "3 stops"
        )
        self.assertEqual(len(records), 4, describeRecords(records))
        self.assertThreeCallRecords(records, callIDs)

    @inlineCallbacks
    def test_redisStreamHasTheSameRecords(self):  # type: ignore[no-untyped-def]
        """
        With C{--accounting redis:host=127.0.0.1,port=P} against a real
        redis-server (and the jsonl backend beside it), the same three calls
        put their four records into the stream C{keepsip:cdr} (XRANGE), each
        entry's C{record} field being exactly the JSON of the corresponding
        jsonl line, in the same order.
        """
        redis = RedisServer(self.mktemp())
        redis.start()
        self.addCleanup(redis.stop)
        cdr, callIDs = yield self._threeCalls(f"redis:host=127.0.0.1,port={redis.port}")

        def streamRecords() -> list[Record]:
            return [
                dict(zip(fields[::2], fields[1::2]))
                for _, fields in redis.command("XRANGE", "keepsip:cdr", "-", "+")
            ]

        entries = yield waitForRecords(
            self.reactor,
            streamRecords,
            lambda es: len(es) >= 4,
            10,
            "4 stream entries",
        )
        self.assertEqual([set(e) for e in entries], [{"record"}] * 4, entries)
        streamed = [e["record"] for e in entries]
        lines = [line for line in cdr.getContent().decode("utf-8").split("\n") if line]
        self.assertEqual(streamed, lines)
        self.assertThreeCallRecords([json.loads(text) for text in streamed], callIDs)

    @inlineCallbacks
    def test_endDetailPerLegAsDocumented(self):  # type: ignore[no-untyped-def]
        """
        docs/cdr.md: C{end_detail} is the per-leg detail, keys C{caller} and
        C{callee}; its example gives a caller's BYE answered 200 by the
        callee as C{{"caller": "BYE", "callee": "200"}}, and names the
        rejection status (C{"486"}) as such a detail.  The answered call's
        stop must say so, and the 486's stop must give C{"486"} under
        C{callee}.
        """
        cdr, callIDs = yield self._threeCalls()
        records = yield waitForRecords(
            self.reactor, lambda: readRecords(cdr), lambda rs: len(stops(rs)) >= 3, 10, "3 stops"
        )
        details = {r["call_id"]: r["end_detail"] for r in stops(records)}
        byeDetail = details[callIDs[ANSWERED]]
        busyDetail = details[callIDs[BUSY]]
        self.assertEqual(
            (byeDetail, (busyDetail or {}).get("callee")),
            ({"caller": "BYE", "callee": "200"}, "486"),
            "keepsip's end_detail does not follow docs/cdr.md (per-leg keys caller/callee): "
            f"caller-bye stop has {byeDetail!r}, rejected (486) stop has {busyDetail!r}",
        )
