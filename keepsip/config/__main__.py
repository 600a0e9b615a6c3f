"""
C{python -m keepsip.config --markdown | --toml}: print the option reference
table or the commented configuration file.
"""

import sys

from keepsip.config.reference import main

raise SystemExit(main(sys.argv[1:]))
