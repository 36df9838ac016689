"""GET|POST /api/rules and GET|PATCH|DELETE /api/rules/{id}: a member's recording rules, in the
order they are tried.

A member key works on its own member's rules; a workspace key says whose with `member` (the
Slack user id). Rules are `bot.rules.Rule`: conditions that must all hold, and an action.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from bot.api.auth import Principal, context, require_principal
from bot.api.errors import not_found
from bot.api.queries import parse_public_id, resolve_member
from bot.api.schemas import Deleted, Text
from bot.rules import Action, BotOverrides, Condition, Rule
from storage.events import transaction
from storage.meetings import enqueue
from storage.rules import add_rule, delete_rule, list_rules, move_rule, update_rule

router = APIRouter(tags=["rules"])
MEMBER_HELP = "workspace keys: the Slack user id whose rules these are"


class StoredRule(BaseModel):
    id: str
    position: int = Field(description="1 is tried first; the first rule that matches decides")
    description: str = Field(description="the rule in words")
    rule: Rule


class RulesResponse(BaseModel):
    member: str
    rules: list[StoredRule]


class CreateRuleRequest(BaseModel):
    rule: Rule
    position: int | None = Field(None, ge=1, le=1000, description="where to insert it (default: last)")
    member: str | None = Field(None, max_length=64, description=MEMBER_HELP)


class UpdateRuleRequest(BaseModel):
    """What to change; a field omitted (or null) stays as it is."""

    model_config = ConfigDict(extra="forbid")  # a misspelt field would otherwise change nothing, silently

    name: Text | None = Field(None, max_length=100)
    action: Action | None = None
    conditions: list[Condition] | None = Field(None, max_length=20, description="replaces all the conditions")
    bot: BotOverrides | None = Field(None, description="replaces the rule's bot settings")
    position: int | None = Field(None, ge=1, le=1000, description="move it here (1 is tried first)")


RULE_FIELDS = ("name", "action", "conditions", "bot")


def _listing(request: Request, member_id: int) -> RulesResponse:
    db = context(request).db
    user_id = db.execute("SELECT user_id FROM members WHERE id = ?", [member_id]).fetchone()[0]
    rules = [StoredRule(id=str(rule_id), position=n, description=rule.describe(), rule=rule)
             for n, (rule_id, rule) in enumerate(list_rules(db, member_id), start=1)]
    return RulesResponse(member=user_id, rules=rules)


def _stored_rule(request: Request, member_id: int, rule_id: str) -> StoredRule:
    """The member's rule with this id, numbered as in the listing; 404 for anyone else's."""
    number = parse_public_id(rule_id)
    for position, (found_id, rule) in enumerate(list_rules(context(request).db, member_id), start=1):
        if found_id == number:
            return StoredRule(id=str(found_id), position=position, description=rule.describe(), rule=rule)
    raise not_found(f"rule {rule_id}")


def _changed(rule: Rule, body: UpdateRuleRequest) -> Rule:
    """The rule with the request's changes, validated as a whole (422 if the result is invalid)."""
    changes = {name: getattr(body, name) for name in RULE_FIELDS if getattr(body, name) is not None}
    try:
        return Rule.model_validate({**dict(rule), **changes})
    except ValidationError as exc:
        raise RequestValidationError(exc.errors()) from None


def _replan(request: Request, member_id: int) -> None:
    ctx = context(request)
    enqueue(ctx.db, "member", [member_id])
    ctx.engine.poke("planner")


@router.get("/rules", response_model=RulesResponse, summary="A member's rules, in order")
async def get_rules(request: Request, member: str | None = Query(None, max_length=64, description=MEMBER_HELP),
                    principal: Principal = Depends(require_principal)) -> RulesResponse:
    member_id = resolve_member(context(request).db, principal, member, required=True)
    return _listing(request, member_id)


@router.post("/rules", response_model=RulesResponse, status_code=201, summary="Add a rule")
async def create_rule(body: CreateRuleRequest, request: Request,
                      principal: Principal = Depends(require_principal)) -> RulesResponse:
    ctx = context(request)
    member_id = resolve_member(ctx.db, principal, body.member, required=True)
    add_rule(ctx.db, member_id, body.rule, clock=ctx.clock, position=body.position)
    _replan(request, member_id)
    return _listing(request, member_id)


@router.get("/rules/{rule_id}", response_model=StoredRule, summary="One rule")
async def get_rule(request: Request, rule_id: str = Path(max_length=32),
                   member: str | None = Query(None, max_length=64, description=MEMBER_HELP),
                   principal: Principal = Depends(require_principal)) -> StoredRule:
    member_id = resolve_member(context(request).db, principal, member, required=True)
    return _stored_rule(request, member_id, rule_id)


@router.patch("/rules/{rule_id}", response_model=StoredRule,
              summary="Change a rule (only the fields sent) or move it with `position`")
async def change_rule(body: UpdateRuleRequest, request: Request, rule_id: str = Path(max_length=32),
                      member: str | None = Query(None, max_length=64, description=MEMBER_HELP),
                      principal: Principal = Depends(require_principal)) -> StoredRule:
    ctx = context(request)
    member_id = resolve_member(ctx.db, principal, member, required=True)
    stored = _stored_rule(request, member_id, rule_id)
    rule = _changed(stored.rule, body)
    with transaction(ctx.db):
        update_rule(ctx.db, member_id, int(stored.id), rule, clock=ctx.clock)
        if body.position is not None:
            move_rule(ctx.db, member_id, int(stored.id), body.position)
    _replan(request, member_id)
    return _stored_rule(request, member_id, rule_id)


@router.delete("/rules/{rule_id}", response_model=Deleted, summary="Delete a rule")
async def remove_rule(request: Request, rule_id: str = Path(max_length=32),
                      member: str | None = Query(None, max_length=64, description=MEMBER_HELP),
                      principal: Principal = Depends(require_principal)) -> Deleted:
    ctx = context(request)
    member_id = resolve_member(ctx.db, principal, member, required=True)
    number = parse_public_id(rule_id)
    if number is None or not delete_rule(ctx.db, member_id, number):
        raise not_found(f"rule {rule_id}")
    _replan(request, member_id)
    return Deleted(id=rule_id, deleted=True)
