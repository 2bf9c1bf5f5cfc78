//! Versioned schema. Each entry moves `PRAGMA user_version` one step; never edit a
//! released step, add a new one.

use rusqlite::Connection;

use super::{StoreError, StoreResult};

const MIGRATIONS: &[&str] = &[
    // 1: users, numbers, leases, inbound (raw PDUs, parts, messages), events.
    r#"
    CREATE TABLE users (
        id INTEGER PRIMARY KEY,
        email TEXT UNIQUE COLLATE NOCASE,
        phone TEXT UNIQUE,
        password_hash TEXT,
        first_name TEXT,
        last_name TEXT,
        role TEXT NOT NULL DEFAULT 'user' CHECK (role IN ('user', 'admin')),
        is_active INTEGER NOT NULL DEFAULT 1,
        email_verified INTEGER NOT NULL DEFAULT 0,
        phone_verified INTEGER NOT NULL DEFAULT 0,
        created_at TEXT NOT NULL,
        last_login TEXT
    );

    -- Refresh tokens: one row per issued token; a family is one login's chain of rotations.
    CREATE TABLE refresh_tokens (
        jti TEXT PRIMARY KEY,
        user_id INTEGER NOT NULL REFERENCES users(id),
        family TEXT NOT NULL,
        expires_at TEXT NOT NULL,
        used_at TEXT,
        revoked_at TEXT
    );
    CREATE INDEX refresh_tokens_family ON refresh_tokens(family);

    -- Every number the box can receive on: a SIM in a modem, or a cloud number.
    CREATE TABLE numbers (
        id INTEGER PRIMARY KEY,
        number TEXT NOT NULL UNIQUE,
        country TEXT NOT NULL,
        provider TEXT NOT NULL,
        channel TEXT NOT NULL,
        cost_minor INTEGER NOT NULL DEFAULT 0,
        capabilities TEXT NOT NULL DEFAULT '["sms"]',
        enabled INTEGER NOT NULL DEFAULT 1,
        created_at TEXT NOT NULL
    );

    -- An exclusive lease of a number to a user (DispoSMS "assignment").
    CREATE TABLE assignments (
        id INTEGER PRIMARY KEY,
        user_id INTEGER NOT NULL REFERENCES users(id),
        number_id INTEGER NOT NULL REFERENCES numbers(id),
        assigned_at TEXT NOT NULL,
        expires_at TEXT NOT NULL,
        status TEXT NOT NULL CHECK (status IN ('active', 'expired', 'released')),
        released_at TEXT
    );
    CREATE INDEX assignments_user ON assignments(user_id, status);
    CREATE INDEX assignments_number ON assignments(number_id, status);

    -- Every PDU a modem handed us, stored before it is deleted from the SIM.
    -- `dedupe_key` recognises the same PDU read twice (after a reconnect or a crash).
    CREATE TABLE inbound_pdus (
        id INTEGER PRIMARY KEY,
        channel TEXT NOT NULL,
        to_number TEXT,
        pdu_hex TEXT NOT NULL,
        dedupe_key TEXT NOT NULL UNIQUE,
        received_at TEXT NOT NULL,
        decode_error TEXT,
        message_id INTEGER REFERENCES messages(id)
    );

    -- Parts of concatenated messages, kept as they arrive so a restart loses none.
    CREATE TABLE message_parts (
        id INTEGER PRIMARY KEY,
        to_number TEXT NOT NULL,
        from_number TEXT NOT NULL,
        concat_ref INTEGER NOT NULL,
        total INTEGER NOT NULL,
        seq INTEGER NOT NULL,
        text TEXT NOT NULL,
        sent_at TEXT,
        received_at TEXT NOT NULL,
        message_id INTEGER REFERENCES messages(id)
    );
    -- Not unique: references wrap (an 8-bit one after 256 messages), so a finished
    -- group's key comes back; only the open parts of a group are unique by seq.
    CREATE INDEX message_parts_group ON message_parts(to_number, from_number, concat_ref, total, seq);

    CREATE TABLE messages (
        id INTEGER PRIMARY KEY,
        to_number TEXT NOT NULL,
        from_number TEXT NOT NULL,
        content TEXT NOT NULL,
        type TEXT NOT NULL,
        otp_code TEXT,
        service TEXT,
        received_at TEXT NOT NULL,
        sent_at TEXT,
        is_read INTEGER NOT NULL DEFAULT 0,
        read_at TEXT,
        assignment_id INTEGER REFERENCES assignments(id),
        user_id INTEGER REFERENCES users(id),
        provider TEXT NOT NULL,
        channel TEXT NOT NULL,
        parts_total INTEGER NOT NULL DEFAULT 1,
        parts_received INTEGER NOT NULL DEFAULT 1,
        extra_data TEXT NOT NULL DEFAULT '{}'
    );
    CREATE INDEX messages_user ON messages(user_id, received_at);
    CREATE INDEX messages_assignment ON messages(assignment_id);
    CREATE INDEX messages_to ON messages(to_number, received_at);

    -- The event log: written in the same transaction as what it reports, so a
    -- subscriber that resumes from its cursor misses nothing.
    CREATE TABLE events (
        id INTEGER PRIMARY KEY,
        kind TEXT NOT NULL,
        user_id INTEGER,
        payload TEXT NOT NULL,
        created_at TEXT NOT NULL
    );

    CREATE TABLE settings (
        key TEXT PRIMARY KEY,
        value TEXT NOT NULL
    );
    "#,
    // 2: the outbound queue with its attempts and per-part references, durable
    // subscriber cursors over the event log, and incomplete-message bookkeeping.
    r#"
    CREATE TABLE outbound_jobs (
        id INTEGER PRIMARY KEY,
        user_id INTEGER REFERENCES users(id),
        to_number TEXT NOT NULL,
        text TEXT NOT NULL,
        -- What the client asked for: one of our numbers or a channel name, or NULL (any).
        from_hint TEXT,
        client_ref TEXT,
        status_report INTEGER NOT NULL DEFAULT 1,
        status TEXT NOT NULL CHECK (status IN ('queued', 'sending', 'sent', 'delivered', 'failed', 'undelivered')),
        channel TEXT,
        from_number TEXT,
        parts INTEGER,
        attempts INTEGER NOT NULL DEFAULT 0,
        -- Rounds over the channels that ended without a send (for backoff and giving up).
        rounds INTEGER NOT NULL DEFAULT 0,
        error TEXT,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        next_attempt_at TEXT NOT NULL,
        sent_at TEXT,
        delivered_at TEXT
    );
    CREATE INDEX outbound_due ON outbound_jobs(status, next_attempt_at);

    -- Every try on every channel: the failover trail, and the per-SIM counters that
    -- enforce rate limits and daily caps across restarts.
    CREATE TABLE outbound_attempts (
        id INTEGER PRIMARY KEY,
        job_id INTEGER NOT NULL REFERENCES outbound_jobs(id),
        channel TEXT NOT NULL,
        started_at TEXT NOT NULL,
        outcome TEXT NOT NULL CHECK (outcome IN ('sent', 'failed')),
        error TEXT
    );
    CREATE INDEX outbound_attempts_channel ON outbound_attempts(channel, started_at);

    -- The reference each sent part got (a modem's TP-MR, a provider's message id), so a
    -- status report finds its job.
    CREATE TABLE outbound_parts (
        id INTEGER PRIMARY KEY,
        job_id INTEGER NOT NULL REFERENCES outbound_jobs(id),
        channel TEXT NOT NULL,
        reference TEXT NOT NULL,
        status TEXT NOT NULL DEFAULT 'sent',
        updated_at TEXT NOT NULL
    );
    CREATE INDEX outbound_parts_ref ON outbound_parts(channel, reference);

    -- How far each durable subscriber (MQTT, webhooks, ...) has read the event log.
    CREATE TABLE event_cursors (
        subscriber TEXT PRIMARY KEY,
        last_event_id INTEGER NOT NULL,
        updated_at TEXT NOT NULL
    );

    -- Open parts by age, for the incomplete-message timeout.
    CREATE INDEX message_parts_open ON message_parts(message_id, received_at);
    -- The channel a number's PDUs came in on (incomplete messages name it).
    CREATE INDEX inbound_pdus_to ON inbound_pdus(to_number, id);
    "#,
    // 3: API keys for server-to-server clients, stored as SHA-256 of the key.
    r#"
    CREATE TABLE api_keys (
        id INTEGER PRIMARY KEY,
        user_id INTEGER NOT NULL REFERENCES users(id),
        name TEXT NOT NULL,
        prefix TEXT NOT NULL,
        key_hash TEXT NOT NULL UNIQUE,
        created_at TEXT NOT NULL,
        last_used_at TEXT,
        expires_at TEXT,
        revoked_at TEXT
    );
    CREATE INDEX api_keys_user ON api_keys(user_id);
    "#,
    // 4: webhooks and their deliveries (one row per event per webhook, kept as a log).
    r#"
    CREATE TABLE webhooks (
        id INTEGER PRIMARY KEY,
        user_id INTEGER NOT NULL REFERENCES users(id),
        url TEXT NOT NULL,
        -- JSON array of event names (sms.received, otp.received, sms.status, assignment.status).
        events TEXT NOT NULL,
        secret TEXT NOT NULL,
        enabled INTEGER NOT NULL DEFAULT 1,
        created_at TEXT NOT NULL,
        disabled_at TEXT,
        disabled_reason TEXT,
        -- First failure since the last success: a day of it disables the webhook.
        failing_since TEXT,
        last_status INTEGER,
        last_error TEXT,
        last_attempt_at TEXT,
        last_success_at TEXT
    );
    CREATE INDEX webhooks_user ON webhooks(user_id);

    -- The body is fixed when queued: every retry sends the same bytes. Unique per
    -- (webhook, event, name), so replaying the event log queues nothing twice.
    CREATE TABLE webhook_deliveries (
        id INTEGER PRIMARY KEY,
        webhook_id INTEGER NOT NULL REFERENCES webhooks(id),
        event_id INTEGER,
        event TEXT NOT NULL,
        body TEXT NOT NULL,
        status TEXT NOT NULL CHECK (status IN ('pending', 'delivered', 'failed')),
        attempts INTEGER NOT NULL DEFAULT 0,
        next_attempt_at TEXT NOT NULL,
        last_status INTEGER,
        last_error TEXT,
        last_attempt_at TEXT,
        created_at TEXT NOT NULL,
        delivered_at TEXT,
        UNIQUE (webhook_id, event_id, event)
    );
    CREATE INDEX webhook_deliveries_pending ON webhook_deliveries(status, webhook_id, id);
    "#,
    // 5: phone sign-in (SMS Auth: codes, tokens) and the SMS Router (phone mappings,
    // provider-delivered texts with their dedupe key, usage log, router settings).
    r#"
    ALTER TABLE users ADD COLUMN phone_verified_at TEXT;
    ALTER TABLE users ADD COLUMN updated_at TEXT;

    -- One row per code sent: the limits count these. `salt`/`code_mac`: HMAC-SHA256.
    CREATE TABLE phone_otps (
        id INTEGER PRIMARY KEY,
        phone TEXT NOT NULL,
        user_id INTEGER REFERENCES users(id),
        salt TEXT NOT NULL,
        code_mac TEXT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        created_at TEXT NOT NULL,
        expires_at TEXT NOT NULL,
        used_at TEXT
    );
    CREATE INDEX phone_otps_phone ON phone_otps(phone, created_at);

    -- Sign-in tokens `<id>|<secret>`, stored as SHA-256 of the secret.
    CREATE TABLE phone_auth_tokens (
        id INTEGER PRIMARY KEY,
        user_id INTEGER NOT NULL REFERENCES users(id),
        token_hash TEXT NOT NULL,
        created_at TEXT NOT NULL,
        revoked_at TEXT
    );

    CREATE TABLE phone_mappings (
        id INTEGER PRIMARY KEY,
        user_id INTEGER NOT NULL REFERENCES users(id),
        phone_number TEXT NOT NULL UNIQUE,
        is_primary INTEGER NOT NULL DEFAULT 0,
        is_verified INTEGER NOT NULL DEFAULT 0,
        verification_method TEXT NOT NULL DEFAULT 'manual',
        reply_webhook TEXT,
        created_at TEXT NOT NULL
    );
    CREATE INDEX phone_mappings_user ON phone_mappings(user_id);

    -- Texts a provider delivered (Twilio webhooks): unique per provider message id,
    -- so a replayed webhook is recognised; the reply given is kept for the replay.
    CREATE TABLE inbound_texts (
        id INTEGER PRIMARY KEY,
        provider TEXT NOT NULL,
        provider_id TEXT NOT NULL,
        channel TEXT NOT NULL,
        message_id INTEGER REFERENCES messages(id),
        user_id INTEGER,
        reply TEXT,
        received_at TEXT NOT NULL,
        UNIQUE (provider, provider_id)
    );

    CREATE TABLE sms_router_usage (
        id INTEGER PRIMARY KEY,
        user_id INTEGER,
        phone_number TEXT NOT NULL,
        direction TEXT NOT NULL CHECK (direction IN ('inbound', 'outbound')),
        length INTEGER NOT NULL,
        success INTEGER NOT NULL,
        processing_time_ms INTEGER NOT NULL,
        created_at TEXT NOT NULL
    );
    CREATE INDEX sms_router_usage_time ON sms_router_usage(created_at);

    CREATE TABLE sms_router_config (
        key TEXT PRIMARY KEY,
        value TEXT NOT NULL,
        description TEXT NOT NULL DEFAULT '',
        is_active INTEGER NOT NULL DEFAULT 1,
        updated_at TEXT NOT NULL
    );
    "#,
    // 6: the SMS Router's reply webhooks: one per user, called for each text routed to
    // that user; its answer becomes the TwiML reply. Secret signs the calls.
    r#"
    CREATE TABLE sms_router_reply_webhooks (
        user_id INTEGER PRIMARY KEY REFERENCES users(id),
        url TEXT NOT NULL,
        secret TEXT NOT NULL,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        last_called_at TEXT,
        last_status INTEGER,
        last_error TEXT
    );
    "#,
    // 7: a provider's long texts (Vonage's concat webhooks, one per part) are joined in
    // message_parts like a modem's; each part is also an inbound_texts row (its provider
    // id is the replay dedupe key) that names its part, and its message once delivered.
    r#"
    ALTER TABLE inbound_texts ADD COLUMN part_id INTEGER REFERENCES message_parts(id);
    CREATE INDEX inbound_texts_part ON inbound_texts(part_id) WHERE part_id IS NOT NULL;
    "#,
];

pub(super) fn apply(conn: &mut Connection) -> StoreResult<()> {
    let current: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    for (i, sql) in MIGRATIONS.iter().enumerate() {
        let version = i as i64 + 1;
        if version <= current {
            continue;
        }
        let txn = conn
            .transaction()
            .map_err(|source| StoreError::Migration { version, source })?;
        txn.execute_batch(sql)
            .and_then(|_| txn.pragma_update(None, "user_version", version))
            .and_then(|_| txn.commit())
            .map_err(|source| StoreError::Migration { version, source })?;
    }
    Ok(())
}
