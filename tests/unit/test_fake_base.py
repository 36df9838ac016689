"""The emulator base records requests and injects faults, as every fake relies on."""

import time

import httpx
from starlette.responses import JSONResponse
from starlette.routing import Route

from tests.fakes.base import FakeService


class EchoFake(FakeService):
    name = "echo"

    def routes(self):
        async def echo(request):
            return JSONResponse({"ok": True, "body": (await request.body()).decode()})

        return [Route("/echo", echo, methods=["GET", "POST"])]


def test_records_requests_and_answers():
    with EchoFake() as fake:
        response = httpx.post(f"{fake.url}/echo?x=1", content=b"hello")
        assert response.json() == {"ok": True, "body": "hello"}
        [call] = fake.calls("/echo")
        assert call.method == "POST" and call.body == b"hello" and call.param("x") == "1"


def test_injected_fault_applies_once_then_service_recovers():
    with EchoFake() as fake:
        fake.fail_next("/echo", 429, retry_after=7, body={"error": "slow down"})
        first = httpx.get(f"{fake.url}/echo")
        second = httpx.get(f"{fake.url}/echo")
        assert first.status_code == 429 and first.headers["retry-after"] == "7"
        assert first.json() == {"error": "slow down"}
        assert second.status_code == 200


def test_delay_without_status_slows_but_answers():
    with EchoFake() as fake:
        fake.fail_next("/echo", None, delay=0.3)
        started = time.perf_counter()
        response = httpx.get(f"{fake.url}/echo")
        assert response.status_code == 200
        assert time.perf_counter() - started >= 0.3
