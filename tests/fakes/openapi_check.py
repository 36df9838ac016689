"""Check requests, responses and webhook payloads against an OpenAPI 3.1 document.

Used two ways: the Meeting BaaS fake validates incoming request bodies with it (so it rejects
what the real service rejects), and fidelity tests assert that every exchange and every callback
the fake produces matches `meetingbaas-openapi-v2.json`, so the fake cannot drift from the spec.

The spec's component schemas carry `$id: "#/components/schemas/X"` (a fragment-only id, and some
are duplicated, e.g. BotWebhookCompleted says CallbackCompleted). Those ids would confuse a
`referencing` registry, so they are stripped; every `$ref` then resolves against the document root,
registered under one URI.
"""

from __future__ import annotations

import copy
import re
from datetime import datetime
from functools import lru_cache
from typing import Any, Iterable
from urllib.parse import urlsplit

from jsonschema import Draft202012Validator, FormatChecker
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from tests.reference import load_reference_json

MEETINGBAAS_V2 = "meetingbaas-openapi-v2.json"


class SpecViolation(AssertionError):
    """A message does not match the spec; the text lists every problem."""


def _strip_ids(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: _strip_ids(v) for k, v in node.items() if k not in ("$id", "$schema")}
    if isinstance(node, list):
        return [_strip_ids(v) for v in node]
    return node


def _format_checker() -> FormatChecker:
    checker = copy.deepcopy(Draft202012Validator.FORMAT_CHECKER)

    @checker.checks("uri", raises=ValueError)
    def _uri(value: object) -> bool:
        if not isinstance(value, str):
            return True
        parts = urlsplit(value)
        return bool(parts.scheme) and not re.search(r"\s", value)

    @checker.checks("date-time", raises=ValueError)
    def _date_time(value: object) -> bool:
        if not isinstance(value, str):
            return True
        text = value[:-1] + "+00:00" if value.endswith(("Z", "z")) else value
        moment = datetime.fromisoformat(text)
        return moment.tzinfo is not None

    return checker


def _pointer_escape(segment: str) -> str:
    return segment.replace("~", "~0").replace("/", "~1")


class OpenApiSpec:
    """One OpenAPI document, ready to validate messages by (method, path, status)."""

    def __init__(self, document: dict, uri: str = "urn:openapi:spec"):
        self.document = _strip_ids(document)
        self.uri = uri
        resource = Resource.from_contents(self.document, default_specification=DRAFT202012)
        self.registry = Registry().with_resource(uri, resource)
        self.format_checker = _format_checker()
        self._templates = [(self._template_regex(p), p) for p in self.document.get("paths", {})]
        # Most specific first: literal segments beat {params} (e.g. /scheduled before /{bot_id}).
        self._templates.sort(key=lambda item: item[1].count("{"))
        self._validators: dict[str, Draft202012Validator] = {}

    # -- locating --------------------------------------------------------------------------

    @staticmethod
    def _template_regex(template: str) -> re.Pattern:
        pattern = re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(template))
        return re.compile(f"^{pattern}$")

    def template_for(self, path: str) -> str | None:
        for regex, template in self._templates:
            if regex.match(path):
                return template
        return None

    def operation(self, method: str, path: str) -> tuple[str, dict]:
        template = self.template_for(path)
        if template is None:
            raise SpecViolation(f"{method} {path}: no such path in the spec")
        operation = self.document["paths"][template].get(method.lower())
        if operation is None:
            raise SpecViolation(f"{method} {path}: the spec has no {method} on {template}")
        return template, operation

    def path_params(self, template: str, path: str) -> dict[str, str]:
        names = re.findall(r"\{([^/]+?)\}", template)
        pattern = re.sub(r"\\\{[^/]+?\\\}", "([^/]+)", re.escape(template))
        match = re.match(f"^{pattern}$", path)
        return dict(zip(names, match.groups())) if match else {}

    def _validator(self, pointer: str) -> Draft202012Validator:
        validator = self._validators.get(pointer)
        if validator is None:
            validator = Draft202012Validator(
                {"$ref": f"{self.uri}#{pointer}"}, registry=self.registry, format_checker=self.format_checker
            )
            self._validators[pointer] = validator
        return validator

    @staticmethod
    def _describe(errors: Iterable) -> list[str]:
        found = []
        for error in sorted(errors, key=lambda e: list(e.absolute_path)):
            where = "/".join(str(p) for p in error.absolute_path) or "(root)"
            found.append(f"{where}: {error.message[:300]}")
        return found

    def schema_errors(self, pointer: str, instance: Any) -> list[str]:
        return self._describe(self._validator(pointer).iter_errors(instance))

    def component_errors(self, name: str, instance: Any) -> list[str]:
        return self.schema_errors(f"/components/schemas/{_pointer_escape(name)}", instance)

    # -- requests --------------------------------------------------------------------------

    def request_errors(self, method: str, path: str, body: Any = None,
                       query: dict[str, str] | None = None, *, has_body: bool | None = None) -> list[str]:
        """Problems with a request: path parameters, query parameters, JSON body."""
        try:
            template, operation = self.operation(method, path)
        except SpecViolation as exc:
            return [str(exc)]
        base = f"/paths/{_pointer_escape(template)}/{method.lower()}"
        errors: list[str] = []
        params = self.path_params(template, path)
        query = dict(query or {})
        for index, parameter in enumerate(operation.get("parameters", [])):
            name, where = parameter["name"], parameter["in"]
            pointer = f"{base}/parameters/{index}/schema"
            if where == "path":
                errors += [f"path {name}: {e}" for e in self.schema_errors(pointer, params.get(name))]
            elif where == "query":
                if name not in query:
                    if parameter.get("required"):
                        errors.append(f"query {name}: required")
                    continue
                value = _coerce_query(query.pop(name), parameter.get("schema", {}))
                errors += [f"query {name}: {e}" for e in self.schema_errors(pointer, value)]
        for name in query:
            errors.append(f"query {name}: not a parameter of {method} {template}")
        request_body = operation.get("requestBody")
        sent_body = has_body if has_body is not None else body is not None
        if request_body is None:
            if sent_body:
                errors.append("body: this operation takes no body")
        elif sent_body:
            pointer = f"{base}/requestBody/content/application~1json/schema"
            errors += [f"body {e}" for e in self.schema_errors(pointer, body)]
        elif request_body.get("required"):
            errors.append("body: required")
        return errors

    def check_request(self, method: str, path: str, body: Any = None,
                      query: dict[str, str] | None = None, **kwargs) -> None:
        errors = self.request_errors(method, path, body, query, **kwargs)
        if errors:
            raise SpecViolation(f"{method} {path} request:\n  " + "\n  ".join(errors))

    # -- responses -------------------------------------------------------------------------

    # Statuses the spec does not list per operation but implies for every secured operation
    # (global `security`), answered in the spec's common error shape.
    IMPLIED_ERRORS = {401: "ErrorResponse", 403: "ErrorResponse"}

    def response_errors(self, method: str, path: str, status: int, body: Any) -> list[str]:
        try:
            template, operation = self.operation(method, path)
        except SpecViolation as exc:
            return [str(exc)]
        responses = operation.get("responses", {})
        key = str(status)
        if key not in responses:
            key = f"{str(status)[0]}XX" if f"{str(status)[0]}XX" in responses else "default"
        if key not in responses:
            implied = self.IMPLIED_ERRORS.get(status)
            if implied:
                return self.component_errors(implied, body)
            return [f"status {status} is not a documented response of {method} {template}"]
        content = responses[key].get("content")
        if not content:
            return [] if body in (None, b"", "") else ["body: the spec documents no body"]
        pointer = f"/paths/{_pointer_escape(template)}/{method.lower()}/responses/{key}/content/application~1json/schema"
        return self.schema_errors(pointer, body)

    def check_response(self, method: str, path: str, status: int, body: Any) -> None:
        errors = self.response_errors(method, path, status, body)
        if errors:
            raise SpecViolation(f"{method} {path} -> {status} response:\n  " + "\n  ".join(errors))

    def check_component(self, name: str, instance: Any) -> None:
        errors = self.component_errors(name, instance)
        if errors:
            raise SpecViolation(f"{name}:\n  " + "\n  ".join(errors))


def _coerce_query(value: str, schema: dict) -> Any:
    """Query strings arrive as text; give integer/number/boolean parameters their JSON type."""
    types = {schema.get("type")} | {s.get("type") for s in schema.get("anyOf", []) if isinstance(s, dict)}
    if "integer" in types and re.fullmatch(r"-?\d+", value):
        return int(value)
    if "number" in types and re.fullmatch(r"-?\d+(\.\d+)?", value):
        return float(value)
    if "boolean" in types and value in ("true", "false"):
        return value == "true"
    return value


@lru_cache(maxsize=None)
def meetingbaas_spec() -> OpenApiSpec:
    return OpenApiSpec(load_reference_json(MEETINGBAAS_V2), uri="urn:meetingbaas:v2")


# Which component schema each outbound payload must match.
WEBHOOK_SCHEMAS = {
    "bot.status_change": "BotWebhookStatusChange",
    "bot.completed": "BotWebhookCompleted",
    "bot.failed": "BotWebhookFailed",
    "bot.chat_message": "BotWebhookChatMessage",
}
CALLBACK_SCHEMAS = {
    "bot.completed": "CallbackCompleted",
    "bot.failed": "CallbackFailed",
}


def check_meetingbaas_webhook(payload: dict) -> None:
    """An account-level webhook payload (SVIX-delivered) as the spec defines it."""
    name = WEBHOOK_SCHEMAS.get(payload.get("event")) if isinstance(payload, dict) else None
    if name is None:
        raise SpecViolation(f"unknown webhook event {payload!r:.200}")
    meetingbaas_spec().check_component(name, payload)


def check_meetingbaas_callback(payload: dict) -> None:
    """A per-bot callback payload (sent to callback_config.url) as the spec defines it."""
    name = CALLBACK_SCHEMAS.get(payload.get("event")) if isinstance(payload, dict) else None
    if name is None:
        raise SpecViolation(f"callbacks carry only bot.completed / bot.failed, got {payload!r:.200}")
    meetingbaas_spec().check_component(name, payload)
