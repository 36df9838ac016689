"""The API's one error shape, `{"error": {"code", "message"}}`, for every failure it can return.

FastAPI's own shapes (`{"detail": ...}` for HTTPException, a list for validation errors) are
replaced here, so a client handles exactly one shape whatever went wrong.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from bot.errors import reference_id

log = logging.getLogger("calbot.api")

STATUS_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "too_large",
    415: "unsupported_media_type",
    422: "invalid_request",
    429: "rate_limited",
    503: "unavailable",
}


class ErrorDetail(BaseModel):
    code: str
    message: str


class ErrorResponse(BaseModel):
    error: ErrorDetail


class ApiError(Exception):
    """Raise from a handler to answer with this status, code and message."""

    def __init__(self, status: int, message: str, code: str | None = None):
        super().__init__(message)
        self.status = status
        self.code = code or STATUS_CODES.get(status, "error")
        self.message = message


def not_found(what: str) -> ApiError:
    return ApiError(404, f"{what} not found")


def invalid(message: str) -> ApiError:
    return ApiError(422, message)


def error_response(status: int, code: str, message: str, headers: dict | None = None) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status, headers=headers)


def describe_validation_error(exc: RequestValidationError) -> str:
    """One readable sentence per problem: 'query.limit: Input should be less than or equal to 1000'."""
    problems = []
    for error in exc.errors()[:10]:
        where = ".".join(str(part) for part in error.get("loc", ()) if part != "body") or "request"
        message = str(error.get("msg", "invalid")).removeprefix("Value error, ")
        problems.append(f"{where}: {message}")
    return "; ".join(problems) or "invalid request"


def allowed_methods(request: Request) -> list[str]:
    """Every method the API serves at this path, from its OpenAPI document. (Starlette's own 405
    names only the first matching route's methods, but GET, PATCH and DELETE of one path are
    three routes.)"""
    path = request.scope.get("path", "")
    root = request.scope.get("root_path", "")
    if root and path.startswith(root):
        path = path[len(root):]
    methods: set[str] = set()
    segments = path.strip("/").split("/")
    for template, operations in request.app.openapi().get("paths", {}).items():
        parts = template.strip("/").split("/")
        if len(parts) == len(segments) and all(
                part.startswith("{") or part == segment for part, segment in zip(parts, segments)):
            methods.update(method.upper() for method in operations)
    if "GET" in methods:
        methods.add("HEAD")
    return sorted(methods)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError):
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
        return error_response(exc.status, exc.code, exc.message, headers)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError):
        return error_response(422, "invalid_request", describe_validation_error(exc))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException):
        code = STATUS_CODES.get(exc.status_code, "error")
        message = exc.detail if isinstance(exc.detail, str) else code.replace("_", " ")
        headers = dict(getattr(exc, "headers", None) or {})
        if exc.status_code == 404 and message == "Not Found":
            message = f"no such API route: {request.method} {request.url.path}"
        if exc.status_code == 405:
            allowed = allowed_methods(request)
            headers["Allow"] = ", ".join(allowed)
            message = f"{request.method} is not supported here; use {' or '.join(allowed)}"
        return error_response(exc.status_code, code, message, headers or None)

    @app.exception_handler(Exception)
    async def unexpected_error(request: Request, exc: Exception):
        ref = reference_id()
        log.error("API error on %s %s: %s", request.method, request.url.path, exc, exc_info=exc,
                  extra={"ref": ref})
        return error_response(500, "internal", f"unexpected error (ref {ref})")
