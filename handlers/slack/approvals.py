"""Clicks on an approval DM: Record / Skip / Always for this series / Never for this series.

Ack at once, record the choice with the engine, and edit the DM in place to show the outcome and
who chose it. A second click (a double click, a device showing the DM before it was edited)
records the new choice, or repeats the same one harmlessly and says it was already answered.
"""

from __future__ import annotations

from bot.context import AppContext
from bot.engine import approvals
from bot.engine.requests import decide_event
from bot.views.approval import ACTION_ALWAYS, ACTION_NEVER, ACTION_RECORD, ACTION_SKIP
from handlers.slack.support import Problem, acting_member, ephemeral, friendly
from storage.events import transaction

CHOICES = {
    ACTION_RECORD: ("record", "occurrence"),
    ACTION_SKIP: ("skip", "occurrence"),
    ACTION_ALWAYS: ("record", "series"),
    ACTION_NEVER: ("skip", "series"),
}


def register(app, ctx: AppContext) -> None:
    for action_id, (action, scope) in CHOICES.items():
        app.action(action_id)(_answer_with(ctx, action, scope))


def _answer_with(ctx: AppContext, action: str, scope: str):
    @friendly("approval click")
    async def answer(ack, body, client, respond):
        await ack()
        member = await acting_member(ctx, client, body)
        try:
            approval_id = int(body["actions"][0]["value"])
        except (KeyError, IndexError, ValueError):
            raise Problem("That button is from an older message; try `/calbot upcoming`.") from None
        rows = list(ctx.db.query("SELECT * FROM approvals WHERE id = ?", [approval_id]))
        if not rows or rows[0]["member_id"] != member["id"]:
            raise Problem("That request isn't yours to answer.")
        approval = rows[0]
        if approval["status"] == "expired":
            await respond(**ephemeral("Too late for this one: the meeting has started."))
            return
        if approval["event_id"] is None:
            raise Problem("That meeting is no longer on your calendar.")
        # The click's choice stands even if it repeats one (the last choice wins, and recording
        # it again is harmless: one meeting, one bot); a repeat is said, so it isn't a dead click.
        repeated = approval["status"] == "answered" and approval["answer"] == f"{action}:{scope}"
        decide_event(ctx, member_id=member["id"], event_id=approval["event_id"], action=action, scope=scope,
                     actor=member["user_id"], source="slack")
        with transaction(ctx.db):
            outcome = approvals.answer(ctx, approval, action=action, scope=scope, user_id=member["user_id"])
        for loop in ("notifier", "planner", "home"):
            ctx.engine.poke(loop)
        if repeated:
            await respond(**ephemeral(f"You already answered: {outcome}."))

    return answer
