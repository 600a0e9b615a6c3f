"""
The contracts between keepsip's layers.

Each interface says what its Deferreds fire with. Implementations are checked
with L{zope.interface.verify.verifyObject} in their tests.
"""

from __future__ import annotations

from zope.interface import Attribute, Interface


class IDialogStore(Interface):
    """
    Where dialogs live while they are not terminated.

    Every method returns a L{Deferred}; the in-memory and SQLite stores fire
    them synchronously, a networked store (Redis) later. Stores keep the live
    L{keepsip.dialog.model.Dialog} objects they are given; a persistent store
    also serialises them (L{keepsip.dialog.serial}). C{update} is called at
    every change worth keeping across a restart (a state change, a
    keepalive, an in-dialog request); a persistent store groups those writes.
    """

    def add(dialog):
        """
        Store a new dialog, found afterwards by its C{callKey}.

        @return: L{Deferred} firing with L{None}.
        """

    def byCallKey(callKey):
        """
        Find a dialog by C{(Call-ID, caller tag)}.

        @return: L{Deferred} firing with the dialog or L{None}.
        """

    def byDialogID(dialogID):
        """
        Find a dialog by C{(Call-ID, tag, tag)} in either orientation: an
        in-dialog request from the callee carries the tags the other way round.

        @return: L{Deferred} firing with the dialog or L{None}.
        """

    def update(dialog):
        """
        Record a change of C{dialog} (state, callee tag, legs).

        @return: L{Deferred} firing with L{None}.
        """

    def remove(dialog):
        """
        Forget C{dialog}; it is terminated.

        @return: L{Deferred} firing with L{None}.
        """

    def count():
        """
        @return: L{Deferred} firing with the number of stored dialogs.
        """

    persistent = Attribute(
        "L{True} if the dialogs outlive the process (a file, Redis): a "
        "graceful stop then keeps calls up for the next start."
    )

    def open():
        """
        Open the store's resources (called once, when keepsip starts) and
        load the dialogs this keepsip owns, for the layers above to resume.

        @return: L{Deferred} firing with a list of the loaded dialogs, or
            failing with L{keepsip.dialog.serial.SchemaError} if the store is
            corrupt or from a newer schema (keepsip must then refuse to
            start).
        """

    def close():
        """
        Write what is pending and release the store's resources (called
        once, when keepsip stops); the dialogs stay stored.

        @return: L{Deferred} firing with L{None} once everything is written.
        """

    def allDialogs():
        """
        @return: every dialog held in memory, as a list (for a shutdown;
            never on the message path).
        """


class IDialogObserver(Interface):
    """
    Receives dialog lifecycle events. Every method is called synchronously by
    the dialog tracker; an observer must not raise (failures are logged and
    do not affect the call) and does its slow work asynchronously.
    """

    def dialogCreated(dialog):
        """
        An initial INVITE for a new call was forwarded.
        """

    def dialogEarly(dialog):
        """
        A tagged provisional response arrived for the call.
        """

    def dialogConfirmed(dialog):
        """
        A 2xx answered the call; C{dialog.answeredAt} is set.
        """

    def dialogUpdated(dialog):
        """
        A re-INVITE or UPDATE changed the session (new C{lastInvite} /
        C{lastAnswerSDP}).
        """

    def dialogKeptAlive(dialog):
        """
        A keepalive (or another configured proof of life) refreshed the
        call; C{dialog.keptAlive} has C{count} and C{lastAt}.
        """

    def dialogExpired(dialog):
        """
        No keepalive came within the deadline: keepsip is sending BYE to
        both legs; C{dialogTerminated} follows once their answers are in.
        """

    def dialogTerminated(dialog, cause, detail):
        """
        The call ended. C{cause} is an L{keepsip.dialog.model.EndCause}
        value, C{detail} a mapping of per-leg detail. C{dialog.endedAt} is
        set. The dialog has left the store.
        """

    def dialogRestored(dialog):
        """
        A confirmed call set up before keepsip (re)started was loaded from a
        persistent store: resume what the observer keeps for it (deadlines,
        timers) from the state it finds in the dialog, without making a
        record of the call again.
        """


class ILocationService(Interface):
    """
    The registrar's bindings: address-of-record to contacts.
    """

    def register(aor, contact, expires, callID, cseq, now):
        """
        Add or refresh (C{expires} > 0) or remove (C{expires} == 0) the
        binding of C{contact} (a URI string) to C{aor}.
        """

    def lookup(aor, now):
        """
        @return: the live contact URI strings for C{aor}, most preferred
            first (possibly empty).
        """

    def bindings(aor, now):
        """
        @return: list of C{(contactURI, secondsLeft)} for C{aor}.
        """


class IAccountingBackend(Interface):
    """
    A destination for call records (CDRs): a file, a database, a billing
    system. The accounting tracker hands each record, a JSON-compatible
    C{dict} (schema: C{docs/cdr.md}) with at least C{type} (C{"start"},
    C{"interim"} or C{"stop"}) and C{record_id}, to every selected backend.

    Delivery is at-least-once: a backend may see the same C{record_id} again
    after a failure or a restart, and must make that idempotent downstream
    (e.g. an idempotency key, a hash keyed by record id).
    """

    name = Attribute("The backend's type name, e.g. C{'jsonl'}.")

    def ready():
        """
        @return: L{Deferred} firing with L{None} once the backend can take
            records (connected, file open), or failing if it cannot start.
        """

    def sendRecord(record):
        """
        Deliver one record.

        @return: L{Deferred} firing with L{None} once the record is durably
            accepted by the backend's destination; failing if it was not (the
            tracker then spools it and replays it later, in order).
        """

    def close():
        """
        Release resources (connections, files).

        @return: L{Deferred} firing with L{None} when closed.
        """


class IAccountingBackendFactory(Interface):
    """
    A plugin (found with L{twisted.plugin.getPlugins} in L{keepsip.plugins})
    that makes accounting backends from C{--accounting TYPE:ARGS}.
    """

    backendName = Attribute("The TYPE in C{--accounting TYPE:ARGS}, e.g. C{'redis'}.")
    backendHelp = Attribute("One paragraph for C{--help-accounting}.")
    argumentFormat = Attribute(
        "The ARGS format for C{--help-accounting}, e.g. C{'host=H,port=P[,db=N]'}."
    )

    def makeBackend(args, reactor):
        """
        @param args: the ARGS part parsed into a C{dict} of C{str} to C{str}
            (C{key=value,key=value}).
        @param reactor: the reactor to use for time and I/O.
        @return: an L{IAccountingBackend} provider. Raises L{ValueError} with
            a one-line message naming the bad argument.
        """


class IMediaRelay(Interface):
    """
    A media relay anchoring the RTP/RTCP of calls (L{keepsip.media}): the
    built-in one or rtpengine. A call's media session is keyed by its
    Call-ID and the caller's From tag; C{leg} names the side whose SDP is
    given, C{"caller"} (the initial INVITE's sender) or C{"callee"}, whoever
    sends that particular offer or answer. SDP bodies are octets.

    Failures are L{keepsip.media.model.MediaRelayError}s whose C{sipStatus}
    says how the proxy answers: L{keepsip.media.model.PortsExhausted} (503
    with Retry-After), L{keepsip.media.model.UnsupportedSDP} (488),
    L{keepsip.media.model.MediaRelayUnavailable} (503: an external relay did
    not answer in time or refused), L{keepsip.media.model.UnknownMediaSession}.
    """

    name = Attribute("The relay's type, C{'builtin'} or C{'rtpengine'}.")

    def allocate(callID, fromTag, leg, sdp):
        """
        Anchor the media of a new call's offer (the initial INVITE's body,
        or the 2xx's for a late offer, then with C{leg} C{"callee"}).
        Called again for the same call (a retransmitted or re-authenticated
        INVITE) it acts as L{update}.

        @return: L{Deferred} firing with the offer rewritten to go to the
            other side (C{bytes}).
        """

    def answer(callID, fromTag, toTag, leg, sdp):
        """
        Complete the last offer with its answer, from C{leg}; C{toTag} is
        the callee's tag. Streams the answer disables are released.

        @return: L{Deferred} firing with the answer rewritten to go to the
            offerer (C{bytes}); failing with C{UnknownMediaSession} if no
            offer was allocated.
        """

    def update(callID, fromTag, leg, sdp):
        """
        A new offer within the call (re-INVITE or UPDATE, from either side):
        streams keep their ports, new m-lines get ports, a side whose
        address changed is latched again. Its answer goes to L{answer}.

        @return: L{Deferred} firing with the offer rewritten to go to the
            other side (C{bytes}).
        """

    def statistics(callID, fromTag):
        """
        @return: L{Deferred} firing with a L{keepsip.media.model.MediaStats}
            (packets, bytes, last packet time per stream and direction, and
            per side its last packet time and whether it is on hold);
            failing with C{UnknownMediaSession} for a call it does not hold.
        """

    def release(callID, fromTag):
        """
        End the call's media session and free its ports. Safe to call for a
        call already released or never allocated.

        @return: L{Deferred} firing with L{None}; it does not fail.
        """

    def close():
        """
        Release every session and stop (on service stop).

        @return: L{Deferred} firing with L{None}.
        """


class IMediaAnchor(Interface):
    """
    What the proxy core asks before it forwards a message that may carry
    SDP (L{keepsip.media.anchor.MediaAnchor}): the seam through which a
    media relay rewrites offers and answers on their way through. With no
    anchor the core forwards at once, as without media anchoring.
    """

    def rewriteRequest(request, outgoing):
        """
        C{request} (as received) is about to be forwarded as C{outgoing}
        (keepsip's copy): rewrite C{outgoing}'s SDP for the relay.

        @return: L{None} when there is nothing to do (forward now), else a
            L{Deferred} firing with L{None} once C{outgoing}'s body is
            rewritten, or with C{(code, phrase, headers)}: answer the request
            so and do not forward it (C{488}, C{503} with C{Retry-After}).
            It does not fail.
        """

    def rewriteResponse(request, response):
        """
        C{response} to C{request} (L{None} for a stray 2xx retransmission)
        is about to be relayed: rewrite its SDP for the relay.

        @return: L{None} when there is nothing to do, else a L{Deferred}
            firing with L{None} once the body is rewritten or, if the relay
            failed, left as it was (logged). It does not fail.
        """

    def requestAbandoned(request):
        """
        C{request}, whose rewriting was asked for, will not be forwarded
        after all (a CANCEL came while the relay was working): free what
        was allocated for it.
        """
