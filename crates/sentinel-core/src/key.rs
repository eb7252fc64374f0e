//! Client keys: `snt_<environment>_<key id>_<secret>`.
//!
//! The environment is visible in the prefix so a leaked key is easy to
//! classify and secret scanners can match it; the key id (16 hex characters)
//! finds the stored record without touching the secret; the secret is 32
//! random bytes in hex. Only a SHA-256 digest of the whole key is stored:
//! the key carries 256 bits of entropy, so a fast hash is safe and a slow one
//! would only hand attackers a CPU lever on every request.

use std::fmt;

use aws_lc_rs::{constant_time, digest};

use crate::name::Name;

const PREFIX: &str = "snt_";
const ID_LEN: usize = 16;
const SECRET_LEN: usize = 64;

/// A complete client key, as the client sends it. Never logged or stored.
#[derive(Clone, PartialEq, Eq)]
pub struct ClientKey {
    text: String,
    env_len: usize,
}

/// Why a presented string is not a well-formed client key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyParseError {
    #[error("key does not start with snt_")]
    Prefix,
    #[error("key is malformed")]
    Malformed,
}

impl ClientKey {
    /// Builds a new key from an environment name and 40 random bytes
    /// (8 for the id, 32 for the secret).
    pub fn new(env: &Name, random: &[u8; 40]) -> Self {
        let text = format!("{PREFIX}{env}_{}_{}", hex(&random[..8]), hex(&random[8..]));
        Self {
            env_len: env.len(),
            text,
        }
    }

    /// Parses a presented key. Only the shape is checked here; whether the key
    /// exists is decided by comparing its digest.
    pub fn parse(s: &str) -> Result<Self, KeyParseError> {
        let rest = s.strip_prefix(PREFIX).ok_or(KeyParseError::Prefix)?;
        let env_len = rest.find('_').ok_or(KeyParseError::Malformed)?;
        Name::parse(&rest[..env_len]).map_err(|_| KeyParseError::Malformed)?;
        let tail = &rest[env_len + 1..];
        let well_formed = tail.len() == ID_LEN + 1 + SECRET_LEN
            && tail.as_bytes()[ID_LEN] == b'_'
            && tail[..ID_LEN].bytes().all(is_lower_hex)
            && tail[ID_LEN + 1..].bytes().all(is_lower_hex);
        if !well_formed {
            return Err(KeyParseError::Malformed);
        }
        Ok(Self {
            text: s.to_owned(),
            env_len,
        })
    }

    /// The environment named in the key's prefix.
    pub fn env(&self) -> &str {
        &self.text[PREFIX.len()..PREFIX.len() + self.env_len]
    }

    /// The key id: public, used to find the stored digest.
    pub fn id(&self) -> &str {
        let start = PREFIX.len() + self.env_len + 1;
        &self.text[start..start + ID_LEN]
    }

    /// The non-secret prefix shown in lists: `snt_<env>_<id>`.
    pub fn display_prefix(&self) -> &str {
        &self.text[..PREFIX.len() + self.env_len + 1 + ID_LEN]
    }

    /// The full key text. Call only to show the key once at creation.
    pub fn expose(&self) -> &str {
        &self.text
    }

    pub fn digest(&self) -> KeyDigest {
        let d = digest::digest(&digest::SHA256, self.text.as_bytes());
        let mut out = [0u8; 32];
        out.copy_from_slice(d.as_ref());
        KeyDigest(out)
    }
}

impl fmt::Debug for ClientKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ClientKey({}_…)", self.display_prefix())
    }
}

/// SHA-256 of a client key: what the store keeps.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct KeyDigest(pub [u8; 32]);

impl KeyDigest {
    /// Constant-time comparison, so timing reveals nothing about how much of a
    /// guessed key matched.
    pub fn matches(&self, other: &KeyDigest) -> bool {
        constant_time::verify_slices_are_equal(&self.0, &other.0).is_ok()
    }

    pub fn to_hex(&self) -> String {
        hex(&self.0)
    }

    pub fn from_hex(s: &str) -> Option<Self> {
        if s.len() != 64 {
            return None;
        }
        let mut out = [0u8; 32];
        for (i, chunk) in s.as_bytes().chunks(2).enumerate() {
            let hi = hex_val(chunk[0])?;
            let lo = hex_val(chunk[1])?;
            out[i] = hi << 4 | lo;
        }
        Some(Self(out))
    }
}

impl fmt::Debug for KeyDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("KeyDigest(…)")
    }
}

fn is_lower_hex(b: u8) -> bool {
    b.is_ascii_digit() || (b'a'..=b'f').contains(&b)
}

fn hex_val(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        _ => None,
    }
}

/// SHA-256 of `bytes`, lowercase hex (operator-token digests, document hashes).
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(digest::digest(&digest::SHA256, bytes).as_ref())
}

/// Lowercase hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[(b >> 4) as usize] as char);
        s.push(DIGITS[(b & 0xf) as usize] as char);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(s: &str) -> Name {
        Name::parse(s).unwrap()
    }

    #[test]
    fn new_key_round_trips_through_parse() {
        let random = [7u8; 40];
        let key = ClientKey::new(&env("prod"), &random);
        assert!(key.expose().starts_with("snt_prod_0707070707070707_"));
        let parsed = ClientKey::parse(key.expose()).unwrap();
        assert_eq!(parsed.env(), "prod");
        assert_eq!(parsed.id(), "0707070707070707");
        assert_eq!(parsed.display_prefix(), "snt_prod_0707070707070707");
        assert!(parsed.digest().matches(&key.digest()));
    }

    #[test]
    fn env_with_dash_parses() {
        let key = ClientKey::new(&env("eu-prod"), &[1u8; 40]);
        assert_eq!(ClientKey::parse(key.expose()).unwrap().env(), "eu-prod");
    }

    #[test]
    fn malformed_keys_are_rejected() {
        let good = ClientKey::new(&env("dev"), &[0xab; 40]);
        let text = good.expose();
        assert_eq!(ClientKey::parse("sk-abc"), Err(KeyParseError::Prefix));
        for bad in [
            "snt_",
            "snt_dev",
            "snt_dev_",
            &text[..text.len() - 1],
            &format!("{text}0"),
            &text.replace("snt_dev", "snt_DEV"),
            &text.to_uppercase().replace("SNT_DEV", "snt_dev"),
        ] {
            assert_eq!(
                ClientKey::parse(bad),
                Err(KeyParseError::Malformed),
                "{bad}"
            );
        }
    }

    #[test]
    fn debug_never_shows_the_secret() {
        let key = ClientKey::new(&env("dev"), &[0xab; 40]);
        let shown = format!("{key:?}");
        assert!(!shown.contains(&key.expose()[30..]));
    }

    #[test]
    fn digest_hex_round_trips() {
        let d = ClientKey::new(&env("dev"), &[3u8; 40]).digest();
        assert_eq!(KeyDigest::from_hex(&d.to_hex()), Some(d));
        assert_eq!(KeyDigest::from_hex("zz"), None);
    }
}
