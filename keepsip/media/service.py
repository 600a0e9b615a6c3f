"""
L{MediaService}: the media relay's parts as one service of keepsip's tree,
so the media-timeout reaper runs while keepsip runs and the relay is closed
when it stops.
"""

from __future__ import annotations

from typing import Any

from twisted.application.service import Service
from twisted.internet.defer import Deferred, DeferredList

from keepsip.media.anchor import MediaAnchor
from keepsip.media.sessions import MediaSessions
from keepsip.media.timeout import MediaTimeouts


class MediaService(Service):
    """
    Runs the media-timeout reaper; closes the relay on stop.

    @ivar relay: the L{keepsip.interfaces.IMediaRelay}.
    @ivar sessions: the L{MediaSessions} (measure, release).
    @ivar anchor: the L{MediaAnchor} the proxy core asks.
    @ivar timeouts: the L{MediaTimeouts}.
    """

    name = "media"

    def __init__(
        self, relay: Any, sessions: MediaSessions, anchor: MediaAnchor, timeouts: MediaTimeouts
    ) -> None:
        self.relay = relay
        self.sessions = sessions
        self.anchor = anchor
        self.timeouts = timeouts

    def startService(self) -> None:
        Service.startService(self)
        if self.timeouts.enabled:
            self.timeouts.reaper.start()

    def stopService(self) -> Deferred[Any]:
        """
        Stop the reaper (waiting for a tick in progress) and close the
        relay (the calls still open were ended, and their sessions released,
        before the children of keepsip's service stop).
        """
        Service.stopService(self)
        stopped = self.timeouts.reaper.stop()
        closed = self.relay.close()
        return DeferredList([stopped, closed], consumeErrors=True)


__all__ = ["MediaService"]
