-- calbot schema, version 1.
-- Conventions: times are UTC ISO 8601 strings 'YYYY-MM-DDTHH:MM:SSZ' (sortable as text);
-- JSON columns hold JSON text; booleans are 0/1; secrets are Fernet ciphertext (suffix _enc)
-- or SHA-256 hex (suffix _hash).

-- A Slack workspace calbot is installed in.
CREATE TABLE workspaces (
    team_id        TEXT PRIMARY KEY,
    name           TEXT,
    domains        TEXT NOT NULL DEFAULT '[]',    -- email domains that count as "internal"
    policy         TEXT NOT NULL DEFAULT '{}',    -- workspace policy (bot name, default action, ...)
    digest_channel TEXT,                          -- optional team digest channel
    installed_at   TEXT NOT NULL,
    uninstalled_at TEXT
);

-- A Slack user of a workspace.
CREATE TABLE members (
    id            INTEGER PRIMARY KEY,
    team_id       TEXT NOT NULL REFERENCES workspaces(team_id) ON DELETE CASCADE,
    user_id       TEXT NOT NULL,
    name          TEXT,
    email         TEXT,
    tz            TEXT NOT NULL DEFAULT 'UTC',     -- IANA zone from the Slack profile
    is_admin      INTEGER NOT NULL DEFAULT 0,
    settings      TEXT NOT NULL DEFAULT '{}',      -- digest time/days, notice channel, bot defaults
    dm_channel    TEXT,                            -- conversations.open result, cached
    last_listing  TEXT NOT NULL DEFAULT '[]',      -- event ids of the last `upcoming` list (numbers)
    profile_synced_at TEXT,
    created_at    TEXT NOT NULL,
    UNIQUE (team_id, user_id)
);

-- One OAuth grant to a calendar account (a member may have several).
CREATE TABLE connections (
    id                INTEGER PRIMARY KEY,
    member_id         INTEGER NOT NULL REFERENCES members(id) ON DELETE CASCADE,
    provider          TEXT NOT NULL CHECK (provider IN ('google', 'microsoft')),
    account           TEXT NOT NULL,               -- account email
    status            TEXT NOT NULL DEFAULT 'active'
                      CHECK (status IN ('active', 'needs_reauth', 'error', 'disconnected')),
    access_token_enc  TEXT,
    refresh_token_enc TEXT,
    token_expires_at  TEXT,
    scopes            TEXT,
    last_error        TEXT,
    reauth_notified_at TEXT,                       -- one DM per broken grant, not one per retry
    created_at        TEXT NOT NULL,
    updated_at        TEXT NOT NULL,
    UNIQUE (member_id, provider, account)
);

-- A calendar within a connection, and its sync state.
CREATE TABLE calendars (
    id                   INTEGER PRIMARY KEY,
    connection_id        INTEGER NOT NULL REFERENCES connections(id) ON DELETE CASCADE,
    provider_calendar_id TEXT NOT NULL,
    name                 TEXT,
    timezone             TEXT,
    is_primary           INTEGER NOT NULL DEFAULT 0,
    selected             INTEGER NOT NULL DEFAULT 0,
    sync_token           TEXT,                     -- Google nextSyncToken / Graph deltaLink
    page_token           TEXT,                     -- resume point inside a multi-page sync
    window_start         TEXT,                     -- window the sync token was made for
    window_end           TEXT,
    dirty_at             TEXT,                     -- a push said "may have changed"
    last_synced_at       TEXT,
    next_sync_at         TEXT,                     -- polling / sweep schedule
    failures             INTEGER NOT NULL DEFAULT 0,
    backoff_until        TEXT,
    last_error           TEXT,
    sync_generation      INTEGER NOT NULL DEFAULT 0, -- bumped per full sync (events seen in it carry it)
    UNIQUE (connection_id, provider_calendar_id)
);
CREATE INDEX calendars_due ON calendars (selected, next_sync_at);
CREATE INDEX calendars_synced ON calendars (last_synced_at);

-- A Google watch channel or a Graph subscription for one calendar.
CREATE TABLE push_channels (
    id           INTEGER PRIMARY KEY,
    calendar_id  INTEGER REFERENCES calendars(id) ON DELETE SET NULL,
    provider     TEXT NOT NULL,
    channel_id   TEXT NOT NULL UNIQUE,             -- Google channel id / Graph subscription id
    resource_id  TEXT,                             -- Google resourceId (needed for channels.stop)
    secret_hash  TEXT NOT NULL,                    -- channel token / clientState, hashed
    status       TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('pending', 'active', 'stopping', 'stopped')),
    expires_at   TEXT,
    last_message_at TEXT,
    created_at   TEXT NOT NULL
);
CREATE INDEX push_channels_calendar ON push_channels (calendar_id, status);

-- One occurrence of an event on one calendar, as the provider says it is.
CREATE TABLE events (
    id                INTEGER PRIMARY KEY,
    calendar_id       INTEGER NOT NULL REFERENCES calendars(id) ON DELETE CASCADE,
    provider_event_id TEXT NOT NULL,
    ical_uid          TEXT,
    series_id         TEXT,                        -- recurring master id, NULL for single events
    original_start    TEXT,                        -- for occurrences/exceptions of a series
    title             TEXT NOT NULL DEFAULT '',
    description       TEXT NOT NULL DEFAULT '',
    location          TEXT NOT NULL DEFAULT '',
    start_at          TEXT NOT NULL,
    end_at            TEXT NOT NULL,
    timezone          TEXT,
    all_day           INTEGER NOT NULL DEFAULT 0,
    status            TEXT NOT NULL DEFAULT 'confirmed'
                      CHECK (status IN ('confirmed', 'tentative', 'cancelled')),
    my_response       TEXT,                        -- accepted/tentative/declined/needsAction/organizer
    organizer_email   TEXT,
    organizer_self    INTEGER NOT NULL DEFAULT 0,
    attendees         TEXT NOT NULL DEFAULT '[]',  -- [{email, name, response, external, self}]
    attendee_count    INTEGER NOT NULL DEFAULT 0,
    has_external      INTEGER NOT NULL DEFAULT 0,
    meeting_url       TEXT,
    platform          TEXT,
    meeting_key       TEXT,                        -- normalized join URL, for cross-calendar dedup
    meeting_id        INTEGER REFERENCES meetings(id) ON DELETE SET NULL,  -- planner's grouping
    content_hash      TEXT NOT NULL,
    provider_updated  TEXT,
    synced_at         TEXT NOT NULL,
    sync_generation   INTEGER NOT NULL DEFAULT 0,  -- the calendar's full sync that last saw it
    UNIQUE (calendar_id, provider_event_id)
);
CREATE INDEX events_start ON events (start_at);
CREATE INDEX events_series ON events (series_id);
CREATE INDEX events_meeting ON events (meeting_key, start_at);
CREATE INDEX events_meeting_id ON events (meeting_id);

-- The change feed: one row per real change the syncer saw, consumed by cursor.
CREATE TABLE changes (
    id          INTEGER PRIMARY KEY,
    event_id    INTEGER,                           -- no FK: the event may be gone
    calendar_id INTEGER,
    team_id     TEXT,
    kind        TEXT NOT NULL,                     -- created/moved/cancelled/link_changed/response_changed/attendees_changed/updated/deleted
    detail      TEXT NOT NULL DEFAULT '{}',
    created_at  TEXT NOT NULL
);

-- Consumers' positions in the change feed (planner, webhooks, ...) and other small state.
CREATE TABLE cursors (
    name  TEXT PRIMARY KEY,
    value TEXT
);

-- A meeting occurrence as one recording unit per workspace (the same meeting on several
-- members' calendars is one row): the planner's desired state lives here.
CREATE TABLE meetings (
    id            INTEGER PRIMARY KEY,
    team_id       TEXT NOT NULL REFERENCES workspaces(team_id) ON DELETE CASCADE,
    identity      TEXT NOT NULL,                   -- stable key: iCalUID+original start, else URL+start
    title         TEXT NOT NULL DEFAULT '',
    meeting_url   TEXT,
    platform      TEXT,
    start_at      TEXT NOT NULL,
    end_at        TEXT NOT NULL,
    desired       TEXT NOT NULL DEFAULT 'skip' CHECK (desired IN ('record', 'ask', 'skip')),
    reason        TEXT NOT NULL DEFAULT '',
    requested_by  INTEGER REFERENCES members(id) ON DELETE SET NULL,
    bot_config    TEXT NOT NULL DEFAULT '{}',
    planned_at    TEXT NOT NULL,
    UNIQUE (team_id, identity)
);
CREATE INDEX meetings_start ON meetings (start_at);

-- Durable human (and API) decisions. Never deleted by sync: they are matched to events by
-- stable keys, so a resync or a regenerated series keeps them.
CREATE TABLE decisions (
    id          INTEGER PRIMARY KEY,
    team_id     TEXT NOT NULL REFERENCES workspaces(team_id) ON DELETE CASCADE,
    member_id   INTEGER REFERENCES members(id) ON DELETE CASCADE,  -- NULL: workspace-level (API key, admin)
    scope       TEXT NOT NULL CHECK (scope IN ('occurrence', 'series', 'meeting')),
    subject     TEXT NOT NULL,                     -- occurrence identity, series key or meeting identity
    action      TEXT NOT NULL CHECK (action IN ('record', 'skip')),
    source      TEXT NOT NULL,                     -- slack / api / default
    actor       TEXT,                              -- who chose (Slack user id or api key name)
    bot_config  TEXT NOT NULL DEFAULT '{}',        -- per-meeting overrides
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL
);
CREATE UNIQUE INDEX decisions_key ON decisions (team_id, COALESCE(member_id, 0), scope, subject);
CREATE INDEX decisions_updated ON decisions (updated_at);

-- An approval request DM for one member and meeting.
CREATE TABLE approvals (
    id          INTEGER PRIMARY KEY,
    member_id   INTEGER NOT NULL REFERENCES members(id) ON DELETE CASCADE,
    meeting_id  INTEGER NOT NULL REFERENCES meetings(id) ON DELETE CASCADE,
    event_id    INTEGER,
    status      TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'answered', 'expired', 'withdrawn')),
    answer      TEXT,
    answered_by TEXT,
    channel     TEXT,
    message_ts  TEXT,
    created_at  TEXT NOT NULL,
    expires_at  TEXT NOT NULL,
    resolved_at TEXT,
    UNIQUE (member_id, meeting_id)
);
CREATE INDEX approvals_meeting ON approvals (meeting_id);
CREATE INDEX approvals_due ON approvals (status, expires_at);

-- A recording bot: desired by a meeting (or an API call), actual at the recorder.
CREATE TABLE bots (
    id              INTEGER PRIMARY KEY,
    team_id         TEXT NOT NULL REFERENCES workspaces(team_id) ON DELETE CASCADE,
    meeting_id      INTEGER REFERENCES meetings(id) ON DELETE SET NULL,
    idempotency_key TEXT NOT NULL UNIQUE,          -- sent in `extra`, used to adopt after a crash
    recorder        TEXT NOT NULL DEFAULT 'meetingbaas',
    recorder_bot_id TEXT UNIQUE,
    state           TEXT NOT NULL DEFAULT 'pending'
                    CHECK (state IN ('pending', 'creating', 'scheduled', 'updating', 'deleting',
                                     'deleted', 'joining', 'in_call', 'completed', 'failed')),
    meeting_url     TEXT NOT NULL,
    join_at         TEXT NOT NULL,
    config          TEXT NOT NULL DEFAULT '{}',
    callback_secret_enc TEXT,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT,
    last_error      TEXT,
    recording       TEXT NOT NULL DEFAULT '{}',    -- links to video/transcript when completed
    generation      INTEGER NOT NULL DEFAULT 0,    -- bumped when the recorder bot is re-created (link change)
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL
);
CREATE INDEX bots_meeting ON bots (meeting_id);
-- Exactly one live bot per meeting, whatever the code above does.
CREATE UNIQUE INDEX bots_one_live ON bots (meeting_id)
    WHERE meeting_id IS NOT NULL AND state NOT IN ('deleted', 'completed', 'failed');
CREATE INDEX bots_state ON bots (state, next_attempt_at);

-- Everything calbot sends outward that must go exactly once: one row per Slack message (keyed,
-- so the same notice is never posted twice; later edits rewrite `payload` and set `needs_update`,
-- so many changes coalesce into one chat.update), and one row per outbound webhook delivery.
CREATE TABLE outbox (
    id              INTEGER PRIMARY KEY,
    dedup_key       TEXT NOT NULL UNIQUE,
    team_id         TEXT,
    kind            TEXT NOT NULL,                 -- slack.dm / slack.post / webhook
    target          TEXT,                          -- Slack user id, channel id, or webhook subscription id
    payload         TEXT NOT NULL,                 -- the latest desired content
    version         INTEGER NOT NULL DEFAULT 1,    -- bumped on every edit
    status          TEXT NOT NULL DEFAULT 'pending'
                    CHECK (status IN ('pending', 'sending', 'sent', 'failed', 'cancelled')),
    needs_update    INTEGER NOT NULL DEFAULT 0,    -- sent, but the content changed since
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT NOT NULL,
    channel         TEXT,                          -- where it was posted (Slack channel id)
    message_ts      TEXT,                          -- Slack ts once posted
    result          TEXT,
    last_error      TEXT,
    created_at      TEXT NOT NULL,
    sent_at         TEXT
);
CREATE INDEX outbox_due ON outbox (status, next_attempt_at);
CREATE INDEX outbox_kind ON outbox (kind, status);

-- Which Slack message represents a meeting's notice in a channel, so later changes edit it.
CREATE TABLE notices (
    channel     TEXT NOT NULL,                     -- channel id, or the Slack user id for a DM
    meeting_id  INTEGER NOT NULL,
    message_ts  TEXT,
    outbox_key  TEXT,                              -- the outbox message the lines go into
    lines       TEXT NOT NULL DEFAULT '[]',
    updated_at  TEXT NOT NULL,
    PRIMARY KEY (channel, meeting_id)
);

-- Daily digests sent, one row per member and local date: the exactly-once guard.
CREATE TABLE digests (
    member_id   INTEGER NOT NULL REFERENCES members(id) ON DELETE CASCADE,
    local_date  TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    PRIMARY KEY (member_id, local_date)
);

-- Member rules, ordered by position.
CREATE TABLE rules (
    id         INTEGER PRIMARY KEY,
    member_id  INTEGER NOT NULL REFERENCES members(id) ON DELETE CASCADE,
    position   INTEGER NOT NULL,
    rule       TEXT NOT NULL,                      -- JSON of bot.rules.Rule
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX rules_member ON rules (member_id, position);

-- REST API keys, stored hashed; shown once.
CREATE TABLE api_keys (
    id           INTEGER PRIMARY KEY,
    team_id      TEXT NOT NULL REFERENCES workspaces(team_id) ON DELETE CASCADE,
    member_id    INTEGER REFERENCES members(id) ON DELETE CASCADE,
    name         TEXT NOT NULL DEFAULT '',
    prefix       TEXT NOT NULL,
    key_hash     TEXT NOT NULL UNIQUE,
    created_at   TEXT NOT NULL,
    last_used_at TEXT,
    revoked_at   TEXT
);

-- Outbound webhook subscriptions (Standard Webhooks signed).
CREATE TABLE webhook_subscriptions (
    id             INTEGER PRIMARY KEY,
    team_id        TEXT NOT NULL REFERENCES workspaces(team_id) ON DELETE CASCADE,
    created_by     INTEGER REFERENCES members(id) ON DELETE SET NULL,
    url            TEXT NOT NULL,
    events         TEXT NOT NULL DEFAULT '[]',
    secret_enc     TEXT NOT NULL,
    status         TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'disabled')),
    failing_since  TEXT,
    created_at     TEXT NOT NULL,
    member_id      INTEGER REFERENCES members(id) ON DELETE CASCADE,  -- made with a member key: only that member's events
    description    TEXT,
    last_error     TEXT,
    last_success_at TEXT,
    disabled_at    TEXT,
    disabled_reason TEXT
);
CREATE INDEX webhook_subscriptions_team ON webhook_subscriptions (team_id, status);

-- Single-use OAuth states (the signed state carries the data; this row makes it single-use).
CREATE TABLE oauth_states (
    nonce          TEXT PRIMARY KEY,
    team_id        TEXT NOT NULL,
    user_id        TEXT NOT NULL,
    provider       TEXT NOT NULL,
    code_verifier_enc TEXT,
    created_at     TEXT NOT NULL,
    expires_at     TEXT NOT NULL,
    used_at        TEXT
);

-- Who did what, for admins and for debugging.
CREATE TABLE audit_log (
    id       INTEGER PRIMARY KEY,
    team_id  TEXT,
    actor    TEXT,
    action   TEXT NOT NULL,
    subject  TEXT,
    detail   TEXT NOT NULL DEFAULT '{}',
    at       TEXT NOT NULL
);
CREATE INDEX audit_team ON audit_log (team_id, at);

-- App Home per member (issue 6, additive): a row once the member has opened the Home tab.
-- `dirty_at` says their data changed since the last publish; the home loop republishes at most
-- every few seconds per member and skips a publish whose content is unchanged (`content_hash`).
CREATE TABLE home_views (
    member_id    INTEGER PRIMARY KEY REFERENCES members(id) ON DELETE CASCADE,
    dirty_at     TEXT,
    published_at TEXT,
    content_hash TEXT
);
CREATE INDEX home_views_dirty ON home_views (dirty_at);
-- What the home loop scans for "changed since" (issue 6, additive).
CREATE INDEX meetings_planned ON meetings (planned_at);
CREATE INDEX bots_updated ON bots (updated_at);
-- Single-use states of the Slack app install flow (/slack/install), issue 6, additive. (slack-sdk's
-- SQLite state store would create a table named oauth_states, which is the calendar flow's.)
CREATE TABLE slack_oauth_states (
    state      TEXT PRIMARY KEY,
    expires_at TEXT NOT NULL
);

-- The planner's verdict for one event: one member's view of one meeting occurrence.
CREATE TABLE plans (
    event_id    INTEGER PRIMARY KEY REFERENCES events(id) ON DELETE CASCADE,
    member_id   INTEGER NOT NULL REFERENCES members(id) ON DELETE CASCADE,
    meeting_id  INTEGER REFERENCES meetings(id) ON DELETE SET NULL,
    action      TEXT NOT NULL CHECK (action IN ('record', 'ask', 'skip')),
    reason      TEXT NOT NULL,
    source      TEXT NOT NULL,                     -- hard / decision / series / rule / default
    bot_config  TEXT NOT NULL DEFAULT '{}',
    planned_at  TEXT NOT NULL
);
CREATE INDEX plans_meeting ON plans (meeting_id);

-- Every key an event has shown (iCalUID + slot, join URL + start) → its meeting, so the same
-- meeting on another calendar, a moved copy, or a regenerated series finds the same meeting.
CREATE TABLE meeting_keys (
    team_id    TEXT NOT NULL,
    key        TEXT NOT NULL,
    meeting_id INTEGER NOT NULL REFERENCES meetings(id) ON DELETE CASCADE,
    PRIMARY KEY (team_id, key)
);

-- What the planner must look at again: events, all future events of a member, or meetings.
CREATE TABLE plan_queue (
    kind  TEXT NOT NULL CHECK (kind IN ('event', 'member', 'meeting', 'team')),
    ref   TEXT NOT NULL,
    PRIMARY KEY (kind, ref)
);
