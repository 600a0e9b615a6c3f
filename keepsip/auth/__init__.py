"""
Who may use keepsip: digest authentication (RFC 3261 §22, RFC 8760) with
credential checkers from C{twisted.cred} chosen by C{--auth TYPE:ARGS},
trusted peers, and per-source limits. See docs/auth.md.

  - L{keepsip.auth.digest}: header values and the credentials checkers see;
  - L{keepsip.auth.nonces}: stateless, MACed nonces and nonce-count replay
    protection;
  - L{keepsip.auth.checkers}: finding checkers as plugins;
  - L{keepsip.auth.htdigest}: the C{htdigest} file checker;
  - L{keepsip.auth.peers}: C{--trusted} networks;
  - L{keepsip.auth.transactionuser}: the transaction user in front of the
    keepalive wrapper that challenges, authorizes and rate-limits;
  - L{keepsip.auth.service}: reload on SIGHUP and the start-up warning.
"""
