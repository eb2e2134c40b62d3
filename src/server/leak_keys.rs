//! The public keys that sign GitHub's leak reports (docs/api.md, Leaked keys): read from the file
//! of `serve --leak-report-keys` (GitHub's `GET /meta/public_keys/secret_scanning` answer), at
//! start and on every SIGHUP, and the check of a report's signature against them.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use anyhow::Context;
use base64::Engine as _;
use ring::signature::{ECDSA_P256_SHA256_ASN1, UnparsedPublicKey};
use rustls::pki_types::SubjectPublicKeyInfoDer;
use rustls::pki_types::pem::PemObject;
use serde::Deserialize;

use super::reload::Reloads;

/// The DER of every P-256 public key in SubjectPublicKeyInfo form (uncompressed point) begins
/// with these bytes: SEQUENCE, AlgorithmIdentifier {id-ecPublicKey, prime256v1}, BIT STRING of
/// 66 bytes with no unused bits. DER has one encoding per value, so comparing the whole prefix
/// and the length accepts exactly the P-256 keys and nothing else.
const P256_SPKI_PREFIX: [u8; 26] = [
    0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a,
    0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
];
/// An uncompressed point: 0x04, then x and y of 32 bytes each.
const P256_POINT_LEN: usize = 65;

#[derive(Deserialize)]
struct KeysFile {
    public_keys: Vec<FileKey>,
}

/// One entry of the file; `is_current` is read and ignored: a key GitHub is phasing out still
/// signs reports sent before the switch.
#[derive(Deserialize)]
struct FileKey {
    key_identifier: String,
    key: String,
    #[serde(default)]
    #[allow(dead_code)]
    is_current: Option<bool>,
}

/// The keys of one reading of the file: each identifier with its P-256 point.
#[derive(Debug, Default)]
pub struct KeySet {
    keys: Vec<(String, Vec<u8>)>,
}

impl KeySet {
    /// Parses the file's JSON; every key must be a P-256 public key in PEM.
    pub fn parse(json: &[u8]) -> anyhow::Result<KeySet> {
        let file: KeysFile = serde_json::from_slice(json)
            .context("not GitHub's public keys answer ({\"public_keys\":[…]})")?;
        let mut keys = Vec::with_capacity(file.public_keys.len());
        for k in file.public_keys {
            let der = SubjectPublicKeyInfoDer::from_pem_slice(k.key.as_bytes()).map_err(|e| {
                anyhow::anyhow!("key {:?} is not a PEM public key: {e}", k.key_identifier)
            })?;
            let der = der.as_ref();
            let point = der
                .strip_prefix(&P256_SPKI_PREFIX[..])
                .filter(|p| p.len() == P256_POINT_LEN && p[0] == 0x04)
                .with_context(|| {
                    format!(
                        "key {:?} is not an ECDSA P-256 public key",
                        k.key_identifier
                    )
                })?;
            keys.push((k.key_identifier, point.to_vec()));
        }
        Ok(KeySet { keys })
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether `signature_b64` (base64 of an ASN.1 DER ECDSA signature) signs `body` under the
    /// key named `identifier`.
    pub fn verify(&self, identifier: &str, signature_b64: &str, body: &[u8]) -> bool {
        let Some((_, point)) = self.keys.iter().find(|(id, _)| id == identifier) else {
            return false;
        };
        let Ok(signature) = base64::engine::general_purpose::STANDARD.decode(signature_b64.trim())
        else {
            return false;
        };
        UnparsedPublicKey::new(&ECDSA_P256_SHA256_ASN1, point)
            .verify(body, &signature)
            .is_ok()
    }
}

/// The keys in force; empty (the route answers 404) unless `--leak-report-keys` was given.
#[derive(Default)]
pub struct LeakKeys {
    current: RwLock<Option<Arc<KeySet>>>,
}

impl LeakKeys {
    /// The keys in force, if the route is on.
    pub fn get(&self) -> Option<Arc<KeySet>> {
        self.current.read().ok().and_then(|k| k.clone())
    }

    /// Whether the route is on (the keys file was given and read at start).
    pub fn enabled(&self) -> bool {
        self.current.read().is_ok_and(|k| k.is_some())
    }

    fn set(&self, keys: KeySet) {
        if let Ok(mut k) = self.current.write() {
            *k = Some(Arc::new(keys));
        }
    }

    /// Reads the file at start: a file that cannot be read or parsed stops the start.
    pub fn load(&self, path: &Path) -> anyhow::Result<()> {
        let keys = read(path)?;
        tracing::info!(
            keys = keys.len(),
            "leak reports from GitHub accepted (keys from {})",
            path.display()
        );
        self.set(keys);
        Ok(())
    }

    /// Re-reads the file on every SIGHUP; a file that cannot be read or parsed then keeps the
    /// keys already loaded, and the log says why.
    pub fn follow(self: Arc<Self>, path: PathBuf, mut reloads: Reloads) {
        tokio::spawn(async move {
            while reloads.changed().await.is_ok() {
                match read(&path) {
                    Ok(keys) => {
                        tracing::info!(
                            keys = keys.len(),
                            "re-read the leak report keys from {}",
                            path.display()
                        );
                        self.set(keys);
                    }
                    Err(e) => tracing::warn!("keeping the leak report keys already loaded: {e:#}"),
                }
            }
        });
    }
}

fn read(path: &Path) -> anyhow::Result<KeySet> {
    let bytes = std::fs::read(path)
        .with_context(|| format!("cannot read the leak report keys {}", path.display()))?;
    KeySet::parse(&bytes)
        .with_context(|| format!("cannot parse the leak report keys {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ring::rand::SystemRandom;
    use ring::signature::{ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair, KeyPair as _};

    fn pem_of(spki: &[u8]) -> String {
        let b64 = base64::engine::general_purpose::STANDARD.encode(spki);
        format!("-----BEGIN PUBLIC KEY-----\n{b64}\n-----END PUBLIC KEY-----\n")
    }

    fn pair() -> EcdsaKeyPair {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &rng).unwrap();
        EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, pkcs8.as_ref(), &rng).unwrap()
    }

    fn file(entries: &[(&str, &EcdsaKeyPair, bool)]) -> Vec<u8> {
        let keys: Vec<_> = entries
            .iter()
            .map(|(id, k, current)| {
                let mut spki = P256_SPKI_PREFIX.to_vec();
                spki.extend_from_slice(k.public_key().as_ref());
                serde_json::json!({"key_identifier": id, "key": pem_of(&spki), "is_current": current})
            })
            .collect();
        serde_json::to_vec(&serde_json::json!({ "public_keys": keys })).unwrap()
    }

    fn sign(k: &EcdsaKeyPair, body: &[u8]) -> String {
        let sig = k.sign(&SystemRandom::new(), body).unwrap();
        base64::engine::general_purpose::STANDARD.encode(sig.as_ref())
    }

    #[test]
    fn a_signature_verifies_under_its_key_only() {
        let (a, b) = (pair(), pair());
        let set = KeySet::parse(&file(&[("a", &a, true), ("b", &b, false)])).unwrap();
        let body = br#"[{"token":"x","type":"t","url":"","source":"content"}]"#;
        assert!(set.verify("a", &sign(&a, body), body));
        // A key that is no longer current still verifies.
        assert!(set.verify("b", &sign(&b, body), body));
        assert!(!set.verify("b", &sign(&a, body), body));
        assert!(!set.verify("c", &sign(&a, body), body));
        let mut changed = body.to_vec();
        changed[3] ^= 1;
        assert!(!set.verify("a", &sign(&a, body), &changed));
        assert!(!set.verify("a", "not base64!", body));
        assert!(!set.verify("a", "", body));
    }

    #[test]
    fn only_p256_public_keys_are_accepted() {
        assert!(KeySet::parse(b"{}").is_err());
        assert!(KeySet::parse(b"[]").is_err());
        let bad = serde_json::json!({"public_keys":[{"key_identifier":"x","key":"nope"}]});
        assert!(KeySet::parse(&serde_json::to_vec(&bad).unwrap()).is_err());
        // A P-384 key (another curve OID) is refused.
        let mut spki = P256_SPKI_PREFIX.to_vec();
        spki[21] = 0x22;
        spki.extend_from_slice(&[4u8; 65]);
        let other = serde_json::json!({"public_keys":[{"key_identifier":"x","key":pem_of(&spki)}]});
        assert!(KeySet::parse(&serde_json::to_vec(&other).unwrap()).is_err());
        let empty = KeySet::parse(br#"{"public_keys":[]}"#).unwrap();
        assert_eq!(empty.len(), 0);
    }
}
