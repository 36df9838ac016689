"""Rules as people read them, and the rule builder modal. Pure."""

from __future__ import annotations

import json


def describe_rule(rule: dict) -> str:
    """One sentence for a stored rule (bot/rules.py says it best when it is there)."""
    try:
        from bot.rules import Rule  # issue 5

        described = Rule.model_validate(rule)
        for name in ("describe", "description"):
            value = getattr(described, name, None)
            if callable(value):
                return value()
            if isinstance(value, str) and value:
                return value
    except Exception:
        pass
    if isinstance(rule.get("description"), str) and rule["description"]:
        return rule["description"]
    action = rule.get("action", "?")
    return f"{action}: {json.dumps({k: v for k, v in rule.items() if k != 'action'}, sort_keys=True)[:150]}"
