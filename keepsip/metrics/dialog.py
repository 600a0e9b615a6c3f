"""
Readers of the dialog layer: calls up and ended by cause
(L{dialogMetrics}, fed by the L{EndCauseCounter} observer), the dialog
store's own counters: operations, errors, loads and claims
(L{dialogStoreMetrics}) and leg address learning
(L{legMetrics}).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from keepsip.dialog.model import Dialog, EndCause
from keepsip.dialog.observer import DialogObserver
from keepsip.metrics.exposition import Metric, Reader


class EndCauseCounter(DialogObserver):
    """
    Counts ended calls by end cause: a dialog observer whose only work is
    one C{dict} update per C{dialogTerminated}.

    @ivar counts: end cause -> calls ended with it; every cause of
        L{EndCause.ALL} is present from the start (with 0), so each series
        exists before its first call ends.
    """

    def __init__(self) -> None:
        self.counts: dict[str, int] = dict.fromkeys(sorted(EndCause.ALL), 0)

    def dialogCreated(self, dialog: Dialog) -> None:
        pass

    def dialogEarly(self, dialog: Dialog) -> None:
        pass

    def dialogConfirmed(self, dialog: Dialog) -> None:
        pass

    def dialogUpdated(self, dialog: Dialog) -> None:
        pass

    def dialogKeptAlive(self, dialog: Dialog) -> None:
        pass

    def dialogExpired(self, dialog: Dialog) -> None:
        pass

    def dialogTerminated(self, dialog: Dialog, cause: str, detail: Mapping[str, Any]) -> None:
        """
        Count one call ended with C{cause}.
        """
        counts = self.counts
        counts[cause] = counts.get(cause, 0) + 1


def dialogMetrics(store: Any, endCauses: EndCauseCounter) -> Reader:
    """
    Calls held and calls ended by cause.

    @param store: the L{keepsip.interfaces.IDialogStore}.
    @param endCauses: the L{EndCauseCounter} observing the dialogs.
    """

    def read() -> list[Metric]:
        return [
            Metric(
                "keepsip_dialogs",
                "gauge",
                "Calls keepsip holds state for (early or confirmed).",
                [((), len(store))],
            ),
            Metric(
                "keepsip_dialogs_ended_total",
                "counter",
                "Calls ended, by end cause.",
                [((("cause", cause),), count) for cause, count in endCauses.counts.items()],
            ),
        ]

    return read


def dialogStoreMetrics(store: Any) -> Reader:
    """
    The dialog store's writes, its failed writes and the calls it loaded at
    start (all 0 for the memory store).

    @param store: the L{keepsip.interfaces.IDialogStore}.
    """

    def read() -> list[Metric]:
        return [
            Metric(
                "keepsip_dialog_store_operations_total",
                "counter",
                "Dialogs written to or deleted from the persistent dialog store.",
                [((), store.operations)],
            ),
            Metric(
                "keepsip_dialog_store_errors_total",
                "counter",
                "Failed writes of the dialog store (retried) and dialogs it could not serialise.",
                [((), store.errors)],
            ),
            Metric(
                "keepsip_dialog_store_loaded",
                "gauge",
                "Calls the dialog store loaded when keepsip started.",
                [((), store.loaded)],
            ),
            # Several nodes on a shared store (Redis); 0 otherwise.
            Metric(
                "keepsip_dialog_claims_total",
                "counter",
                "Expired calls this node tried to claim, by outcome (won: it ended them).",
                [
                    ((("outcome", "won"),), getattr(store, "claimsWon", 0)),
                    ((("outcome", "lost"),), getattr(store, "claimsLost", 0)),
                ],
            ),
            Metric(
                "keepsip_dialog_reaped_for_other_nodes_total",
                "counter",
                "Expired calls ended by this node that another node had held.",
                [((), getattr(store, "reapedForOthers", 0))],
            ),
        ]

    return read


def legMetrics(tracker: Any) -> Reader:
    """
    In-dialog requests from addresses that are not their leg's, and legs
    that moved (docs/keepalive.md, "Who may keep a call alive").

    @param tracker: the L{keepsip.dialog.tracker.DialogTracker}.
    """

    def read() -> list[Metric]:
        return [
            Metric(
                "keepsip_dialog_untrusted_requests_total",
                "counter",
                "In-dialog requests not from their leg's address; they changed nothing keepsip"
                " knows of the leg.",
                [((), tracker.untrusted)],
            ),
            Metric(
                "keepsip_dialog_legs_rebound_total",
                "counter",
                "Legs moved to another address (an in-sequence request from another port of"
                " their host, or an authenticated request).",
                [((), tracker.rebound)],
            ),
        ]

    return read
