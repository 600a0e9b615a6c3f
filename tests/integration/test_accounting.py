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
