"""
Keepalive handling: the "continue call" method of WO 00/33550.

During a call the calling endpoint re-sends, at regular intervals, an INVITE
equal to its last one; keepsip takes it as proof that the call is still up.
When none arrives within the interval times the tolerance, keepsip ends the
call: a BYE to each leg, the answers classified into why the keepalives
stopped.

One module per job, one reason to change each:

  - L{keepsip.keepalive.transactionuser}: the transaction user in front of
    the proxy core that absorbs or refuses keepalives;
  - L{keepsip.keepalive.recognition}: is this INVITE a keepalive (claims
    3-4), and is it authentic;
  - L{keepsip.keepalive.absorb}: the answer from dialog state, retransmitted
    until the ACK;
  - L{keepsip.keepalive.sessiontimer}: RFC 4028 assist;
  - L{keepsip.keepalive.manager}: settings, deadlines, proofs of life, the
    reapers;
  - L{keepsip.keepalive.termination}: BYE to both legs and the end (claim 6);
  - L{keepsip.keepalive.state}: the per-dialog keepalive state;
  - L{keepsip.keepalive.deadlines}: each dialog's expiry, cheap to refresh;
  - L{keepsip.keepalive.reaper}: the periodic task that expires dialogs;
  - L{keepsip.keepalive.bye}: the terminating BYE for one leg;
  - L{keepsip.keepalive.causes}: what the BYE answers say about the end;
  - L{keepsip.keepalive.ratelimit}: per-source token buckets.
"""
