//! Which digests are live keys: in memory, loaded at start and changed by issue, delete,
//! disable and rotation before they answer, so that `/v1/verify` never waits on storage.
//! Each entry knows the second from which it stops verifying, so that expiry and the end of a
//! rotation's grace need no timer (docs/api.md, Key lifecycle).

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Instant;

use axum::body::Bytes;
use axum::http::HeaderValue;

use ipnet::IpNet;

use super::store::KeyDigest;
use super::token_bucket::TokenBucket;
use super::usage::counters::Counters;
use crate::credential::Digest;
use crate::policy::{Policy, RateLimit, ScopeSet};
use crate::wire::Verified;

/// `last_used_at` is written at most this often per key.
pub const TOUCH_INTERVAL_SECS: i64 = 60;

/// A key's policy as the verify path checks it (docs/api.md, Keys that carry their own policy):
/// parsed once when the entry is made, never per verification.
#[derive(Debug)]
pub struct Grant {
    pub scopes: ScopeSet,
    /// `Ragkeys-Scopes`: the scopes comma-separated, made once.
    pub scopes_header: HeaderValue,
    /// `None`: from anywhere.
    pub allowed: Option<Box<[IpNet]>>,
    pub rate_limit: Option<RateLimit>,
    /// `RateLimit-Policy` of a single replica (the whole limit), made once.
    pub rate_policy_header: Option<HeaderValue>,
    /// The policy as the API shows it, to tell whether a re-read changed it.
    pub policy: Policy,
}

impl Grant {
    fn new(policy: &Policy) -> Grant {
        let scopes = ScopeSet::of(&policy.scopes);
        let allowed = policy.allowed_cidrs.as_ref().map(|cidrs| {
            // Stored canonical by the service; one that did not parse would allow nothing more.
            cidrs
                .iter()
                .filter_map(|c| c.parse::<IpNet>().ok())
                .collect::<Vec<_>>()
                .into_boxed_slice()
        });
        Grant {
            scopes,
            scopes_header: id_header(
                &scopes
                    .to_vec()
                    .iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join(","),
            ),
            allowed,
            rate_limit: policy.rate_limit,
            rate_policy_header: policy
                .rate_limit
                .map(|r| rate_policy_header(r.requests, r.per_seconds)),
            policy: policy.clone(),
        }
    }
}

/// `RateLimit-Policy: "key";q=N;w=S` (draft-ietf-httpapi-ratelimit-headers-11).
pub fn rate_policy_header(quota: u32, window: u32) -> HeaderValue {
    id_header(&format!("\"key\";q={quota};w={window}"))
}

#[derive(Debug)]
pub struct Entry {
    pub key_id: String,
    /// The 200 body of `/v1/verify` for this key (`Verified` as JSON), encoded once here
    /// rather than on every verification: the hot path (docs/performance.md).
    pub answer: Bytes,
    /// The same answer as the headers `Ragkeys-Service-Id` and `Ragkeys-Key-Id`, for gateways
    /// that read only heads (docs/api.md, Identity for the gateway); made once here, so that a
    /// verification clones them (a reference count each) instead of building them.
    pub service_header: HeaderValue,
    pub key_header: HeaderValue,
    /// The key's policy. Immutable: a policy change replaces the entry, carrying its usage
    /// counts over ([`Entry::with_policy`]), so the verify path reads it without a lock.
    pub grant: Grant,
    /// When `last_used_at` was last sent to the store (unix seconds).
    last_touch: AtomicI64,
    /// The first unix second at which the key no longer verifies (`i64::MIN`: disabled).
    valid_until: AtomicI64,
    /// Verifications not yet written (docs/api.md, Usage); shared with the entry that replaces
    /// this one when the key's policy changes.
    pub usage: Arc<Counters>,
    /// The key's rate limit on this replica (`None`: no limit); kept by the entry that replaces
    /// this one while the key has a limit, whatever it becomes.
    pub bucket: Option<Arc<TokenBucket>>,
}

impl Entry {
    fn new(
        service_id: String,
        key_id: String,
        last_touch: i64,
        valid_until: i64,
        policy: &Policy,
    ) -> Entry {
        let grant = Grant::new(policy);
        let verified = Verified {
            valid: true,
            service_id,
            key_id,
            scopes: grant.scopes.to_vec(),
        };
        // Strings cannot fail to encode; an empty answer would be caught by the tests.
        let answer = serde_json::to_vec(&verified).unwrap_or_default().into();
        Entry {
            service_header: id_header(&verified.service_id),
            key_header: id_header(&verified.key_id),
            key_id: verified.key_id,
            answer,
            grant,
            last_touch: AtomicI64::new(last_touch),
            valid_until: AtomicI64::new(valid_until),
            usage: Arc::default(),
            bucket: policy
                .rate_limit
                .map(|_| Arc::new(TokenBucket::new(Instant::now()))),
        }
    }

    /// The entry that replaces this one when the key's policy changes: the same key, its
    /// unwritten usage and last touch kept.
    fn with_policy(&self, service_id: String, valid_until: i64, policy: &Policy) -> Entry {
        let mut e = Entry::new(
            service_id,
            self.key_id.clone(),
            self.last_touch.load(Ordering::Acquire),
            valid_until,
            policy,
        );
        e.usage = Arc::clone(&self.usage);
        // A changed limit keeps what its callers have spent (the bucket converts it at its next
        // take); only a key that had no limit starts full.
        if self.bucket.is_some() && e.bucket.is_some() {
            e.bucket.clone_from(&self.bucket);
        }
        e
    }

    /// Whether the key verifies at `now` (unix seconds).
    pub fn valid_at(&self, now: i64) -> bool {
        now < self.valid_until.load(Ordering::Acquire)
    }

    /// When and from where this process last recorded a use of the key (`None`: not yet).
    pub fn last_use(&self) -> Option<(i64, std::net::IpAddr)> {
        let at = self.last_touch.load(Ordering::Acquire);
        self.usage.from().map(|from| (at, from))
    }

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

/// An id as a header value. Ids are the service's own visible ASCII; one that were not would
/// answer an empty value, which no gateway takes for an identity.
fn id_header(id: &str) -> HeaderValue {
    HeaderValue::from_maybe_shared(Bytes::copy_from_slice(id.as_bytes()))
        .unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// Stripes of [`VerifyIndex`]'s change stamps (a power of two).
const STRIPES: usize = 1024;

/// Hashes a [`Digest`] for the index by its leading bytes. A digest is HMAC-SHA256 under the
/// secret pepper: already uniform, and no client can choose one to collide with an issued key's,
/// so SipHash's protection (and its cost on every verification) buys nothing here.
#[derive(Default)]
pub struct DigestHasher(u64);

impl Hasher for DigestHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        match bytes.first_chunk::<8>() {
            Some(head) => self.0 ^= u64::from_le_bytes(*head),
            // Only the array's length prefix is this short.
            None => {
                for &b in bytes {
                    self.0 = self.0.rotate_left(8) ^ u64::from(b);
                }
            }
        }
    }
}

/// The index's map: digest → entry, hashed by [`DigestHasher`].
type DigestMap<V> = HashMap<Digest, V, BuildHasherDefault<DigestHasher>>;

/// Which keys verify, by digest. With a shared store (several replicas), every change after
/// start is a *refresh*: the key's state re-read from the database and applied only if nothing
/// else was applied to its stripe since the read began (see [`VerifyIndex::stamp`]), so that a
/// slow read can never overwrite a newer one (a deleted key revived by a stale read).
pub struct VerifyIndex {
    map: RwLock<DigestMap<Arc<Entry>>>,
    /// Bumped (under the map's write lock) by every refresh or reload touching the stripe.
    stamps: Box<[AtomicU64]>,
}

impl Default for VerifyIndex {
    fn default() -> Self {
        VerifyIndex {
            map: RwLock::default(),
            stamps: (0..STRIPES).map(|_| AtomicU64::new(0)).collect(),
        }
    }
}

fn stripe(d: &Digest) -> usize {
    (usize::from(d[0]) | (usize::from(d[1]) << 8)) & (STRIPES - 1)
}

fn new_entry(k: KeyDigest) -> (Digest, Arc<Entry>) {
    let entry = Entry::new(
        k.service_id,
        k.key_id,
        k.last_used_at.unwrap_or(i64::MIN / 2),
        k.valid_until,
        &k.policy,
    );
    (k.digest, Arc::new(entry))
}

/// `e` brought up to date with `k` (the same key): its expiry moved in place, or, when its
/// policy changed, a new entry carrying its usage over.
fn updated(e: &Arc<Entry>, k: &KeyDigest) -> Arc<Entry> {
    if e.grant.policy == k.policy {
        e.valid_until.store(k.valid_until, Ordering::Release);
        Arc::clone(e)
    } else {
        Arc::new(e.with_policy(k.service_id.clone(), k.valid_until, &k.policy))
    }
}

impl VerifyIndex {
    pub fn load(keys: Vec<KeyDigest>) -> Self {
        let index = VerifyIndex::default();
        *index.map.write().unwrap_or_else(|e| e.into_inner()) =
            keys.into_iter().map(new_entry).collect();
        index
    }

    /// The change stamp of `digest`'s stripe: take it before reading the key's state from the
    /// database, and hand it to [`VerifyIndex::apply_if_unchanged`] with what was read.
    pub fn stamp(&self, digest: &Digest) -> u64 {
        self.stamps[stripe(digest)].load(Ordering::Acquire)
    }

    /// Applies states read from the database: for each `(digest, stamp)`, the key's entry is
    /// set from `found` (a digest absent from it is a deleted key, removed), unless its stripe
    /// changed since `stamp` was taken; those digests are returned, to be read again. A key
    /// that keeps its id keeps its entry (and its unwritten usage counts).
    pub fn apply_if_unchanged(
        &self,
        stamped: &[(Digest, u64)],
        found: Vec<KeyDigest>,
    ) -> Vec<Digest> {
        let found: HashMap<Digest, KeyDigest> = found.into_iter().map(|k| (k.digest, k)).collect();
        let mut stale = Vec::new();
        let mut map = self.map.write().unwrap_or_else(|e| e.into_inner());
        for (digest, stamp) in stamped {
            let stamp_now = &self.stamps[stripe(digest)];
            if stamp_now.load(Ordering::Acquire) != *stamp {
                stale.push(*digest);
                continue;
            }
            match found.get(digest) {
                None => {
                    map.remove(digest);
                }
                Some(k) => match map.get(digest) {
                    Some(e) if e.key_id == k.key_id => {
                        let e = updated(e, k);
                        map.insert(*digest, e);
                    }
                    _ => {
                        let (d, e) = new_entry(k.clone());
                        map.insert(d, e);
                    }
                },
            }
        }
        // Bumped after the whole batch, so that the same digest twice in one batch applies.
        for (digest, _) in stamped {
            self.stamps[stripe(digest)].fetch_add(1, Ordering::AcqRel);
        }
        stale
    }

    /// Replaces the whole index with a fresh read of every key (a replica's resync): entries
    /// of keys that stay keep their unwritten usage counts; every stamp moves, so a refresh
    /// that read before this reload reads again.
    pub fn replace_all(&self, keys: Vec<KeyDigest>) {
        let mut map = self.map.write().unwrap_or_else(|e| e.into_inner());
        let mut next = DigestMap::with_capacity_and_hasher(keys.len(), Default::default());
        for k in keys {
            match map.remove(&k.digest) {
                Some(e) if e.key_id == k.key_id => {
                    next.insert(k.digest, updated(&e, &k));
                }
                _ => {
                    let (d, e) = new_entry(k);
                    next.insert(d, e);
                }
            }
        }
        *map = next;
        for g in self.stamps.iter() {
            g.fetch_add(1, Ordering::AcqRel);
        }
    }

    /// Runs `f` on the live entry of `digest` under the index's read lock, without taking a
    /// reference to it: the verification path (an `Arc` clone and drop are two atomic writes to
    /// a line every core verifying the key shares; docs/performance.md). `f` must not touch
    /// the index. `None` when no entry has that digest.
    pub fn with<R>(&self, digest: &Digest, f: impl FnOnce(&Entry) -> R) -> Option<R> {
        self.map
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(digest)
            .map(|e| f(e))
    }

    pub fn lookup(&self, digest: &Digest) -> Option<Arc<Entry>> {
        self.map
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(digest)
            .cloned()
    }

    /// Adds a key that verifies until `valid_until` (unix seconds, exclusive) under `policy`.
    pub fn insert(
        &self,
        digest: Digest,
        service_id: String,
        key_id: String,
        valid_until: i64,
        policy: &Policy,
    ) {
        let entry = Entry::new(service_id, key_id, i64::MIN / 2, valid_until, policy);
        self.map
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(digest, Arc::new(entry));
    }

    /// Gives a key a new policy (a PATCH of its access), keeping its usage counts. Called before
    /// the change is answered, under the write gate, as [`VerifyIndex::set_valid_until`].
    pub fn set_policy(&self, digest: &Digest, service_id: String, policy: &Policy) {
        let mut map = self.map.write().unwrap_or_else(|e| e.into_inner());
        // An unchanged policy keeps its entry.
        if let Some(e) = map.get(digest).filter(|e| e.grant.policy != *policy) {
            let valid_until = e.valid_until.load(Ordering::Acquire);
            let next = Arc::new(e.with_policy(service_id, valid_until, policy));
            map.insert(*digest, next);
        }
    }

    /// Moves the second from which a key stops verifying (disable, enable, new expiry,
    /// rotation). Called before the change is answered, under the write gate.
    pub fn set_valid_until(&self, digest: &Digest, valid_until: i64) {
        if let Some(e) = self.lookup(digest) {
            e.valid_until.store(valid_until, Ordering::Release);
        }
    }

    /// Keeps retired keys as keys disabled for good: verify still knows them, refusing them as
    /// stopped rather than unknown, as the store's tombstones tell after a restart
    /// (docs/api.md, Verify).
    pub fn retire(&self, digests: &[Digest]) {
        for d in digests {
            self.set_valid_until(d, i64::MIN);
        }
    }

    pub fn remove(&self, digests: &[Digest]) {
        let mut map = self.map.write().unwrap_or_else(|e| e.into_inner());
        for d in digests {
            map.remove(d);
        }
    }

    /// Calls `f` on every entry under the read lock (verifications go on meanwhile).
    pub fn for_each(&self, mut f: impl FnMut(&Arc<Entry>)) {
        for e in self.map.read().unwrap_or_else(|e| e.into_inner()).values() {
            f(e);
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
        idx.insert(
            [1; 32],
            "svc_a".into(),
            "key_a".into(),
            i64::MAX,
            &Policy::full(),
        );
        let e = idx.lookup(&[1; 32]).unwrap();
        assert_eq!(e.key_id, "key_a");
        let answer: serde_json::Value = serde_json::from_slice(&e.answer).unwrap();
        assert_eq!(
            answer,
            serde_json::json!({"valid": true, "service_id": "svc_a", "key_id": "key_a", "scopes": ["query", "ingest", "manage"]})
        );
        assert!(idx.lookup(&[1; 32]).unwrap().valid_at(1000));
        idx.set_valid_until(&[1; 32], 1000);
        assert!(idx.lookup(&[1; 32]).unwrap().valid_at(999));
        assert!(!idx.lookup(&[1; 32]).unwrap().valid_at(1000));
        idx.remove(&[[1; 32]]);
        assert!(idx.lookup(&[1; 32]).is_none());
        assert!(idx.is_empty());
    }

    #[test]
    fn a_use_is_recorded_once_a_minute() {
        let idx = VerifyIndex::default();
        idx.insert([1; 32], "s".into(), "k".into(), i64::MAX, &Policy::full());
        let e = idx.lookup(&[1; 32]).unwrap();
        assert!(e.claim_touch(1000));
        assert!(!e.claim_touch(1030));
        assert!(e.claim_touch(1060));
    }

    fn limited(requests: u32, scopes: Vec<crate::policy::Scope>) -> Policy {
        Policy {
            scopes,
            rate_limit: Some(RateLimit {
                requests,
                per_seconds: 3600,
            }),
            allowed_cidrs: Some(vec!["10.0.0.0/8".into()]),
        }
    }

    fn read(policy: Policy) -> KeyDigest {
        KeyDigest {
            digest: [1; 32],
            service_id: "s".into(),
            key_id: "k".into(),
            last_used_at: None,
            valid_until: i64::MAX,
            policy,
        }
    }

    #[test]
    fn a_policy_change_keeps_the_bucket_while_the_key_has_a_limit() {
        use crate::policy::Scope;
        let idx = VerifyIndex::default();
        let p = limited(1, vec![Scope::Query, Scope::Ingest]);
        idx.insert([1; 32], "s".into(), "k".into(), i64::MAX, &p);
        let e = idx.lookup(&[1; 32]).unwrap();
        assert!(
            e.grant.allowed.as_deref().unwrap()[0]
                .contains(&"10.1.2.3".parse::<std::net::IpAddr>().unwrap())
        );
        assert_eq!(
            e.grant.rate_policy_header.as_ref().unwrap(),
            "\"key\";q=1;w=3600"
        );
        let now = Instant::now();
        assert!(e.bucket.as_ref().unwrap().take(now, 1, 3600).allowed);
        // A scope removed: a new entry, the spent token still spent.
        let stamp = idx.stamp(&[1; 32]);
        idx.apply_if_unchanged(
            &[([1; 32], stamp)],
            vec![read(limited(1, vec![Scope::Query]))],
        );
        let e2 = idx.lookup(&[1; 32]).unwrap();
        assert!(!Arc::ptr_eq(&e, &e2));
        assert_eq!(e2.grant.scopes, ScopeSet::of(&[Scope::Query]));
        assert!(!e2.bucket.as_ref().unwrap().take(now, 1, 3600).allowed);
        // A new limit keeps the bucket: one of two spent, so one more and no fresh pair.
        idx.replace_all(vec![read(limited(2, vec![Scope::Query]))]);
        let e3 = idx.lookup(&[1; 32]).unwrap();
        assert!(Arc::ptr_eq(
            e3.bucket.as_ref().unwrap(),
            e2.bucket.as_ref().unwrap()
        ));
        assert!(e3.bucket.as_ref().unwrap().take(now, 2, 3600).allowed);
        assert!(!e3.bucket.as_ref().unwrap().take(now, 2, 3600).allowed);
        // No limit: no bucket, no header.
        idx.replace_all(vec![read(Policy::full())]);
        let e4 = idx.lookup(&[1; 32]).unwrap();
        assert!(e4.bucket.is_none() && e4.grant.rate_policy_header.is_none());
    }
}
