"""The wire protocol of the WebSocket API: envelopes, error codes, client messages.

Pure: no Django ORM, Channels or network imports, so clients and tests reuse it as is.
"""

from tigateway_channels.protocol.envelope import (
    encode,
    make_envelope,
    new_message_id,
    utc_timestamp,
)
from tigateway_channels.protocol.errors import CloseCode, ErrorCode, GatewayError
from tigateway_channels.protocol.messages import ClientMessage, parse_client_message

__all__ = [
    "ClientMessage",
    "CloseCode",
    "ErrorCode",
    "GatewayError",
    "encode",
    "make_envelope",
    "new_message_id",
    "parse_client_message",
    "utc_timestamp",
]
