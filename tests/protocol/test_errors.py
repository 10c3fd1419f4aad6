"""The one error type: its ``details`` always say why (spec 9.1)."""

from __future__ import annotations

from tigateway_channels.protocol.errors import ErrorCode, GatewayError, field_error


def test_an_error_without_details_still_has_a_reason() -> None:
    data = GatewayError(ErrorCode.INTERNAL_ERROR, "Internal error; see server logs").as_data()
    assert data == {
        "code": "INTERNAL_ERROR",
        "message": "Internal error; see server logs",
        "details": {"reason": "Internal error; see server logs"},
    }


def test_details_without_a_reason_get_the_message_and_are_not_changed_in_place() -> None:
    details = {"permission": "tigateway_channels.view_route"}
    error = GatewayError(ErrorCode.FORBIDDEN, "You may not", details)
    assert error.as_data()["details"] == {**details, "reason": "You may not"}
    assert details == {"permission": "tigateway_channels.view_route"}


def test_a_field_error_keeps_its_field_value_and_reason() -> None:
    error = field_error(ErrorCode.INVALID_ROUTE_CONFIG, "uri", "x", "bad uri", "Invalid")
    assert error.as_data()["details"] == {"field": "uri", "value": "x", "reason": "bad uri"}
