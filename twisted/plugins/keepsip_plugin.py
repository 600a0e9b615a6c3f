"""
The twistd plugin: C{twistd -n keepsip}.  See L{keepsip.tap}.
"""

from twisted.application.service import ServiceMaker

keepsip = ServiceMaker(
    "keepsip",
    "keepsip.tap",
    "A transaction- and dialog-stateful SIP proxy that ends calls whose keepalives stop.",
    "keepsip",
)
