"""
The C{htdigest} credentials checker: C{--auth htdigest:path=FILE}.

The file is Apache's C{htdigest} format, one user per line::

    alice:sip.example.com:5f4dcc3b5aa765d61d8327deb882cf99

C{user:realm:HA1}, HA1 being the hex MD5 of C{user:realm:password}, so
operators manage it with C{htdigest} from C{apache2-utils}. That format
cannot carry a SHA-256 HA1 and C{htdigest} never writes one, so keepsip reads
a line whose HA1 has 64 hex digits as the SHA-256 HA1 (RFC 8760) of that user
and realm: a user who may authenticate with SHA-256 has a second line,
written by hand or script (see docs/auth.md). Blank lines and lines starting
with C{#} are skipped.

The file is read when the checker is made (an unreadable or malformed file
is a one-line L{ValueError}) and again on L{HtdigestChecker.reload} (keepsip
calls it on SIGHUP); a reload that fails keeps the table it had.
"""

from __future__ import annotations

import re
from typing import Any

from twisted.cred.checkers import ICredentialsChecker
from twisted.cred.credentials import IUsernameDigestHash
from twisted.cred.error import UnauthorizedLogin
from twisted.internet.defer import fail, succeed
from zope.interface import implementer

from keepsip.logs import Logger

log = Logger()

_HA1 = {32: "MD5", 64: "SHA-256"}
_HEX = re.compile(r"[0-9a-fA-F]+\Z")


def readHtdigest(path: str) -> dict[tuple[str, str, str], str]:
    """
    Read an htdigest file.

    @return: C{(user, realm, algorithm)} -> lower-case HA1.
    @raise ValueError: one line: the file cannot be read, or which line is
        malformed.
    """
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        raise ValueError(f"cannot read {path!r}: {e.strerror}") from None
    table: dict[tuple[str, str, str], str] = {}
    for number, raw in enumerate(data.decode("utf-8", "surrogateescape").splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        user, sep, rest = line.partition(":")
        realm, sep2, digest = rest.rpartition(":")
        algorithm = _HA1.get(len(digest))
        if not (sep and sep2 and user) or algorithm is None or not _HEX.match(digest):
            raise ValueError(f"{path}:{number}: expected user:realm:HA1 (32 or 64 hex digits)")
        table[(user, realm, algorithm)] = digest.lower()
    return table


@implementer(ICredentialsChecker)
class HtdigestChecker:
    """
    Checks digest credentials against the HA1 values of an htdigest file.

    @ivar path: the file.
    @ivar users: how many C{(user, realm, algorithm)} entries are loaded.
    """

    credentialInterfaces = (IUsernameDigestHash,)

    def __init__(self, path: str) -> None:
        self.path = path
        self._table = readHtdigest(path)

    @property
    def users(self) -> int:
        return len(self._table)

    def reload(self) -> bool:
        """
        Read the file again; on failure keep the current table and log why.

        @return: whether the new table is in use.
        """
        try:
            table = readHtdigest(self.path)
        except ValueError as e:
            log.error("auth: keeping the old users: {error}", error=str(e))
            return False
        self._table = table
        log.info("auth: read {count} entries from {path}", count=len(table), path=self.path)
        return True

    def requestAvatarId(self, credentials: Any) -> Any:
        """
        @return: a Deferred firing with the user name (L{str}), or failing with
            L{UnauthorizedLogin}.
        """
        username = credentials.username
        if isinstance(username, bytes):
            username = username.decode("utf-8", "surrogateescape")
        key = (username, credentials.realm, getattr(credentials, "algorithm", "MD5"))
        stored = self._table.get(key)
        if stored is not None and credentials.checkHash(stored):
            return succeed(username)
        return fail(UnauthorizedLogin())


__all__ = ["HtdigestChecker", "readHtdigest"]
