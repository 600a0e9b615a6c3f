"""
The allocation-site aid (C{benchmarks/dialogsites.py}) still runs: it sets
up a few hundred calls the way C{benchmarks/scale.py} does and names the
keepsip lines that hold their bytes. Sizes are not judged here (they
depend on the Python build); docs/performance.md has them.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from twisted.trial.unittest import SynchronousTestCase

ROOT = Path(__file__).resolve().parent.parent


class DialogSitesTests(SynchronousTestCase):
    def test_reportsKeepsipSites(self) -> None:
        """
        For 256 calls over the memory store it prints a positive total per
        dialog, then the requested number of sites, among them the dialog
        tracker's (where each call's L{Dialog} is made).
        """
        done = subprocess.run(
            [sys.executable, "benchmarks/dialogsites.py", "--calls", "256", "--top", "30"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
        )
        self.assertEqual(done.returncode, 0, done.stderr)
        lines = done.stdout.splitlines()
        self.assertEqual(len(lines), 31, done.stdout)
        total = int(lines[0].split(": ")[1].split()[0])
        self.assertGreater(total, 0)
        self.assertTrue(
            any("keepsip/dialog/tracker.py:" in line for line in lines[1:]), done.stdout
        )

    def test_tooFewCalls(self) -> None:
        """
        Fewer calls than one group of 64 is refused with a one-line usage
        error naming C{--calls}.
        """
        done = subprocess.run(
            [sys.executable, "benchmarks/dialogsites.py", "--calls", "10"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
        )
        self.assertEqual(done.returncode, 2)
        self.assertIn("--calls", done.stderr)
