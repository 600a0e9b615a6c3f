"""
Micro-benchmark of L{keepsip.sip.parser.parseDatagram}: a typical INVITE with
SDP, parsed N times, then the accessors a proxy reads and a re-serialisation.

Usage: python benchmarks/parse.py [N]
"""

from __future__ import annotations

import sys
import timeit

from keepsip.sip.headers import cseq, fromHeader, toHeader, topVia
from keepsip.sip.parser import parseDatagram
from keepsip.sip.validate import checkRequest

SDP = (
    b"v=0\r\n"
    b"o=alice 2890844526 2890844526 IN IP4 192.0.2.101\r\n"
    b"s=-\r\n"
    b"c=IN IP4 192.0.2.101\r\n"
    b"t=0 0\r\n"
    b"m=audio 49172 RTP/AVP 0 8 101\r\n"
    b"a=rtpmap:0 PCMU/8000\r\n"
    b"a=rtpmap:8 PCMA/8000\r\n"
    b"a=rtpmap:101 telephone-event/8000\r\n"
    b"a=sendrecv\r\n"
)

INVITE = (
    b"INVITE sip:bob@biloxi.example.com SIP/2.0\r\n"
    b"Via: SIP/2.0/UDP pc33.atlanta.example.com:5060;branch=z9hG4bKnashds8;rport\r\n"
    b"Max-Forwards: 70\r\n"
    b"To: Bob <sip:bob@biloxi.example.com>\r\n"
    b'From: "Alice" <sip:alice@atlanta.example.com>;tag=1928301774\r\n'
    b"Call-ID: a84b4c76e66710@pc33.atlanta.example.com\r\n"
    b"CSeq: 314159 INVITE\r\n"
    b"Contact: <sip:alice@pc33.atlanta.example.com>\r\n"
    b"Allow: INVITE, ACK, CANCEL, OPTIONS, BYE, REFER, NOTIFY, INFO, UPDATE\r\n"
    b"Supported: replaces, timer\r\n"
    b"User-Agent: keepsip-bench/1.0\r\n"
    b"Content-Type: application/sdp\r\n"
    b"Content-Length: " + str(len(SDP)).encode() + b"\r\n"
    b"\r\n" + SDP
)


def run(n: int) -> None:
    source = ("192.0.2.101", 5060)
    parse = timeit.timeit(lambda: parseDatagram(INVITE, source), number=n)

    def full() -> None:
        msg = parseDatagram(INVITE, source)
        checkRequest(msg)
        topVia(msg), cseq(msg), fromHeader(msg), toHeader(msg)
        msg.toBytes()

    everything = timeit.timeit(full, number=n)
    msg = parseDatagram(INVITE, source)
    serialise = timeit.timeit(msg.toBytes, number=n)
    print(f"INVITE with SDP, {len(INVITE)} bytes, {n} iterations")
    print(f"  parseDatagram:                       {parse / n * 1e6:7.1f} us")
    print(f"  toBytes:                             {serialise / n * 1e6:7.1f} us")
    print(f"  parse + checkRequest + accessors + toBytes: {everything / n * 1e6:7.1f} us")


if __name__ == "__main__":
    run(int(sys.argv[1]) if len(sys.argv) > 1 else 20000)
