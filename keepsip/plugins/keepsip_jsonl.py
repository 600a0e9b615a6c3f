"""
The C{jsonl} accounting backend type: C{--accounting jsonl:path=FILE}.
"""

from keepsip.accounting.plugin import Argument, BackendFactory, choice, positiveFloat

jsonl = BackendFactory(
    name="jsonl",
    help="Append each record as one JSON line to a file; SIGHUP reopens the "
    "file (logrotate). fsync=always makes each record durable before it "
    "counts as delivered.",
    arguments=[
        Argument("path", "FILE", help="the file to append to."),
        Argument(
            "fsync",
            "always|never|interval",
            parse=choice("always", "never", "interval"),
            default="always",
            help="when to fsync.",
        ),
        Argument(
            "interval",
            "SECONDS",
            parse=positiveFloat,
            default=1.0,
            help="seconds between fsyncs with fsync=interval.",
        ),
    ],
    builder="keepsip.accounting.jsonl.JsonLinesBackend",
)
