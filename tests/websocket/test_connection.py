"""A connection's life: the moves it may make, and the exact error for one it may not."""

from __future__ import annotations

import pytest

from tigateway_channels.websocket.connection import ConnectionState, next_state

CONNECTING, CONNECTED, CLOSING, CLOSED = (
    ConnectionState.CONNECTING,
    ConnectionState.CONNECTED,
    ConnectionState.CLOSING,
    ConnectionState.CLOSED,
)


@pytest.mark.parametrize(
    ("current", "target"),
    [
        (CONNECTING, CONNECTED),
        (CONNECTING, CLOSING),
        (CONNECTED, CLOSING),
        (CONNECTING, CLOSED),
        (CONNECTED, CLOSED),
        (CLOSING, CLOSED),
        (CLOSED, CLOSED),
    ],
)
def test_a_connection_moves_forward_and_can_always_end(
    current: ConnectionState, target: ConnectionState
) -> None:
    assert next_state(current, target) is target


@pytest.mark.parametrize(
    ("current", "target"),
    [(CONNECTED, CONNECTING), (CLOSING, CONNECTED), (CLOSED, CONNECTED), (CLOSED, CLOSING)],
)
def test_a_wrong_move_raises_an_exact_error(
    current: ConnectionState, target: ConnectionState
) -> None:
    with pytest.raises(RuntimeError) as raised:
        next_state(current, target)
    assert str(raised.value) == (f"A connection cannot move from {current.name} to {target.name}")
