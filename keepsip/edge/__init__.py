"""
The edge role (C{--role edge}, patent WO 00/33550 claims 9-10): a proxy
beside ordinary phones that sends continue-call keepalives to the core
keepsip on their behalf while their media flows.

  - L{keepsip.edge.transactionuser}: the transaction user in front of the
    edge's stack: REGISTERs get a C{Path} (RFC 3327), requests from local
    phones go to the core;
  - L{keepsip.edge.registrations}: when each phone's registration expires;
  - L{keepsip.edge.recorder}: the last INVITE of each call as the core saw
    it (what the edge sent, SDP rewritten);
  - L{keepsip.edge.keepalives}: the keepalive generator, driven by the
    media relay's statistics, and why it stopped;
  - L{keepsip.edge.service}: builds and starts them for the composition
    root.

See docs/edge.md.
"""
