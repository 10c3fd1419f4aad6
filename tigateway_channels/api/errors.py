"""Every failure of the REST API in the one error shape ``{"code", "message", ...}``.

``GatewayError`` from the services keeps its code and gets its HTTP status here; DRF's own
400/401/403/404/429 answers are reshaped, each view naming the code of its own 404.
"""

from __future__ import annotations

from rest_framework import exceptions, status
from rest_framework.response import Response

from tigateway_channels.protocol.errors import ErrorCode, GatewayError
from tigateway_channels.services.errors import issues_by_field

HTTP_STATUS_BY_CODE = {
    ErrorCode.INVALID_MESSAGE_FORMAT: status.HTTP_400_BAD_REQUEST,
    ErrorCode.INVALID_ROUTE_CONFIG: status.HTTP_400_BAD_REQUEST,
    ErrorCode.CONFIG_VALIDATION_ERROR: status.HTTP_400_BAD_REQUEST,
    ErrorCode.UNAUTHORIZED: status.HTTP_401_UNAUTHORIZED,
    ErrorCode.FORBIDDEN: status.HTTP_403_FORBIDDEN,
    ErrorCode.ROUTE_NOT_FOUND: status.HTTP_404_NOT_FOUND,
    ErrorCode.CONFIG_NOT_FOUND: status.HTTP_404_NOT_FOUND,
    ErrorCode.ROUTE_ALREADY_EXISTS: status.HTTP_409_CONFLICT,
    ErrorCode.VERSION_CONFLICT: status.HTTP_409_CONFLICT,
    ErrorCode.RATE_LIMITED: status.HTTP_429_TOO_MANY_REQUESTS,
}
# DRF's answers that mean the same whatever the view; a 404 is the view's ``not_found_code``.
CODE_BY_HTTP_STATUS = {
    status.HTTP_401_UNAUTHORIZED: ErrorCode.UNAUTHORIZED,
    status.HTTP_403_FORBIDDEN: ErrorCode.FORBIDDEN,
    status.HTTP_429_TOO_MANY_REQUESTS: ErrorCode.RATE_LIMITED,
}


def gateway_error_response(error: GatewayError) -> Response:
    http_status = HTTP_STATUS_BY_CODE.get(error.code, status.HTTP_500_INTERNAL_SERVER_ERROR)
    body = error.as_data()
    if http_status == status.HTTP_400_BAD_REQUEST:
        body["errors"] = issues_by_field(error)
    return Response(body, status=http_status)


class GatewayErrorMixin:
    """Every failure of a view in the one error shape, with serializer errors under ``errors``.

    A view says what its 400 and its 404 are about: ``validation_code`` and
    ``not_found_code`` (``ROUTE_NOT_FOUND`` for routes, ``CONFIG_NOT_FOUND`` for configs).
    """

    validation_code: ErrorCode = ErrorCode.INVALID_MESSAGE_FORMAT
    validation_message: str = "Request is invalid"
    not_found_code: ErrorCode

    def handle_exception(self, exc: Exception) -> Response:
        if isinstance(exc, GatewayError):
            return gateway_error_response(exc)
        response: Response = super().handle_exception(exc)  # type: ignore[misc]
        if isinstance(exc, exceptions.ValidationError):
            response.data = {
                "code": str(self.validation_code),
                "message": self.validation_message,
                "errors": response.data,
            }
        elif isinstance(response.data, dict) and "detail" in response.data:
            code = self._code_of(response.status_code)
            response.data = {"code": str(code), "message": str(response.data["detail"])}
        return response

    def _code_of(self, http_status: int) -> ErrorCode:
        if http_status == status.HTTP_404_NOT_FOUND:
            return self.not_found_code
        return CODE_BY_HTTP_STATUS.get(http_status, ErrorCode.INVALID_MESSAGE_FORMAT)
