"""
The side-by-side benchmark (C{benchmarks/compare.py}) still runs: a few
seconds of basic calls at a low rate through a real keepsip and a real
Kamailio (SIPp on both sides, loopback), and its JSON report holds every
figure, consistent with itself. The figures' values are not judged here
(they depend on the machine); docs/performance.md has those.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from twisted.trial.unittest import TestCase

from .helpers import requireExternal, skipOrFail

ROOT = Path(__file__).resolve().parent.parent
FIELDS = (
    "attempted",
    "succeeded",
    "failed",
    "callee_failed",
    "retransmissions",
    "achieved_rate",
    "invite_p50_ms",
    "invite_p99_ms",
    "cpu_s",
    "cpu_us_per_call",
    "peak_rss_kb",
    "peak_pss_kb",
)


class CompareTests(TestCase):
    def setUp(self) -> None:
        requireExternal("sipp")
        path = os.environ.get("PATH", "") + os.pathsep + "/usr/local/sbin:/usr/sbin:/sbin"
        if shutil.which("kamailio", path=path) is None:
            skipOrFail("kamailio is not installed (scripts/test installs it)")
        self.workdir = Path(tempfile.mkdtemp(prefix="test-compare-"))
        self.addCleanup(shutil.rmtree, self.workdir, True)

    def test_reportFieldsConsistent(self) -> None:
        """
        60 basic calls at 30 calls/s through keepsip, then through
        Kamailio: the command exits 0, the report has one run per proxy
        with every figure; attempted = succeeded + failed = 60, CPU was
        spent (> 0 s) by each proxy, the response-time percentiles come
        from one sample per answered call with p50 <= p99, and the summary
        gives the same counts as the runs.
        """
        out = self.workdir / "report.json"
        result = subprocess.run(
            [
                sys.executable,
                str(ROOT / "benchmarks" / "compare.py"),
                "--scenario=basic",
                "--calls=60",
                "--rate=30",
                "--rounds=1",
                f"--json={out}",
            ],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        self.assertEqual(result.returncode, 0, result.stdout[-2000:] + result.stderr[-3000:])
        report = json.loads(out.read_text())
        runs = report["runs"]
        self.assertEqual([r["proxy"] for r in runs], ["keepsip", "kamailio"])
        for run in runs:
            for field in FIELDS:
                self.assertIsNotNone(run.get(field), (run["proxy"], field))
            self.assertEqual(run["attempted"], 60, run)
            self.assertEqual(run["succeeded"] + run["failed"], run["attempted"], run)
            self.assertGreater(run["cpu_s"], 0, run)
            self.assertEqual(run["rtt_samples"], run["succeeded"], run)
            self.assertLessEqual(run["invite_p50_ms"], run["invite_p99_ms"], run)
            self.assertGreater(run["peak_pss_kb"], 0, run)
            summary = report["summary"]["basic"][run["proxy"]]
            self.assertEqual(
                (summary["attempted"], summary["succeeded"], summary["failed"]),
                (run["attempted"], run["succeeded"], run["failed"]),
            )
        # The human table names both proxies and their ratio.
        self.assertIn("keepsip/kamailio", result.stdout)
