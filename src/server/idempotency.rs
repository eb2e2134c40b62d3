//! The in-memory half of idempotent issuance: which requests are running, and for 15 minutes the
//! exact response of each successful one (the plaintext key included, wiped when it expires).
//! The durable half, without the plaintext, is an `IdempotencyRecord` in the store.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sha2::{Digest as _, Sha256};
use zeroize::Zeroizing;

/// How long a replay can return the same plaintext.
pub const REPLAY_WINDOW: Duration = Duration::from_secs(15 * 60);
/// How long a record is kept so that a late retry learns which key it got (without the key).
pub const RECORD_RETENTION_SECS: i64 = 24 * 60 * 60;

pub type Scope = [u8; 32];
/// (scope, request hash): what a request with an Idempotency-Key is known by.
pub type Claim = (Scope, [u8; 32]);

/// The scope of an Idempotency-Key: the admin token, the service and the key itself.
pub fn scope(token_id: i64, service_id: &str, idempotency_key: &str) -> Scope {
    let mut h = Sha256::new();
    h.update(token_id.to_be_bytes());
    for part in [service_id, idempotency_key] {
        h.update((part.len() as u64).to_be_bytes());
        h.update(part.as_bytes());
    }
    h.finalize().into()
}

pub fn request_hash(canonical_body: &[u8]) -> [u8; 32] {
    Sha256::digest(canonical_body).into()
}

/// An Idempotency-Key header value: 1 to 255 visible ASCII characters.
pub fn valid_key(s: &[u8]) -> bool {
    (1..=crate::wire::limits::IDEMPOTENCY_KEY_MAX).contains(&s.len())
        && s.iter().all(|b| b.is_ascii_graphic())
}

enum Slot {
    Running {
        request_hash: [u8; 32],
    },
    Done {
        request_hash: [u8; 32],
        status: u16,
        body: Zeroizing<Vec<u8>>,
        /// The service and key the response hands out: a replay checks the key still lives.
        issued: Issued,
        at: Instant,
    },
}

/// Which key a kept response hands out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Issued {
    pub service_id: String,
    pub key_id: String,
}

/// What to do with a request that carries an Idempotency-Key.
pub enum Begin {
    /// Nothing in memory: go on (after checking the durable record) and report through the guard.
    Fresh(RunningGuard),
    /// The kept response; the caller must check that `issued` is still alive before sending
    /// it (docs/api.md: a replay never hands out a key deleted since).
    Replay {
        status: u16,
        body: Zeroizing<Vec<u8>>,
        issued: Issued,
    },
    InProgress,
    Reused,
}

#[derive(Default, Clone)]
pub struct IdempotencyCache {
    slots: Arc<Mutex<HashMap<Scope, Slot>>>,
}

impl IdempotencyCache {
    pub fn begin(&self, scope: Scope, hash: [u8; 32], now: Instant) -> Begin {
        let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        match slots.get(&scope) {
            Some(Slot::Running { request_hash }) => {
                return if *request_hash == hash {
                    Begin::InProgress
                } else {
                    Begin::Reused
                };
            }
            Some(Slot::Done {
                request_hash,
                status,
                body,
                issued,
                at,
            }) if now.duration_since(*at) < REPLAY_WINDOW => {
                return if *request_hash == hash {
                    Begin::Replay {
                        status: *status,
                        body: body.clone(),
                        issued: issued.clone(),
                    }
                } else {
                    Begin::Reused
                };
            }
            _ => {}
        }
        slots.insert(scope, Slot::Running { request_hash: hash });
        Begin::Fresh(RunningGuard {
            cache: self.clone(),
            scope,
            hash,
            done: false,
        })
    }

    /// Wipes responses older than the replay window; run once a minute.
    pub fn prune(&self, now: Instant) {
        self.slots
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|_, s| match s {
                Slot::Running { .. } => true,
                Slot::Done { at, .. } => now.duration_since(*at) < REPLAY_WINDOW,
            });
    }

    /// Wipes the kept response of `scope` (a replay found its key dead): later replays of it
    /// go by the durable record.
    pub fn forget(&self, scope: &Scope) {
        let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        if matches!(slots.get(scope), Some(Slot::Done { .. })) {
            slots.remove(scope);
        }
    }

    /// Wipes every kept response that hands out a key of `service_id` (`key_id`, or any key
    /// when `None`): once a key or its service is deleted, its plaintext has no reason to stay.
    pub fn forget_keys(&self, service_id: &str, key_id: Option<&str>) {
        self.slots
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|_, s| match s {
                Slot::Running { .. } => true,
                Slot::Done { issued, .. } => {
                    issued.service_id != service_id || key_id.is_some_and(|k| k != issued.key_id)
                }
            });
    }

    /// Drops every kept response (their plaintext is wiped): at shutdown.
    pub fn clear(&self) {
        self.slots.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.slots.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Marks a scope as running; dropped without [`RunningGuard::complete`], it frees the scope.
pub struct RunningGuard {
    cache: IdempotencyCache,
    scope: Scope,
    hash: [u8; 32],
    done: bool,
}

impl RunningGuard {
    /// Keeps a successful response, which hands out the key `issued`, for replays.
    pub fn complete(mut self, status: u16, body: Zeroizing<Vec<u8>>, issued: Issued, now: Instant) {
        self.done = true;
        self.cache
            .slots
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(
                self.scope,
                Slot::Done {
                    request_hash: self.hash,
                    status,
                    body,
                    issued,
                    at: now,
                },
            );
    }
}

impl Drop for RunningGuard {
    fn drop(&mut self) {
        if !self.done {
            let mut slots = self.cache.slots.lock().unwrap_or_else(|e| e.into_inner());
            if matches!(slots.get(&self.scope), Some(Slot::Running { .. })) {
                slots.remove(&self.scope);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn running_then_replay_then_expiry() {
        let c = IdempotencyCache::default();
        let t0 = Instant::now();
        let Begin::Fresh(guard) = c.begin([1; 32], [2; 32], t0) else {
            panic!("fresh expected")
        };
        assert!(matches!(c.begin([1; 32], [2; 32], t0), Begin::InProgress));
        assert!(matches!(c.begin([1; 32], [3; 32], t0), Begin::Reused));
        guard.complete(201, Zeroizing::new(b"body".to_vec()), issued("s", "k"), t0);
        match c.begin([1; 32], [2; 32], t0) {
            Begin::Replay {
                status,
                body,
                issued: who,
            } => {
                assert_eq!((status, &body[..]), (201, &b"body"[..]));
                assert_eq!(who, issued("s", "k"));
            }
            _ => panic!("replay expected"),
        }
        assert!(matches!(c.begin([1; 32], [3; 32], t0), Begin::Reused));
        c.prune(t0 + REPLAY_WINDOW);
        assert!(c.is_empty());
    }

    fn issued(service_id: &str, key_id: &str) -> Issued {
        Issued {
            service_id: service_id.into(),
            key_id: key_id.into(),
        }
    }

    #[test]
    fn deleting_a_key_or_its_service_wipes_its_kept_response() {
        let c = IdempotencyCache::default();
        let t0 = Instant::now();
        let done = |scope: u8, svc: &str, key: &str| {
            let Begin::Fresh(g) = c.begin([scope; 32], [0; 32], t0) else {
                panic!("fresh expected")
            };
            g.complete(201, Zeroizing::new(vec![scope]), issued(svc, key), t0);
        };
        done(1, "s1", "k1");
        done(2, "s1", "k2");
        done(3, "s2", "k3");
        let Begin::Fresh(_running) = c.begin([4; 32], [0; 32], t0) else {
            panic!("fresh expected")
        };
        c.forget_keys("s1", Some("k1"));
        assert_eq!(c.len(), 3);
        assert!(matches!(c.begin([1; 32], [0; 32], t0), Begin::Fresh(_)));
        c.forget_keys("s1", None);
        assert!(matches!(c.begin([2; 32], [0; 32], t0), Begin::Fresh(_)));
        assert!(matches!(
            c.begin([3; 32], [0; 32], t0),
            Begin::Replay { .. }
        ));
        c.forget(&[3; 32]);
        assert!(matches!(c.begin([3; 32], [0; 32], t0), Begin::Fresh(_)));
        assert!(matches!(c.begin([4; 32], [0; 32], t0), Begin::InProgress));
    }

    #[test]
    fn an_abandoned_request_frees_its_scope() {
        let c = IdempotencyCache::default();
        let t0 = Instant::now();
        drop(c.begin([1; 32], [2; 32], t0));
        assert!(c.is_empty());
        assert!(matches!(c.begin([1; 32], [2; 32], t0), Begin::Fresh(_)));
    }

    #[test]
    fn keys_are_visible_ascii_and_scopes_do_not_collide() {
        assert!(valid_key(b"abc-123_~"));
        assert!(!valid_key(b""));
        assert!(!valid_key(b"a b"));
        assert!(!valid_key(&[b'a'; 256]));
        assert!(valid_key(&[b'a'; 255]));
        assert_ne!(scope(1, "ab", "c"), scope(1, "a", "bc"));
        assert_ne!(scope(1, "a", "b"), scope(2, "a", "b"));
    }
}
