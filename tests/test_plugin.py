"""
Tests for the twistd plugin C{twisted/plugins/keepsip_plugin.py} and the
packaging that ships it.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

from twisted.application.service import IServiceMaker
from twisted.plugin import getPlugins
from twisted.trial.unittest import SynchronousTestCase

import twisted
from keepsip import tap
from tests.helpers import skipOrFail

ROOT = Path(__file__).resolve().parent.parent
PLUGIN = "twisted/plugins/keepsip_plugin.py"

#: Run in a separate interpreter with sys.path = the unpacked wheel + the
#: site-packages holding Twisted: find the keepsip plugin and say where its
#: modules came from.
FIND_PLUGIN = r"""
import json, os, sys
wheelDir, siteDir, checkout = sys.argv[1:4]
sys.path[:0] = [wheelDir, siteDir]
from twisted.application.service import IServiceMaker
from twisted.plugin import getPlugins
found = [p for p in getPlugins(IServiceMaker) if p.tapname == "keepsip"]
result = {"found": len(found)}
if found:
    result["options"] = found[0].options.__module__
    result["tap"] = sys.modules["keepsip.tap"].__file__
    result["plugin"] = sys.modules["twisted.plugins.keepsip_plugin"].__file__
result["checkoutOnPath"] = any(
    os.path.realpath(p or os.getcwd()) == os.path.realpath(checkout) for p in sys.path
)
print(json.dumps(result))
"""


class PluginTests(SynchronousTestCase):
    """
    twistd finds keepsip through Twisted's plugin system.
    """

    def test_pluginFound(self) -> None:
        """
        C{getPlugins(IServiceMaker)} yields a plugin with tapname C{keepsip}
        whose options and makeService are those of L{keepsip.tap}.
        """
        found = [p for p in getPlugins(IServiceMaker) if p.tapname == "keepsip"]
        self.assertEqual(len(found), 1, [p.tapname for p in getPlugins(IServiceMaker)])
        self.assertIs(found[0].options, tap.Options)
        self.assertIs(found[0].makeService, tap.makeService)

    def test_namespaceFolders(self) -> None:
        """
        twisted/ and twisted/plugins/ of the checkout have no __init__.py:
        with one, they would shadow Twisted's own package.
        """
        self.assertTrue((ROOT / PLUGIN).is_file())
        self.assertFalse((ROOT / "twisted" / "__init__.py").exists())
        self.assertFalse((ROOT / "twisted" / "plugins" / "__init__.py").exists())


class WheelTests(SynchronousTestCase):
    """
    A wheel built from the checkout ships the plugin, and an interpreter
    that sees only that wheel and Twisted finds it.
    """

    def buildWheel(self) -> Path:
        """
        Build a wheel from a copy of the checkout (so that the checkout gets
        no build/ or egg-info) and return its path.
        """
        for module in ("pip", "setuptools", "wheel"):
            if importlib.util.find_spec(module) is None:
                skipOrFail(f"cannot build a wheel: {module} is not installed")
        scratch = Path(self.mktemp())
        source = scratch / "source"
        shutil.copytree(
            ROOT,
            source,
            ignore=shutil.ignore_patterns(
                ".git", "_trial_temp*", "build", "dist", "*.egg-info", "__pycache__",
                ".venv", "dropin.cache", "tests",
            ),
        )  # fmt: skip
        out = scratch / "dist"
        result = subprocess.run(
            [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
             "--disable-pip-version-check", "-q", "-w", str(out), str(source)],
            check=False,
            capture_output=True,
            text=True,
            timeout=300,
        )  # fmt: skip
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
        wheels = list(out.glob("keepsip-*.whl"))
        self.assertEqual(len(wheels), 1, wheels)
        return wheels[0]

    def test_wheelShipsPlugin(self) -> None:
        """
        The wheel contains the plugin file and the package, and neither
        twisted/__init__.py nor twisted/plugins/__init__.py.
        """
        names = set(zipfile.ZipFile(self.buildWheel()).namelist())
        self.assertIn(PLUGIN, names)
        self.assertIn("keepsip/tap.py", names)
        self.assertIn("keepsip/config/options.py", names)
        self.assertNotIn("twisted/__init__.py", names)
        self.assertNotIn("twisted/plugins/__init__.py", names)

    def test_installedWheelFindsPlugin(self) -> None:
        """
        Unpacked into a directory and run in a fresh interpreter whose path
        is that directory plus Twisted's site-packages (not the checkout),
        C{getPlugins} finds keepsip, loaded from the wheel.
        """
        siteDir = Path(twisted.__file__).resolve().parent.parent
        if (siteDir / PLUGIN).exists():
            skipOrFail(
                f"{siteDir / PLUGIN} exists (a non-editable install of keepsip): it "
                "would hide the wheel's copy; pip install -e . or uninstall keepsip"
            )
        wheelDir = Path(self.mktemp()).resolve()
        zipfile.ZipFile(self.buildWheel()).extractall(wheelDir)
        result = subprocess.run(
            [sys.executable, "-I", "-S", "-c", FIND_PLUGIN, str(wheelDir), str(siteDir), str(ROOT)],
            check=False,
            capture_output=True,
            text=True,
            timeout=120,
            cwd=str(wheelDir),
        )
        self.assertEqual(result.returncode, 0, result.stderr)
        found = json.loads(result.stdout)
        self.assertEqual(found["found"], 1, found)
        self.assertFalse(found["checkoutOnPath"], found)
        self.assertEqual(found["options"], "keepsip.tap")
        for key in ("tap", "plugin"):
            self.assertTrue(
                os.path.realpath(found[key]).startswith(str(wheelDir) + os.sep), (key, found)
            )
