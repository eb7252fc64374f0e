//! Secrets at rest: envelope encryption under the master key.
//!
//! Each secret version gets a random 256-bit data key; the value is sealed
//! with AES-256-GCM under it, and the data key is sealed under a key-
//! encryption key derived from the master key (HKDF-SHA256,
//! `sentinel/secrets/v1`). Both seals bind the additional data
//! `org|env|name|version`, so a ciphertext copied to another row fails to
//! open. A keyed fingerprint (HMAC-SHA256 under `sentinel/fingerprint/v1`)
//! shows equal credentials without decrypting them.
//!
//! Invariants:
//! - The master key and every key derived from it stay in memory; the
//!   database holds only the *key id* (`sentinel/key-id/v1`, a one-way
//!   derivation), which names the master key a data key is wrapped under.
//! - The fingerprint key derives from the master key, so a fingerprint
//!   means nothing to someone without it; rotating the master key therefore
//!   recomputes every fingerprint ([`Crypto::rewrap`] opens the value to do
//!   so, in memory, and never returns it).
//! - Rotation re-wraps data keys only: the sealed value and its data key
//!   are unchanged, so a rotation cannot corrupt a value it did not touch.

use std::fmt;

use aws_lc_rs::{aead, hkdf, hmac, rand};
use base64::Engine as _;
use sentinel_core::key::hex;

use crate::StoreError;

/// The 32-byte master key. Never stored in the database; redacted in Debug.
#[derive(Clone)]
pub struct MasterKey([u8; 32]);

impl MasterKey {
    /// A new random key.
    #[expect(
        clippy::expect_used,
        reason = "with a broken system random generator no key may be made at all"
    )]
    pub fn generate() -> Self {
        let mut bytes = [0u8; 32];
        rand::fill(&mut bytes).expect("the system random generator failed");
        Self(bytes)
    }

    /// Parses 64 hex characters or base64 (standard or URL-safe, padded or
    /// not) of exactly 32 bytes.
    pub fn parse(text: &str) -> Result<Self, StoreError> {
        let text = text.trim();
        let bytes =
            if text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit()) {
                (0..32)
                    .map(|i| u8::from_str_radix(&text[i * 2..i * 2 + 2], 16))
                    .collect::<Result<Vec<u8>, _>>()
                    .map_err(|_| StoreError::InvalidMasterKey("not valid hex"))?
            } else {
                let engines = [
                    &base64::engine::general_purpose::STANDARD,
                    &base64::engine::general_purpose::STANDARD_NO_PAD,
                    &base64::engine::general_purpose::URL_SAFE,
                    &base64::engine::general_purpose::URL_SAFE_NO_PAD,
                ];
                engines.iter().find_map(|e| e.decode(text).ok()).ok_or(
                    StoreError::InvalidMasterKey("expected 64 hex characters or base64"),
                )?
            };
        let bytes: [u8; 32] = bytes
            .try_into()
            .map_err(|_| StoreError::InvalidMasterKey("a master key is exactly 32 bytes"))?;
        if bytes == [0u8; 32] {
            return Err(StoreError::InvalidMasterKey(
                "the all-zero key is not allowed",
            ));
        }
        Ok(Self(bytes))
    }

    /// The key as base64, for writing a key file.
    pub fn to_text(&self) -> String {
        base64::engine::general_purpose::STANDARD.encode(self.0)
    }

    /// A short one-way identifier of this key, stored next to each wrapped
    /// data key so a rotation can tell which rows are already re-wrapped.
    pub fn key_id(&self) -> String {
        hex(&self.derive(b"sentinel/key-id/v1")[..8])
    }

    fn derive(&self, info: &'static [u8]) -> [u8; 32] {
        let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, b"sentinel").extract(&self.0);
        let mut out = [0u8; 32];
        // Expanding 32 bytes with SHA-256 is always within HKDF's limits.
        if let Ok(okm) = prk.expand(&[info], hkdf::HKDF_SHA256) {
            let _ = okm.fill(&mut out);
        }
        out
    }
}

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MasterKey(redacted)")
    }
}

impl Drop for MasterKey {
    fn drop(&mut self) {
        self.0 = [0u8; 32];
    }
}

/// A decrypted secret value. Not `Serialize`; redacted in Debug and Display.
pub struct SecretValue(String);

impl SecretValue {
    /// The value, for putting on the wire to a provider.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SecretValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretValue(redacted)")
    }
}

impl fmt::Display for SecretValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("(redacted)")
    }
}

/// Sealed secret material as stored.
pub(crate) struct Sealed {
    pub(crate) wrapped_key: Vec<u8>,
    pub(crate) sealed: Vec<u8>,
    pub(crate) fingerprint: String,
}

/// Master-key operations.
pub(crate) struct Crypto {
    kek: [u8; 32],
    fingerprint: hmac::Key,
    key_id: String,
}

/// A data key re-wrapped under another master key, with the value's
/// fingerprint under that key.
pub(crate) struct Rewrapped {
    pub(crate) wrapped_key: Vec<u8>,
    pub(crate) fingerprint: String,
}

impl fmt::Debug for Crypto {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Crypto(redacted)")
    }
}

impl Drop for Crypto {
    fn drop(&mut self) {
        self.kek = [0u8; 32];
    }
}

fn aad(org_id: &str, env_id: &str, name: &str, version: i64) -> String {
    format!("{org_id}|{env_id}|{name}|{version}")
}

/// nonce ‖ ciphertext ‖ tag
fn seal(key: &[u8; 32], aad: &str, plaintext: &[u8]) -> Result<Vec<u8>, StoreError> {
    let key =
        aead::RandomizedNonceKey::new(&aead::AES_256_GCM, key).map_err(|_| StoreError::Random)?;
    let mut in_out = plaintext.to_vec();
    let nonce = key
        .seal_in_place_append_tag(aead::Aad::from(aad.as_bytes()), &mut in_out)
        .map_err(|_| StoreError::Random)?;
    let mut out = nonce.as_ref().to_vec();
    out.extend_from_slice(&in_out);
    Ok(out)
}

fn open(key: &[u8; 32], aad: &str, sealed: &[u8]) -> Option<Vec<u8>> {
    if sealed.len() < aead::NONCE_LEN {
        return None;
    }
    let key = aead::RandomizedNonceKey::new(&aead::AES_256_GCM, key).ok()?;
    let (nonce, ciphertext) = sealed.split_at(aead::NONCE_LEN);
    let nonce = aead::Nonce::try_assume_unique_for_key(nonce).ok()?;
    let mut in_out = ciphertext.to_vec();
    let plain = key
        .open_in_place(nonce, aead::Aad::from(aad.as_bytes()), &mut in_out)
        .ok()?;
    Some(plain.to_vec())
}

impl Crypto {
    pub(crate) fn new(master: &MasterKey) -> Self {
        Self {
            kek: master.derive(b"sentinel/secrets/v1"),
            fingerprint: hmac::Key::new(
                hmac::HMAC_SHA256,
                &master.derive(b"sentinel/fingerprint/v1"),
            ),
            key_id: master.key_id(),
        }
    }

    /// The id of the master key this was built from.
    pub(crate) fn key_id(&self) -> &str {
        &self.key_id
    }

    /// Unwraps a data key with this (the old) master key and wraps it under
    /// `to`; recomputes the fingerprint under `to`. The sealed value stays
    /// as it is.
    #[expect(
        clippy::too_many_arguments,
        reason = "the row's identity is the additional data"
    )]
    pub(crate) fn rewrap(
        &self,
        to: &Crypto,
        org_id: &str,
        env_id: &str,
        name: &str,
        version: i64,
        wrapped_key: &[u8],
        sealed: &[u8],
    ) -> Result<Rewrapped, StoreError> {
        let value = self.open(org_id, env_id, name, version, wrapped_key, sealed)?;
        let aad = aad(org_id, env_id, name, version);
        let mut data_key: [u8; 32] = open(&self.kek, &aad, wrapped_key)
            .and_then(|k| k.try_into().ok())
            .ok_or_else(|| StoreError::MasterKeyMismatch {
                env_id: env_id.to_owned(),
                name: name.to_owned(),
            })?;
        let wrapped_key = seal(&to.kek, &aad, &data_key);
        data_key = [0u8; 32];
        let _ = data_key;
        Ok(Rewrapped {
            wrapped_key: wrapped_key?,
            fingerprint: to.fingerprint(value.expose()),
        })
    }

    pub(crate) fn fingerprint(&self, value: &str) -> String {
        let tag = hmac::sign(&self.fingerprint, value.as_bytes());
        hex(&tag.as_ref()[..16])
    }

    pub(crate) fn seal(
        &self,
        org_id: &str,
        env_id: &str,
        name: &str,
        version: i64,
        value: &str,
    ) -> Result<Sealed, StoreError> {
        let mut data_key = [0u8; 32];
        rand::fill(&mut data_key).map_err(|_| StoreError::Random)?;
        let aad = aad(org_id, env_id, name, version);
        let sealed = seal(&data_key, &aad, value.as_bytes())?;
        let wrapped_key = seal(&self.kek, &aad, &data_key)?;
        data_key = [0u8; 32];
        let _ = data_key;
        Ok(Sealed {
            wrapped_key,
            sealed,
            fingerprint: self.fingerprint(value),
        })
    }

    pub(crate) fn open(
        &self,
        org_id: &str,
        env_id: &str,
        name: &str,
        version: i64,
        wrapped_key: &[u8],
        sealed: &[u8],
    ) -> Result<SecretValue, StoreError> {
        let mismatch = || StoreError::MasterKeyMismatch {
            env_id: env_id.to_owned(),
            name: name.to_owned(),
        };
        let aad = aad(org_id, env_id, name, version);
        let data_key: [u8; 32] = open(&self.kek, &aad, wrapped_key)
            .and_then(|k| k.try_into().ok())
            .ok_or_else(mismatch)?;
        let plain = open(&data_key, &aad, sealed).ok_or_else(mismatch)?;
        String::from_utf8(plain)
            .map(SecretValue)
            .map_err(|_| mismatch())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_and_open_round_trip() {
        let crypto = Crypto::new(&MasterKey::generate());
        let s = crypto.seal("o", "e", "n", 1, "sk-value").unwrap();
        assert_eq!(
            crypto
                .open("o", "e", "n", 1, &s.wrapped_key, &s.sealed)
                .unwrap()
                .expose(),
            "sk-value"
        );
        assert!(!s.sealed.windows(8).any(|w| w == b"sk-value"));
    }

    #[test]
    fn ciphertext_is_bound_to_its_row() {
        let crypto = Crypto::new(&MasterKey::generate());
        let s = crypto.seal("o", "e", "n", 1, "v").unwrap();
        for (org, env, name, version) in [
            ("x", "e", "n", 1),
            ("o", "x", "n", 1),
            ("o", "e", "x", 1),
            ("o", "e", "n", 2),
        ] {
            assert!(matches!(
                crypto.open(org, env, name, version, &s.wrapped_key, &s.sealed),
                Err(StoreError::MasterKeyMismatch { .. })
            ));
        }
    }

    #[test]
    fn wrong_master_key_fails_clearly() {
        let s = Crypto::new(&MasterKey::generate())
            .seal("o", "e", "n", 1, "v")
            .unwrap();
        let other = Crypto::new(&MasterKey::generate());
        let error = other
            .open("o", "e", "n", 1, &s.wrapped_key, &s.sealed)
            .unwrap_err();
        assert!(error.to_string().contains("secret n"));
    }

    #[test]
    fn fingerprints_compare_values_without_revealing_them() {
        let master = MasterKey::generate();
        let crypto = Crypto::new(&master);
        assert_eq!(crypto.fingerprint("a"), crypto.fingerprint("a"));
        assert_ne!(crypto.fingerprint("a"), crypto.fingerprint("b"));
        assert_ne!(
            Crypto::new(&MasterKey::generate()).fingerprint("a"),
            crypto.fingerprint("a")
        );
    }

    #[test]
    fn rewrap_moves_a_data_key_to_another_master_key() {
        let (old_key, new_key) = (MasterKey::generate(), MasterKey::generate());
        let (old, new) = (Crypto::new(&old_key), Crypto::new(&new_key));
        assert_ne!(old.key_id(), new.key_id());
        assert_eq!(old.key_id(), old_key.key_id());
        let s = old.seal("o", "e", "n", 3, "sk-value").unwrap();
        let r = old
            .rewrap(&new, "o", "e", "n", 3, &s.wrapped_key, &s.sealed)
            .unwrap();
        assert_eq!(
            new.open("o", "e", "n", 3, &r.wrapped_key, &s.sealed)
                .unwrap()
                .expose(),
            "sk-value"
        );
        assert_eq!(r.fingerprint, new.fingerprint("sk-value"));
        assert!(
            old.open("o", "e", "n", 3, &r.wrapped_key, &s.sealed)
                .is_err()
        );
        // Re-wrapping with the wrong old key fails instead of corrupting.
        assert!(
            new.rewrap(&old, "o", "e", "n", 3, &s.wrapped_key, &s.sealed)
                .is_err()
        );
    }

    #[test]
    fn master_key_text_forms() {
        let key = MasterKey::generate();
        assert_eq!(MasterKey::parse(&key.to_text()).unwrap().0, key.0);
        let hex_text = hex(&key.0);
        assert_eq!(MasterKey::parse(&hex_text).unwrap().0, key.0);
        assert!(MasterKey::parse("short").is_err());
        assert!(MasterKey::parse(&"0".repeat(64)).is_err());
        assert_eq!(format!("{key:?}"), "MasterKey(redacted)");
    }
}
