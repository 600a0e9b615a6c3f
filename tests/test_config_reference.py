"""
Tests for L{keepsip.config.reference}: the README table and
etc/keepsip.toml are generated from the option table.
"""

from __future__ import annotations

import io
import subprocess
import sys
import tomllib
from pathlib import Path

from twisted.trial.unittest import SynchronousTestCase

from keepsip.config import reference
from keepsip.config.load import buildConfig
from keepsip.config.options import OPTIONS

ROOT = Path(__file__).resolve().parent.parent


class GeneratedDocumentationTests(SynchronousTestCase):
    """
    The README table and etc/keepsip.toml are generated from the table.
    """

    def test_tomlTemplateIsShipped(self) -> None:
        """
        etc/keepsip.toml is exactly C{python -m keepsip.config --toml}.
        """
        self.assertEqual((ROOT / "etc" / "keepsip.toml").read_text(), reference.tomlTemplate())

    def test_tomlTemplateUncommented(self) -> None:
        """
        Uncommenting every option line of the template gives a file that
        loads, names every option, and yields the defaults (examples aside).
        """
        text = "\n".join(
            line[2:]
            for line in reference.tomlTemplate().splitlines()
            if line.startswith("# ") and " = " in line
        )
        table = tomllib.loads(text)
        self.assertEqual(set(table), {o.name for o in OPTIONS})
        c = buildConfig({}, table, "template")
        self.assertEqual(c.registrarMinExpires, 60)
        self.assertEqual(c.advertise, ("203.0.113.5", 5060))
        self.assertEqual(len(c.routes), 3)

    def test_documentedTables(self) -> None:
        """
        The option tables of README.md and docs/configuration.md are exactly
        C{python -m keepsip.config --markdown}, between their markers.
        """
        begin, end = "<!-- options:begin -->\n", "<!-- options:end -->"
        for document in (ROOT / "README.md", ROOT / "docs" / "configuration.md"):
            text = document.read_text()
            self.assertIn(begin, text, document)
            table = text.split(begin, 1)[1].split(end, 1)[0]
            self.assertEqual(table, reference.markdownTable(), document)

    def test_main(self) -> None:
        """
        C{main} writes the table or the template and refuses anything else.
        """
        out = io.StringIO()
        self.assertEqual(reference.main(["--markdown"], out), 0)
        self.assertEqual(out.getvalue(), reference.markdownTable())
        out = io.StringIO()
        self.assertEqual(reference.main(["--toml"], out), 0)
        self.assertEqual(out.getvalue(), reference.tomlTemplate())
        self.patch(sys, "stderr", io.StringIO())
        self.assertEqual(reference.main([], out), 2)

    def test_runAsModule(self) -> None:
        """
        C{python -m keepsip.config --toml} (the command the documents name)
        prints the template.
        """
        result = subprocess.run(
            [sys.executable, "-m", "keepsip.config", "--toml"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
        )
        self.assertEqual((result.returncode, result.stderr), (0, ""))
        self.assertEqual(result.stdout, reference.tomlTemplate())
