"""Workspaces and members: created on first contact, looked up by Slack ids."""

from __future__ import annotations

import json

import sqlite_utils

from bot.timeutil import Clock


def ensure_workspace(db: sqlite_utils.Database, team_id: str, *, clock: Clock, name: str | None = None) -> dict:
    now = clock.now_iso()
    db.execute(
        "INSERT INTO workspaces (team_id, name, installed_at) VALUES (?, ?, ?) "
        "ON CONFLICT (team_id) DO UPDATE SET name = COALESCE(excluded.name, workspaces.name), uninstalled_at = NULL",
        [team_id, name, now],
    )
    return db["workspaces"].get(team_id)


def ensure_member(db: sqlite_utils.Database, team_id: str, user_id: str, *, clock: Clock) -> dict:
    """The member row for a Slack user, creating the workspace and member on first contact."""
    row = find_member(db, team_id, user_id)
    if row is not None:
        return row
    ensure_workspace(db, team_id, clock=clock)
    db.execute(
        "INSERT INTO members (team_id, user_id, created_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
        [team_id, user_id, clock.now_iso()],
    )
    return find_member(db, team_id, user_id)


def find_member(db: sqlite_utils.Database, team_id: str, user_id: str) -> dict | None:
    rows = list(db.query("SELECT * FROM members WHERE team_id = ? AND user_id = ?", [team_id, user_id]))
    return rows[0] if rows else None


def get_member(db: sqlite_utils.Database, member_id: int) -> dict | None:
    rows = list(db.query("SELECT * FROM members WHERE id = ?", [member_id]))
    return rows[0] if rows else None


def member_settings(member: dict) -> dict:
    return json.loads(member.get("settings") or "{}")
