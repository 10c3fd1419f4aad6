"""Why the server ends a connection: the close code, the reason, and whether to reconnect.

Like centrifuge's ``Disconnect``: one value per cause, used wherever a close starts (the
consumer, the heartbeat, the socket writer, graceful shutdown), so a code and its meaning are
written once. docs/protocol.md §9 is the table a client reads.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from tigateway_channels.protocol.errors import CloseCode


@dataclass(frozen=True, slots=True)
class Disconnect:
    # A plain int: daphne (autobahn) rejects an IntEnum close code.
    code: int
    # For logs, and the close frame's reason where a server refuses the code itself (daphne
    # lets applications close only with 1000 or 3000-4999).
    reason: str
    # Whether the client should connect again (docs/protocol.md §9, "What the client should do").
    reconnect: bool

    SHUTTING_DOWN: ClassVar[Disconnect]
    TOKEN_EXPIRED: ClassVar[Disconnect]
    SESSION_ENDED: ClassVar[Disconnect]
    ORIGIN_NOT_ALLOWED: ClassVar[Disconnect]
    HEARTBEAT_TIMEOUT: ClassVar[Disconnect]
    TOO_SLOW: ClassVar[Disconnect]
    FLOODING: ClassVar[Disconnect]


Disconnect.SHUTTING_DOWN = Disconnect(
    int(CloseCode.SERVER_SHUTTING_DOWN), "going away: server shutting down", reconnect=True
)
Disconnect.TOKEN_EXPIRED = Disconnect(int(CloseCode.UNAUTHORIZED), "token expired", reconnect=True)
# The user was deleted or deactivated, the session logged out or expired, the token blacklisted:
# reconnecting with the same credentials cannot help.
Disconnect.SESSION_ENDED = Disconnect(
    int(CloseCode.UNAUTHORIZED), "session no longer authenticated", reconnect=False
)
Disconnect.ORIGIN_NOT_ALLOWED = Disconnect(
    int(CloseCode.ORIGIN_NOT_ALLOWED), "origin not allowed", reconnect=False
)
Disconnect.HEARTBEAT_TIMEOUT = Disconnect(
    int(CloseCode.HEARTBEAT_TIMEOUT), "no answer to the server's ping", reconnect=True
)
Disconnect.TOO_SLOW = Disconnect(
    int(CloseCode.TOO_SLOW), "too far behind the messages sent to it", reconnect=True
)
Disconnect.FLOODING = Disconnect(int(CloseCode.FLOODING), "flooding", reconnect=True)
