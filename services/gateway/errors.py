"""One error shape for every endpoint: ``{"error": code, "message": text, "status": n, ...}``."""

from __future__ import annotations

from typing import Any

from litestar import MediaType, Request, Response
from litestar.exceptions import HTTPException, ValidationException


class ApiError(HTTPException):
    def __init__(self, status_code: int, code: str, message: str, **extra: Any) -> None:
        super().__init__(status_code=status_code, detail=message)
        self.code = code
        self.extra_fields = extra


def error_body(status: int, code: str, message: str, **extra: Any) -> dict[str, Any]:
    return {"error": code, "message": message, "status": status, **extra}


def handle_api_error(_: Request[Any, Any, Any], exc: ApiError) -> Response[dict[str, Any]]:
    return Response(
        error_body(exc.status_code, exc.code, exc.detail, **exc.extra_fields),
        status_code=exc.status_code,
        media_type=MediaType.JSON,
    )


def handle_validation_error(_: Request[Any, Any, Any], exc: ValidationException) -> Response[dict[str, Any]]:
    return Response(
        error_body(422, "invalid_request", exc.detail, details=exc.extra),
        status_code=422,
        media_type=MediaType.JSON,
    )


_CODES = {
    400: "bad_request",
    404: "not_found",
    405: "method_not_allowed",
    413: "too_large",
    415: "unsupported_media_type",
}


def handle_http_error(_: Request[Any, Any, Any], exc: HTTPException) -> Response[dict[str, Any]]:
    status = exc.status_code
    message = exc.detail
    if status == 413:
        message = "the upload is larger than the limit (MAX_UPLOAD_MB)"
    return Response(
        error_body(status, _CODES.get(status, "error"), message),
        status_code=status,
        media_type=MediaType.JSON,
    )


EXCEPTION_HANDLERS = {
    ApiError: handle_api_error,
    ValidationException: handle_validation_error,
    HTTPException: handle_http_error,
}
