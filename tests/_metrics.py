"""
Helpers of the metrics tests: a strict parser of the Prometheus text format
0.0.4 (L{parseExposition}), the families keepsip exposes (L{FAMILIES}), and a
proxy on a clock whose exposition the reader tests scrape
(L{ProxyMetricsCase}, with the L{bye} and L{register} messages they send).
"""

from __future__ import annotations

import os
import re
from typing import Any

from twisted.trial.unittest import SynchronousTestCase

from keepsip.metrics.exposition import (
    collectMetrics,
    renderExposition,
)
from keepsip.testing import ALICE, BOB, SDP, answer, invite

from ._proxy import ProxyHarness

# --------------------------------------------------------------------------
# A strict parser of the text format 0.0.4

_NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
_LABEL = r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"'
_SAMPLE = re.compile(rf"^({_NAME})(?:\{{((?:{_LABEL})(?:,{_LABEL})*)?\}})? (\S+)$")
_HELP = re.compile(rf"^# HELP ({_NAME}) (.*)$")
_TYPE = re.compile(rf"^# TYPE ({_NAME}) (counter|gauge)$")
_VALUE = re.compile(r"^(?:[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?|NaN|[+-]Inf)$")


def _unescape(text: str) -> str:
    return re.sub(r"\\(.)", lambda m: {"n": "\n"}.get(m.group(1), m.group(1)), text)


def parseExposition(body: bytes) -> dict[str, dict[str, Any]]:
    """
    Parse Prometheus text 0.0.4 strictly: UTF-8, ending in a line feed, no
    blank lines; per family C{# HELP} then C{# TYPE} then its samples, each
    exactly once and contiguous; every sample C{name{labels} value} with the
    family's name; a counter's name ends in C{_total}; no sample twice.

    @return: family name -> C{{"help", "type", "samples": {labels: value}}},
        C{labels} a sorted tuple of C{(name, value)} pairs, values unescaped.
    @raise AssertionError: on the first violation, naming the line.
    """
    text = body.decode("utf-8")
    assert text.endswith("\n"), "exposition must end with a line feed"
    families: dict[str, dict[str, Any]] = {}
    current: str | None = None
    expect = "help"
    for n, line in enumerate(text[:-1].split("\n"), 1):
        where = f"line {n}: {line!r}"
        helpMatch, typeMatch = _HELP.match(line), _TYPE.match(line)
        if helpMatch:
            name = helpMatch.group(1)
            assert name not in families, f"{where}: second HELP for {name}"
            assert expect in ("help", "sample"), f"{where}: HELP before previous TYPE"
            families[name] = {"help": _unescape(helpMatch.group(2)), "samples": {}}
            current, expect = name, "type"
        elif typeMatch:
            assert expect == "type" and typeMatch.group(1) == current, (
                f"{where}: TYPE not after HELP"
            )
            families[current]["type"] = typeMatch.group(2)
            if typeMatch.group(2) == "counter":
                assert current.endswith("_total"), f"{where}: counter without _total"
            expect = "sample"
        else:
            assert not line.startswith("#"), f"{where}: unknown comment"
            sample = _SAMPLE.match(line)
            assert sample, f"{where}: not name{{labels}} value"
            assert expect == "sample", f"{where}: sample before HELP and TYPE"
            assert sample.group(1) == current, f"{where}: sample of another family"
            labelText, valueText = sample.group(2) or "", sample.groups()[-1]
            assert _VALUE.match(valueText), f"{where}: bad value"
            labels = tuple(
                sorted((m.group(1), _unescape(m.group(2))) for m in re.finditer(_LABEL, labelText))
            )
            assert len({k for k, _ in labels}) == len(labels), f"{where}: label repeated"
            samples = families[current]["samples"]
            assert labels not in samples, f"{where}: sample repeated"
            samples[labels] = float(valueText)
    for name, family in families.items():
        assert "type" in family, f"{name} has no TYPE"
    return families


def value(families: dict[str, dict[str, Any]], name: str, **labels: str) -> float:
    """
    One sample's value.
    """
    return families[name]["samples"][tuple(sorted(labels.items()))]


#: Every family keepsip exposes, with its type.
FAMILIES = {
    "keepsip_sip_datagrams_received_total": "counter",
    "keepsip_sip_datagrams_dropped_total": "counter",
    "keepsip_transactions": "gauge",
    "keepsip_overload_refused_total": "counter",
    "keepsip_overload_blocked_total": "counter",
    "keepsip_requests_unanswerable_total": "counter",
    "keepsip_dialogs": "gauge",
    "keepsip_dialogs_ended_total": "counter",
    "keepsip_dialog_store_operations_total": "counter",
    "keepsip_dialog_store_errors_total": "counter",
    "keepsip_dialog_store_loaded": "gauge",
    "keepsip_dialog_claims_total": "counter",
    "keepsip_dialog_reaped_for_other_nodes_total": "counter",
    "keepsip_keepalive_dialogs": "gauge",
    "keepsip_keepalives_total": "counter",
    "keepsip_keepalive_forged_total": "counter",
    "keepsip_dialog_untrusted_requests_total": "counter",
    "keepsip_dialog_legs_rebound_total": "counter",
    "keepsip_keepalive_expired_total": "counter",
    "keepsip_keepalive_rate_limited_total": "counter",
    "keepsip_keepalive_too_frequent_total": "counter",
    "keepsip_reaper_ticks_total": "counter",
    "keepsip_reaper_reaped_total": "counter",
    "keepsip_reaper_failures_total": "counter",
    "keepsip_registrar_bindings": "gauge",
    "keepsip_accounting_backlog_records": "gauge",
    "keepsip_accounting_records_sent_total": "counter",
    "keepsip_accounting_send_failures_total": "counter",
    "keepsip_accounting_write_errors_total": "counter",
    "keepsip_accounting_outage": "gauge",
    "keepsip_auth_challenges_total": "counter",
    "keepsip_auth_authenticated_total": "counter",
    "keepsip_auth_rejected_total": "counter",
    "keepsip_auth_stale_nonces_total": "counter",
    "keepsip_auth_rate_limited_total": "counter",
}


def bye(branch: str = "z9hG4bKalice-bye", cseq: int = 2) -> bytes:
    """
    Alice's BYE for the call L{ProxyMetricsTests.callUp} sets up.
    """
    return invite(
        method="BYE",
        uri="sip:bob@192.0.2.20:5060",
        branch=branch,
        cseq=cseq,
        toTag="bobtag",
        body=b"",
        route="<sip:192.0.2.1:5060;lr>",
    )


def register(contact: str = "<sip:carol@198.51.100.30:5060>") -> bytes:
    """
    A REGISTER binding Carol for 60 seconds.
    """
    return (
        "REGISTER sip:192.0.2.1 SIP/2.0\r\n"
        "Via: SIP/2.0/UDP 198.51.100.30:5060;branch=z9hG4bKreg1\r\n"
        "Max-Forwards: 70\r\n"
        "From: <sip:carol@192.0.2.1>;tag=reg\r\n"
        "To: <sip:carol@192.0.2.1>\r\n"
        "Call-ID: reg-1\r\n"
        "CSeq: 1 REGISTER\r\n"
        f"Contact: {contact}\r\n"
        "Expires: 60\r\n"
        "Content-Length: 0\r\n\r\n"
    ).encode()


class ProxyMetricsCase(SynchronousTestCase):
    """
    A L{ProxyService} on a clock with a jsonl accounting backend, and its
    exposition strictly parsed: the base of the tests that check a reader
    follows what happens to calls, registrations and records.  It has no
    tests of its own.
    """

    def setUp(self) -> None:
        base = self.mktemp()
        os.makedirs(base)
        self.cdr = os.path.join(base, "cdr.jsonl")
        self.proxy = ProxyHarness(
            accounting=(f"jsonl:path={self.cdr},fsync=never",),
            accountingSpool=os.path.join(base, "spool"),
            reap="require",
        )
        [self.backend] = [d.key for d in self.proxy.service.accounting.deliveries]

    def scrape(self) -> dict[str, dict[str, Any]]:
        """
        Render and strictly parse the exposition.
        """
        return parseExposition(renderExposition(collectMetrics(self.proxy.service.metricsReaders)))

    def callUp(self) -> None:
        """
        Alice calls Bob, Bob answers, Alice ACKs.
        """
        self.proxy.receive(invite(), ALICE)
        [atBob] = self.proxy.sentTo(BOB)
        self.proxy.receive(answer(atBob, 200, "OK", body=SDP), BOB)
        self.proxy.receive(
            invite(
                method="ACK",
                uri="sip:bob@192.0.2.20:5060",
                branch="z9hG4bKalice-ack",
                toTag="bobtag",
                body=b"",
                route="<sip:192.0.2.1:5060;lr>",
            ),
            ALICE,
        )
        self.proxy.sent()
