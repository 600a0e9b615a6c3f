from keepsip.accounting.plugin import Argument, BackendFactory

acme = BackendFactory(
    name="acme",
    help="Append a line per record to the ACME billing outbox.",
    arguments=[
        Argument("outbox", "FILE", help="the outbox file."),
        Argument("account", "NAME", default="default", help="ACME account."),
    ],
    builder="acme_accounting.backend.AcmeBackend",
)
