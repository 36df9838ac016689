"""The emulator rig's common part: a stateful HTTP server on loopback, run in a thread.

Each fake (Slack, Google, Microsoft, Meeting BaaS) subclasses `FakeService`, declares Starlette
routes and keeps its state in plain Python objects. Every request is recorded in `.requests`, and
faults can be injected on demand (`fail_next`): an HTTP status with headers and body (429 with
Retry-After, 5xx, 410, an OAuth `invalid_grant`), or a delay (slow responses / timeouts).
"""

from __future__ import annotations

import asyncio
import json
import re
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route


@dataclass
class RecordedRequest:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    at: float = field(default_factory=time.time)

    def json(self) -> Any:
        return json.loads(self.body or b"null")

    def form(self) -> dict[str, str]:
        from urllib.parse import parse_qsl

        return dict(parse_qsl(self.body.decode()))

    def param(self, name: str) -> str | None:
        values = self.query.get(name)
        return values[0] if values else None


@dataclass
class Fault:
    """What to do instead of (or before) answering a matching request."""

    method: str | None
    path: re.Pattern
    status: int | None = None
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    times: int = 1

    def matches(self, method: str, path: str) -> bool:
        return (self.method is None or self.method == method) and bool(self.path.search(path))


class FakeService:
    """Base for loopback emulators. Subclasses implement `routes()`."""

    name = "fake"

    def __init__(self) -> None:
        self.requests: list[RecordedRequest] = []
        self.lock = threading.RLock()
        self._faults: list[Fault] = []
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._sock: socket.socket | None = None
        self.port: int = 0
        self.app = Starlette(routes=self.routes())
        self.app.add_middleware(_RecordAndInjectMiddleware, fake=self)

    # -- to implement ----------------------------------------------------------------------

    def routes(self) -> list[Route]:
        raise NotImplementedError

    # -- lifecycle -------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> "FakeService":
        # IPPROTO_TCP explicitly: asyncio only sets TCP_NODELAY on sockets that say they are TCP,
        # and without it every response waits ~40 ms for Nagle + delayed ACK.
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        self.port = self._sock.getsockname()[1]
        config = uvicorn.Config(self.app, log_level="warning", lifespan="off", access_log=False)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._sock]}, name=f"{self.name}-fake", daemon=True
        )
        self._thread.start()
        deadline = time.time() + 10
        while not self._server.started:
            if time.time() > deadline:
                raise RuntimeError(f"{self.name} fake did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
        if self._sock is not None:
            self._sock.close()

    def __enter__(self) -> "FakeService":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- faults ----------------------------------------------------------------------------

    def fail_next(
        self,
        path: str,
        status: int | None = 500,
        *,
        method: str | None = None,
        body: Any = None,
        headers: dict[str, str] | None = None,
        retry_after: float | None = None,
        delay: float = 0.0,
        times: int = 1,
    ) -> None:
        """Make the next `times` requests whose path matches the regex `path` fail.

        `status=None` with a `delay` only slows the request down (then answers normally).
        """
        headers = dict(headers or {})
        if retry_after is not None:
            headers["Retry-After"] = str(int(retry_after)) if float(retry_after).is_integer() else str(retry_after)
        with self.lock:
            self._faults.append(
                Fault(method, re.compile(path), status, body, headers, delay, times)
            )

    def clear_faults(self) -> None:
        with self.lock:
            self._faults.clear()

    def _take_fault(self, method: str, path: str) -> Fault | None:
        with self.lock:
            for fault in self._faults:
                if fault.matches(method, path):
                    fault.times -= 1
                    if fault.times <= 0:
                        self._faults.remove(fault)
                    return fault
        return None

    # -- inspection ------------------------------------------------------------------------

    def calls(self, path: str | None = None, method: str | None = None) -> list[RecordedRequest]:
        """Recorded requests, optionally only those whose path matches the regex `path`."""
        with self.lock:
            found = list(self.requests)
        if path is not None:
            pattern = re.compile(path)
            found = [r for r in found if pattern.search(r.path)]
        if method is not None:
            found = [r for r in found if r.method == method]
        return found

    def reset_requests(self) -> None:
        with self.lock:
            self.requests.clear()

    def wait_for(self, predicate: Callable[[], Any], timeout: float = 10.0, interval: float = 0.02) -> Any:
        """Poll until `predicate()` is truthy; return its value or raise AssertionError."""
        deadline = time.time() + timeout
        while True:
            value = predicate()
            if value:
                return value
            if time.time() > deadline:
                raise AssertionError(f"{self.name}: condition not met within {timeout}s")
            time.sleep(interval)

    # -- outbound (push notifications, callbacks) ------------------------------------------

    def send(self, url: str, *, json_body: Any = None, content: bytes | None = None,
             headers: dict[str, str] | None = None, params: dict | None = None,
             timeout: float = 10.0) -> httpx.Response:
        """Send an HTTP POST the way the real service would (used for pushes and callbacks)."""
        with httpx.Client(timeout=timeout) as client:
            return client.post(url, json=json_body, content=content, headers=headers, params=params)


class _RecordAndInjectMiddleware:
    """Records every request and applies injected faults before the route sees it."""

    def __init__(self, app, fake: FakeService):
        self.app = app
        self.fake = fake

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        body = b""
        more = True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        request = Request(scope)
        query: dict[str, list[str]] = {}
        for key, value in request.query_params.multi_items():
            query.setdefault(key, []).append(value)
        recorded = RecordedRequest(
            method=scope["method"],
            path=scope["path"],
            query=query,
            headers={k.lower(): v for k, v in request.headers.items()},
            body=body,
        )
        with self.fake.lock:
            self.fake.requests.append(recorded)

        fault = self.fake._take_fault(scope["method"], scope["path"])
        if fault is not None:
            if fault.delay:
                await asyncio.sleep(fault.delay)
            if fault.status is not None:
                if isinstance(fault.body, (dict, list)):
                    response: Response = JSONResponse(fault.body, status_code=fault.status, headers=fault.headers)
                else:
                    response = Response(fault.body or "", status_code=fault.status, headers=fault.headers)
                await response(scope, receive, send)
                return

        replayed = False

        async def replay():
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
