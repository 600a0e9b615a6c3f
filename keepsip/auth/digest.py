"""
SIP digest authentication values (RFC 3261 §22.4, RFC 8760): parsing an
C{Authorization}/C{Proxy-Authorization} header, formatting a challenge, and
the credentials handed to a C{twisted.cred} checker.

L{DigestCredentials} provides both C{IUsernameDigestHash} (a checker that
stores HA1 values, like the C{htdigest} one, calls C{checkHash(ha1)}) and
C{IUsernameHashedPassword} (a checker that knows passwords, like Twisted's
own C{memory:} and C{file:} checkers, calls C{checkPassword(password)}), so
both kinds of user database work unchanged.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass

from twisted.cred.credentials import IUsernameDigestHash, IUsernameHashedPassword
from zope.interface import implementer

from keepsip.sip.grammar import splitQuoted

#: The algorithms keepsip verifies, by their RFC 8760 names, with the hash
#: each uses.
ALGORITHMS: dict[str, str] = {"MD5": "md5", "SHA-256": "sha256"}

_PARAM = re.compile(r"\s*([A-Za-z][A-Za-z0-9\-_]*)\s*=\s*(.*?)\s*\Z", re.S)
_NC = re.compile(r"[0-9a-fA-F]{8}\Z")
_HEX = re.compile(r"[0-9a-f]+\Z")
_QUOTED_PAIR = re.compile(r"\\(.)", re.S)


class MalformedCredentials(ValueError):
    """
    An C{Authorization} or C{Proxy-Authorization} value keepsip cannot read;
    the text says why, in one line.
    """


def hashHex(algorithm: str, text: str) -> str:
    """
    The lower-case hex digest of C{text} (UTF-8, undecodable octets kept)
    with the hash of the RFC 8760 C{algorithm}.
    """
    return hashlib.new(ALGORITHMS[algorithm], text.encode("utf-8", "surrogateescape")).hexdigest()


def ha1(algorithm: str, username: str, realm: str, password: str) -> str:
    """
    RFC 3261 §22.4 / RFC 8760 HA1: C{H(username:realm:password)}.
    """
    return hashHex(algorithm, f"{username}:{realm}:{password}")


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == '"' and value[-1] == '"':
        inner = value[1:-1]
        return _QUOTED_PAIR.sub(r"\1", inner) if "\\" in inner else inner
    if '"' in value:
        raise MalformedCredentials(f"bad quoting in {value!r}")
    return value


def parseDigest(value: str) -> dict[str, str]:
    """
    Parse C{Digest name=value, ...} into lower-case names and unquoted
    values.

    @raise MalformedCredentials: not a Digest value, a parameter without
        C{=}, a parameter given twice, bad quoting.
    """
    scheme, _, rest = value.strip().partition(" ")
    if scheme.lower() != "digest":
        raise MalformedCredentials(f"scheme {scheme[:20]!r} is not Digest")
    try:
        items = splitQuoted(rest, ",")
    except ValueError:
        raise MalformedCredentials("unterminated quoted-string") from None
    params: dict[str, str] = {}
    for item in items:
        if not item.strip():
            continue
        match = _PARAM.match(item)
        if match is None:
            raise MalformedCredentials(f"expected name=value, got {item.strip()[:40]!r}")
        name = match.group(1).lower()
        if name in params:
            raise MalformedCredentials(f"parameter {name!r} given twice")
        params[name] = _unquote(match.group(2))
    return params


@implementer(IUsernameDigestHash, IUsernameHashedPassword)
@dataclass(frozen=True)
class DigestCredentials:
    """
    One digest response, checked against an HA1 or a password.

    @ivar user: the C{username} parameter (C{username}, the attribute
        C{twisted.cred} checkers read, is the same as UTF-8 L{bytes}, as
        Twisted's own checkers key their users).
    @ivar realm: the C{realm} parameter.
    @ivar algorithm: C{MD5} or C{SHA-256} (see L{ALGORITHMS}).
    @ivar method: the request method (part of HA2).
    @ivar uri: the C{uri} parameter (part of HA2).
    @ivar nonce: the C{nonce} parameter.
    @ivar response: the C{response} parameter, lower-case hex.
    @ivar qop: C{auth}, or C{""} for an RFC 2069 response without qop.
    @ivar nc: the nonce count as an integer (1 without qop).
    @ivar ncText: the nonce count as sent (C{""} without qop).
    @ivar cnonce: the C{cnonce} parameter (C{""} without qop).
    """

    user: str
    realm: str
    algorithm: str
    method: str
    uri: str
    nonce: str
    response: str
    qop: str = ""
    nc: int = 1
    ncText: str = ""
    cnonce: str = ""

    @classmethod
    def fromHeader(cls, value: str, method: str) -> "DigestCredentials":
        """
        Read one C{Authorization}/C{Proxy-Authorization} value.

        @raise MalformedCredentials: a malformed value or a missing
            parameter.
        @raise UnknownAlgorithm: an algorithm keepsip does not verify.
        """
        params = parseDigest(value)
        for name in ("username", "realm", "nonce", "uri", "response"):
            if name not in params:
                raise MalformedCredentials(f"missing parameter {name!r}")
        algorithm = params.get("algorithm", "MD5")
        canonical = {name.upper(): name for name in ALGORITHMS}.get(algorithm.upper())
        if canonical is None:
            raise UnknownAlgorithm(algorithm)
        response = params["response"].lower()
        if not _HEX.match(response):
            raise MalformedCredentials("response is not hex")
        qop = params.get("qop", "")
        if qop == "":
            return cls(
                params["username"], params["realm"], canonical, method, params["uri"],
                params["nonce"], response,
            )
        if qop.lower() != "auth":
            raise MalformedCredentials(f"qop {qop[:20]!r} is not auth")
        ncText = params.get("nc", "")
        if not _NC.match(ncText):
            raise MalformedCredentials("nc is not 8 hex digits")
        cnonce = params.get("cnonce", "")
        if not cnonce:
            raise MalformedCredentials("qop=auth without cnonce")
        return cls(
            params["username"], params["realm"], canonical, method, params["uri"],
            params["nonce"], response, "auth", int(ncText, 16), ncText, cnonce,
        )

    @property
    def username(self) -> bytes:
        """
        The user name as C{twisted.cred} expects it: UTF-8 L{bytes}.
        """
        return self.user.encode("utf-8", "surrogateescape")

    def expected(self, ha1Hex: str) -> str:
        """
        The response a client knowing C{ha1Hex} computes.
        """
        algorithm = self.algorithm
        ha2 = hashHex(algorithm, f"{self.method}:{self.uri}")
        if self.qop:
            material = f"{ha1Hex}:{self.nonce}:{self.ncText}:{self.cnonce}:{self.qop}:{ha2}"
        else:
            material = f"{ha1Hex}:{self.nonce}:{ha2}"
        return hashHex(algorithm, material)

    # -- twisted.cred ------------------------------------------------------

    def checkHash(self, digestHash: object) -> bool:
        """
        C{IUsernameDigestHash}: is the response right for the HA1
        C{digestHash} (hex, of this credential's algorithm)?
        """
        if isinstance(digestHash, bytes):
            digestHash = digestHash.decode("ascii", "replace")
        if not isinstance(digestHash, str):
            return False
        return hmac.compare_digest(self.expected(digestHash.lower()), self.response)

    def checkPassword(self, password: object) -> bool:
        """
        C{IUsernameHashedPassword}: is the response right for C{password}?
        """
        if isinstance(password, bytes):
            password = password.decode("utf-8", "surrogateescape")
        if not isinstance(password, str):
            return False
        return self.checkHash(ha1(self.algorithm, self.user, self.realm, password))


class UnknownAlgorithm(MalformedCredentials):
    """
    The credentials name an algorithm keepsip does not verify.
    """

    def __init__(self, algorithm: str) -> None:
        MalformedCredentials.__init__(self, f"unknown algorithm {algorithm[:20]!r}")
        self.algorithm = algorithm


def challenge(realm: str, nonce: str, algorithm: str, stale: bool = False) -> str:
    """
    A C{WWW-Authenticate}/C{Proxy-Authenticate} value offering C{qop=auth}.
    """
    quoted = realm.replace("\\", "\\\\").replace('"', '\\"')
    value = f'Digest realm="{quoted}", nonce="{nonce}", algorithm={algorithm}, qop="auth"'
    if stale:
        value += ", stale=true"
    return value


__all__ = [
    "ALGORITHMS",
    "DigestCredentials",
    "MalformedCredentials",
    "UnknownAlgorithm",
    "challenge",
    "ha1",
    "hashHex",
    "parseDigest",
]
