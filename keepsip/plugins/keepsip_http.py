"""
The C{http} accounting backend type: C{--accounting http:url=URL}.
"""

from keepsip.accounting.plugin import Argument, BackendFactory, nonNegativeInt, positiveFloat

http = BackendFactory(
    name="http",
    help="POST each record as JSON to URL with the header Idempotency-Key: <record_id>. "
    "2xx accepts it; 5xx, 408, 429, timeouts and connection errors are retried; "
    "any other status is logged as an error and the record is kept and offered again "
    "later (never dropped).",
    arguments=[
        Argument("url", "URL", help="http:// or https:// URL to POST to."),
        Argument(
            "timeout",
            "SECONDS",
            parse=positiveFloat,
            default=10.0,
            help="for one whole request and its answer.",
        ),
        Argument(
            "retries",
            "N",
            parse=nonNegativeInt,
            default=2,
            help="quick retries of a temporary failure (after 0.5 s, 1 s, ...) before "
            "the record goes back to the spool.",
        ),
    ],
    builder="keepsip.accounting.http.HTTPBackend",
)
