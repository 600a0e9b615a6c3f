"""
Where calls live and what a graceful stop does with them: the dialog store
rows of the option table.
"""

from __future__ import annotations

from keepsip.config.option import Option
from keepsip.config.parsers import (
    choice,
    dialogStoreSpec,
)

#: The store rows, in table order.
STORE: tuple[Option, ...] = (
    Option(
        "dialog-store",
        dialogStoreSpec,
        "sqlite:path=keepsip-dialogs.sqlite3",
        "Where calls live, TYPE:ARGS: sqlite:path=FILE[,commit-delay=SECONDS] "
        "(survives restarts), memory (nothing survives keepsip), "
        "redis:host=H,port=P[,db=N][,prefix=K][,lease=SECONDS] (shared by several "
        "nodes); see docs/state.md.",
        metavar="TYPE:ARGS",
    ),
    Option(
        "on-stop",
        choice("keep", "end"),
        None,
        "What a graceful stop does with calls that are up: keep (they continue "
        "after the next start) or end (BYE to both legs, then the stop records). "
        "Default: keep with a persistent dialog store, end with memory.",
        metavar="keep|end",
        example="keep",
    ),
)
