"""The API documents itself: /api/openapi.json (only API routes, our error shape, the three ways
to send a key) and interactive docs at /api/docs."""

from __future__ import annotations

import pytest

from tests.integration.api_seed import ApiEnv


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    env = ApiEnv(tmp_path_factory.mktemp("docs"))
    yield env
    env.close()


@pytest.fixture(scope="module")
def document(env):
    response = env.client.get("/api/openapi.json")
    assert response.status_code == 200
    return response.json()


def test_document_lists_the_seed_and_the_rest_of_the_api(document):
    paths = document["paths"]
    assert {"/calendars/providers", "/calendars/events", "/calendars/events/{event_id}", "/calendars",
            "/webhooks", "/webhooks/{webhook_id}"} <= set(paths)
    assert not any(path.startswith(("/slack", "/oauth", "/healthz", "/metrics")) for path in paths)
    assert document["servers"] == [{"url": "/api"}]


def test_every_response_is_typed_and_errors_use_our_shape(document):
    schemas = document["components"]["schemas"]
    assert "HTTPValidationError" not in schemas and "ValidationError" not in schemas
    assert schemas["ErrorResponse"]["required"] == ["error"]
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            for status, response in operation["responses"].items():
                schema = response["content"]["application/json"]["schema"]
                assert schema, (method, path, status)
                if status.startswith(("4", "5")):
                    assert schema == {"$ref": "#/components/schemas/ErrorResponse"}, (method, path, status)
            assert {"400", "401", "404", "422"} <= set(operation["responses"])


def test_every_operation_accepts_the_three_key_headers(document):
    security = document["components"]["securitySchemes"]
    assert {(s["type"], s.get("name") or s.get("scheme")) for s in security.values()} == {
        ("apiKey", "x-meeting-baas-api-key"), ("apiKey", "x-spoke-api-key"), ("http", "bearer")}
    for operations in document["paths"].values():
        for operation in operations.values():
            assert len(operation["security"]) == 3


def test_interactive_docs(env):
    page = env.client.get("/api/docs")
    assert page.status_code == 200
    assert "/api/openapi.json" in page.text


def test_unknown_api_routes_and_methods_answer_in_our_shape(env):
    missing = env.client.get("/api/no/such/thing")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"
    odd = env.client.get("/api/webhooks/a%0Ab")
    assert odd.status_code in (401, 404) and "error" in odd.json()
    wrong = env.client.put("/api/webhooks/1")
    assert wrong.status_code == 405
    assert wrong.headers["allow"] == "DELETE, GET, HEAD, PATCH"
    assert wrong.json()["error"]["code"] == "method_not_allowed"


def test_the_rest_of_the_app_keeps_its_own_routes(env):
    assert env.client.get("/healthz").status_code == 200


def test_the_description_names_exactly_the_lists_that_page(document):
    paged = {path for path, operations in document["paths"].items() if "get" in operations
             and {"limit", "cursor"} <= {p["name"] for p in operations["get"].get("parameters", [])}}
    assert paged == {"/calendars/events", "/webhooks/{webhook_id}/deliveries"}
    schemas = document["components"]["schemas"]
    for path in paged:
        ref = document["paths"][path]["get"]["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
        assert "next_cursor" in schemas[ref.rsplit("/", 1)[1]]["properties"], path
        assert f"`GET {path.replace('{webhook_id}', '{id}')}`" in document["info"]["description"]
