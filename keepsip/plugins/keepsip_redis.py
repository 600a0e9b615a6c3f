"""
The C{redis} accounting backend type: C{--accounting redis:host=H,port=P}.
"""

from keepsip.accounting.plugin import Argument, BackendFactory, nonNegativeInt, port, positiveFloat

redis = BackendFactory(
    name="redis",
    help="Add each record to a Redis stream (XADD STREAM * record JSON), exactly once "
    "per record_id (a Lua script keeps the delivered ids in the hash STREAM:records), "
    "and keep each call's latest start/interim/stop in the hash STREAM:call:CALLID.",
    arguments=[
        Argument("host", "H", help="Redis host name or address."),
        Argument("port", "P", parse=port, help="Redis port."),
        Argument("db", "N", parse=nonNegativeInt, default=0, help="database number."),
        Argument("stream", "KEY", default="keepsip:cdr", help="the stream key."),
        Argument(
            "timeout",
            "SECONDS",
            parse=positiveFloat,
            default=10.0,
            help="wait for the connection at start and for each reply.",
        ),
    ],
    builder="keepsip.accounting.redis.RedisBackend",
)
