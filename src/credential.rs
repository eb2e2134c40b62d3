//! The one place that knows what an API key and an admin token look like: generation, checksum,
//! parsing, masking and the peppered digest under which the service stores them.

use std::fmt;

use hmac::{Hmac, Mac};
use rand::TryRngCore;
use rand::rngs::OsRng;
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use zeroize::{Zeroize, ZeroizeOnDrop};

const ALPHABET: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
/// Random part: 30 base62 characters, about 178 bits.
pub const RANDOM_LEN: usize = 30;
/// CRC32 of the random part in base62; 62^6 > 2^32 so six characters always suffice.
pub const CHECKSUM_LEN: usize = 6;

/// The two kinds of secret, told apart by their prefix.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    ApiKey,
    AdminToken,
}

impl Kind {
    pub const fn prefix(self) -> &'static str {
        match self {
            Kind::ApiKey => "ragk_",
            Kind::AdminToken => "ragadm_",
        }
    }

    pub const fn total_len(self) -> usize {
        self.prefix().len() + RANDOM_LEN + CHECKSUM_LEN
    }
}

/// A plaintext secret. `Debug` never shows it, it has no `Display`, and its memory is wiped when
/// it is dropped. Reading it takes an explicit [`Secret::expose`].
#[derive(Clone, Default, PartialEq, Eq, Zeroize, ZeroizeOnDrop)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: String) -> Self {
        Secret(s)
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl From<String> for Secret {
    fn from(s: String) -> Self {
        Secret(s)
    }
}

impl Serialize for Secret {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(Secret)
    }
}

/// Why a string is not a well-formed credential of the expected kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum FormatError {
    #[error("wrong prefix")]
    Prefix,
    #[error("wrong length")]
    Length,
    #[error("characters outside base62")]
    Charset,
    #[error("checksum mismatch")]
    Checksum,
}

/// The checksum of a credential's random part: its CRC-32 in 6 base62 characters, most
/// significant first. On the stack: `parse` runs on every verification (docs/performance.md).
fn checksum(random: &str) -> [u8; CHECKSUM_LEN] {
    let mut n = u64::from(crc32fast::hash(random.as_bytes()));
    let mut sum = [b'0'; CHECKSUM_LEN];
    for slot in sum.iter_mut().rev() {
        *slot = ALPHABET[(n % 62) as usize];
        n /= 62;
    }
    sum
}

/// A new credential of `kind` from the operating system's random source.
pub fn generate(kind: Kind) -> Secret {
    let mut out = String::with_capacity(kind.total_len());
    out.push_str(kind.prefix());
    let mut bytes = [0u8; RANDOM_LEN];
    let mut filled = 0;
    // Rejection sampling keeps every character uniform: 248 = 4 * 62.
    while filled < RANDOM_LEN {
        let mut chunk = [0u8; 64];
        OsRng
            .try_fill_bytes(&mut chunk)
            .expect("the operating system's random source failed");
        for &b in chunk.iter() {
            if b < 248 && filled < RANDOM_LEN {
                bytes[filled] = ALPHABET[(b % 62) as usize];
                filled += 1;
            }
        }
        chunk.zeroize();
    }
    let random = std::str::from_utf8(&bytes).expect("base62 is ASCII");
    out.push_str(random);
    let sum = checksum(random);
    out.push_str(std::str::from_utf8(&sum).expect("base62 is ASCII"));
    bytes.zeroize();
    Secret(out)
}

/// Checks prefix, length, alphabet and checksum, touching nothing else.
pub fn parse(kind: Kind, s: &str) -> Result<(), FormatError> {
    let rest = s.strip_prefix(kind.prefix()).ok_or(FormatError::Prefix)?;
    if rest.len() != RANDOM_LEN + CHECKSUM_LEN {
        return Err(FormatError::Length);
    }
    if !rest.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(FormatError::Charset);
    }
    let (random, sum) = rest.split_at(RANDOM_LEN);
    if checksum(random) != sum.as_bytes() {
        return Err(FormatError::Checksum);
    }
    Ok(())
}

/// Which kind a string claims to be by its prefix, if any.
pub fn kind_of(s: &str) -> Option<Kind> {
    // The admin prefix is checked first: "ragadm_" does not start with "ragk_", but be explicit.
    [Kind::AdminToken, Kind::ApiKey]
        .into_iter()
        .find(|k| s.starts_with(k.prefix()))
}

/// The masked form the service shows: first 9 characters, eight `*`, last 4.
pub fn mask(s: &str) -> String {
    let chars: Vec<char> = s.chars().collect();
    if chars.len() < 13 {
        return "*".repeat(8);
    }
    let head: String = chars[..9].iter().collect();
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("{head}********{tail}")
}

/// The server secret under which credentials are digested. Kept outside the database.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct Pepper {
    bytes: Vec<u8>,
    /// HMAC-SHA256 already keyed with `bytes`: keying hashes two blocks, half the work of a
    /// digest, so `digest` clones this state instead of keying anew (docs/performance.md).
    #[zeroize(skip)]
    keyed: KeyedMac,
}

/// An HMAC state keyed with the pepper; as secret as the pepper, so it is wiped on drop.
#[derive(Clone)]
struct KeyedMac(Hmac<Sha256>);

impl KeyedMac {
    fn new(key: &[u8]) -> KeyedMac {
        KeyedMac(hmac_keyed(key))
    }
}

fn hmac_keyed(key: &[u8]) -> Hmac<Sha256> {
    <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC takes any key")
}

impl Drop for KeyedMac {
    fn drop(&mut self) {
        // Overwrite the keyed state with one keyed by nothing; `black_box` keeps the store
        // from being optimised away as dead.
        self.0 = hmac_keyed(&[]);
        std::hint::black_box(&self.0);
    }
}

impl Pepper {
    pub const LEN: usize = 32;

    pub fn generate() -> Self {
        let mut b = vec![0u8; Self::LEN];
        OsRng
            .try_fill_bytes(&mut b)
            .expect("the operating system's random source failed");
        Pepper::new(b)
    }

    fn new(bytes: Vec<u8>) -> Self {
        let keyed = KeyedMac::new(&bytes);
        Pepper { bytes, keyed }
    }

    /// At least 32 bytes, so that a truncated or empty file is refused rather than used.
    pub fn from_bytes(b: Vec<u8>) -> Option<Self> {
        if b.len() >= Self::LEN {
            Some(Pepper::new(b))
        } else {
            None
        }
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }
}

impl fmt::Debug for Pepper {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// HMAC-SHA256 of the credential under the pepper: what the store keeps and looks up.
pub type Digest = [u8; 32];

pub fn digest(pepper: &Pepper, credential: &str) -> Digest {
    let mut mac = pepper.keyed.0.clone();
    mac.update(credential.as_bytes());
    mac.finalize().into_bytes().into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn generated_credentials_have_the_documented_layout() {
        for kind in [Kind::ApiKey, Kind::AdminToken] {
            let s = generate(kind);
            assert_eq!(s.expose().len(), kind.total_len());
            assert!(s.expose().starts_with(kind.prefix()));
            assert_eq!(parse(kind, s.expose()), Ok(()));
            assert_eq!(kind_of(s.expose()), Some(kind));
        }
        assert_eq!(Kind::ApiKey.total_len(), 41);
        assert_eq!(Kind::AdminToken.total_len(), 43);
    }

    #[test]
    fn a_key_is_not_a_token() {
        let key = generate(Kind::ApiKey);
        assert_eq!(
            parse(Kind::AdminToken, key.expose()),
            Err(FormatError::Prefix)
        );
    }

    #[test]
    fn debug_never_shows_the_secret() {
        let s = generate(Kind::ApiKey);
        let shown = format!("{s:?} {:?}", Pepper::generate());
        assert_eq!(shown, "[redacted] [redacted]");
    }

    #[test]
    fn mask_keeps_nine_and_four() {
        assert_eq!(
            mask("ragk_AbCdEFGHIJKLMNOPQRSTUVWXYZ0123456wXyZ"),
            "ragk_AbCd********wXyZ"
        );
        assert_eq!(mask("short"), "********");
    }

    #[test]
    fn digest_depends_on_pepper_and_input() {
        let (p1, p2) = (Pepper::generate(), Pepper::generate());
        assert_ne!(digest(&p1, "a"), digest(&p2, "a"));
        assert_ne!(digest(&p1, "a"), digest(&p1, "b"));
        assert_eq!(digest(&p1, "a"), digest(&p1, "a"));
        assert!(Pepper::from_bytes(vec![0; 31]).is_none());
    }

    #[test]
    fn the_kept_keyed_state_gives_the_plain_hmac() {
        let p = Pepper::generate();
        let mut fresh = <Hmac<Sha256> as Mac>::new_from_slice(p.as_bytes()).unwrap();
        fresh.update(b"ragk_x");
        let want: Digest = fresh.finalize().into_bytes().into();
        assert_eq!(digest(&p, "ragk_x"), want);
        assert_eq!(digest(&p.clone(), "ragk_x"), want);
    }

    proptest! {
        #[test]
        fn round_trip_and_any_changed_character_fails(pos in 0usize..36, replacement in 0usize..62) {
            for kind in [Kind::ApiKey, Kind::AdminToken] {
                let s = generate(kind);
                prop_assert_eq!(parse(kind, s.expose()), Ok(()));
                let at = kind.prefix().len() + pos;
                let mut bytes = s.expose().as_bytes().to_vec();
                let new = ALPHABET[replacement];
                prop_assume!(bytes[at] != new);
                bytes[at] = new;
                let changed = String::from_utf8(bytes).unwrap();
                prop_assert_eq!(parse(kind, &changed), Err(FormatError::Checksum));
            }
        }

        #[test]
        fn mask_never_reveals_the_middle(_seed in 0u8..8) {
            let s = generate(Kind::ApiKey);
            let m = mask(s.expose());
            prop_assert_eq!(m.len(), 21);
            prop_assert_eq!(&m[..9], &s.expose()[..9]);
            prop_assert_eq!(&m[17..], &s.expose()[37..]);
            prop_assert!(!m.contains(&s.expose()[9..37]));
        }

        #[test]
        fn parse_never_panics(s in "\\PC{0,60}") {
            let _ = parse(Kind::ApiKey, &s);
            let _ = parse(Kind::AdminToken, &s);
        }
    }
}
