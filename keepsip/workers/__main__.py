"""
C{python -m keepsip.workers}: one worker process (L{keepsip.workers.process}).
"""

from keepsip.workers.process import main

main()
