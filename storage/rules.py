"""Members' rules (ordered) and workspaces' policy, read as `bot.rules` models."""

from __future__ import annotations

import json
import logging

import sqlite_utils
from pydantic import ValidationError

from bot.rules import Policy, Rule
from bot.timeutil import Clock
from storage.settings import parse_member_settings

log = logging.getLogger("calbot.rules")


def list_rules(db: sqlite_utils.Database, member_id: int) -> list[tuple[int, Rule]]:
    """(rule id, rule) in evaluation order; a stored rule that no longer validates is skipped."""
    return member_rules(db, [member_id]).get(member_id, [])


def member_rules(db: sqlite_utils.Database, member_ids: list[int]) -> dict[int, list[tuple[int, Rule]]]:
    found: dict[int, list[tuple[int, Rule]]] = {m: [] for m in member_ids}
    for start in range(0, len(member_ids), 500):
        chunk = member_ids[start:start + 500]
        marks = ",".join("?" * len(chunk))
        for row in db.query(f"SELECT id, member_id, rule FROM rules WHERE member_id IN ({marks}) "
                            "ORDER BY member_id, position, id", chunk):
            try:
                found[row["member_id"]].append((row["id"], Rule.model_validate_json(row["rule"])))
            except ValidationError as exc:
                log.warning("stored rule %s is invalid and ignored: %s", row["id"], exc)
    return found


def add_rule(db: sqlite_utils.Database, member_id: int, rule: Rule, *, clock: Clock, position: int | None = None) -> int:
    """Append a rule (or insert it at 1-based `position`); returns its id."""
    count = db.execute("SELECT COUNT(*) FROM rules WHERE member_id = ?", [member_id]).fetchone()[0]
    now = clock.now_iso()
    cursor = db.execute(
        "INSERT INTO rules (member_id, position, rule, created_at, updated_at) VALUES (?, ?, ?, ?, ?)",
        [member_id, count + 1, rule.model_dump_json(), now, now])
    if position is not None:
        move_rule(db, member_id, cursor.lastrowid, position)
    return cursor.lastrowid


def update_rule(db: sqlite_utils.Database, member_id: int, rule_id: int, rule: Rule, *, clock: Clock) -> bool:
    cursor = db.execute("UPDATE rules SET rule = ?, updated_at = ? WHERE id = ? AND member_id = ?",
                        [rule.model_dump_json(), clock.now_iso(), rule_id, member_id])
    return cursor.rowcount > 0


def delete_rule(db: sqlite_utils.Database, member_id: int, rule_id: int) -> bool:
    cursor = db.execute("DELETE FROM rules WHERE id = ? AND member_id = ?", [rule_id, member_id])
    _renumber(db, member_id, [r for r, _ in list_rules(db, member_id)])
    return cursor.rowcount > 0


def move_rule(db: sqlite_utils.Database, member_id: int, rule_id: int, position: int) -> bool:
    """Put a rule at 1-based `position` (clamped), keeping the others' order."""
    ids = [r[0] for r in db.execute("SELECT id FROM rules WHERE member_id = ? ORDER BY position, id", [member_id])]
    if rule_id not in ids:
        return False
    ids.remove(rule_id)
    ids.insert(max(0, min(position - 1, len(ids))), rule_id)
    _renumber(db, member_id, ids)
    return True


def _renumber(db: sqlite_utils.Database, member_id: int, ids: list[int]) -> None:
    db.conn.executemany("UPDATE rules SET position = ? WHERE id = ? AND member_id = ?",
                        [(n, rule_id, member_id) for n, rule_id in enumerate(ids, start=1)])


def workspace_policy(db: sqlite_utils.Database, team_id: str) -> Policy:
    row = db.execute("SELECT policy FROM workspaces WHERE team_id = ?", [team_id]).fetchone()
    try:
        return Policy.model_validate(json.loads(row[0] or "{}") if row else {})
    except (ValidationError, ValueError) as exc:
        log.warning("workspace %s policy is invalid, using defaults: %s", team_id, exc)
        return Policy()


def save_policy(db: sqlite_utils.Database, team_id: str, policy: Policy) -> None:
    """Store the policy, keeping other keys other parts of calbot keep in the same JSON."""
    row = db.execute("SELECT policy FROM workspaces WHERE team_id = ?", [team_id]).fetchone()
    data = json.loads(row[0] or "{}") if row else {}
    data.update(policy.model_dump(mode="json"))
    db.execute("UPDATE workspaces SET policy = ? WHERE team_id = ?", [json.dumps(data), team_id])


def member_policy(workspace: Policy, member_settings_json: str | None) -> Policy:
    """The workspace policy with the member's own bot name, entry message and default on top."""
    settings = parse_member_settings(member_settings_json)
    changes = {k: v for k, v in (("bot_name", settings.bot_name), ("entry_message", settings.entry_message),
                                 ("default_action", settings.default_action)) if v}
    return workspace.model_copy(update=changes) if changes else workspace
