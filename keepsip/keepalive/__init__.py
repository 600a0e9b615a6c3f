"""
Keepalive handling: the "continue call" method of WO 00/33550.

During a call the calling endpoint re-sends, at regular intervals, an INVITE
equal to its last one; keepsip takes it as proof that the call is still up.
When none arrives within the interval times the tolerance, keepsip ends the
call: a BYE to each leg, the answers classified into why the keepalives
stopped.

The self-contained building blocks live here, one reason to change each:

  - L{keepsip.keepalive.deadlines}: each dialog's expiry, cheap to refresh;
  - L{keepsip.keepalive.reaper}: the periodic task that expires dialogs;
  - L{keepsip.keepalive.bye}: the terminating BYE for one leg;
  - L{keepsip.keepalive.causes}: what the BYE answers say about the end;
  - L{keepsip.keepalive.ratelimit}: per-source token buckets.
"""
