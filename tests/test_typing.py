"""
keepsip's type hints are checked: mypy (with the mypy-zope plugin, so zope
interfaces are understood) passes on the package, as configured in
pyproject.toml.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys

from twisted.trial.unittest import TestCase

from .helpers import skipOrFail

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class MypyTests(TestCase):
    def test_packageTypeChecks(self) -> None:
        """
        C{mypy} reports no error in C{keepsip/}.
        """
        for module in ("mypy", "mypy_zope"):
            if importlib.util.find_spec(module) is None:
                skipOrFail(f"{module} is not installed (pip install -e '.[test]')")
        result = subprocess.run(
            [sys.executable, "-m", "mypy", "--cache-dir", os.path.join(ROOT, ".mypy_cache")],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=600,
        )
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
