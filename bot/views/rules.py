"""Rules as people read them, and the rule builder modal. Pure."""

from __future__ import annotations

import json
from datetime import time as _time

from pydantic import ValidationError

from bot.views.common import actions, button, context, divider, escape, plain, section


def describe_rule(rule: dict) -> str:
    """One sentence for a stored rule (bot/rules.py says it best when it is there)."""
    try:
        from bot.rules import Rule

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


# -- the rules modal and the rule editor ------------------------------------------------------

RULES_CALLBACK = "rules_list"
EDITOR_CALLBACK = "rule_editor"
RULE_MENU_ACTION = "rule_menu"
ADD_RULE_ACTION = "rule_add"
PREVIEW_ACTION = "rule_preview"
MAX_RULES_SHOWN = 40  # two blocks each, within a view's 100

ACTION_LABELS = {"record": "Record", "ask": "Ask me", "skip": "Skip"}
CHOICES = {
    "organizer": {"any": "Anyone", "me": "Me", "other": "Someone else"},
    "external": {"any": "Doesn't matter", "yes": "With external guests", "no": "Only my workspace"},
    "recurring": {"any": "Doesn't matter", "yes": "Recurring", "no": "One-off"},
}
PLATFORM_LABELS = {"zoom": "Zoom", "meet": "Google Meet", "teams": "Microsoft Teams", "webex": "Webex",
                   "goto": "GoTo", "chime": "Amazon Chime", "whereby": "Whereby", "jitsi": "Jitsi", "other": "Other"}
DAY_LABELS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def _opt(text: str, value: str) -> dict:
    return {"text": plain(text), "value": value}


def rules_modal(rules: list[tuple[int, object]]) -> dict:
    """The member's rules in order, each with a menu (up, down, edit, delete), and "Add a rule"."""
    blocks = [context("Rules are tried in order; the first that matches decides. No match: calbot asks "
                      "about meetings you organise and skips the rest.")]
    for position, (rule_id, rule) in enumerate(rules[:MAX_RULES_SHOWN], start=1):
        menu = {"type": "overflow", "action_id": RULE_MENU_ACTION, "options": [
            _opt("Move up", f"up:{rule_id}"), _opt("Move down", f"down:{rule_id}"),
            _opt("Edit", f"edit:{rule_id}"), _opt("Delete", f"delete:{rule_id}")]}
        name = f" *{escape(rule.name)}* —" if rule.name else ""
        blocks.append(section(f"{position}.{name} {escape(rule.describe())}", accessory=menu,
                              block_id=f"rule:{rule_id}"))
    if not rules:
        blocks.append(section("_No rules yet._"))
    blocks += [divider(), actions(button("Add a rule", ADD_RULE_ACTION, style="primary"), block_id="rules:add")]
    return {"type": "modal", "callback_id": RULES_CALLBACK, "title": plain("Your rules", 24),
            "close": plain("Done", 24), "blocks": blocks}


def rule_editor(rule=None, *, rule_id: int | None = None, preview: list[str] | None = None,
                root_view_id: str | None = None) -> dict:
    """Add or edit one rule; "Preview" shows which upcoming meetings it would match."""
    def select(block_id: str, label: str, options: dict, current: str) -> dict:
        opts = [_opt(text, value) for value, text in options.items()]
        return {"type": "input", "block_id": block_id, "label": plain(label),
                "element": {"type": "static_select", "action_id": "value", "options": opts,
                            "initial_option": next(o for o in opts if o["value"] == current)}}

    def text(block_id: str, label: str, current: str | None, hint: str, max_length: int = 200) -> dict:
        element = {"type": "plain_text_input", "action_id": "value", "max_length": max_length}
        if current:
            element["initial_value"] = current
        return {"type": "input", "block_id": block_id, "label": plain(label), "optional": True,
                "element": element, "hint": plain(hint, 150)}

    now = _describe_current(rule)
    platforms = {"type": "multi_static_select", "action_id": "value", "placeholder": plain("Any platform"),
                 "options": [_opt(t, v) for v, t in PLATFORM_LABELS.items()]}
    if now["platforms"]:
        platforms["initial_options"] = [_opt(PLATFORM_LABELS[p], p) for p in now["platforms"]]
    days = {"type": "multi_static_select", "action_id": "value", "placeholder": plain("Any day"),
            "options": [_opt(d, str(i)) for i, d in enumerate(DAY_LABELS)]}
    if now["weekdays"]:
        days["initial_options"] = [_opt(DAY_LABELS[d], str(d)) for d in now["weekdays"]]
    blocks = [
        select("action", "Then", {v: t for v, t in ACTION_LABELS.items()}, now["action"]),
        text("title", "When the title contains", now["title"], "Case doesn't matter, e.g. demo"),
        text("pattern", "…or matches this pattern", now["pattern"], "A regular expression on the title, e.g. ^(Acme|Globex)\\b"),
        select("organizer", "Organised by", CHOICES["organizer"], now["organizer"]),
        select("external", "Guests", CHOICES["external"], now["external"]),
        select("recurring", "Series", CHOICES["recurring"], now["recurring"]),
        {"type": "input", "block_id": "platforms", "label": plain("On"), "optional": True, "element": platforms},
        text("min_attendees", "At least this many attendees", now["min"], "A number, e.g. 3", 4),
        text("max_attendees", "At most this many attendees", now["max"], "A number, e.g. 2 for 1:1s", 4),
        {"type": "input", "block_id": "weekdays", "label": plain("On these days"), "optional": True, "element": days},
        text("after", "Starting at or after", now["after"], "HH:MM in your time zone, e.g. 09:00", 5),
        text("before", "Starting before", now["before"], "HH:MM in your time zone, e.g. 12:00", 5),
        text("name", "Name (optional)", now["name"], "To recognise it in the list, e.g. Sales demos", 100),
        actions(button("Preview", PREVIEW_ACTION), block_id="preview"),
    ]
    kept = _kept_lines(rule)
    if kept:
        blocks.insert(-1, context(escape("Also part of this rule, kept as it is (change it through the API): "
                                         + "; ".join(kept))[:2900]))
    if preview is not None:
        blocks.append(context("\n".join(preview)[:2900] or "It matches none of your next meetings."))
    return {"type": "modal", "callback_id": EDITOR_CALLBACK, "title": plain("Edit rule" if rule_id else "New rule", 24),
            "submit": plain("Save", 24), "close": plain("Back", 24),
            "private_metadata": json.dumps({"rule": rule_id, "root": root_view_id}), "blocks": blocks}


# Condition kinds the editor has a field for; anything else a rule holds (set through the API,
# or a second condition of a kind) is shown as text and kept exactly as it is.
_EDITABLE_KINDS = ("title_contains", "matches", "organizer_is_me", "has_external_guests", "recurring", "platform",
                   "attendee_count", "time_window")


def _editable(condition) -> bool:
    if condition.type == "title_contains":
        return not condition.include_description
    if condition.type == "matches":
        return condition.field == "title"
    return condition.type in _EDITABLE_KINDS


def split_for_editor(rule) -> tuple[dict, list]:
    """(the first condition of each kind the editor shows, by kind; every other condition)."""
    shown, kept = {}, []
    for condition in rule.conditions if rule is not None else ():
        if _editable(condition) and condition.type not in shown:
            shown[condition.type] = condition
        else:
            kept.append(condition)
    return shown, kept


def _kept_lines(rule) -> list[str]:
    """What the editor keeps without showing a field for it, in words."""
    if rule is None:
        return []
    _, kept = split_for_editor(rule)
    lines = [condition.describe() for condition in kept]
    bot = rule.bot.model_dump(exclude_none=True)
    if bot:
        lines.append("bot settings: " + ", ".join(f"{name.replace('_', ' ')} {value}" for name, value in bot.items()))
    return lines


def _describe_current(rule) -> dict:
    """The editor's fields for an existing rule."""
    now = {"action": "record", "title": None, "pattern": None, "organizer": "any", "external": "any",
           "recurring": "any", "platforms": [], "min": None, "max": None, "weekdays": [], "after": None,
           "before": None, "name": None}
    if rule is None:
        return now
    now["action"], now["name"] = rule.action, rule.name or None
    for kind, condition in split_for_editor(rule)[0].items():
        if kind == "title_contains":
            now["title"] = condition.text
        elif kind == "matches":
            now["pattern"] = condition.pattern
        elif kind == "organizer_is_me":
            now["organizer"] = "me" if condition.value else "other"
        elif kind == "has_external_guests":
            now["external"] = "yes" if condition.value else "no"
        elif kind == "recurring":
            now["recurring"] = "yes" if condition.value else "no"
        elif kind == "platform":
            now["platforms"] = list(condition.platforms)
        elif kind == "attendee_count":
            now["min"] = str(condition.min) if condition.min is not None else None
            now["max"] = str(condition.max) if condition.max is not None else None
        elif kind == "time_window":
            now["weekdays"] = list(condition.weekdays)
            now["after"] = condition.start.strftime("%H:%M") if condition.start != _time(0) else None
            now["before"] = condition.end.strftime("%H:%M") if condition.end else None
    return now


def _state(view: dict) -> dict:
    values = (view.get("state") or {}).get("values") or {}
    out = {}
    for block_id, elements in values.items():
        element = (elements or {}).get("value") or {}
        if "selected_option" in element:
            out[block_id] = (element.get("selected_option") or {}).get("value")
        elif "selected_options" in element:
            out[block_id] = [o["value"] for o in element.get("selected_options") or []]
        else:
            out[block_id] = (element.get("value") or "").strip() or None
    return out


def parse_rule_editor(view: dict, editing=None):
    """(Rule or None, errors by block id) from the editor's state. `editing` is the stored rule
    being changed: what the editor has no field for (see split_for_editor) is carried over."""
    from bot.rules import Rule, compile_pattern

    state, errors, conditions = _state(view), {}, []
    if state.get("title"):
        conditions.append({"type": "title_contains", "text": state["title"]})
    if state.get("pattern"):
        try:
            compile_pattern(state["pattern"])
            conditions.append({"type": "matches", "pattern": state["pattern"]})
        except ValueError as exc:
            errors["pattern"] = str(exc)[:1].upper() + str(exc)[1:150]
    if state.get("organizer") in ("me", "other"):
        conditions.append({"type": "organizer_is_me", "value": state["organizer"] == "me"})
    if state.get("external") in ("yes", "no"):
        conditions.append({"type": "has_external_guests", "value": state["external"] == "yes"})
    if state.get("recurring") in ("yes", "no"):
        conditions.append({"type": "recurring", "value": state["recurring"] == "yes"})
    if state.get("platforms"):
        conditions.append({"type": "platform", "platforms": state["platforms"]})
    bounds = {}
    for key, block in (("min", "min_attendees"), ("max", "max_attendees")):
        if state.get(block):
            if not state[block].isdigit():
                errors[block] = "A whole number, like 3."
            else:
                bounds[key] = int(state[block])
    if bounds and not errors:
        if "min" in bounds and "max" in bounds and bounds["min"] > bounds["max"]:
            errors["max_attendees"] = "The most can't be fewer than the least."
        else:
            conditions.append({"type": "attendee_count", **bounds})
    window = {}
    for key, block in (("start", "after"), ("end", "before")):
        value = state.get(block)
        if value:
            try:
                window[key] = _time.fromisoformat(value).strftime("%H:%M")
            except ValueError:
                errors[block] = "A time like 09:00."
    if state.get("weekdays") or window:
        if window.get("start") and window.get("end") and window["end"] <= window["start"]:
            errors["before"] = "It must end after it starts."
        elif not errors.get("after") and not errors.get("before"):
            condition = {"type": "time_window", **window}
            if state.get("weekdays"):
                condition["weekdays"] = [int(d) for d in state["weekdays"]]
            else:
                condition["weekdays"] = list(range(7))
            conditions.append(condition)
    if errors:
        return None, errors
    kept = split_for_editor(editing)[1] if editing is not None else []
    conditions += [condition.model_dump() for condition in kept]
    bot = editing.bot.model_dump() if editing is not None else {}
    try:
        rule = Rule.model_validate({"action": state.get("action") or "record", "name": state.get("name") or "",
                                    "conditions": conditions, "bot": bot})
    except ValidationError as exc:
        message = exc.errors()[0]["msg"].removeprefix("Value error, ")
        block = "pattern" if "regular expression" in message else "title"
        return None, {block: message[:150]}
    return rule, {}
