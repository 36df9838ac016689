import sqlite3

import pytest

from bot.crypto import SecretKeyError, TokenCipher, new_secret_key, verify_key_matches_database
from storage.db import open_database
from storage.migrations import MigrationError, apply_migrations


def test_fresh_database_has_every_table_wal_and_foreign_keys(tmp_path):
    db = open_database(tmp_path / "c.db")
    expected = {"workspaces", "members", "connections", "calendars", "push_channels", "events", "changes",
                "meetings", "decisions", "approvals", "bots", "outbox", "api_keys", "rules",
                "webhook_subscriptions", "oauth_states", "audit_log", "digests"}
    assert expected <= set(db.table_names())
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert db.execute("PRAGMA foreign_keys").fetchone()[0] == 1


def test_migrations_apply_once_and_survive_reopen(tmp_path):
    path = tmp_path / "c.db"
    db = open_database(path)
    db.execute("INSERT INTO workspaces (team_id, installed_at) VALUES ('T1', '2026-01-01T00:00:00Z')")
    db.close()
    db = open_database(path)
    assert apply_migrations(db) == []
    assert db.execute("SELECT team_id FROM workspaces").fetchall() == [("T1",)]


def test_a_later_migration_applies_in_its_own_transaction(tmp_path):
    from storage.migrations import MIGRATIONS

    db = open_database(tmp_path / "c.db")
    extra = MIGRATIONS + [(999, "add a column", lambda d: d.execute("ALTER TABLE workspaces ADD COLUMN note TEXT"))]
    assert apply_migrations(db, extra) == [999]
    assert "note" in db["workspaces"].columns_dict


def test_failing_migration_rolls_back_and_says_which(tmp_path):
    from storage.migrations import MIGRATIONS

    db = open_database(tmp_path / "c.db")

    def broken(d):
        d.execute("CREATE TABLE half_done (x)")
        d.execute("THIS IS NOT SQL")

    with pytest.raises(MigrationError, match="migration 998"):
        apply_migrations(db, MIGRATIONS + [(998, "broken", broken)])
    assert "half_done" not in db.table_names()


def test_database_from_a_newer_calbot_is_refused(tmp_path):
    db = open_database(tmp_path / "c.db")
    db.execute("INSERT INTO schema_migrations VALUES (5000, 'future', '2030-01-01T00:00:00Z')")
    with pytest.raises(MigrationError, match="5000"):
        apply_migrations(db)


def test_foreign_keys_cascade_member_deletion(tmp_path):
    db = open_database(tmp_path / "c.db")
    db.execute("INSERT INTO workspaces (team_id, installed_at) VALUES ('T1', 'x')")
    db.execute("INSERT INTO members (id, team_id, user_id, created_at) VALUES (1, 'T1', 'U1', 'x')")
    db.execute("INSERT INTO connections (member_id, provider, account, created_at, updated_at) "
               "VALUES (1, 'google', 'a@b.c', 'x', 'x')")
    db.execute("DELETE FROM members WHERE id = 1")
    assert db.execute("SELECT COUNT(*) FROM connections").fetchone()[0] == 0
    with pytest.raises(sqlite3.IntegrityError):
        db.execute("INSERT INTO connections (member_id, provider, account, created_at, updated_at) "
                   "VALUES (42, 'google', 'a@b.c', 'x', 'x')")


def test_tokens_are_encrypted_and_a_wrong_key_is_a_clear_error(tmp_path):
    key = new_secret_key()
    cipher = TokenCipher(key)
    secret = "ya29.refresh-token"
    stored = cipher.encrypt(secret)
    assert secret not in stored and cipher.decrypt(stored) == secret
    with pytest.raises(SecretKeyError, match="CALBOT_SECRET_KEY"):
        TokenCipher(new_secret_key()).decrypt(stored)


def test_database_remembers_its_key(tmp_path):
    db = open_database(tmp_path / "c.db")
    verify_key_matches_database(db, TokenCipher(key := new_secret_key()))
    verify_key_matches_database(db, TokenCipher(key))
    with pytest.raises(SecretKeyError):
        verify_key_matches_database(db, TokenCipher(new_secret_key()))


def test_signed_state_rejects_tampering_and_age():
    cipher = TokenCipher(new_secret_key())
    state = cipher.sign_state({"team": "T1", "user": "U1"})
    assert cipher.read_state(state, 600) == {"team": "T1", "user": "U1"}
    assert cipher.read_state(state[:-2] + "xx", 600) is None
    assert TokenCipher(new_secret_key()).read_state(state, 600) is None
