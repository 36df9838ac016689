"""A member's rules in Slack: `/calbot rules` and the Home tab's Rules button open the list;
each rule's menu moves, edits or deletes it; "Add a rule" opens the editor, whose Preview shows
which upcoming meetings the rule would match. Every change re-plans the member's meetings."""

from __future__ import annotations

import json
from datetime import timedelta

from bot.context import AppContext
from bot.engine.home import mark_member_dirty
from bot.engine.planner import facts_of
from bot.timeutil import parse_iso, to_iso, zone
from bot.views.common import hhmm
from bot.views.home import RULES_ACTION
from bot.views.rules import (ADD_RULE_ACTION, EDITOR_CALLBACK, PREVIEW_ACTION, RULE_MENU_ACTION, parse_rule_editor,
                             rule_editor, rules_modal)
from handlers.slack.commands import CommandRequest, subcommand
from handlers.slack.support import Problem, acting_member, friendly, team_and_user
from storage.members import ensure_member
from storage.meetings import PLANNING_COLUMNS, _FROM, enqueue
from storage.rules import add_rule, delete_rule, list_rules, move_rule, update_rule

PREVIEW_DAYS = 14
PREVIEW_SHOWN = 8


def _rules(ctx: AppContext, member: dict):
    return list_rules(ctx.db, member["id"])


def _changed(ctx: AppContext, member: dict) -> None:
    enqueue(ctx.db, "member", [member["id"]])
    mark_member_dirty(ctx, member["id"])
    ctx.engine.poke("planner")


def _editing(ctx: AppContext, member: dict, meta: dict):
    """The stored rule the editor is changing (None for a new one, or one deleted meanwhile)."""
    rule_id = meta.get("rule")
    return dict(_rules(ctx, member)).get(int(rule_id)) if rule_id else None


def preview_lines(ctx: AppContext, member: dict, rule) -> list[str]:
    """Which of the member's next meetings this rule would match, in words."""
    now = ctx.clock.now()
    rows = list(ctx.db.query(
        f"SELECT {PLANNING_COLUMNS} {_FROM} WHERE m.id = ? AND e.start_at >= ? AND e.start_at < ? "
        "AND e.status != 'cancelled' ORDER BY e.start_at LIMIT 200",
        [member["id"], to_iso(now), to_iso(now + timedelta(days=PREVIEW_DAYS))]))
    matched = [r for r in rows if rule.matches(facts_of(r))]
    if not rows:
        return [f"You have no meetings in the next {PREVIEW_DAYS} days to try it on."]
    lines = [f"Matches {len(matched)} of your {len(rows)} meetings in the next {PREVIEW_DAYS} days"
             + (":" if matched else ".")]
    for row in matched[:PREVIEW_SHOWN]:
        start = parse_iso(row["start_at"])
        lines.append(f"• {_day(start, member)} {hhmm(start, member.get('tz'))} — {row['title'] or '(no title)'}")
    if len(matched) > PREVIEW_SHOWN:
        lines.append(f"…and {len(matched) - PREVIEW_SHOWN} more")
    return lines


def _day(start, member: dict) -> str:
    return start.astimezone(zone(member.get("tz"))).strftime("%a %d %b")


@subcommand("rules")
async def rules_command(request: CommandRequest) -> dict | None:
    await request.client.views_open(trigger_id=request.trigger_id, view=rules_modal(_rules(request.ctx, request.member)))
    return None


def register(app, ctx: AppContext) -> None:
    @app.action(RULES_ACTION)
    @friendly("rules button")
    async def open_rules(ack, body, client):
        await ack()
        member = await acting_member(ctx, client, body)
        await client.views_open(trigger_id=body["trigger_id"], view=rules_modal(_rules(ctx, member)))

    @app.action(RULE_MENU_ACTION)
    @friendly("rule menu")
    async def rule_menu(ack, body, client):
        await ack()
        member = await acting_member(ctx, client, body)
        verb, _, raw_id = body["actions"][0]["selected_option"]["value"].partition(":")
        rule_id = int(raw_id)
        rules = dict(_rules(ctx, member))
        if rule_id not in rules:
            raise Problem("That rule is gone already.")
        view = body["view"]
        if verb == "edit":
            await client.views_push(trigger_id=body["trigger_id"],
                                    view=rule_editor(rules[rule_id], rule_id=rule_id, root_view_id=view["id"]))
            return
        if verb == "delete":
            delete_rule(ctx.db, member["id"], rule_id)
        else:
            position = list(rules).index(rule_id) + 1
            move_rule(ctx.db, member["id"], rule_id, position - 1 if verb == "up" else position + 1)
        _changed(ctx, member)
        await client.views_update(view_id=view["id"], hash=view.get("hash"), view=rules_modal(_rules(ctx, member)))

    @app.action(ADD_RULE_ACTION)
    @friendly("add rule")
    async def add_clicked(ack, body, client):
        await ack()
        await client.views_push(trigger_id=body["trigger_id"], view=rule_editor(root_view_id=body["view"]["id"]))

    @app.action(PREVIEW_ACTION)
    @friendly("rule preview")
    async def preview_clicked(ack, body, client):
        await ack()
        member = await acting_member(ctx, client, body)
        view = body["view"]
        meta = json.loads(view.get("private_metadata") or "{}")
        rule, errors = parse_rule_editor(view, _editing(ctx, member, meta))
        lines = preview_lines(ctx, member, rule) if rule else [f"Fix first: {next(iter(errors.values()))}"]
        # Keep what was typed: the editor is rebuilt from the parsed rule.
        await client.views_update(view_id=view["id"], hash=view.get("hash"),
                                  view=rule_editor(rule, rule_id=meta.get("rule"), preview=lines,
                                                   root_view_id=meta.get("root")))

    @app.view(EDITOR_CALLBACK)
    async def editor_submitted(ack, body, view, client):
        team_id, user_id = team_and_user(body)
        member = ensure_member(ctx.db, team_id, user_id, clock=ctx.clock)
        meta = json.loads(view.get("private_metadata") or "{}")
        rule, errors = parse_rule_editor(view, _editing(ctx, member, meta))
        if errors:
            await ack(response_action="errors", errors=errors)
            return
        # Saved before the editor closes: the list it returns to already shows it.
        updated = bool(meta.get("rule")) and update_rule(ctx.db, member["id"], int(meta["rule"]), rule, clock=ctx.clock)
        if not updated:
            add_rule(ctx.db, member["id"], rule, clock=ctx.clock)
        _changed(ctx, member)
        await ack()
        if meta.get("root"):
            await _refresh_list(client=client, member=member, view_id=meta["root"])

    @friendly("rules list refresh")
    async def _refresh_list(client, member, view_id):
        await client.views_update(view_id=view_id, view=rules_modal(_rules(ctx, member)))
