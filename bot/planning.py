"""What should happen to one event for its member, and to one meeting for the workspace. Pure.

`plan_event` layers, in order: hard rules and the "never record" policy (nothing overrides them);
the member's own choice for this occurrence; their choice for the whole series; their rules and
the defaults. `aggregate` then turns the plans of every calendar the meeting is on (plus any API
request) into one desired state: anyone's `record` wins, and the notice can say who asked.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from bot.rules import BotOverrides, MeetingFacts, Policy, Rule, evaluate

# Which kind of reason wins when several members want the same meeting recorded: a person's
# explicit choice is the best answer to "who asked for this bot?".
_SLACK_USER = re.compile(r"^[UW][A-Z0-9_]{2,}$")
_SOURCE_RANK = {"decision": 0, "series": 1, "api": 2, "rule": 3, "default": 4, "hard": 5}


@dataclass(frozen=True)
class EventPlan:
    member_id: int
    action: str                 # record / ask / skip
    reason: str
    source: str                 # hard / decision / series / rule / default
    bot_config: dict[str, Any] = field(default_factory=dict, compare=False)


@dataclass(frozen=True)
class MeetingDesire:
    desired: str
    reason: str
    requested_by: int | None
    bot_config: dict[str, Any] = field(default_factory=dict, compare=False)


def describe_choice(action: str, actor: str | None, *, series: bool = False, source: str = "slack") -> str:
    """"approved by <@U1>", "series: always (chosen by <@U1>)", "requested via the API (key 'ci')"."""
    who = _who(actor, source)
    if series:
        return f"series: {'always' if action == 'record' else 'never'}" + (f" (chosen by {who})" if who else "")
    verb = "approved" if action == "record" else "skipped"
    return f"{verb} by {who}" if who else verb


def _who(actor: str | None, source: str) -> str:
    if not actor:
        return ""
    if source == "api":
        return f"the API ({actor})"
    if source == "default":
        return actor
    return f"<@{actor}>" if _SLACK_USER.match(actor) else actor


def plan_event(member_id: int, facts: MeetingFacts, rules: list[Rule], policy: Policy,
               occurrence_choice: dict | None = None, series_choice: dict | None = None) -> EventPlan:
    """The plan for one event on one member's calendar.

    A choice is a `decisions` row (dict with action, actor, source, bot_config)."""
    verdict = evaluate(facts, rules, policy)
    if verdict.hard:
        return EventPlan(member_id, verdict.action, verdict.reason, "hard", {})
    if occurrence_choice is not None:
        overrides = _overrides(occurrence_choice)
        reason = describe_choice(occurrence_choice["action"], occurrence_choice.get("actor"),
                                 source=occurrence_choice.get("source", "slack"))
        return EventPlan(member_id, occurrence_choice["action"], reason, "decision",
                         policy.bot_config(verdict.bot, overrides))
    if series_choice is not None:
        reason = describe_choice(series_choice["action"], series_choice.get("actor"), series=True,
                                 source=series_choice.get("source", "slack"))
        return EventPlan(member_id, series_choice["action"], reason, "series",
                         policy.bot_config(verdict.bot, _overrides(series_choice)))
    source = "rule" if verdict.rule_index is not None else "default"
    return EventPlan(member_id, verdict.action, verdict.reason, source, policy.bot_config(verdict.bot))


def aggregate(plans: list[EventPlan], api_choice: dict | None = None, policy: Policy | None = None) -> MeetingDesire:
    """One meeting's desired state from every member's plan (and an API request, if any)."""
    live = [p for p in plans if not (p.source == "hard" and p.reason == "the meeting is cancelled")]
    if plans and not live:
        return MeetingDesire("skip", "the meeting is cancelled", None)
    records = sorted((p for p in live if p.action == "record"), key=lambda p: (_SOURCE_RANK[p.source], p.member_id, p.reason))
    if api_choice is not None and api_choice["action"] == "skip" and not any(p.source == "decision" for p in records):
        return MeetingDesire("skip", describe_choice("skip", api_choice.get("actor"), source="api"), None)
    if records:
        chosen = records[0]
        return MeetingDesire("record", chosen.reason, chosen.member_id, chosen.bot_config)
    if api_choice is not None and api_choice["action"] == "record":
        config = (policy or Policy()).bot_config(_overrides(api_choice))
        return MeetingDesire("record", describe_choice("record", api_choice.get("actor"), source="api"),
                             api_requester(api_choice, live), config)
    asks = [p for p in live if p.action == "ask"]
    if asks:
        return MeetingDesire("ask", min(asks, key=lambda p: (p.member_id, p.reason)).reason, None)
    if live:
        hard = [p for p in live if p.source == "hard"]
        shown = min(hard or live, key=lambda p: (p.member_id, p.reason))
        return MeetingDesire("skip", shown.reason, None)
    return MeetingDesire("skip", "no longer on any calendar", None)


def api_requester(api_choice: dict, plans: list[EventPlan]) -> int | None:
    """Who an API-requested bot is for, so that Slack tells them about it like about any other bot:
    the member the request was made for (a member key's, or a workspace key's `member`), else the
    owner of a calendar the meeting is on. A link-only bot asked for with a workspace key is
    nobody's: there is no one to tell."""
    if api_choice.get("member_id") is not None:
        return api_choice["member_id"]
    return min((p.member_id for p in plans), default=None)


def _overrides(choice: dict) -> BotOverrides | None:
    raw = choice.get("bot_config")
    if isinstance(raw, str):
        raw = json.loads(raw or "{}")
    if not raw:
        return None
    return BotOverrides.model_validate({k: v for k, v in raw.items() if k in BotOverrides.model_fields})
