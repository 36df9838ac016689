"""The help text for `/calbot`, and the error-plus-help reply. Pure Block Kit builders."""

from __future__ import annotations

from bot.slash import DESCRIPTIONS, GRAMMAR


def help_lines() -> list[str]:
    lines = []
    for name, (pattern, _, _) in GRAMMAR.items():
        usage = f"/calbot {name}" + (f" {pattern}" if pattern else "")
        lines.append(f"`{usage}` — {DESCRIPTIONS[name]}")
    return lines


def help_text() -> str:
    return "*calbot* records the meetings you choose.\n" + "\n".join(help_lines())


def help_message(error: str | None = None) -> dict:
    """A message payload (text + blocks): an optional short error, then the command list."""
    blocks: list[dict] = []
    if error:
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": f":warning: {error}"}})
    blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": help_text()}})
    fallback = (f"{error}\n" if error else "") + help_text()
    return {"text": fallback, "blocks": blocks}
