"""
The C{htdigest} credentials checker type: C{--auth htdigest:path=FILE}.
"""

from keepsip.auth.checkers import CheckerFactory

htdigest = CheckerFactory(
    name="htdigest",
    help="Users from an Apache htdigest file (user:realm:HA1, managed with htdigest "
    "from apache2-utils; a 64-hex-digit HA1 is the user's SHA-256 HA1). Re-read on SIGHUP.",
    arguments={"path": None},
    builder="keepsip.auth.htdigest.HtdigestChecker",
)
