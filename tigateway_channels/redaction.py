"""Keeping access tokens out of log files.

The API document puts the token in the query string (``?token=``), and uvicorn logs every
WebSocket handshake's path *with* its query string at INFO, on ``uvicorn.error`` (so
``--no-access-log`` does not hide it); its HTTP access log does the same for HTTP requests.
``RedactTokens`` is a logging filter that rewrites ``token=<...>`` in query strings,
``Bearer <...>`` and ``bearer.<...>`` subprotocol entries to ``[redacted]`` in every record
passing the handler it is attached to (docs/security.md shows uvicorn's ``--log-config``).

It imports nothing from Django: the server loads it before the application.
"""

from __future__ import annotations

import logging
import re
from typing import Any

REDACTED = "[redacted]"

_PATTERNS = (
    # ?token=... or &token=... up to the next parameter, quote or space.
    (re.compile(r"([?&]token=)[^&\s\"'#]+", re.IGNORECASE), rf"\g<1>{REDACTED}"),
    # Authorization: Bearer ...
    (re.compile(r"\b(bearer\s+)[\w.~+/=-]{16,}", re.IGNORECASE), rf"\g<1>{REDACTED}"),
    # A Sec-WebSocket-Protocol entry bearer.<token>.
    (re.compile(r"\b(bearer\.)[\w.~+/=-]{16,}", re.IGNORECASE), rf"\g<1>{REDACTED}"),
)


def redact(text: str) -> str:
    """``text`` with every token it carries replaced by ``[redacted]``."""
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def _redact_arg(arg: Any) -> Any:
    return redact(arg) if isinstance(arg, str) else arg


class RedactTokens(logging.Filter):
    """Redacts the message and its string arguments in place, so formatters that read the
    arguments (uvicorn's access formatter does) keep working."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(_redact_arg(arg) for arg in record.args)
        elif isinstance(record.args, dict):
            record.args = {key: _redact_arg(value) for key, value in record.args.items()}
        return True
