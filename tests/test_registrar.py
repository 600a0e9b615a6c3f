"""
Tests for L{keepsip.proxy.registrar}: the registrar (RFC 3261 §10.3) and its
location service, through their public API on a L{Clock}.
"""

from __future__ import annotations

from email.utils import formatdate

from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase
from zope.interface.verify import verifyObject

from keepsip.interfaces import ILocationService
from keepsip.proxy.registrar import LocationService, Registrar, aorKey
from keepsip.sip.message import Request, Response
from keepsip.sip.parser import parseDatagram
from keepsip.sip.uri import parseURI

AOR = "alice@example.com"
PHONE = "sip:alice@192.0.2.10:5060"
LAPTOP = "sip:alice@192.0.2.11:5062"


def register(
    *contacts: str,
    to: str = "<sip:alice@example.com>",
    callID: str = "reg-1",
    cseq: int = 1,
    expires: str | None = None,
) -> Request:
    """
    A REGISTER from Alice with one Contact header per value of C{contacts}
    (each a whole Contact value, e.g. C{"<sip:a@h>;expires=60"} or C{"*"}).
    """
    lines = [
        "REGISTER sip:example.com SIP/2.0",
        f"Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bKreg{cseq}",
        "Max-Forwards: 70",
        "From: <sip:alice@example.com>;tag=regtag",
        f"To: {to}",
        f"Call-ID: {callID}",
        f"CSeq: {cseq} REGISTER",
    ]
    lines += [f"Contact: {contact}" for contact in contacts]
    if expires is not None:
        lines.append(f"Expires: {expires}")
    lines.append("Content-Length: 0")
    request = parseDatagram(("\r\n".join(lines) + "\r\n\r\n").encode())
    assert isinstance(request, Request)
    return request


class PathTests(SynchronousTestCase):
    """
    RFC 3327 Path in the registrar and the location service.
    """

    def test_pathStoredAndEchoed(self) -> None:
        """
        The REGISTER's Path values (in order) are the contact's route set in
        L{LocationService.routes}, echoed in the 200; a contact registered
        without Path has none.
        """
        clock = Clock()
        location = LocationService()
        registrar = Registrar(clock, location)
        request = register(f"<{PHONE}>", expires="60")
        request.headers["path"] = ["<sip:edge1.example.net;lr>", "<sip:edge2.example.net;lr>"]
        response = registrar.handleRegister(request, ("192.0.2.99", 5060))
        self.assertEqual(response.headers["path"], request.headers["path"])
        registrar.handleRegister(register(f"<{LAPTOP}>", expires="60", callID="reg-2"))
        self.assertEqual(
            sorted(location.routes(AOR, now=1)),
            [
                (PHONE, ("<sip:edge1.example.net;lr>", "<sip:edge2.example.net;lr>")),
                (LAPTOP, ()),
            ],
        )
        self.assertEqual(location.routes(AOR, now=61), [])


class AorKeyTests(SynchronousTestCase):
    """
    L{aorKey}.
    """

    def test_canonical(self) -> None:
        """
        The key is C{user@host} with the host in lower case, without port,
        parameters or scheme differences mattering (RFC 3261 §10.3 step 5).
        """
        self.assertEqual(aorKey(parseURI("sip:alice@Example.COM:5070;transport=udp")), AOR)
        self.assertEqual(aorKey(parseURI("sips:alice@example.com")), AOR)
        self.assertEqual(aorKey(parseURI("sip:example.com")), "@example.com")


class LocationServiceTests(SynchronousTestCase):
    """
    L{LocationService}: bindings per address-of-record, expiring on the
    time it is given.
    """

    def setUp(self) -> None:
        self.location = LocationService()

    def test_interface(self) -> None:
        """
        L{LocationService} provides L{ILocationService}.
        """
        verifyObject(ILocationService, self.location)

    def test_severalBindings(self) -> None:
        """
        An address-of-record holds several contacts; another AOR is apart.
        """
        self.location.register(AOR, PHONE, 60, "c1", 1, now=0)
        self.location.register(AOR, LAPTOP, 120, "c2", 1, now=0)
        self.location.register("bob@example.com", "sip:bob@192.0.2.20", 60, "c3", 1, now=0)
        self.assertEqual(sorted(self.location.lookup(AOR, now=10)), sorted([PHONE, LAPTOP]))
        self.assertEqual(sorted(self.location.bindings(AOR, now=10)), sorted([(PHONE, 50), (LAPTOP, 110)]))
        self.assertEqual(len(self.location), 3)
        self.assertEqual(self.location.lookup("carol@example.com", now=10), [])

    def test_expiryOnLookup(self) -> None:
        """
        A binding is gone once its time has come: a lookup at or after it
        drops it, the others stay.
        """
        self.location.register(AOR, PHONE, 60, "c1", 1, now=0)
        self.location.register(AOR, LAPTOP, 120, "c2", 1, now=0)
        self.assertEqual(self.location.lookup(AOR, now=59.9), [PHONE, LAPTOP])
        self.assertEqual(self.location.lookup(AOR, now=60), [LAPTOP])
        self.assertEqual(len(self.location), 1)
        self.assertEqual(self.location.lookup(AOR, now=120), [])
        self.assertEqual(len(self.location), 0)

    def test_removeOne(self) -> None:
        """
        Registering a contact with C{expires} 0 removes just that binding;
        removing one that does not exist is harmless.
        """
        self.location.register(AOR, PHONE, 60, "c1", 1, now=0)
        self.location.register(AOR, LAPTOP, 60, "c2", 1, now=0)
        self.location.register(AOR, PHONE, 0, "c1", 2, now=1)
        self.assertEqual(self.location.lookup(AOR, now=1), [LAPTOP])
        self.location.register("bob@example.com", "sip:bob@h", 0, "c3", 1, now=1)
        self.assertEqual(len(self.location), 1)

    def test_removeAll(self) -> None:
        """
        L{LocationService.removeAll} drops every binding of one AOR.
        """
        self.location.register(AOR, PHONE, 60, "c1", 1, now=0)
        self.location.register(AOR, LAPTOP, 60, "c2", 1, now=0)
        self.location.register("bob@example.com", "sip:bob@h", 60, "c3", 1, now=0)
        self.location.removeAll(AOR)
        self.assertEqual(self.location.lookup(AOR, now=1), [])
        self.assertEqual(len(self.location), 1)

    def test_existing(self) -> None:
        """
        L{LocationService.existing} gives a binding's Call-ID and CSeq, or
        L{None}.
        """
        self.location.register(AOR, PHONE, 60, "c1", 7, now=0)
        binding = self.location.existing(AOR, PHONE)
        assert binding is not None
        self.assertEqual((binding.contact, binding.callID, binding.cseq, binding.expiresAt), (PHONE, "c1", 7, 60))
        self.assertIsNone(self.location.existing(AOR, LAPTOP))

    def test_purgeExpired(self) -> None:
        """
        L{LocationService.purgeExpired} drops the bindings whose time has
        passed without any lookup, and says how many.
        """
        self.location.register(AOR, PHONE, 60, "c1", 1, now=0)
        self.location.register(AOR, LAPTOP, 120, "c2", 1, now=0)
        self.location.register("bob@example.com", "sip:bob@h", 30, "c3", 1, now=0)
        self.assertEqual(self.location.purgeExpired(now=29), 0)
        self.assertEqual(self.location.purgeExpired(now=60), 2)
        self.assertEqual(len(self.location), 1)
        self.assertEqual(self.location.purgeExpired(now=1000), 1)
        self.assertEqual(len(self.location), 0)

    def test_purgeKeepsRefreshed(self) -> None:
        """
        A binding refreshed before its time survives a purge at its old
        expiry time (the old deadline is stale), and goes at the new one.
        """
        self.location.register(AOR, PHONE, 60, "c1", 1, now=0)
        self.location.register(AOR, PHONE, 60, "c1", 2, now=50)
        self.assertEqual(self.location.purgeExpired(now=60), 0)
        self.assertEqual(self.location.lookup(AOR, now=60), [PHONE])
        self.assertEqual(self.location.purgeExpired(now=110), 1)
        self.assertEqual(len(self.location), 0)

    def test_purgeAfterRemoval(self) -> None:
        """
        A binding removed before its time is not counted again by a purge.
        """
        self.location.register(AOR, PHONE, 60, "c1", 1, now=0)
        self.location.removeAll(AOR)
        self.assertEqual(self.location.purgeExpired(now=100), 0)


class RegistrarTests(SynchronousTestCase):
    """
    L{Registrar.handleRegister}.
    """

    def setUp(self) -> None:
        self.clock = Clock()
        self.clock.advance(1700000000)
        self.location = LocationService()
        self.registrar = Registrar(
            self.clock, self.location, minExpires=60, maxExpires=3600, defaultExpires=1800
        )

    def handle(self, request: Request, code: int = 200) -> Response:
        """
        Apply C{request}, check the status code of the answer, return it.
        """
        response = self.registrar.handleRegister(request)
        self.assertEqual(response.code, code, response.phrase)
        return response

    def test_register(self) -> None:
        """
        A REGISTER binds its contact to the To URI's AOR for the default
        time; the 200 lists the bindings with their time left and a Date
        from the clock, and copies the request's Via, Call-ID and CSeq.
        """
        request = register(f"<{PHONE}>")
        response = self.handle(request)
        self.assertEqual(self.location.lookup(AOR, self.clock.seconds()), [PHONE])
        self.assertEqual(response.headers["contact"], [f"<{PHONE}>;expires=1800"])
        self.assertEqual(response.headers["date"], [formatdate(1700000000, usegmt=True)])
        for name in ("via", "call-id", "cseq"):
            self.assertEqual(response.headers[name], request.headers[name])

    def test_expiresFromHeaderAndParameter(self) -> None:
        """
        A contact's C{expires} parameter wins over the Expires header, which
        wins over the default; anything above the maximum is cut to it.
        """
        self.handle(register(f"<{PHONE}>;expires=120", f"<{LAPTOP}>", expires="300"))
        self.assertEqual(
            sorted(self.location.bindings(AOR, self.clock.seconds())),
            sorted([(PHONE, 120), (LAPTOP, 300)]),
        )
        self.handle(register(f"<{PHONE}>", callID="reg-2", expires="86400"))
        self.assertIn((PHONE, 3600), self.location.bindings(AOR, self.clock.seconds()))

    def test_bindingsExpireOnTheClock(self) -> None:
        """
        A binding lasts its granted time on the registrar's clock; a query
        (a REGISTER without Contact) after that lists nothing.
        """
        self.handle(register(f"<{PHONE}>;expires=60"))
        self.clock.advance(59)
        self.assertEqual(self.handle(register(callID="q", cseq=1)).headers["contact"], [f"<{PHONE}>;expires=1"])
        self.clock.advance(1)
        self.assertNotIn("contact", self.handle(register(callID="q", cseq=2)).headers)
        self.assertEqual(self.location.lookup(AOR, self.clock.seconds()), [])

    def test_severalDevices(self) -> None:
        """
        REGISTERs from two devices (two Call-IDs) for one AOR keep both
        bindings; each 200 lists all of them.
        """
        self.handle(register(f"<{PHONE}>", callID="phone"))
        response = self.handle(register(f"<{LAPTOP}>", callID="laptop"))
        self.assertEqual(len(response.headers["contact"]), 2)
        self.assertEqual(sorted(self.location.lookup(AOR, self.clock.seconds())), sorted([PHONE, LAPTOP]))

    def test_tooBrief(self) -> None:
        """
        An expiry above 0 and below the minimum gets 423 Interval Too Brief
        with Min-Expires, and binds nothing (not even the other contacts).
        """
        response = self.handle(register(f"<{LAPTOP}>", f"<{PHONE}>;expires=30"), 423)
        self.assertEqual(response.headers["min-expires"], ["60"])
        self.assertEqual(len(self.location), 0)
        self.handle(register(f"<{PHONE}>", expires="59"), 423)
        self.handle(register(f"<{PHONE}>", expires="60"))

    def test_unregisterOne(self) -> None:
        """
        C{expires=0} on a contact removes that binding only.
        """
        self.handle(register(f"<{PHONE}>", f"<{LAPTOP}>"))
        response = self.handle(register(f"<{PHONE}>;expires=0", cseq=2))
        self.assertEqual(response.headers["contact"], [f"<{LAPTOP}>;expires=1800"])

    def test_unregisterAll(self) -> None:
        """
        C{Contact: *} with C{Expires: 0} removes every binding of the AOR
        and leaves other AORs alone.
        """
        self.handle(register(f"<{PHONE}>", f"<{LAPTOP}>"))
        self.handle(register("<sip:bob@192.0.2.20>", to="<sip:bob@example.com>", callID="bob"))
        response = self.handle(register("*", cseq=2, expires="0"))
        self.assertNotIn("contact", response.headers)
        self.assertEqual(self.location.lookup(AOR, self.clock.seconds()), [])
        self.assertEqual(len(self.location), 1)

    def test_wildcardMisused(self) -> None:
        """
        C{Contact: *} without C{Expires: 0}, or with other contacts, is a
        400 that changes nothing.
        """
        self.handle(register(f"<{PHONE}>"))
        self.handle(register("*", cseq=2), 400)
        self.handle(register("*", cseq=3, expires="60"), 400)
        self.handle(register("*", f"<{LAPTOP}>", cseq=4, expires="0"), 400)
        self.handle(register(f"<{LAPTOP}>", "*", cseq=5, expires="0"), 400)
        self.assertEqual(self.location.lookup(AOR, self.clock.seconds()), [PHONE])

    def test_staleCSeq(self) -> None:
        """
        A REGISTER with the Call-ID of a binding and a CSeq not above the
        one that made it is refused with 500 and changes nothing (RFC 3261
        §10.3 step 7); a higher CSeq, or another Call-ID, is accepted.
        """
        self.handle(register(f"<{PHONE}>;expires=600", cseq=5))
        self.handle(register(f"<{PHONE}>;expires=0", cseq=5), 500)
        self.handle(register(f"<{PHONE}>;expires=0", cseq=4), 500)
        self.assertEqual(self.location.lookup(AOR, self.clock.seconds()), [PHONE])
        self.handle(register(f"<{PHONE}>;expires=900", cseq=6))
        self.assertEqual(self.location.bindings(AOR, self.clock.seconds()), [(PHONE, 900)])
        self.handle(register(f"<{PHONE}>;expires=300", callID="reboot", cseq=1))
        self.assertEqual(self.location.bindings(AOR, self.clock.seconds()), [(PHONE, 300)])

    def test_badRequests(self) -> None:
        """
        A To that is not a SIP URI, an unreadable Expires header, an
        unreadable or negative contact expires are each a 400 that binds
        nothing.
        """
        self.handle(register(f"<{PHONE}>", to="<tel:+15551234>"), 400)
        self.handle(register(f"<{PHONE}>", expires="soon"), 400)
        self.handle(register(f"<{PHONE}>;expires=soon"), 400)
        self.handle(register(f"<{PHONE}>;expires=-1"), 400)
        self.assertEqual(len(self.location), 0)

    def test_aorCanonical(self) -> None:
        """
        The To URI is reduced to its AOR: host case, port and parameters do
        not make another AOR.
        """
        self.handle(register(f"<{PHONE}>", to="<sip:alice@EXAMPLE.com:5060;transport=udp>"))
        self.assertEqual(self.location.lookup(AOR, self.clock.seconds()), [PHONE])


class LimitTests(SynchronousTestCase):
    """
    The registrar's limits: contacts per address-of-record and bindings per
    source host.
    """

    def setUp(self) -> None:
        self.clock = Clock()
        self.location = LocationService()
        self.registrar = Registrar(self.clock, self.location, maxContacts=2, maxPerSource=3)

    def test_maxContacts(self) -> None:
        """
        A REGISTER that would give an AOR more than maxContacts contacts gets
        403 and changes nothing; refreshing, replacing (after a removal) and
        expired bindings do not count.
        """
        source = ("192.0.2.10", 5060)
        ok = self.registrar.handleRegister(register(f"<{PHONE}>", f"<{LAPTOP}>"), source)
        self.assertEqual(ok.code, 200)
        third = register("<sip:alice@192.0.2.12>", cseq=2)
        refused = self.registrar.handleRegister(third, source)
        self.assertEqual((refused.code, refused.phrase), (403, "Forbidden (too many contacts)"))
        self.assertEqual(len(self.location), 2)
        refresh = self.registrar.handleRegister(register(f"<{PHONE}>", cseq=3), source)
        self.assertEqual(refresh.code, 200)
        swap = register(f"<{PHONE}>;expires=0", "<sip:alice@192.0.2.12>", cseq=4)
        self.assertEqual(self.registrar.handleRegister(swap, source).code, 200)
        self.clock.advance(3601)
        again = register("<sip:alice@192.0.2.13>", cseq=5)
        self.assertEqual(self.registrar.handleRegister(again, source).code, 200)

    def test_perSource(self) -> None:
        """
        One source host cannot hold more than maxPerSource bindings over
        all AORs (a flood registering many users); other hosts can, and
        bindings that are removed or expire free the share.
        """
        flood = ("198.51.100.66", 40000)
        codes = []
        for n in range(5):
            request = register(
                f"<sip:u{n}@198.51.100.66>", to=f"<sip:u{n}@example.com>", callID=f"f{n}"
            )
            codes.append(self.registrar.handleRegister(request, (flood[0], 40000 + n)).code)
        self.assertEqual(codes, [200, 200, 200, 403, 403])
        self.assertEqual(self.location.fromSource(flood[0]), 3)
        other = register(f"<{PHONE}>")
        self.assertEqual(self.registrar.handleRegister(other, ("192.0.2.10", 5060)).code, 200)
        remove = register(
            "<sip:u0@198.51.100.66>;expires=0", to="<sip:u0@example.com>", callID="f0", cseq=2
        )
        self.assertEqual(self.registrar.handleRegister(remove, flood).code, 200)
        self.assertEqual(self.location.fromSource(flood[0]), 2)
        self.clock.advance(3601)
        self.location.purgeExpired(self.clock.seconds())
        self.assertEqual(self.location.fromSource(flood[0]), 0)

    def test_noLimits(self) -> None:
        """
        0 means no limit, and a REGISTER of unknown source is counted for
        nobody.
        """
        registrar = Registrar(self.clock, self.location)
        contacts = [f"<sip:alice@192.0.2.{n}>" for n in range(20)]
        self.assertEqual(registrar.handleRegister(register(*contacts)).code, 200)
        self.assertEqual(len(self.location), 20)
