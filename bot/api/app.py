"""The REST Calendars API as a FastAPI sub-application mounted at /api.

A sub-application (rather than routes on the main app) gives the API its own OpenAPI document
(/api/openapi.json, only API routes, with a `/api` server), interactive docs (/api/docs) and its
own error handlers, so the `{"error": {...}}` shape applies to the API without touching Slack,
OAuth or webhook routes. Route modules are still discovered from handlers/api/.
"""

from __future__ import annotations

import re

from fastapi import Depends, FastAPI, Request
from fastapi.openapi.utils import get_openapi
from starlette.routing import Mount

from bot.api.errors import ApiError, ErrorResponse, install_error_handlers
from bot.context import AppContext

DESCRIPTION = """\
calbot's REST Calendars API: the calendars your workspace connected, their events and what will
be recorded, recording bots, decision rules and signed outbound webhooks.

**Authentication.** Send an API key (`calbot api-key create --team T [--user U]`) in
`x-meeting-baas-api-key`, `x-spoke-api-key` or `Authorization: Bearer`. A workspace key sees the
whole workspace; a member key (`--user`) sees only that member's calendars.

**Errors** are always `{"error": {"code": "...", "message": "..."}}`: 401 for a missing or bad key,
404 for anything that does not exist *or is not yours*, 400/422 for bad input.

**Pagination.** The lists that grow without bound, `GET /calendars/events` and
`GET /webhooks/{id}/deliveries`, take `limit` and return `next_cursor`; pass it back as `cursor`
for the next page (`null`: the last page). The other lists (`/calendars/providers`, `/calendars`,
`/rules`, `/webhooks`) are short and come whole: what a workspace connected, a member's rules in
the order they are tried, at most 20 webhooks.

**Webhooks** are signed per [Standard Webhooks](https://www.standardwebhooks.com/)
(`webhook-id`, `webhook-timestamp`, `webhook-signature`); verify them with the secret shown
once when the subscription is created.
"""

ERROR_RESPONSES = {
    "400": "Bad request (e.g. an invalid cursor)",
    "401": "Missing, invalid or revoked API key",
    "404": "Not found (or not visible to this key)",
    "422": "Invalid input",
}


class ApiMount(Mount):
    """Mount whose prefix also matches paths containing a newline (`/api/webhooks/a%0Ab`).
    A plain Mount's `.*` stops at a newline, so such a path would fall through to the main app's
    404 in FastAPI's `{"detail": ...}` shape instead of ours."""

    def __init__(self, path: str, app) -> None:
        super().__init__(path, app=app)
        self.path_regex = re.compile(self.path_regex.pattern, re.DOTALL)


def mount_api(app, ctx: AppContext) -> None:
    """Serve the API at /api on `app` (calbot's main FastAPI app)."""
    app.router.routes.append(ApiMount("/api", create_api_app(ctx)))


async def single_valued_query(request: Request) -> None:
    """No API parameter takes several values: `?limit=1&limit=900` is a mistake, not a choice of
    the last one."""
    seen: set[str] = set()
    for name, _ in request.query_params.multi_items():
        if name in seen:
            raise ApiError(422, f"{name}: given more than once")
        seen.add(name)


def create_api_app(ctx: AppContext) -> FastAPI:
    import handlers.api
    from handlers.discovery import combined_router

    app = FastAPI(
        dependencies=[Depends(single_valued_query)],
        title="calbot Calendars API",
        version="1",
        description=DESCRIPTION,
        docs_url="/docs",
        redoc_url=None,
        openapi_url="/openapi.json",
    )
    app.state.ctx = ctx
    install_error_handlers(app)
    app.include_router(combined_router(handlers.api))

    def openapi() -> dict:
        if app.openapi_schema is None:
            app.openapi_schema = _document(app)
        return app.openapi_schema

    app.openapi = openapi
    return app


def _document(app: FastAPI) -> dict:
    """FastAPI's document, with our error shape in place of its validation-error shape, and the
    error statuses every operation can answer with."""
    schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    for name in ("HTTPValidationError", "ValidationError"):
        components.pop(name, None)
    error_schema = ErrorResponse.model_json_schema(ref_template="#/components/schemas/{model}")
    components.update(error_schema.pop("$defs", {}))
    components["ErrorResponse"] = error_schema
    error_content = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorResponse"}}}
    for path in schema.get("paths", {}).values():
        for operation in path.values():
            responses = operation.setdefault("responses", {})
            for status, description in ERROR_RESPONSES.items():
                responses[status] = {"description": description, "content": error_content}
    return schema
