//! Which digests are live keys: in memory, loaded at start and changed by issue and delete
//! before they answer, so that `/v1/verify` never waits on storage.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, RwLock};

use super::store::KeyDigest;
use crate::credential::Digest;

/// `last_used_at` is written at most this often per key.
pub const TOUCH_INTERVAL_SECS: i64 = 60;

#[derive(Debug)]
pub struct Entry {
    pub service_id: String,
    pub key_id: String,
    /// When `last_used_at` was last sent to the store (unix seconds).
    last_touch: AtomicI64,
}

impl Entry {
    /// True for the one caller per interval that should record a use at `now`.
    pub fn claim_touch(&self, now: i64) -> bool {
        let last = self.last_touch.load(Ordering::Relaxed);
        now - last >= TOUCH_INTERVAL_SECS
            && self
                .last_touch
                .compare_exchange(last, now, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
    }
}

#[derive(Default)]
pub struct VerifyIndex {
    map: RwLock<HashMap<Digest, Arc<Entry>>>,
}

impl VerifyIndex {
    pub fn load(keys: Vec<KeyDigest>) -> Self {
        let map = keys
            .into_iter()
            .map(|k| {
                let entry = Entry {
                    service_id: k.service_id,
                    key_id: k.key_id,
                    last_touch: AtomicI64::new(k.last_used_at.unwrap_or(i64::MIN / 2)),
                };
                (k.digest, Arc::new(entry))
            })
            .collect();
        VerifyIndex {
            map: RwLock::new(map),
        }
    }

    pub fn lookup(&self, digest: &Digest) -> Option<Arc<Entry>> {
        self.map
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(digest)
            .cloned()
    }

    pub fn insert(&self, digest: Digest, service_id: String, key_id: String) {
        let entry = Entry {
            service_id,
            key_id,
            last_touch: AtomicI64::new(i64::MIN / 2),
        };
        self.map
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(digest, Arc::new(entry));
    }

    pub fn remove(&self, digests: &[Digest]) {
        let mut map = self.map.write().unwrap_or_else(|e| e.into_inner());
        for d in digests {
            map.remove(d);
        }
    }

    pub fn len(&self) -> usize {
        self.map.read().unwrap_or_else(|e| e.into_inner()).len()
    }

    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insert_lookup_remove() {
        let idx = VerifyIndex::default();
        idx.insert([1; 32], "svc_a".into(), "key_a".into());
        assert_eq!(idx.lookup(&[1; 32]).unwrap().key_id, "key_a");
        idx.remove(&[[1; 32]]);
        assert!(idx.lookup(&[1; 32]).is_none());
        assert!(idx.is_empty());
    }

    #[test]
    fn a_use_is_recorded_once_a_minute() {
        let idx = VerifyIndex::default();
        idx.insert([1; 32], "s".into(), "k".into());
        let e = idx.lookup(&[1; 32]).unwrap();
        assert!(e.claim_touch(1000));
        assert!(!e.claim_touch(1030));
        assert!(e.claim_touch(1060));
    }
}
