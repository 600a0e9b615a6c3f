"""
The contracts between the transaction layer and its transaction users (the
proxy core, a UA core, the keepalive BYE sender).

Every method is called synchronously from inside the transaction layer, after
the transaction's state has been updated; a failure raised by a user is
logged and does not change the transaction.
"""

from __future__ import annotations

from zope.interface import Attribute, Interface


class ITransactionUser(Interface):
    """
    Receives what arrives at the server side of the transaction layer.
    """

    def requestReceived(request, serverTransaction):
        """
        A new request (not ACK, not CANCEL) created C{serverTransaction}.
        Retransmissions are absorbed and never reach the user. For an INVITE
        the layer has already sent 100 Trying.

        @param request: the L{keepsip.sip.message.Request}.
        @param serverTransaction: the L{ServerTransaction} to answer through
            with C{respond}.
        """

    def ackReceived(request, source):
        """
        An ACK that belongs to no server transaction arrived: normally the
        end-to-end ACK for a 2xx (RFC 3261 §17.2.3, RFC 6026). Also called for
        an ACK that matches an INVITE server transaction in the Accepted
        state. There is no transaction: forward or consume it statelessly.

        @param source: C{(host, port)} the ACK came from.
        """

    def cancelReceived(cancel, serverTransaction, inviteTransaction):
        """
        A new CANCEL arrived. C{serverTransaction} is the CANCEL's own
        non-INVITE server transaction (answer it with 200, or 481 if
        C{inviteTransaction} is L{None}).

        @param inviteTransaction: the INVITE L{ServerTransaction} the CANCEL
            matches (its C{cancelled} is now L{True}), or L{None}.
        """

    def strayResponse(response, source):
        """
        A response that matches no client transaction arrived, e.g. a 2xx
        retransmission after the INVITE client transaction ended. A proxy
        forwards a stray 2xx statelessly (RFC 3261 §16.7 step 3 / RFC 6026).
        """

    def serverTimedOut(serverTransaction):
        """
        Timer H fired: no ACK came for a non-2xx final response to an INVITE.
        """

    def requestRetransmitted(request, serverTransaction):
        """
        A retransmission of the request of C{serverTransaction} was absorbed
        by it (and answered from it where the state says so). keepsip's keepalive
        handler uses this to count an INVITE equal to the last one as proof
        of life while the original transaction still exists, if it came from
        the leg's address: C{serverTransaction.latestSource} says where this
        copy came from.
        """


class IAdmission(Interface):
    """
    A check the transaction layer consults before it creates a server
    transaction for a new request (not ACK, not CANCEL, not a
    retransmission of a transaction in progress). A request it refuses is
    answered statelessly and leaves no state in the layer: no transaction,
    no timer. A retransmission of a refused request is a new request to the
    layer and asks the checks again.
    """

    def refusal(source, request):
        """
        May C{request} from C{source} create a server transaction?

        Called on the per-message path: keep it to a few dict lookups. It
        must not raise (a failure is logged and the request admitted).

        @param source: C{(host, port)} the request came from.
        @param request: the L{keepsip.sip.message.Request}.
        @return: L{None} to admit it, or C{(code, phrase, headers)} to answer
            it statelessly with that response (C{headers}: C{(name, value)}
            pairs to add, e.g. C{Retry-After}).
        """


class IClientTransactionUser(Interface):
    """
    Receives the outcome of one client transaction.
    """

    def responseReceived(response, clientTransaction):
        """
        A response for the transaction arrived: every provisional, the final,
        and for an INVITE every 2xx (several when a downstream proxy forked).
        Retransmitted non-2xx finals are absorbed.
        """

    def timedOut(clientTransaction):
        """
        Timer B or F fired, or a cancelled INVITE got no final response
        within 64*T1: treat it as a 408 (RFC 3261 §16.7 step 2 / §8.1.3.1).
        """

    def transportFailed(clientTransaction):
        """
        The transport reported the destination unreachable before a final
        response arrived: treat it as a 503 (RFC 3261 §8.1.3.1).
        """


class ITransaction(Interface):
    """
    What the transaction layer's users may read on any transaction.
    """

    request = Attribute(
        "The L{keepsip.sip.message.Request} that created it; L{None} once the"
        " transaction only absorbs or answers retransmissions (server: INVITE"
        " Accepted or Confirmed, non-INVITE Completed; client: after a final"
        " response), so that no parsed message outlives its use."
    )
    state = Attribute(
        "One of 'calling', 'trying', 'proceeding', 'completed', 'confirmed',"
        " 'accepted', 'terminated'."
    )
    isInvite = Attribute("L{True} for an INVITE transaction.")
    reliable = Attribute("L{True} if sent over a reliable transport (no retransmissions).")


class IServerTransaction(ITransaction):
    """
    The server side of a transaction (RFC 3261 §17.2, RFC 6026).
    """

    source = Attribute("C{(host, port)} the request came from.")
    latestSource = Attribute(
        "C{(host, port)} the latest copy of the request came from (a"
        " retransmission is matched by its Via, not by where it came from)."
    )
    destination = Attribute(
        "C{(host, port)} responses are sent to (see"
        " L{keepsip.sip.responses.responseDestination})."
    )
    lastResponse = Attribute(
        "The last response sent, or L{None}. In the states where C{request} is"
        " L{None} it is a L{keepsip.transaction.sent.SentResponse}: its C{code}"
        " is at hand, its headers are parsed again from its bytes if read."
    )
    cancelled = Attribute("L{True} once a CANCEL matched this transaction.")
    userContext = Attribute(
        "The transaction user's own object for this transaction, or L{None}:"
        " the proxy core keeps its response context here, so that a CANCEL"
        " finds it and it lives exactly as long as the transaction."
    )

    def respond(response):
        """
        Send C{response} and move the state machine. A response the current
        state does not allow (a second final, anything after Terminated) is
        dropped and logged, except a 2xx to an INVITE, which is always sent
        (statelessly if the transaction is past Proceeding/Accepted).
        """


class IClientTransaction(ITransaction):
    """
    The client side of a transaction (RFC 3261 §17.1, RFC 6026).
    """

    destination = Attribute("C{(host, port)} the request is sent to.")
    cancelTransaction = Attribute(
        "The client transaction of the CANCEL sent for this INVITE, or L{None}."
    )

    def cancel():
        """
        Cancel the INVITE (RFC 3261 §9.1): send CANCEL now if a provisional
        response arrived, else as soon as one does; if no final response
        arrives within 64*T1, end the transaction and call the user's
        C{timedOut}. Does nothing for a non-INVITE, after a final response,
        or the second time.
        """
