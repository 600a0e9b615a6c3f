"""
The rows of the option table, one module per subject, each a tuple of
L{Option <keepsip.config.option.Option>} rows in table order:

  - L{keepsip.config.table.routing}: listening, advertising, routing and the
    registrar (C{ROUTING}).
  - L{keepsip.config.table.auth}: digest authentication and trusted peers
    (C{AUTH}).
  - L{keepsip.config.table.transaction}: the RFC 3261 timers (C{TIMERS}) and
    the limits on transactions in progress (C{LIMITS}).
  - L{keepsip.config.table.keepalive}: the keepalive method (C{KEEPALIVE}).
  - L{keepsip.config.table.accounting}: billing (C{ACCOUNTING}).
  - L{keepsip.config.table.operation}: log level, metrics, shutdown
    (C{OPERATION}).
  - L{keepsip.config.table.media}: media anchoring (C{MEDIA}).
  - L{keepsip.config.table.store}: the dialog store (C{STORE}).

L{keepsip.config.options} concatenates them, in the order of C{--help}, into
C{OPTIONS}.
"""
