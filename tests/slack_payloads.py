"""Every Block Kit payload Slack received, checked as Slack would: slack-sdk's Block Kit models
(through the fake's `block_problems` / `view_problems`) plus the limits those models don't
enforce everywhere — 50 blocks per message, 100 per view, 3,000 characters per text object,
75 per button label, 2,000 per button value.

Use `assert_all_payloads_valid(fake)` at the end of a test (the e2e rig does it for every test).
"""

from __future__ import annotations

from typing import Any, Iterable

from tests.fakes.slack import FakeSlack, block_problems, view_problems

MAX_MESSAGE_BLOCKS = 50
MAX_VIEW_BLOCKS = 100
MAX_TEXT = 3000
MAX_BUTTON_TEXT = 75
MAX_VALUE = 2000


def _texts(node: Any, path: str = "") -> Iterable[tuple[str, dict]]:
    if isinstance(node, dict):
        if node.get("type") in ("mrkdwn", "plain_text") and isinstance(node.get("text"), str):
            yield path, node
        for key, value in node.items():
            yield from _texts(value, f"{path}/{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _texts(value, f"{path}/{index}")


def _buttons(node: Any) -> Iterable[dict]:
    if isinstance(node, dict):
        if node.get("type") == "button":
            yield node
        for value in node.values():
            yield from _buttons(value)
    elif isinstance(node, list):
        for value in node:
            yield from _buttons(value)


def limit_problems(blocks: list, *, max_blocks: int) -> list[str]:
    problems = []
    if len(blocks) > max_blocks:
        problems.append(f"{len(blocks)} blocks (at most {max_blocks})")
    for path, text in _texts(blocks):
        if len(text["text"]) > MAX_TEXT:
            problems.append(f"text of {len(text['text'])} characters at {path}")
    for button in _buttons(blocks):
        if len((button.get("text") or {}).get("text", "")) > MAX_BUTTON_TEXT:
            problems.append(f"button label too long: {button['text']['text'][:40]}…")
        if len(button.get("value") or "") > MAX_VALUE:
            problems.append(f"button value of {len(button['value'])} characters")
    return problems


def payload_problems(fake: FakeSlack) -> list[str]:
    problems: list[str] = []
    with fake.lock:
        messages = [(f"{c}/{m['ts']}", m) for (c, _), versions in fake._versions.items() for m in versions]
        ephemerals = [(f"ephemeral {u}/{e['message_ts']}", e) for u, es in fake._ephemerals.items() for e in es]
        views = list(fake._views.values())
    for where, item in messages + ephemerals:
        blocks = item.get("blocks") or []
        if not item.get("text") and not blocks:
            problems.append(f"{where}: empty message")
        if len(item.get("text") or "") > 40_000:
            problems.append(f"{where}: text too long")
        problems += [f"{where}: {p}" for p in block_problems(blocks)]
        problems += [f"{where}: {p}" for p in limit_problems(blocks, max_blocks=MAX_MESSAGE_BLOCKS)]
    for view in views:
        shown = {k: view[k] for k in ("type", "blocks", "title", "submit", "close", "callback_id",
                                      "private_metadata", "external_id") if view.get(k) is not None}
        problems += [f"view {view['id']}: {p}" for p in view_problems(shown)]
        problems += [f"view {view['id']}: {p}" for p in limit_problems(view.get("blocks") or [],
                                                                       max_blocks=MAX_VIEW_BLOCKS)]
    return problems


def assert_all_payloads_valid(fake: FakeSlack) -> None:
    problems = payload_problems(fake)
    assert not problems, "Slack would refuse or truncate:\n" + "\n".join(problems[:20])
