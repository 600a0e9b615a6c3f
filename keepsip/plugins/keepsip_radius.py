"""
The C{radius} accounting backend type: C{--accounting radius:host=H,port=P,secret=S}.
"""

from keepsip.accounting.plugin import Argument, BackendFactory, nonNegativeInt, port, positiveFloat

radius = BackendFactory(
    name="radius",
    help="Send each record as an RFC 2866 Accounting-Request (Start, Interim-Update, "
    "Stop) over UDP and wait for the Accounting-Response, retransmitting with backoff.",
    arguments=[
        Argument("host", "H", help="RADIUS accounting server name or address."),
        Argument("port", "P", parse=port, help="its UDP port (usually 1813)."),
        Argument("secret", "S", help="the shared secret."),
        Argument("nasid", "NAME", default="keepsip", help="the NAS-Identifier sent."),
        Argument(
            "timeout",
            "SECONDS",
            parse=positiveFloat,
            default=2.0,
            help="before the first retransmission; doubled for each next one.",
        ),
        Argument(
            "retries",
            "N",
            parse=nonNegativeInt,
            default=3,
            help="retransmissions before the record goes back to the spool.",
        ),
    ],
    builder="keepsip.accounting.radius.RadiusBackend",
)
