"""The ASGI app: HTTP routes plus the engine loops, in one process, with a clean start and stop."""

from __future__ import annotations

import logging
from contextlib import asynccontextmanager

import httpx
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from bot.config import Settings
from bot.context import AppContext
from bot.crypto import SecretKeyError, TokenCipher, verify_key_matches_database
from bot.engine.runner import Engine
from bot.engine.wiring import register_loops
from bot.errors import reference_id
from bot.metrics import Metrics
from bot.timeutil import Clock
from storage.db import open_database

log = logging.getLogger("calbot.server")


class StartupError(Exception):
    """calbot cannot start with this configuration; the message says why and what to do."""


def build_context(settings: Settings, clock: Clock | None = None) -> AppContext:
    if not settings.calbot_secret_key:
        raise StartupError("CALBOT_SECRET_KEY: required (run `calbot init` to write a .env with one)")
    db = open_database(settings.calbot_database)
    cipher = TokenCipher(settings.calbot_secret_key)
    try:
        verify_key_matches_database(db, cipher)
    except SecretKeyError as exc:
        raise StartupError(f"CALBOT_SECRET_KEY: {exc}") from None
    metrics = Metrics()
    # One pooled client for every upstream call; per-call timeouts are set by the adapters.
    http = httpx.AsyncClient(timeout=httpx.Timeout(20.0, connect=5.0), follow_redirects=False)
    if clock is None:
        from bot.clock_file import clock_from_environment  # test-only override, see bot/clock_file.py

        clock = clock_from_environment()
    ctx = AppContext(settings=settings, db=db, cipher=cipher, clock=clock or Clock(),
                     http=http, metrics=metrics, engine=Engine(metrics))
    from bot.calendars.registry import build_providers

    ctx.providers = build_providers(settings, http, clock=ctx.clock)
    from bot.recorder.registry import build_recorder

    ctx.recorder = build_recorder(settings, http)
    return ctx


def announce_integrations(settings: Settings) -> None:
    """Say once, plainly, what is on and what is off and why."""
    for integration in settings.integrations():
        if integration.enabled:
            log.info("%s: on", integration.name, extra={"integration": integration.name, "enabled": True})
        else:
            log.warning("%s: off — %s", integration.name, integration.reason_off,
                        extra={"integration": integration.name, "enabled": False})


def create_app(settings: Settings, clock: Clock | None = None) -> FastAPI:
    ctx = build_context(settings, clock)

    from handlers.slack.app import build_slack_app

    bolt_app = build_slack_app(ctx)
    socket_mode = None

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        nonlocal socket_mode
        register_loops(ctx)
        await ctx.engine.start()
        if bolt_app is not None and settings.slack_app_token:
            from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler

            socket_mode = AsyncSocketModeHandler(bolt_app, settings.slack_app_token)
            await socket_mode.connect_async()
            log.info("slack: socket mode connected")
        log.info("calbot started", extra={"public_url": settings.public_url})
        try:
            yield
        finally:
            log.info("calbot stopping")
            if socket_mode is not None:
                await socket_mode.close_async()
            await ctx.engine.stop()
            for provider in ctx.providers.values():
                await provider.aclose()
            if ctx.recorder is not None:
                await ctx.recorder.aclose()
            await ctx.http.aclose()
            ctx.db.close()
            log.info("calbot stopped")

    app = FastAPI(title="calbot", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)
    app.state.ctx = ctx
    app.state.bolt = bolt_app

    @app.exception_handler(Exception)
    async def unexpected_error(request: Request, exc: Exception):
        ref = reference_id()
        log.error("unhandled error on %s: %s", request.url.path, exc, exc_info=exc, extra={"ref": ref})
        return JSONResponse({"error": {"code": "internal", "message": f"unexpected error (ref {ref})"}},
                            status_code=500)

    @app.middleware("http")
    async def count_requests(request: Request, call_next):
        response = await call_next(request)
        route = request.scope.get("route")
        ctx.metrics.http_requests.labels(getattr(route, "path", "unmatched"), str(response.status_code)).inc()
        return response

    @app.get("/healthz")
    async def healthz():
        try:
            ctx.db.execute("SELECT 1").fetchone()
            database = "ok"
        except Exception as exc:  # the point of a health check is to say so, not to raise
            database = f"error: {exc}"
        body = {
            "status": "ok" if database == "ok" else "unhealthy",
            "database": database,
            "integrations": {i.name: ("on" if i.enabled else f"off: {i.reason_off}") for i in settings.integrations()},
        }
        return JSONResponse(body, status_code=200 if database == "ok" else 503)

    @app.get("/metrics")
    async def metrics():
        return Response(ctx.metrics.render(), media_type=ctx.metrics.content_type)

    if bolt_app is not None:
        from slack_bolt.adapter.starlette.async_handler import AsyncSlackRequestHandler

        slack_handler = AsyncSlackRequestHandler(bolt_app)

        @app.post("/slack/events")
        async def slack_events(request: Request):
            ctx.slack_gate.enter()  # work after other acks waits while Slack waits for this one
            try:
                return await slack_handler.handle(request)
            finally:
                ctx.slack_gate.leave()

        if bolt_app.oauth_flow is not None:
            @app.get("/slack/install")
            async def slack_install(request: Request):
                return await slack_handler.handle(request)

            @app.get("/slack/oauth_redirect")
            async def slack_oauth_redirect(request: Request):
                return await slack_handler.handle(request)
    else:
        reason = settings.integration("slack").reason_off

        @app.post("/slack/events")
        async def slack_events_off():
            return JSONResponse({"error": {"code": "slack_not_configured", "message": f"Slack is not configured: {reason}"}},
                                status_code=503)

    import handlers.oauth
    import handlers.webhooks
    from bot.api.app import mount_api
    from handlers.discovery import combined_router

    app.include_router(combined_router(handlers.oauth))
    app.include_router(combined_router(handlers.webhooks))
    # The REST API is a sub-application: its own OpenAPI (/api/openapi.json), docs (/api/docs)
    # and error shape; its routes are still discovered from handlers/api/.
    mount_api(app, ctx)
    return app
