//! Usage figures with a hand-moved clock: buckets roll over an hour and a day, pruning, and
//! rows that go with their key, without waiting for any of it.

use std::sync::atomic::{AtomicI64, Ordering};

use super::*;
use crate::server::store::sqlite::SqliteStore;
use crate::server::store::{NewKey, ServiceRecord};
use crate::wire::{AuditAction, AuditEvent, Role};

/// 2027-01-15 00:00:00 UTC: a day start, so that hours and days are easy to name.
const DAY0: UnixTime = 1_799_971_200;

fn audit(action: AuditAction) -> AuditEvent {
    AuditEvent {
        at: Timestamp::from_unix(DAY0),
        actor: "t".into(),
        role: Role::Manager,
        action,
        service_id: "svc_a".into(),
        key_id: None,
        masked: None,
        remote_addr: "127.0.0.1".into(),
        outcome: "ok".into(),
        changes: None,
        url: None,
        source: None,
    }
}

struct Fixture {
    _dir: tempfile::TempDir,
    path: std::path::PathBuf,
    store: SqliteStore,
    index: VerifyIndex,
    now: Arc<AtomicI64>,
    book: UsageBook,
}

impl Fixture {
    async fn new() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db");
        let store = SqliteStore::open(&path).unwrap();
        store
            .create_service(
                ServiceRecord {
                    id: "svc_a".into(),
                    name: "alpha".into(),
                    description: String::new(),
                    key_count: 0,
                    created_at: DAY0,
                },
                999,
                audit(AuditAction::ServiceCreate),
            )
            .await
            .unwrap();
        let now = Arc::new(AtomicI64::new(DAY0));
        let clock = now.clone();
        let book = UsageBook::with_clock(Arc::new(move || clock.load(Ordering::SeqCst)));
        let f = Fixture {
            _dir: dir,
            path,
            store,
            index: VerifyIndex::default(),
            now,
            book,
        };
        f.add_key("key_a", 1).await;
        f
    }

    async fn add_key(&self, id: &str, n: u8) {
        self.store
            .issue_key(
                NewKey {
                    id: id.into(),
                    service_id: "svc_a".into(),
                    digest: [n; 32],
                    masked: "ragk_AbCd********wXyZ".into(),
                    name: None,
                    created_at: DAY0,
                    created_by: "t".into(),
                    expires_at: None,
                    policy: Default::default(),
                },
                5,
                None,
                audit(AuditAction::ApiKeyIssue),
            )
            .await
            .unwrap();
        self.index.insert(
            [n; 32],
            "svc_a".into(),
            id.into(),
            UnixTime::MAX,
            &crate::policy::Policy::full(),
        );
    }

    fn set(&self, t: UnixTime) {
        self.now.store(t, Ordering::SeqCst);
    }

    /// `n` verifications of key `k` at the clock's time, ok or refused.
    fn verify(&self, k: u8, n: u64, ok: bool) {
        let e = self.index.lookup(&[k; 32]).unwrap();
        for _ in 0..n {
            e.usage.count(self.book.now(), ok);
        }
    }

    async fn usage(&self, key: &str) -> Usage {
        self.book
            .read(&self.store, &self.index, "svc_a".into(), key.into())
            .await
            .unwrap()
    }

    async fn flush(&self) {
        self.book.flush(&self.store, &self.index).await.unwrap();
    }

    fn rows(&self, table: &str) -> i64 {
        let c = rusqlite::Connection::open(&self.path).unwrap();
        c.query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))
            .unwrap()
    }
}

fn counts(b: &[Bucket]) -> Vec<(UnixTime, u64, u64)> {
    b.iter()
        .filter(|b| b.ok > 0 || b.refused > 0)
        .map(|b| (b.start.unix(), b.ok, b.refused))
        .collect()
}

#[tokio::test]
async fn the_shape_is_24_hours_and_30_days_oldest_first_ending_now() {
    let f = Fixture::new().await;
    f.set(DAY0 + 10 * HOUR + 1234);
    let u = f.usage("key_a").await;
    assert_eq!(u.hours.len(), 24);
    assert_eq!(u.days.len(), 30);
    assert_eq!(u.hours[23].start.unix(), DAY0 + 10 * HOUR);
    assert_eq!(u.hours[0].start.unix(), DAY0 + 10 * HOUR - 23 * HOUR);
    assert_eq!(u.days[29].start.unix(), DAY0);
    assert_eq!(u.days[0].start.unix(), DAY0 - 29 * DAY);
    assert!(
        u.hours
            .windows(2)
            .all(|w| w[1].start.unix() - w[0].start.unix() == HOUR)
    );
    assert!(
        u.days
            .windows(2)
            .all(|w| w[1].start.unix() - w[0].start.unix() == DAY)
    );
    assert_eq!((u.last_used_at, u.last_used_from), (None, None));
    assert!(counts(&u.hours).is_empty() && counts(&u.days).is_empty());
}

#[tokio::test]
async fn unwritten_counts_show_at_once_and_once_after_a_flush() {
    let f = Fixture::new().await;
    let h10 = DAY0 + 10 * HOUR;
    f.set(h10 + 60);
    f.verify(1, 7, true);
    f.verify(1, 2, false);
    let before = f.usage("key_a").await;
    assert_eq!(counts(&before.hours), vec![(h10, 7, 2)]);
    assert_eq!(counts(&before.days), vec![(DAY0, 7, 2)]);
    f.flush().await;
    assert_eq!(f.rows("usage_hours"), 1);
    // Written and no longer in memory: counted once, not twice.
    let after = f.usage("key_a").await;
    assert_eq!(counts(&after.hours), vec![(h10, 7, 2)]);
    assert_eq!(counts(&after.days), vec![(DAY0, 7, 2)]);
    f.flush().await;
    f.verify(1, 1, true);
    f.flush().await;
    assert_eq!(counts(&f.usage("key_a").await.hours), vec![(h10, 8, 2)]);
}

#[tokio::test]
async fn buckets_roll_over_an_hour_before_and_after_the_flush() {
    let f = Fixture::new().await;
    let h10 = DAY0 + 10 * HOUR;
    f.set(h10 + HOUR - 5);
    f.verify(1, 3, true);
    // The hour turns before any flush: the last hour's counts stay in the last hour.
    f.set(h10 + HOUR + 30);
    f.verify(1, 2, true);
    f.verify(1, 1, false);
    let u = f.usage("key_a").await;
    assert_eq!(counts(&u.hours), vec![(h10, 3, 0), (h10 + HOUR, 2, 1)]);
    assert_eq!(u.hours[23].start.unix(), h10 + HOUR);
    assert_eq!(counts(&u.days), vec![(DAY0, 5, 1)]);
    f.flush().await;
    let u = f.usage("key_a").await;
    assert_eq!(counts(&u.hours), vec![(h10, 3, 0), (h10 + HOUR, 2, 1)]);
    assert_eq!(counts(&u.days), vec![(DAY0, 5, 1)]);
    // Two hours on, the slot of 10:00 is reused for 12:00 without a trace of 10:00.
    f.set(h10 + 2 * HOUR + 10);
    f.verify(1, 4, true);
    f.flush().await;
    let u = f.usage("key_a").await;
    assert_eq!(
        counts(&u.hours),
        vec![(h10, 3, 0), (h10 + HOUR, 2, 1), (h10 + 2 * HOUR, 4, 0)]
    );
}

#[tokio::test]
async fn buckets_roll_over_a_day_at_utc_midnight() {
    let f = Fixture::new().await;
    let day1 = DAY0 + DAY;
    f.set(day1 - 600);
    f.verify(1, 4, true);
    f.set(day1 + 600);
    f.verify(1, 1, true);
    let u = f.usage("key_a").await;
    assert_eq!(counts(&u.days), vec![(DAY0, 4, 0), (day1, 1, 0)]);
    assert_eq!(u.days[29].start.unix(), day1);
    assert_eq!(counts(&u.hours), vec![(day1 - HOUR, 4, 0), (day1, 1, 0)]);
    f.flush().await;
    let u = f.usage("key_a").await;
    assert_eq!(counts(&u.days), vec![(DAY0, 4, 0), (day1, 1, 0)]);
}

#[tokio::test]
async fn the_service_prunes_past_24_hours_and_30_days() {
    let f = Fixture::new().await;
    f.set(DAY0 + 60);
    f.verify(1, 5, true);
    f.flush().await;
    // 23 hours on, the hour is still the first of the 24 shown.
    f.set(DAY0 + 23 * HOUR + 60);
    f.flush().await;
    assert_eq!(counts(&f.usage("key_a").await.hours), vec![(DAY0, 5, 0)]);
    assert_eq!(f.rows("usage_hours"), 1);
    // One more hour and it is neither shown nor kept; the day still is.
    f.set(DAY0 + 24 * HOUR + 60);
    f.flush().await;
    let u = f.usage("key_a").await;
    assert!(counts(&u.hours).is_empty());
    assert_eq!(counts(&u.days), vec![(DAY0, 5, 0)]);
    assert_eq!(f.rows("usage_hours"), 0);
    f.set(DAY0 + 29 * DAY + 60);
    f.flush().await;
    assert_eq!(f.rows("usage_days"), 1);
    f.set(DAY0 + 30 * DAY + 60);
    f.flush().await;
    assert!(counts(&f.usage("key_a").await.days).is_empty());
    assert_eq!(f.rows("usage_days"), 0);
}

#[tokio::test]
async fn rows_go_with_their_key_and_a_deleted_key_is_not_found() {
    let f = Fixture::new().await;
    f.add_key("key_b", 2).await;
    f.set(DAY0 + 60);
    f.verify(1, 1, true);
    f.verify(2, 2, false);
    f.flush().await;
    assert_eq!((f.rows("usage_hours"), f.rows("usage_days")), (2, 2));
    f.store
        .delete_key(
            "svc_a".into(),
            "key_b".into(),
            audit(AuditAction::ApiKeyDelete),
        )
        .await
        .unwrap();
    assert_eq!((f.rows("usage_hours"), f.rows("usage_days")), (1, 1));
    let gone = f
        .book
        .read(&f.store, &f.index, "svc_a".into(), "key_b".into())
        .await;
    assert!(matches!(gone, Err(StoreError::KeyNotFound)), "{gone:?}");
    let other = f
        .book
        .read(&f.store, &f.index, "svc_x".into(), "key_a".into())
        .await;
    assert!(
        matches!(other, Err(StoreError::ServiceNotFound)),
        "{other:?}"
    );
    // Counts of a key deleted before its flush are dropped with it, not an error.
    f.verify(2, 3, true);
    f.flush().await;
    assert_eq!(f.rows("usage_hours"), 1);
}

#[tokio::test]
async fn counts_that_cannot_be_written_stay_for_the_next_flush() {
    let f = Fixture::new().await;
    f.set(DAY0 + 60);
    f.verify(1, 3, true);
    f.store.close().await.unwrap();
    assert!(f.book.flush(&f.store, &f.index).await.is_err());
    let e = f.index.lookup(&[1; 32]).unwrap();
    let kept = e.usage.peek(DAY0);
    assert_eq!((kept.ok, kept.refused), (3, 0));
}

#[tokio::test]
async fn the_last_use_in_memory_wins_over_an_older_stored_one() {
    let f = Fixture::new().await;
    f.set(DAY0 + 60);
    let e = f.index.lookup(&[1; 32]).unwrap();
    assert!(e.claim_touch(DAY0 + 60));
    e.usage.set_from("10.0.4.17".parse().unwrap());
    let u = f.usage("key_a").await;
    assert_eq!(u.last_used_at.map(|t| t.unix()), Some(DAY0 + 60));
    assert_eq!(u.last_used_from.as_deref(), Some("10.0.4.17"));
    f.store
        .touch_keys(vec![crate::server::store::KeyUse {
            key_id: "key_a".into(),
            at: DAY0 + 30,
            from: "192.0.2.1".parse().unwrap(),
        }])
        .await
        .unwrap();
    let u = f.usage("key_a").await;
    assert_eq!(u.last_used_from.as_deref(), Some("10.0.4.17"));
}

/// `n` successful calls of key `k` at the clock's time with `scope`, from `from`.
fn call(f: &Fixture, k: u8, n: u64, scope: Option<crate::policy::Scope>, from: &str) {
    let e = f.index.lookup(&[k; 32]).unwrap();
    for _ in 0..n {
        e.usage.record(
            f.book.now(),
            counters::Outcome::Ok,
            scope,
            from.parse().unwrap(),
        );
    }
}

#[tokio::test]
async fn scopes_and_networks_are_exact_before_and_after_the_flush() {
    use crate::policy::Scope;
    let f = Fixture::new().await;
    f.set(DAY0 + 60);
    call(&f, 1, 3, Some(Scope::Query), "10.0.4.17");
    call(&f, 1, 1, None, "10.0.4.18");
    call(&f, 1, 2, Some(Scope::Ingest), "2001:db8:1:2::9");
    let e = f.index.lookup(&[1; 32]).unwrap();
    e.usage.record(
        DAY0 + 60,
        counters::Outcome::Denied,
        Some(Scope::Manage),
        "10.9.9.9".parse().unwrap(),
    );
    e.usage.record(
        DAY0 + 60,
        counters::Outcome::Limited,
        Some(Scope::Query),
        "10.0.4.17".parse().unwrap(),
    );
    let check = |u: &Usage| {
        let scopes: Vec<(&str, u64)> = u
            .scopes_used
            .iter()
            .map(|(k, v)| (k.as_str(), *v))
            .collect();
        assert_eq!(scopes, [("ingest", 2), ("none", 1), ("query", 3)]);
        let nets: Vec<(&str, u64)> = u
            .networks
            .iter()
            .map(|n| (n.network.as_str(), n.calls))
            .collect();
        assert_eq!(nets, [("10.0.4.0/24", 4), ("2001:db8:1:2::/64", 2)]);
        assert!(!u.networks_truncated);
        assert_eq!(u.networks[0].last_seen.unix(), DAY0 + 60);
        let today = u.days.last().unwrap();
        assert_eq!(
            (today.ok, today.refused, today.denied, today.limited),
            (6, 0, 1, 1)
        );
        assert_eq!(u.hours.last().unwrap().denied, 1);
        assert_eq!(u.recorded_since.map(|t| t.unix()), Some(DAY0));
    };
    check(&f.usage("key_a").await);
    f.flush().await;
    check(&f.usage("key_a").await);
    // A day later the same counts are still among the 30 days; past 30 days they are gone.
    f.set(DAY0 + DAY + 60);
    f.flush().await;
    assert_eq!(f.usage("key_a").await.scopes_used.len(), 3);
    f.set(DAY0 + DAYS_KEPT as i64 * DAY + 60);
    f.flush().await;
    let u = f.usage("key_a").await;
    assert!(u.scopes_used.is_empty() && u.networks.is_empty());
    assert_eq!(f.rows("usage_networks"), 0);
}

#[tokio::test]
async fn at_most_sixteen_networks_are_listed_most_calls_first() {
    let f = Fixture::new().await;
    f.set(DAY0 + 60);
    for i in 0..17u64 {
        call(&f, 1, i + 1, None, &format!("192.0.{i}.1"));
    }
    let check = |u: &Usage| {
        assert_eq!(u.networks.len(), NETWORKS_SHOWN);
        assert!(u.networks_truncated);
        assert_eq!(u.networks[0].network, "192.0.16.0/24");
        assert_eq!(u.networks[0].calls, 17);
        assert_eq!(u.networks[15].network, "192.0.1.0/24");
    };
    check(&f.usage("key_a").await);
    f.flush().await;
    check(&f.usage("key_a").await);
}

#[tokio::test]
async fn flushes_log_the_keys_refused_per_day_only_once_enabled() {
    let f = Fixture::new().await;
    f.add_key("key_b", 2).await;
    f.set(DAY0 + 3600);
    f.verify(1, 2, false);
    f.verify(2, 1, true);
    f.flush().await;
    // Off (as in the console's embedded service): nothing kept.
    assert!(f.book.refused.take().is_empty());
    f.book.refused.enable();
    f.verify(1, 1, false);
    f.flush().await;
    f.set(DAY0 + DAY + 60);
    f.verify(1, 1, false);
    f.verify(2, 5, true);
    f.flush().await;
    let mut seen = f.book.refused.take();
    seen.sort_by_key(|r| r.day);
    let want = |day| RefusedKey {
        service_id: "svc_a".into(),
        key_id: "key_a".into(),
        day,
    };
    assert_eq!(seen, vec![want(DAY0), want(DAY0 + DAY)]);
    assert!(f.book.refused.take().is_empty(), "taken once");
}
