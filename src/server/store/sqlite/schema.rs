//! Versioned schema of the SQLite store: migration N brings `PRAGMA user_version` from N to N+1.

use rusqlite::Connection;

/// Each entry is one migration, applied in order inside its own transaction. Never edit one
/// that has shipped: append a new one.
const MIGRATIONS: &[&str] = &[
    // 1: the first schema.
    "
    CREATE TABLE meta (
        key   TEXT PRIMARY KEY,
        value TEXT NOT NULL
    ) STRICT;
    CREATE TABLE counters (
        name  TEXT PRIMARY KEY,
        value INTEGER NOT NULL CHECK (value >= 0)
    ) STRICT;
    INSERT INTO counters (name, value) VALUES ('services', 0);
    CREATE TABLE admin_tokens (
        id         INTEGER PRIMARY KEY,
        name       TEXT NOT NULL UNIQUE,
        role       TEXT NOT NULL CHECK (role IN ('viewer', 'manager')),
        digest     BLOB NOT NULL UNIQUE,
        masked     TEXT NOT NULL,
        created_at INTEGER NOT NULL
    ) STRICT;
    CREATE TABLE services (
        id          TEXT PRIMARY KEY,
        name        TEXT NOT NULL UNIQUE,
        description TEXT NOT NULL,
        key_count   INTEGER NOT NULL DEFAULT 0 CHECK (key_count >= 0),
        created_at  INTEGER NOT NULL
    ) STRICT;
    CREATE TABLE api_keys (
        id           TEXT PRIMARY KEY,
        service_id   TEXT NOT NULL REFERENCES services (id),
        digest       BLOB NOT NULL UNIQUE,
        masked       TEXT NOT NULL,
        name         TEXT,
        created_at   INTEGER NOT NULL,
        last_used_at INTEGER
    ) STRICT;
    CREATE INDEX api_keys_by_service ON api_keys (service_id, created_at);
    CREATE TABLE audit_events (
        id          INTEGER PRIMARY KEY AUTOINCREMENT,
        at          INTEGER NOT NULL,
        actor       TEXT NOT NULL,
        role        TEXT NOT NULL,
        action      TEXT NOT NULL,
        service_id  TEXT NOT NULL,
        key_id      TEXT,
        masked      TEXT,
        remote_addr TEXT NOT NULL,
        outcome     TEXT NOT NULL
    ) STRICT;
    CREATE INDEX audit_by_service ON audit_events (service_id, id);
    CREATE TABLE idempotency (
        scope        BLOB PRIMARY KEY,
        request_hash BLOB NOT NULL,
        key_id       TEXT,
        status       INTEGER NOT NULL,
        outcome      TEXT NOT NULL,
        created_at   INTEGER NOT NULL
    ) STRICT;
    CREATE INDEX idempotency_by_age ON idempotency (created_at);
    ",
    // 2: admin token ids are never reused (AUTOINCREMENT): an Idempotency-Key is scoped to the
    // token's id, so a new token must never inherit a revoked one's replays (docs/api.md, Retry-safe
    // issuance). The sequence starts above every id still present.
    "
    ALTER TABLE admin_tokens RENAME TO admin_tokens_v1;
    CREATE TABLE admin_tokens (
        id         INTEGER PRIMARY KEY AUTOINCREMENT,
        name       TEXT NOT NULL UNIQUE,
        role       TEXT NOT NULL CHECK (role IN ('viewer', 'manager')),
        digest     BLOB NOT NULL UNIQUE,
        masked     TEXT NOT NULL,
        created_at INTEGER NOT NULL
    ) STRICT;
    INSERT INTO admin_tokens (id, name, role, digest, masked, created_at)
        SELECT id, name, role, digest, masked, created_at FROM admin_tokens_v1;
    DROP TABLE admin_tokens_v1;
    ",
    // 3: the key lifecycle (docs/api.md, Key lifecycle). A rotated key (replaced_by set) holds no
    // slot of its own: it shares its successor's, so key_count counts the others. Keys issued
    // before learn who issued them from the audit trail where it says.
    "
    ALTER TABLE api_keys ADD COLUMN created_by TEXT NOT NULL DEFAULT '';
    ALTER TABLE api_keys ADD COLUMN enabled INTEGER NOT NULL DEFAULT 1 CHECK (enabled IN (0, 1));
    ALTER TABLE api_keys ADD COLUMN expires_at INTEGER;
    ALTER TABLE api_keys ADD COLUMN replaced_by TEXT;
    UPDATE api_keys SET created_by = coalesce((
        SELECT actor FROM audit_events
        WHERE action = 'api_key.issue' AND outcome = 'ok' AND key_id = api_keys.id
        ORDER BY id DESC LIMIT 1), '');
    CREATE INDEX api_keys_rotating ON api_keys (expires_at) WHERE replaced_by IS NOT NULL;
    ",
    // 4: usage per key (docs/api.md, Usage): 24 hourly and 30 daily buckets of verifications, and
    // the address of the last one. Only the key id ties a row to its key, never the key or its
    // digest; the rows go with their key (ON DELETE CASCADE, every path that deletes a key).
    "
    ALTER TABLE api_keys ADD COLUMN last_used_from TEXT;
    CREATE TABLE usage_hours (
        key_id  TEXT NOT NULL REFERENCES api_keys (id) ON DELETE CASCADE,
        start   INTEGER NOT NULL,
        ok      INTEGER NOT NULL CHECK (ok >= 0),
        refused INTEGER NOT NULL CHECK (refused >= 0),
        PRIMARY KEY (key_id, start)
    ) STRICT, WITHOUT ROWID;
    CREATE INDEX usage_hours_by_start ON usage_hours (start);
    CREATE TABLE usage_days (
        key_id  TEXT NOT NULL REFERENCES api_keys (id) ON DELETE CASCADE,
        start   INTEGER NOT NULL,
        ok      INTEGER NOT NULL CHECK (ok >= 0),
        refused INTEGER NOT NULL CHECK (refused >= 0),
        PRIMARY KEY (key_id, start)
    ) STRICT, WITHOUT ROWID;
    CREATE INDEX usage_days_by_start ON usage_days (start);
    ",
    // 5: a console's own tokens are named after the person at the keyboard and may share that
    // name; the console's process id is kept beside the token (docs/console.md, Who did it).
    // Names stay unique among the tokens people make. The table is rebuilt to drop the inline
    // UNIQUE, keeping its AUTOINCREMENT sequence (an id is never given twice, schema 2); the
    // tokens of older consoles, named `local-console@PID` or `local-console@PID.N`, learn their
    // process id from the name, so that they are pruned once that process is gone.
    "
    ALTER TABLE admin_tokens RENAME TO admin_tokens_v4;
    CREATE TABLE admin_tokens (
        id          INTEGER PRIMARY KEY AUTOINCREMENT,
        name        TEXT NOT NULL,
        role        TEXT NOT NULL CHECK (role IN ('viewer', 'manager')),
        digest      BLOB NOT NULL UNIQUE,
        masked      TEXT NOT NULL,
        created_at  INTEGER NOT NULL,
        console_pid INTEGER CHECK (console_pid > 0)
    ) STRICT;
    INSERT INTO admin_tokens (id, name, role, digest, masked, created_at, console_pid)
        SELECT id, name, role, digest, masked, created_at,
            CASE WHEN pid GLOB '[1-9]*' AND pid NOT GLOB '*[^0-9]*' AND length(pid) <= 10
                      AND (start IS NULL OR (start <> '' AND start NOT GLOB '*[^0-9]*'))
                      AND CAST(pid AS INTEGER) <= 2147483647
                 THEN CAST(pid AS INTEGER) END
        FROM (
            SELECT *,
                CASE WHEN instr(rest, '.') > 0 THEN substr(rest, 1, instr(rest, '.') - 1)
                     ELSE rest END AS pid,
                CASE WHEN instr(rest, '.') > 0 THEN substr(rest, instr(rest, '.') + 1) END
                    AS start
            FROM (
                SELECT *, CASE WHEN substr(name, 1, 14) = 'local-console@'
                               THEN substr(name, 15) END AS rest
                FROM admin_tokens_v4
            )
        );
    DELETE FROM sqlite_sequence WHERE name = 'admin_tokens';
    UPDATE sqlite_sequence SET name = 'admin_tokens' WHERE name = 'admin_tokens_v4';
    DROP TABLE admin_tokens_v4;
    CREATE UNIQUE INDEX admin_tokens_name ON admin_tokens (name) WHERE console_pid IS NULL;
    ",
    // 6: what a key may do (docs/api.md, Keys that carry their own policy): its scopes as
    // `query,ingest,manage` (keys from before get all three), its rate limit (both columns or
    // neither; none: no limit) and its allowlist as canonical CIDRs joined by commas (none:
    // anywhere). An `api_key.update` event keeps its changed fields as JSON in `changes`.
    "
    ALTER TABLE api_keys ADD COLUMN scopes TEXT NOT NULL DEFAULT 'query,ingest,manage'
        CHECK (scopes <> '');
    ALTER TABLE api_keys ADD COLUMN rate_requests INTEGER
        CHECK (rate_requests BETWEEN 1 AND 1000000);
    ALTER TABLE api_keys ADD COLUMN rate_per_seconds INTEGER
        CHECK (rate_per_seconds IN (1, 60, 3600)
               AND (rate_requests IS NULL) = (rate_per_seconds IS NULL));
    ALTER TABLE api_keys ADD COLUMN allowed_cidrs TEXT CHECK (allowed_cidrs <> '');
    ALTER TABLE audit_events ADD COLUMN changes TEXT;
    ",
    // 7: usage by reason, scope and network (docs/api.md, Usage by reason, scope and network): the
    // buckets count denied and limited calls; successful calls by scope and by client network
    // per key per day (30 days kept, as the daily buckets). `usage_recorded_since` is when
    // these began to be recorded: keys older than it have no such history before it.
    "
    ALTER TABLE usage_hours ADD COLUMN denied INTEGER NOT NULL DEFAULT 0 CHECK (denied >= 0);
    ALTER TABLE usage_hours ADD COLUMN limited INTEGER NOT NULL DEFAULT 0 CHECK (limited >= 0);
    ALTER TABLE usage_days ADD COLUMN denied INTEGER NOT NULL DEFAULT 0 CHECK (denied >= 0);
    ALTER TABLE usage_days ADD COLUMN limited INTEGER NOT NULL DEFAULT 0 CHECK (limited >= 0);
    CREATE TABLE usage_scopes (
        key_id TEXT NOT NULL REFERENCES api_keys (id) ON DELETE CASCADE,
        start  INTEGER NOT NULL,
        scope  TEXT NOT NULL CHECK (scope IN ('query', 'ingest', 'manage', 'none')),
        calls  INTEGER NOT NULL CHECK (calls >= 0),
        PRIMARY KEY (key_id, start, scope)
    ) STRICT, WITHOUT ROWID;
    CREATE INDEX usage_scopes_by_start ON usage_scopes (start);
    CREATE TABLE usage_networks (
        key_id    TEXT NOT NULL REFERENCES api_keys (id) ON DELETE CASCADE,
        start     INTEGER NOT NULL,
        network   TEXT NOT NULL,
        calls     INTEGER NOT NULL CHECK (calls >= 0),
        last_seen INTEGER NOT NULL,
        PRIMARY KEY (key_id, start, network)
    ) STRICT, WITHOUT ROWID;
    CREATE INDEX usage_networks_by_start ON usage_networks (start);
    INSERT INTO meta (key, value) VALUES ('usage_recorded_since', CAST(unixepoch() AS TEXT))
        ON CONFLICT (key) DO NOTHING;
    ",
    // 8: leaked keys and notifications (docs/api.md, Leaked keys; Notifications). A key keeps its
    // latest leak report (all four columns null when never reported); an `api_key.leak` event
    // keeps where it was found. A deleted or retired key leaves a tombstone (its peppered
    // digest, never a secret) for 400 days. Notices wait in an outbox until fanned out to one
    // delivery per webhook URL; a delivery goes once delivered or dropped, its notice with the
    // last one.
    "
    ALTER TABLE api_keys ADD COLUMN leak_reported_at INTEGER;
    ALTER TABLE api_keys ADD COLUMN leak_by TEXT
        CHECK ((leak_by IS NULL) = (leak_reported_at IS NULL));
    ALTER TABLE api_keys ADD COLUMN leak_url TEXT;
    ALTER TABLE api_keys ADD COLUMN leak_source TEXT;
    ALTER TABLE audit_events ADD COLUMN url TEXT;
    ALTER TABLE audit_events ADD COLUMN source TEXT;
    CREATE TABLE tombstones (
        digest     BLOB PRIMARY KEY,
        service_id TEXT NOT NULL,
        key_id     TEXT NOT NULL,
        gone_at    INTEGER NOT NULL
    ) STRICT;
    CREATE INDEX tombstones_by_age ON tombstones (gone_at);
    CREATE TABLE notices (
        seq        INTEGER PRIMARY KEY AUTOINCREMENT,
        id         TEXT NOT NULL UNIQUE,
        dedup      TEXT UNIQUE,
        event_type TEXT NOT NULL,
        body       TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        fanned_out INTEGER NOT NULL DEFAULT 0 CHECK (fanned_out IN (0, 1))
    ) STRICT;
    CREATE INDEX notices_to_fan_out ON notices (seq) WHERE fanned_out = 0;
    CREATE TABLE deliveries (
        notice_id     TEXT NOT NULL REFERENCES notices (id) ON DELETE CASCADE,
        url           TEXT NOT NULL,
        attempts      INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
        next_at       INTEGER NOT NULL,
        claimed_until INTEGER,
        PRIMARY KEY (notice_id, url)
    ) STRICT;
    CREATE INDEX deliveries_due ON deliveries (next_at);
    ",
    // 9: a retired key's tombstone keeps what a notice says of it (the `data` of its
    // `api_key.retired` event, as JSON; null for a deleted key), so that verify still knows it as
    // stopped after it left `api_keys` and `api_key.disabled_still_called` can name it
    // (docs/api.md, Leaked keys; Notifications).
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
         ({CURRENT}); run a newer ragkeys or restore a backup"
    )]
    TooNew { found: u32 },
    #[error("{0}")]
    Sqlite(#[from] rusqlite::Error),
}

pub fn version(conn: &Connection) -> rusqlite::Result<u32> {
    conn.query_row("PRAGMA user_version", [], |r| r.get(0))
}

/// Brings the database up to [`CURRENT`], refusing one written by a newer build.
pub fn migrate(conn: &mut Connection) -> Result<u32, MigrationError> {
    let found = version(conn)?;
    if found > CURRENT {
        return Err(MigrationError::TooNew { found });
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(found as usize) {
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        // Another process may have migrated while we waited for the write lock.
        if version(&tx)? > i as u32 {
            continue;
        }
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", (i + 1) as u32)?;
        tx.commit()?;
    }
    Ok(version(conn)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrations_apply_once_and_set_the_version() {
        let mut c = Connection::open_in_memory().unwrap();
        assert_eq!(migrate(&mut c).unwrap(), CURRENT);
        assert_eq!(migrate(&mut c).unwrap(), CURRENT);
        let n: i64 = c
            .query_row("SELECT count(*) FROM counters", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, 1);
    }

    #[test]
    fn a_version_1_database_keeps_its_tokens_and_never_reuses_an_id_afterwards() {
        let mut c = Connection::open_in_memory().unwrap();
        c.execute_batch(MIGRATIONS[0]).unwrap();
        c.pragma_update(None, "user_version", 1).unwrap();
        let add = |c: &Connection, name: &str, digest: u8| {
            c.execute(
                "INSERT INTO admin_tokens (name, role, digest, masked, created_at) \
                 VALUES (?1, 'manager', ?2, 'm', 1)",
                rusqlite::params![name, vec![digest; 32]],
            )
            .unwrap();
            c.last_insert_rowid()
        };
        assert_eq!((add(&c, "a", 1), add(&c, "b", 2)), (1, 2));
        assert_eq!(migrate(&mut c).unwrap(), CURRENT);
        let names: Vec<(i64, String)> = c
            .prepare("SELECT id, name FROM admin_tokens ORDER BY id")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(names, vec![(1, "a".into()), (2, "b".into())]);
        let third = add(&c, "c", 3);
        assert_eq!(third, 3);
        c.execute("DELETE FROM admin_tokens WHERE id = ?1", [third])
            .unwrap();
        assert_eq!(
            add(&c, "c", 4),
            4,
            "the newest token's id is not given again"
        );
    }

    #[test]
    fn a_version_2_database_keeps_its_keys_and_learns_who_issued_them() {
        let mut c = Connection::open_in_memory().unwrap();
        c.execute_batch(MIGRATIONS[0]).unwrap();
        c.execute_batch(MIGRATIONS[1]).unwrap();
        c.pragma_update(None, "user_version", 2).unwrap();
        c.execute_batch(
            "INSERT INTO services (id, name, description, key_count, created_at) VALUES ('s', 'svc', '', 1, 1);
             INSERT INTO api_keys (id, service_id, digest, masked, name, created_at) VALUES ('k', 's', x'00', 'm', NULL, 1);
             INSERT INTO audit_events (at, actor, role, action, service_id, key_id, masked, remote_addr, outcome)
                 VALUES (1, 'alice', 'manager', 'api_key.issue', 's', 'k', 'm', '::1', 'ok');",
        )
        .unwrap();
        assert_eq!(migrate(&mut c).unwrap(), CURRENT);
        let row: (String, i64, Option<i64>, Option<String>) = c
            .query_row(
                "SELECT created_by, enabled, expires_at, replaced_by FROM api_keys WHERE id = 'k'",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
            )
            .unwrap();
        assert_eq!(row, ("alice".into(), 1, None, None));
    }

    #[test]
    fn a_version_4_database_learns_which_tokens_were_consoles_and_keeps_its_sequence() {
        let mut c = Connection::open_in_memory().unwrap();
        for sql in &MIGRATIONS[..4] {
            c.execute_batch(sql).unwrap();
        }
        c.pragma_update(None, "user_version", 4).unwrap();
        let add = |c: &Connection, name: &str, digest: u8| {
            c.execute(
                "INSERT INTO admin_tokens (name, role, digest, masked, created_at) \
                 VALUES (?1, 'manager', ?2, 'm', 1)",
                rusqlite::params![name, vec![digest; 32]],
            )
            .unwrap();
            c.last_insert_rowid()
        };
        let names = [
            "admin",
            "local-console@4242",
            "local-console@4242.3",
            "local-console@0",
            "local-console@12.x",
            "local-console@12.3.4",
            "local-console@99999999999",
            "local-console@alice",
            "xlocal-console@12",
        ];
        for (i, name) in names.iter().enumerate() {
            add(&c, name, i as u8);
        }
        let newest = add(&c, "gone", 200);
        c.execute("DELETE FROM admin_tokens WHERE id = ?1", [newest])
            .unwrap();
        assert_eq!(migrate(&mut c).unwrap(), CURRENT);
        let rows: Vec<(String, Option<i64>)> = c
            .prepare("SELECT name, console_pid FROM admin_tokens ORDER BY id")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        let pids: Vec<Option<i64>> = rows.iter().map(|r| r.1).collect();
        assert_eq!(
            pids,
            [
                None,
                Some(4242),
                Some(4242),
                None,
                None,
                None,
                None,
                None,
                None
            ],
            "{rows:?}"
        );
        assert!(add(&c, "later", 201) > newest, "the sequence went on");
        // Consoles may share a name; people's names stay unique.
        c.execute(
            "INSERT INTO admin_tokens (name, role, digest, masked, created_at, console_pid) \
             VALUES ('alice@b', 'manager', x'01', 'm', 1, 7), ('alice@b', 'manager', x'02', 'm', 1, 8)",
            [],
        )
        .unwrap();
        let again = c.execute(
            "INSERT INTO admin_tokens (name, role, digest, masked, created_at) \
             VALUES ('admin', 'viewer', x'03', 'm', 1)",
            [],
        );
        assert!(again.unwrap_err().to_string().contains("admin_tokens.name"));
    }

    #[test]
    fn a_version_6_database_keeps_its_usage_with_no_reasons_and_learns_when_recording_began() {
        let mut c = Connection::open_in_memory().unwrap();
        for sql in &MIGRATIONS[..6] {
            c.execute_batch(sql).unwrap();
        }
        c.pragma_update(None, "user_version", 6).unwrap();
        c.execute_batch(
            "INSERT INTO services (id, name, description, key_count, created_at) VALUES ('s', 'svc', '', 1, 1);
             INSERT INTO api_keys (id, service_id, digest, masked, created_at) VALUES ('k', 's', x'00', 'm', 1);
             INSERT INTO usage_hours (key_id, start, ok, refused) VALUES ('k', 3600, 5, 1);
             INSERT INTO usage_days (key_id, start, ok, refused) VALUES ('k', 0, 5, 1);",
        )
        .unwrap();
        let before = crate::wire::Timestamp::now().unix();
        assert_eq!(migrate(&mut c).unwrap(), CURRENT);
        for table in ["usage_hours", "usage_days"] {
            let row: (i64, i64, i64, i64) = c
                .query_row(
                    &format!("SELECT ok, refused, denied, limited FROM {table}"),
                    [],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
                )
                .unwrap();
            assert_eq!(row, (5, 1, 0, 0), "{table}");
        }
        let since: String = c
            .query_row(
                "SELECT value FROM meta WHERE key = 'usage_recorded_since'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        let since: i64 = since.parse().unwrap();
        assert!(since >= before - 1 && since <= crate::wire::Timestamp::now().unix() + 1);
        // The key predates it: its history of reasons, scopes and networks begins there.
        assert_eq!(
            crate::server::store::recorded_since(1, Some(&since.to_string())),
            since
        );
        assert!(
            c.execute(
                "INSERT INTO usage_scopes (key_id, start, scope, calls) VALUES ('k', 0, 'read', 1)",
                []
            )
            .is_err()
        );
    }

    #[test]
    fn a_version_5_database_keeps_its_keys_which_get_every_scope() {
        let mut c = Connection::open_in_memory().unwrap();
        for sql in &MIGRATIONS[..5] {
            c.execute_batch(sql).unwrap();
        }
        c.pragma_update(None, "user_version", 5).unwrap();
        c.execute_batch(
            "INSERT INTO services (id, name, description, key_count, created_at) VALUES ('s', 'svc', '', 1, 1);
             INSERT INTO api_keys (id, service_id, digest, masked, name, created_at) VALUES ('k', 's', x'00', 'm', 'ci', 1);
             INSERT INTO audit_events (at, actor, role, action, service_id, key_id, masked, remote_addr, outcome)
                 VALUES (1, 'alice', 'manager', 'api_key.issue', 's', 'k', 'm', '::1', 'ok');",
        )
        .unwrap();
        assert_eq!(migrate(&mut c).unwrap(), CURRENT);
        let row: (String, String, Option<i64>, Option<i64>, Option<String>) = c
            .query_row(
                "SELECT name, scopes, rate_requests, rate_per_seconds, allowed_cidrs \
                 FROM api_keys WHERE id = 'k'",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
            )
            .unwrap();
        assert_eq!(
            row,
            ("ci".into(), "query,ingest,manage".into(), None, None, None)
        );
        let changes: Option<String> = c
            .query_row("SELECT changes FROM audit_events", [], |r| r.get(0))
            .unwrap();
        assert_eq!(changes, None);
        // Half a rate limit, or an empty scope list, is refused by the schema itself.
        for bad in [
            "UPDATE api_keys SET rate_requests = 5",
            "UPDATE api_keys SET scopes = ''",
            "UPDATE api_keys SET rate_requests = 5, rate_per_seconds = 7",
        ] {
            assert!(c.execute(bad, []).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_version_7_database_keeps_its_keys_and_events_with_no_leak() {
        let mut c = Connection::open_in_memory().unwrap();
        for sql in &MIGRATIONS[..7] {
            c.execute_batch(sql).unwrap();
        }
        c.pragma_update(None, "user_version", 7).unwrap();
        c.execute_batch(
            "INSERT INTO services (id, name, description, key_count, created_at) VALUES ('s', 'svc', '', 1, 1);
             INSERT INTO api_keys (id, service_id, digest, masked, name, created_at) VALUES ('k', 's', x'00', 'm', 'ci', 1);
             INSERT INTO audit_events (at, actor, role, action, service_id, key_id, masked, remote_addr, outcome)
                 VALUES (1, 'alice', 'manager', 'api_key.issue', 's', 'k', 'm', '::1', 'ok');",
        )
        .unwrap();
        assert_eq!(migrate(&mut c).unwrap(), CURRENT);
        let row: (String, Option<i64>, Option<String>, Option<String>) = c
            .query_row(
                "SELECT name, leak_reported_at, leak_by, leak_url FROM api_keys WHERE id = 'k'",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
            )
            .unwrap();
        assert_eq!(row, ("ci".into(), None, None, None));
        let (url, source): (Option<String>, Option<String>) = c
            .query_row("SELECT url, source FROM audit_events", [], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .unwrap();
        assert_eq!((url, source), (None, None));
        // Half a leak is refused by the schema itself.
        assert!(
            c.execute("UPDATE api_keys SET leak_reported_at = 5", [])
                .is_err()
        );
        for table in ["tombstones", "notices", "deliveries"] {
            let n: i64 = c
                .query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))
                .unwrap();
            assert_eq!(n, 0, "{table}");
        }
    }

    #[test]
    fn a_version_8_database_keeps_its_tombstones_as_deleted_keys() {
        let mut c = Connection::open_in_memory().unwrap();
        for sql in &MIGRATIONS[..8] {
            c.execute_batch(sql).unwrap();
        }
        c.pragma_update(None, "user_version", 8).unwrap();
        c.execute_batch(
            "INSERT INTO tombstones (digest, service_id, key_id, gone_at) VALUES (x'01', 's', 'k', 7);",
        )
        .unwrap();
        assert_eq!(migrate(&mut c).unwrap(), CURRENT);
        // What it was is not known: such a key stays an unknown one to verify, as before.
        let row: (String, i64, Option<String>) = c
            .query_row(
                "SELECT key_id, gone_at, retired FROM tombstones WHERE digest = x'01'",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .unwrap();
        assert_eq!(row, ("k".into(), 7, None));
    }

    #[test]
    fn a_newer_database_is_refused() {
        let mut c = Connection::open_in_memory().unwrap();
        c.pragma_update(None, "user_version", CURRENT + 1).unwrap();
        let err = migrate(&mut c).unwrap_err();
        assert!(matches!(err, MigrationError::TooNew { found } if found == CURRENT + 1));
        assert!(err.to_string().contains("newer"));
    }
}
