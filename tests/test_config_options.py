"""
Tests for L{keepsip.config.options}: the option table agrees with the
settings it feeds.
"""

from __future__ import annotations

from dataclasses import fields

from twisted.trial.unittest import SynchronousTestCase

from keepsip.config.options import OPTIONS, TABLES
from keepsip.config.settings import Config
from keepsip.keepalive.manager import KeepaliveSettings


class OptionTableTests(SynchronousTestCase):
    """
    L{OPTIONS} against L{Config} and L{KeepaliveSettings}.
    """

    def test_tableMatchesConfig(self) -> None:
        """
        Every row of the option table sets a field of L{Config}, and every
        field but C{configFile} comes from a row.
        """
        self.assertEqual(
            {o.attribute for o in OPTIONS},
            {f.name for f in fields(Config)} - {"configFile"} - set(TABLES),
        )

    def test_rowDefaultsMatchConfigDefaults(self) -> None:
        """
        The table's defaults and the dataclass defaults agree, so C{Config()}
        means the same as an empty command line (apart from C{advertise}).
        """
        plain = Config()
        for option in OPTIONS:
            value = option.defaultValue()
            if value is None:
                continue
            if option.attribute == "domains":
                value = frozenset(value)
            self.assertEqual(getattr(plain, option.attribute), value, option.name)

    def test_keepaliveRowsNameSettingsFields(self) -> None:
        """
        Every row that feeds the keepalive settings names a distinct field of
        L{KeepaliveSettings}.
        """
        named = [o.keepalive for o in OPTIONS if o.keepalive]
        self.assertEqual(len(named), len(set(named)))
        self.assertTrue(set(named) <= {f.name for f in fields(KeepaliveSettings)}, named)

    def test_keepaliveDefaultsMatchSettingsDefaults(self) -> None:
        """
        The table's default of each keepalive row equals the default of the
        L{KeepaliveSettings} field it feeds, so the table is the one source of
        keepalive defaults and C{KeepaliveSettings()} agrees with it.
        """
        plain = KeepaliveSettings()
        for option in OPTIONS:
            if option.keepalive:
                self.assertEqual(
                    getattr(plain, option.keepalive), option.defaultValue(), option.name
                )
