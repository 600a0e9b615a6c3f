"""
The C{http} accounting backend: each record is POSTed as JSON to a URL.

C{--accounting http:url=URL[,timeout=SECONDS][,retries=N]}

  - the body is the record's JSON (the C{jsonl} line without its newline),
    C{Content-Type: application/json}, with C{Idempotency-Key: <record_id>}:
    a record sent again (a retry after a lost answer, a replay after a
    restart) carries the same key and body, so the receiver can drop it;
  - C{2xx} means accepted;
  - C{5xx}, C{408}, C{429}, a timeout (C{timeout} seconds, default 10, for
    the whole exchange) or a connection error are retried C{retries} times
    (default 2) after 0.5 s, 1 s, 2 s ... on the injected clock; then the
    record fails and the accounting tracker spools it and retries it later;
  - any other status (C{4xx}, unfollowed C{3xx}) is a permanent refusal:
    it is logged as an error and the record B{fails} too, so it stays in
    the spool and is offered again at the tracker's retry interval (up to
    60 s). keepsip never drops a record on its own; while the receiver
    refuses one, the records behind it wait (see C{docs/accounting.md}).

Requests go through one persistent L{HTTPConnectionPool}, made by
L{HTTPBackend.ready} and closed by L{HTTPBackend.close}.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import treq
from twisted.internet.defer import Deferred, fail, succeed
from twisted.internet.interfaces import IDelayedCall, IReactorTime
from keepsip.logs import Logger
from twisted.python.failure import Failure
from zope.interface import implementer

from keepsip.accounting.spool import encodeRecord
from keepsip.interfaces import IAccountingBackend

_log = Logger()

#: Statuses worth retrying besides 5xx.
RETRIABLE = frozenset({408, 429})


class HTTPBackendError(Exception):
    """
    The receiver did not accept a record.

    @ivar code: the HTTP status.
    @ivar body: the start of the response body.
    """

    def __init__(self, code: int, body: bytes) -> None:
        Exception.__init__(self, f"HTTP {code}: {body[:200]!r}")
        self.code = code
        self.body = body


class HTTPUnavailable(HTTPBackendError):
    """
    A temporary refusal: 5xx, 408 or 429.
    """


class HTTPRejected(HTTPBackendError):
    """
    A permanent refusal (4xx other than 408/429, an unfollowed 3xx): the
    receiver will not take this record as it is.
    """


class HTTPBackendClosed(Exception):
    """
    A record was sent before L{HTTPBackend.ready} or after
    L{HTTPBackend.close}.
    """


def checkURL(url: str) -> str:
    """
    An C{http://} or C{https://} URL with a host.

    @raise ValueError: otherwise.
    """
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 -- raises ValueError for a bad port
    except ValueError as e:
        raise ValueError(f"not a URL: {e}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("expected http://HOST[:PORT]/PATH or https://...")
    return url


@implementer(IAccountingBackend)
class HTTPBackend:
    """
    POSTs each record as JSON, with its C{record_id} as C{Idempotency-Key}.

    @ivar url: where to POST.
    @ivar timeout: seconds for one whole exchange (connect, send, answer,
        body).
    @ivar retries: further attempts after a temporary failure.
    @ivar retryDelay: the delay before the first retry, doubled for each
        next one.
    """

    name = "http"

    def __init__(
        self,
        reactor: IReactorTime,
        url: str,
        timeout: float = 10.0,
        retries: int = 2,
        retryDelay: float = 0.5,
        client: Any = None,
    ) -> None:
        """
        @param client: what to POST through, with C{treq}'s C{post}
            signature (a L{treq.testing.StubTreq} in tests); by default a
            L{treq.client.HTTPClient} on a persistent pool made by L{ready}.
        """
        try:
            checkURL(url)
        except ValueError as e:
            raise ValueError(f"http: url={url!r}: {e}") from None
        if not timeout > 0:
            raise ValueError(f"http: timeout: must be > 0, got {timeout!r}")
        if retries < 0:
            raise ValueError(f"http: retries: must be >= 0, got {retries!r}")
        self.reactor = reactor
        self.url = url
        self.timeout = timeout
        self.retries = retries
        self.retryDelay = retryDelay
        self._client = client
        self._pool: Any = None
        self._ready = False
        self._closed = False
        self._pending: set[Deferred] = set()

    def ready(self) -> Deferred:
        """
        Make the connection pool (connections open with the first record).

        @return: L{Deferred} firing with L{None}.
        """
        if self._closed:
            return fail(HTTPBackendClosed(self.url))
        if self._client is None:
            from treq.client import HTTPClient
            from twisted.web.client import Agent, HTTPConnectionPool

            self._pool = HTTPConnectionPool(self.reactor, persistent=True)
            self._client = HTTPClient(Agent(self.reactor, pool=self._pool))
        self._ready = True
        return succeed(None)

    def sendRecord(self, record: dict[str, Any]) -> Deferred:
        """
        POST C{record}, retrying temporary failures.

        @return: L{Deferred} firing with L{None} on a 2xx; failing with
            L{HTTPRejected} at once on a permanent refusal, or with the last
            L{HTTPUnavailable}, timeout or connection error once the retries
            are spent; or with L{HTTPBackendClosed}. Cancelling it cancels
            the request or the wait for the next attempt.
        """
        if not self._ready or self._closed:
            return fail(HTTPBackendClosed(self.url))
        recordID = str(record["record_id"])
        body = encodeRecord(record)[:-1]
        headers = {
            b"Content-Type": [b"application/json"],
            b"Idempotency-Key": [recordID.encode("ascii", "replace")],
        }
        current: list[Deferred | IDelayedCall] = []
        cancelled: list[bool] = []

        def cancel(_: Deferred) -> None:
            cancelled.append(True)
            for step in current:
                if isinstance(step, Deferred) or step.active():
                    step.cancel()

        result: Deferred = Deferred(cancel)
        self._pending.add(result)
        result.addBoth(self._forget, result)

        def attempt(number: int) -> None:
            current[:] = []
            d = self._post(body, headers)
            current.append(d)
            d.addCallbacks(succeeded, failed, errbackArgs=(number,))

        def succeeded(_: object) -> None:
            if not result.called:
                result.callback(None)

        def failed(reason: Failure, number: int) -> None:
            if cancelled or result.called:
                return
            if reason.check(HTTPRejected):
                _log.error(
                    "{url} refused record {recordID} ({error}); keeping it for a later retry",
                    url=self.url,
                    recordID=recordID,
                    error=reason.getErrorMessage(),
                )
                result.errback(reason)
                return
            if number >= self.retries or self._closed:
                result.errback(reason)
                return
            delay = self.retryDelay * 2**number
            _log.info(
                "{url} did not take record {recordID} ({error}); retry in {delay}s",
                url=self.url,
                recordID=recordID,
                error=reason.getErrorMessage(),
                delay=delay,
            )
            current[:] = [self.reactor.callLater(delay, attempt, number + 1)]

        attempt(0)
        return result

    def _forget(self, result: object, d: Deferred) -> object:
        self._pending.discard(d)
        return result

    def _post(self, body: bytes, headers: dict[bytes, list[bytes]]) -> Deferred:
        """
        One exchange: POST, read the whole answer, classify its status.
        """
        d: Deferred = self._client.post(self.url, data=body, headers=headers)

        def check(response: Any) -> Deferred:
            code = response.code

            def classify(content: bytes) -> None:
                if 200 <= code < 300:
                    return
                if code >= 500 or code in RETRIABLE:
                    raise HTTPUnavailable(code, content)
                raise HTTPRejected(code, content)

            return treq.content(response).addCallback(classify)

        d.addCallback(check)
        d.addTimeout(self.timeout, self.reactor)
        return d

    def close(self) -> Deferred:
        """
        Cancel what is in flight or waiting for a retry, and close the
        pool's connections.

        @return: L{Deferred} firing with L{None} once they are closed.
        """
        self._closed = True
        for d in list(self._pending):
            d.cancel()
        pool, self._pool = self._pool, None
        self._client = None
        if pool is None:
            return succeed(None)
        return pool.closeCachedConnections().addCallback(lambda _: None)


__all__ = [
    "HTTPBackend",
    "HTTPBackendClosed",
    "HTTPBackendError",
    "HTTPRejected",
    "HTTPUnavailable",
    "checkURL",
]
