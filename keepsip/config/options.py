"""
The option table: one L{Option} row per setting, from which the command
line (L{keepsip.tap.Options}), the TOML file (L{keepsip.config.load}), the
validated L{keepsip.config.settings.Config}, the keepalive settings
(L{keepsip.config.settings.Config.keepaliveArguments}) and the reference
documents (L{keepsip.config.reference}) are all built.

The rows live by subject in L{keepsip.config.table}; this module puts the
groups together in the order of C{--help}, the README table and
C{etc/keepsip.toml}.
"""

from __future__ import annotations

from keepsip.config.option import Option
from keepsip.config.table.accounting import ACCOUNTING
from keepsip.config.table.auth import AUTH
from keepsip.config.table.keepalive import KEEPALIVE
from keepsip.config.table.media import MEDIA
from keepsip.config.table.operation import OPERATION
from keepsip.config.table.role import ROLE
from keepsip.config.table.routing import ROUTING
from keepsip.config.table.store import STORE
from keepsip.config.table.transaction import LIMITS, TIMERS

#: The option table.  The order is the order of C{--help}, the README table
#: and C{etc/keepsip.toml}.
OPTIONS: tuple[Option, ...] = (
    *ROUTING,
    *AUTH,
    *TIMERS,
    *KEEPALIVE,
    *ACCOUNTING,
    *OPERATION,
    *MEDIA,
    *STORE,
    *LIMITS,
    *ROLE,
)

#: TOML tables that are not command-line options.
TABLES = frozenset({"tariffs"})

#: Rows by name.
OPTIONS_BY_NAME: dict[str, Option] = {option.name: option for option in OPTIONS}
