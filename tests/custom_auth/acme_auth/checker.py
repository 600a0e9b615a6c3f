"""
The ACME directory checker: users and passwords from a JSON object
C{{"user": "password", ...}}, as ACME's provisioning system writes it.

It knows passwords, so it accepts C{IUsernameHashedPassword} credentials
and lets them check the password (keepsip's digest credentials compute the
digest from it). A checker that stores HA1 values would accept
C{IUsernameDigestHash} and call C{credentials.checkHash(ha1)} instead.
"""

import json

from twisted.cred.checkers import ICredentialsChecker
from twisted.cred.credentials import IUsernameHashedPassword
from twisted.cred.error import UnauthorizedLogin
from twisted.internet.defer import fail, succeed
from zope.interface import implementer


@implementer(ICredentialsChecker)
class AcmeChecker:
    credentialInterfaces = (IUsernameHashedPassword,)

    def __init__(self, directory, tenant="default"):
        try:
            with open(directory, encoding="utf-8") as f:
                self.users = json.load(f)
        except (OSError, ValueError) as e:
            # keepsip shows a ValueError as one line naming --auth.
            raise ValueError(f"cannot read {directory!r}: {e}") from None
        self.tenant = tenant

    def requestAvatarId(self, credentials):
        user = credentials.username.decode("utf-8")
        password = self.users.get(user)
        if password is not None and credentials.checkPassword(password):
            return succeed(user)
        return fail(UnauthorizedLogin())
