"""
Digest authentication with real user agents: SIPp with C{-au}/C{-ap} and
the C{[authentication]} keyword registering and calling through a real
keepsip process whose users are in a file made by Apache's C{htdigest}, and a
REGISTER flood from one source against the registrar's limits.
"""

from __future__ import annotations

import subprocess

from twisted.internet.defer import inlineCallbacks
from twisted.python.filepath import FilePath

from tests.helpers import requireExternal
from tests.integration._harness import IntegrationTestCase, KeepsipProcess
from tests.integration.test_accounting import readRecords, stops, waitForRecords

REALM = "keepsip.test"


def htdigest(binary: str, path: FilePath, user: str, password: str) -> None:
    """
    Add C{user} to the htdigest file C{path} with the real C{htdigest}
    (which reads the password twice from stdin when it is not a terminal).
    """
    argv = [binary] + ([] if path.exists() else ["-c"]) + [path.path, REALM, user]
    subprocess.run(argv, input=f"{password}\n{password}\n", text=True, check=True, capture_output=True, timeout=10)


class AuthenticatedSippTests(IntegrationTestCase):
    """
    SIPp user agents authenticating to keepsip.
    """

    def setUp(self) -> None:
        super().setUp()
        self.users = FilePath(self.mktemp())
        binary = requireExternal("htdigest")
        htdigest(binary, self.users, "alice", "wonderland")
        htdigest(binary, self.users, "sipp", "s1pp-secret")

    def startAuthenticatedKeepsip(self, *args: str):  # type: ignore[no-untyped-def]
        return self.startKeepsip(
            "--auth", f"htdigest:path={self.users.path}", "--auth-realm", REALM, *args
        )

    def register(self, keepsip: KeepsipProcess, scenario: str, user: str, password: str):  # type: ignore[no-untyped-def]
        return self.runSipp(
            scenario, "-s", user, "-au", user, "-ap", password, "-m", "1",
            "-recv_timeout", "10s", remote=keepsip.address, timeout=30,
        )  # fmt: skip

    @inlineCallbacks
    def test_register(self):  # type: ignore[no-untyped-def]
        """
        A REGISTER is challenged with 401 and WWW-Authenticate (MD5,
        qop=auth, keepsip's realm); SIPp's answer with the right password
        gets 200 listing the binding.
        """
        keepsip = yield self.startAuthenticatedKeepsip()
        result = yield self.register(keepsip, "register_auth.xml", "alice", "wonderland")
        self.assertAllCallsSucceeded(result, 1)
        [challenge] = result.received(401)
        [offer] = challenge.headers("WWW-Authenticate")
        self.assertIn(f'realm="{REALM}"', offer)
        self.assertIn('qop="auth"', offer)
        [ok] = result.received(200)
        self.assertIn("sip:alice@", ",".join(ok.headers("Contact")))

    @inlineCallbacks
    def test_registerWrongPassword(self):  # type: ignore[no-untyped-def]
        """
        A wrong password gets 401 again, then 403; and no binding (a call
        to that user then finds nobody).
        """
        keepsip = yield self.startAuthenticatedKeepsip()
        result = yield self.register(keepsip, "register_auth_rejected.xml", "alice", "wrong")
        self.assertAllCallsSucceeded(result, 1)
        self.assertEqual(len(result.received(401)), 2)
        self.assertEqual(len(result.received(403)), 1)

    @inlineCallbacks
    def test_registerSomeoneElse(self):  # type: ignore[no-untyped-def]
        """
        Alice's right password does not let her register bob's
        address-of-record: 401, then 403.
        """
        keepsip = yield self.startAuthenticatedKeepsip()
        # register_auth.xml expects 200 after the challenge: the 403 fails
        # the SIPp call, which is what is checked.
        result = yield self.runSipp(
            "register_auth.xml", "-s", "bob", "-au", "alice", "-ap", "wonderland",
            "-m", "1", "-recv_timeout", "10s", remote=keepsip.address, timeout=30,
        )  # fmt: skip
        self.assertEqual(len(result.received(403)), 1, result.describe())
        self.assertEqual(result.received(200), [])

    @inlineCallbacks
    def test_call(self):  # type: ignore[no-untyped-def]
        """
        An INVITE is challenged with 407 and Proxy-Authenticate; SIPp's
        answer with the right password is forwarded (without keepsip's
        Proxy-Authorization) to the callee, the call completes, the BYE is
        not challenged, and the call record names the authenticated user
        in caller.auth_user.
        """
        callee = self.startSipp("uas.xml", "-m", "1", timeout=60)
        yield callee.whenListening()
        cdr = FilePath(self.mktemp())
        keepsip = yield self.startAuthenticatedKeepsip(
            "--route", f"*=sip:{callee.address}", "--accounting", f"jsonl:path={cdr.path}"
        )
        caller = yield self.runSipp(
            "uac_auth.xml", "-s", "bob", "-au", "sipp", "-ap", "s1pp-secret", "-m", "1",
            "-recv_timeout", "10s", remote=keepsip.address, timeout=30,
        )  # fmt: skip
        answered = yield callee.result()
        self.assertAllCallsSucceeded(caller, 1)
        self.assertAllCallsSucceeded(answered, 1)
        [challenge] = caller.received(407)
        self.assertTrue(challenge.headers("Proxy-Authenticate"))
        [invite] = answered.received("INVITE")
        self.assertEqual(invite.headers("Proxy-Authorization"), [])
        self.assertEqual(len(answered.received("BYE")), 1)
        records = yield waitForRecords(
            self.reactor, lambda: readRecords(cdr), lambda r: bool(stops(r)), 10, "stop record"
        )
        [stop] = stops(records)
        self.assertEqual(stop["caller"]["auth_user"], "sipp")

    @inlineCallbacks
    def test_callWrongPassword(self):  # type: ignore[no-untyped-def]
        """
        A call with a wrong password gets 407 again, then 403; nothing
        reaches the callee.
        """
        callee = self.startSipp("uas.xml", "-m", "1", timeout=60)
        yield callee.whenListening()
        keepsip = yield self.startAuthenticatedKeepsip("--route", f"*=sip:{callee.address}")
        caller = yield self.runSipp(
            "uac_auth_rejected.xml", "-s", "bob", "-au", "sipp", "-ap", "wrong", "-m", "1",
            "-recv_timeout", "10s", remote=keepsip.address, timeout=30,
        )  # fmt: skip
        self.assertAllCallsSucceeded(caller, 1)
        self.assertEqual(len(caller.received(407)), 2)
        self.assertEqual(len(caller.received(403)), 1)
        finished = yield callee.stop()
        self.assertEqual(finished.received("INVITE"), [])


class RegisterFloodTests(IntegrationTestCase):
    """
    A REGISTER flood from one source against the registrar's limits.
    """

    @inlineCallbacks
    def test_floodBounded(self):  # type: ignore[no-untyped-def]
        """
        600 REGISTERs for 600 users from one SIPp at 300/s, with a rate
        limit of 50/s and at most 100 bindings per source: every REGISTER
        is answered (200, 403 or 503 with Retry-After), at most 100 get
        200, and the limits refused the rest; a REGISTER from another source
        still gets 200.
        """
        keepsip = yield self.startKeepsip(
            "--registrar-rate-limit", "50", "--registrar-max-source-bindings", "100"
        )
        result = yield self.runSipp(
            "register_flood.xml", "-r", "300", "-m", "600", "-recv_timeout", "10s",
            remote=keepsip.address, timeout=60,
        )  # fmt: skip
        ok, forbidden, busy = (len(result.received(code)) for code in (200, 403, 503))
        self.assertEqual(ok + forbidden + busy, 600, result.describe())
        self.assertLessEqual(ok, 100)
        self.assertGreater(busy, 0)
        self.assertTrue(all(m.headers("Retry-After") for m in result.received(503)))
        other = yield self.runSipp(
            "register.xml", "-s", "carol", "-i", "127.0.0.2", "-m", "1",
            remote=keepsip.address, timeout=30,
        )  # fmt: skip
        self.assertAllCallsSucceeded(other, 1)
