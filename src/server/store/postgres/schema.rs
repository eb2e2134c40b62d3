//! Versioned schema of the PostgreSQL store: `schema_migrations` holds one row per applied
//! version. Every pending migration is applied in ONE transaction holding a transaction-level
//! advisory lock, so of several replicas starting together on a fresh database exactly one
//! applies them and the others wait, then find nothing to do (docs/architecture.md, Connecting).

use sqlx::postgres::PgPool;

use super::BEGIN;
use super::common::{q, qs};
use crate::server::store::UnixTime;

/// The advisory lock every ragkeys process takes to migrate ("ragkeys\x01" as an i64): one
/// fixed number, so that any two versions of ragkeys exclude each other.
pub const MIGRATION_LOCK: i64 = 0x7261_676b_6579_7301;

/// Each entry is one migration, applied in order. Never edit one that has shipped: append.
/// Times are BIGINT unix seconds as in SQLite, so that both stores share their record types;
/// only the lease uses the database clock (TIMESTAMPTZ), so that hosts' clocks never matter.
const MIGRATIONS: &[&str] = &[
    // 1: the schema of SQLite's version 4 (tokens, services, keys with their lifecycle, usage,
    // audit, idempotency), plus the change feed and the replicas' leases (docs/api.md, Several
    // replicas). `ord` keeps insertion order, which SQLite reads from its rowid.
    "
    CREATE TABLE meta (
        key   TEXT PRIMARY KEY,
        value TEXT NOT NULL
    );
    CREATE TABLE counters (
        name  TEXT PRIMARY KEY,
        value BIGINT NOT NULL CHECK (value >= 0)
    );
    INSERT INTO counters (name, value) VALUES ('services', 0);
    CREATE TABLE admin_tokens (
        id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        name       TEXT NOT NULL UNIQUE,
        role       TEXT NOT NULL CHECK (role IN ('viewer', 'manager')),
        digest     BYTEA NOT NULL UNIQUE,
        masked     TEXT NOT NULL,
        created_at BIGINT NOT NULL
    );
    CREATE TABLE services (
        id          TEXT PRIMARY KEY,
        name        TEXT NOT NULL UNIQUE,
        description TEXT NOT NULL,
        key_count   INTEGER NOT NULL DEFAULT 0 CHECK (key_count >= 0),
        created_at  BIGINT NOT NULL,
        ord         BIGINT GENERATED ALWAYS AS IDENTITY
    );
    CREATE TABLE api_keys (
        id             TEXT PRIMARY KEY,
        service_id     TEXT NOT NULL REFERENCES services (id),
        digest         BYTEA NOT NULL UNIQUE,
        masked         TEXT NOT NULL,
        name           TEXT,
        created_at     BIGINT NOT NULL,
        last_used_at   BIGINT,
        created_by     TEXT NOT NULL DEFAULT '',
        enabled        BOOLEAN NOT NULL DEFAULT TRUE,
        expires_at     BIGINT,
        replaced_by    TEXT,
        last_used_from TEXT,
        ord            BIGINT GENERATED ALWAYS AS IDENTITY
    );
    CREATE INDEX api_keys_by_service ON api_keys (service_id, created_at);
    CREATE INDEX api_keys_rotating ON api_keys (expires_at) WHERE replaced_by IS NOT NULL;
    CREATE TABLE usage_hours (
        key_id  TEXT NOT NULL REFERENCES api_keys (id) ON DELETE CASCADE,
        start   BIGINT NOT NULL,
        ok      BIGINT NOT NULL CHECK (ok >= 0),
        refused BIGINT NOT NULL CHECK (refused >= 0),
        PRIMARY KEY (key_id, start)
    );
    CREATE INDEX usage_hours_by_start ON usage_hours (start);
    CREATE TABLE usage_days (
        key_id  TEXT NOT NULL REFERENCES api_keys (id) ON DELETE CASCADE,
        start   BIGINT NOT NULL,
        ok      BIGINT NOT NULL CHECK (ok >= 0),
        refused BIGINT NOT NULL CHECK (refused >= 0),
        PRIMARY KEY (key_id, start)
    );
    CREATE INDEX usage_days_by_start ON usage_days (start);
    CREATE TABLE audit_events (
        id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        at          BIGINT NOT NULL,
        actor       TEXT NOT NULL,
        role        TEXT NOT NULL,
        action      TEXT NOT NULL,
        service_id  TEXT NOT NULL,
        key_id      TEXT,
        masked      TEXT,
        remote_addr TEXT NOT NULL,
        outcome     TEXT NOT NULL
    );
    CREATE INDEX audit_by_service ON audit_events (service_id, id);
    CREATE TABLE idempotency (
        scope        BYTEA PRIMARY KEY,
        request_hash BYTEA NOT NULL,
        key_id       TEXT,
        status       INTEGER NOT NULL,
        outcome      TEXT NOT NULL,
        created_at   BIGINT NOT NULL
    );
    CREATE INDEX idempotency_by_age ON idempotency (created_at);
    CREATE TABLE changes (
        seq     BIGSERIAL PRIMARY KEY,
        at      BIGINT  NOT NULL,
        awaited BOOLEAN NOT NULL,
        digests BYTEA[] NOT NULL
    );
    CREATE INDEX changes_by_age ON changes (at);
    CREATE TABLE replicas (
        id          TEXT PRIMARY KEY,
        host        TEXT NOT NULL,
        lease_until TIMESTAMPTZ NOT NULL,
        acked_seq   BIGINT NOT NULL,
        started_at  TIMESTAMPTZ NOT NULL DEFAULT now()
    );
    ",
    // 2: how long past its lease a replica may go on answering verify while the database is
    // read-only (`serve --read-only-verify`); writers wait a little longer for such a row
    // (docs/architecture.md, A read-only database).
    "
    ALTER TABLE replicas ADD COLUMN read_only_grace_ms BIGINT NOT NULL DEFAULT 0
        CHECK (read_only_grace_ms >= 0);
    ",
    // 3: a console's own tokens may share the name of the person at the keyboard; the
    // console's process id is kept beside the token (docs/console.md, Who did it). Names stay
    // unique among the tokens people make (the index keeps the old constraint's name, which
    // the store reads to tell a taken name). The console's embedded service runs on SQLite
    // only, so no token here was a console's before.
    "
    ALTER TABLE admin_tokens ADD COLUMN console_pid BIGINT CHECK (console_pid > 0);
    ALTER TABLE admin_tokens DROP CONSTRAINT admin_tokens_name_key;
    CREATE UNIQUE INDEX admin_tokens_name_key ON admin_tokens (name) WHERE console_pid IS NULL;
    ",
    // 4: what a key may do (docs/api.md, Keys that carry their own policy), as SQLite's
    // version 6: scopes as `query,ingest,manage` (keys from before get all three), the rate
    // limit (both columns or neither), the allowlist as canonical CIDRs joined by commas (null:
    // anywhere), and the changed fields of an `api_key.update` event as JSON.
    "
    ALTER TABLE api_keys ADD COLUMN scopes TEXT NOT NULL DEFAULT 'query,ingest,manage'
        CHECK (scopes <> '');
    ALTER TABLE api_keys ADD COLUMN rate_requests BIGINT
        CHECK (rate_requests BETWEEN 1 AND 1000000);
    ALTER TABLE api_keys ADD COLUMN rate_per_seconds BIGINT
        CHECK (rate_per_seconds IN (1, 60, 3600));
    ALTER TABLE api_keys ADD CONSTRAINT api_keys_rate_whole
        CHECK ((rate_requests IS NULL) = (rate_per_seconds IS NULL));
    ALTER TABLE api_keys ADD COLUMN allowed_cidrs TEXT CHECK (allowed_cidrs <> '');
    ALTER TABLE audit_events ADD COLUMN changes TEXT;
    ",
    // 5: usage by reason, scope and network, as SQLite's: denied and limited in the buckets,
    // successful calls by scope and by client network per key per day, and since when these
    // are recorded (docs/api.md, Usage by reason, scope and network).
    "
    ALTER TABLE usage_hours ADD COLUMN denied BIGINT NOT NULL DEFAULT 0 CHECK (denied >= 0);
    ALTER TABLE usage_hours ADD COLUMN limited BIGINT NOT NULL DEFAULT 0 CHECK (limited >= 0);
    ALTER TABLE usage_days ADD COLUMN denied BIGINT NOT NULL DEFAULT 0 CHECK (denied >= 0);
    ALTER TABLE usage_days ADD COLUMN limited BIGINT NOT NULL DEFAULT 0 CHECK (limited >= 0);
    CREATE TABLE usage_scopes (
        key_id TEXT NOT NULL REFERENCES api_keys (id) ON DELETE CASCADE,
        start  BIGINT NOT NULL,
        scope  TEXT NOT NULL CHECK (scope IN ('query', 'ingest', 'manage', 'none')),
        calls  BIGINT NOT NULL CHECK (calls >= 0),
        PRIMARY KEY (key_id, start, scope)
    );
    CREATE INDEX usage_scopes_by_start ON usage_scopes (start);
    CREATE TABLE usage_networks (
        key_id    TEXT NOT NULL REFERENCES api_keys (id) ON DELETE CASCADE,
        start     BIGINT NOT NULL,
        network   TEXT NOT NULL,
        calls     BIGINT NOT NULL CHECK (calls >= 0),
        last_seen BIGINT NOT NULL,
        PRIMARY KEY (key_id, start, network)
    );
    CREATE INDEX usage_networks_by_start ON usage_networks (start);
    INSERT INTO meta (key, value)
        VALUES ('usage_recorded_since', floor(extract(epoch FROM now()))::bigint::text)
        ON CONFLICT (key) DO NOTHING;
    ",
    // 6: leaked keys and notifications, as SQLite's 8 (docs/api.md, Leaked keys; Notifications):
    // a key's latest leak report, where an `api_key.leak` event found it, the tombstones of
    // removed keys (their peppered digest, never a secret), and the notice outbox whose
    // deliveries the replicas claim with `FOR UPDATE SKIP LOCKED`.
    "
    ALTER TABLE api_keys ADD COLUMN leak_reported_at BIGINT;
    ALTER TABLE api_keys ADD COLUMN leak_by TEXT
        CHECK ((leak_by IS NULL) = (leak_reported_at IS NULL));
    ALTER TABLE api_keys ADD COLUMN leak_url TEXT;
    ALTER TABLE api_keys ADD COLUMN leak_source TEXT;
    ALTER TABLE audit_events ADD COLUMN url TEXT;
    ALTER TABLE audit_events ADD COLUMN source TEXT;
    CREATE TABLE tombstones (
        digest     BYTEA PRIMARY KEY,
        service_id TEXT NOT NULL,
        key_id     TEXT NOT NULL,
        gone_at    BIGINT NOT NULL
    );
    CREATE INDEX tombstones_by_age ON tombstones (gone_at);
    CREATE TABLE notices (
        seq        BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        id         TEXT NOT NULL UNIQUE,
        dedup      TEXT UNIQUE,
        event_type TEXT NOT NULL,
        body       TEXT NOT NULL,
        created_at BIGINT NOT NULL,
        fanned_out BOOLEAN NOT NULL DEFAULT FALSE
    );
    CREATE INDEX notices_to_fan_out ON notices (seq) WHERE NOT fanned_out;
    CREATE TABLE deliveries (
        notice_id     TEXT NOT NULL REFERENCES notices (id) ON DELETE CASCADE,
        url           TEXT NOT NULL,
        attempts      INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
        next_at       BIGINT NOT NULL,
        claimed_until BIGINT,
        PRIMARY KEY (notice_id, url)
    );
    CREATE INDEX deliveries_due ON deliveries (next_at);
    ",
    // 7: a retired key's tombstone keeps what a notice says of it, as SQLite's 9 (docs/api.md,
    // Leaked keys; Notifications).
    "
    ALTER TABLE tombstones ADD COLUMN retired TEXT;
    CREATE INDEX tombstones_by_key ON tombstones (key_id);
    ",
];

/// The schema version this build writes.
pub const CURRENT: u32 = MIGRATIONS.len() as u32;

#[derive(Debug, thiserror::Error)]
pub enum MigrationError {
    #[error(
        "the database has schema version {found}, newer than this ragkeys understands \
         ({CURRENT}); run a newer ragkeys on every replica (or restore a backup)"
    )]
    TooNew { found: u32 },
    #[error("{0}")]
    Sql(#[from] sqlx::Error),
}

/// Brings the database up to [`CURRENT`] under [`MIGRATION_LOCK`], refusing one written by a
/// newer build; returns the version afterwards. `now` is recorded as each version's
/// `applied_at`.
pub async fn migrate(pool: &PgPool, now: UnixTime) -> Result<u32, MigrationError> {
    migrate_to(pool, now, CURRENT).await
}

/// [`migrate`] up to version `upto` only: how an upgrade test makes the database an older
/// build left.
#[doc(hidden)]
pub async fn migrate_to(pool: &PgPool, now: UnixTime, upto: u32) -> Result<u32, MigrationError> {
    let mut tx = pool.begin_with(BEGIN).await?;
    // Held until commit or rollback: another replica starting now waits here, then reads the
    // versions this one wrote.
    q("SELECT pg_advisory_xact_lock($1)")
        .bind(MIGRATION_LOCK)
        .execute(&mut *tx)
        .await?;
    // Created only where missing: a hot standby (docs/operating.md, PgBouncer: recovery)
    // refuses even a CREATE … IF NOT EXISTS, and one of the current version needs no write.
    let exists: bool = qs("SELECT to_regclass('schema_migrations') IS NOT NULL")
        .fetch_one(&mut *tx)
        .await?;
    if !exists {
        q("CREATE TABLE schema_migrations (\
             version INTEGER PRIMARY KEY, applied_at BIGINT NOT NULL)")
        .execute(&mut *tx)
        .await?;
    }
    let found: i32 = qs("SELECT coalesce(max(version), 0) FROM schema_migrations")
        .fetch_one(&mut *tx)
        .await?;
    let found = u32::try_from(found).unwrap_or(0);
    if found > CURRENT {
        return Err(MigrationError::TooNew { found });
    }
    for (i, sql) in MIGRATIONS
        .iter()
        .enumerate()
        .take(upto as usize)
        .skip(found as usize)
    {
        sqlx::raw_sql(*sql).execute(&mut *tx).await?;
        q("INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)")
            .bind((i + 1) as i32)
            .bind(now)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(upto.max(found))
}
