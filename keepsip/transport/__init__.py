"""
keepsip's transport: SIP over UDP.

  - L{keepsip.transport.udp}: the datagram protocol, one per listening port
    (parse, validate, stamp C{received}/C{rport}, hand over; send);
  - L{keepsip.transport.selector}: which open socket sends to an address
    (a response: the one its request came in on);
  - L{keepsip.transport.icmp}: a UDP port that learns which destination an
    ICMP error was for (Linux);
  - L{keepsip.transport.listener}: the listening service.

This package depends on L{keepsip.sip} only: the layers above (the
transaction layer) are handed to it as a controller at construction.
"""
