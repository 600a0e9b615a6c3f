"""
keepsip's wire layer: SIP messages, their one-pass parser, header value types
and request validation.

  - L{keepsip.sip.message}: L{Message}, L{Request}, L{Response};
  - L{keepsip.sip.parser}: L{parseDatagram}, L{ParseError};
  - L{keepsip.sip.uri}: L{URI}, L{AbsoluteURI}, L{parseURI};
  - L{keepsip.sip.headers}: L{CSeq} and the cached header accessors;
  - L{keepsip.sip.via}: L{Via}; L{keepsip.sip.nameaddr}: L{NameAddr};
  - L{keepsip.sip.grammar}: tokens, quoted-strings, lists, parameters;
  - L{keepsip.sip.validate}: L{checkRequest}.
"""

from keepsip.sip.headers import CSeq, newBranch, newTag
from keepsip.sip.message import Message, Request, Response
from keepsip.sip.nameaddr import NameAddr
from keepsip.sip.parser import ParseError, parseDatagram
from keepsip.sip.uri import URI, AbsoluteURI, parseURI
from keepsip.sip.validate import checkRequest
from keepsip.sip.via import Via

__all__ = [
    "AbsoluteURI",
    "CSeq",
    "Message",
    "NameAddr",
    "ParseError",
    "Request",
    "Response",
    "URI",
    "Via",
    "checkRequest",
    "newBranch",
    "newTag",
    "parseDatagram",
    "parseURI",
]
