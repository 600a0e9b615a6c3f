from twisted.cred.credentials import IUsernameHashedPassword

from keepsip.auth.checkers import CheckerFactory

acme = CheckerFactory(
    name="acme",
    help="Users and passwords from the ACME directory (a JSON file).",
    arguments={"directory": None, "tenant": "default"},
    builder="acme_auth.checker.AcmeChecker",
    credentialInterfaces=(IUsernameHashedPassword,),
)
