"""
The reference documents generated from the option table: the README's
options table (L{markdownTable}) and the commented C{etc/keepsip.toml}
(L{tomlTemplate}).  Tests keep the committed copies in step;
C{python -m keepsip.config --markdown | --toml} prints them.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

from keepsip.config.option import Option
from keepsip.config.options import OPTIONS


def _tomlLiteral(option: Option, raw: Any) -> str:
    if option.flag:
        return "true" if raw else "false"
    if option.multiple:
        return "[" + ", ".join(_tomlLiteral(_single(option), r) for r in raw) + "]"
    if option.kind == "string":
        return '"' + str(raw).replace("\\", "\\\\").replace('"', '\\"') + '"'
    return str(raw)


def _single(option: Option) -> Option:
    return Option(option.name, option.parse, None, option.help, option.kind)


def _defaultText(option: Option) -> str:
    if option.default is None:
        return "computed"
    if option.flag:
        return f"--{option.name}" if option.default else f"--no-{option.name}"
    if not option.default:
        return "none"
    return ", ".join(option.default) if option.multiple else str(option.default)


def markdownTable() -> str:
    """
    The option reference as a Markdown table (the README's table is this).
    """
    rows = [
        "| Option (TOML key) | Value | Default | What it does |",
        "|---|---|---|---|",
    ]
    for option in OPTIONS:
        name = f"`--{option.name}`" + (f" / `--no-{option.name}`" if option.flag else "")
        value = "flag" if option.flag else f"`{option.metavar}`"
        if option.multiple:
            value += " (repeatable)"
        default = _defaultText(option)
        default = default if default in ("computed", "none") else f"`{default}`"
        helpText = option.help.replace("|", "\\|").replace("*", "\\*")
        rows.append(f"| {name} | {value} | {default} | {helpText} |")
    return "\n".join(rows) + "\n"


def tomlTemplate() -> str:
    """
    A configuration file listing every option, commented out, with its
    default and one line of explanation (C{etc/keepsip.toml} is this).
    """
    lines = [
        "# keepsip configuration: twistd -n keepsip --config etc/keepsip.toml",
        "# Every key is a command-line option of the same name; the command line wins.",
        "# Each option below is commented out and shows its default.",
        "",
    ]
    for option in OPTIONS:
        lines.append(f"# {option.help}")
        if option.default is None or (not option.flag and not option.default):
            lines.append(f"# Default: {_defaultText(option)}. Example:")
            lines.append(f"# {option.name} = {_tomlLiteral(option, option.example)}")
        else:
            lines.append(f"# {option.name} = {_tomlLiteral(option, option.default)}")
        lines.append("")
    lines += [
        "# Tariffs for rating call records (TOML only; see docs/accounting.md); an example:",
        "## [tariffs]",
        '## currency = "EUR"',
        '## rounding = "ROUND_HALF_UP"',
        "## places = 2",
        "## [tariffs.default]",
        '## fixed = "0.05"',
        '## per_minute = "0.02"',
        '## increments = "60/60"',
        '## per_mb = { audio = "0", video = "0.01", other = "0.01" }',
        '## [tariffs.prefix."44"]',
        '## per_minute = "0.05"',
        '## increments = "30/6"',
        "",
    ]
    return "\n".join(lines)


def main(argv: Sequence[str], out: Any = sys.stdout) -> int:
    """
    C{python -m keepsip.config --markdown | --toml}: print the option
    reference table or the commented configuration file.
    """
    if list(argv) == ["--markdown"]:
        out.write(markdownTable())
        return 0
    if list(argv) == ["--toml"]:
        out.write(tomlTemplate())
        return 0
    sys.stderr.write("usage: python -m keepsip.config --markdown | --toml\n")
    return 2
