//! Signing as the Standard Webhooks spec says: `webhook-signature` is
//! `v1,` + base64 of HMAC-SHA256 over `{webhook-id}.{webhook-timestamp}.{body}`,
//! keyed with the base64-decoded part of the `whsec_` secret.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;

/// The prefix of a symmetric signing secret.
pub const PREFIX: &str = "whsec_";
/// Random bytes in a new secret (the spec asks for 24 to 64).
pub const SECRET_BYTES: usize = 32;

/// An endpoint's signing secret. Never printed: `Debug` shows only its
/// prefix.
#[derive(Clone, PartialEq, Eq)]
pub struct SigningSecret(String);

impl SigningSecret {
    /// A fresh secret from the operating system's random source.
    pub fn generate() -> Self {
        let mut bytes = [0u8; SECRET_BYTES];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        SigningSecret(format!("{PREFIX}{}", STANDARD.encode(bytes)))
    }

    /// A stored secret (`whsec_` + base64); refused when it is not one.
    pub fn parse(text: &str) -> crate::Result<Self> {
        let secret = SigningSecret(text.to_string());
        secret.key()?;
        Ok(secret)
    }

    /// The whole secret, for the one answer that shows it and the store.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The HMAC key: the base64-decoded part after `whsec_`.
    fn key(&self) -> crate::Result<Vec<u8>> {
        let b64 = self.0.strip_prefix(PREFIX).unwrap_or(&self.0);
        STANDARD
            .decode(b64)
            .map_err(|_| crate::Error::Store("a webhook signing secret is not base64".into()))
    }
}

impl std::fmt::Debug for SigningSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SigningSecret({PREFIX}…)")
    }
}

/// The `webhook-signature` value for message `id` sent at `timestamp`
/// (unix seconds) with `body`.
pub fn sign(
    secret: &SigningSecret,
    id: &str,
    timestamp: i64,
    body: &[u8],
) -> crate::Result<String> {
    let key = secret.key()?;
    let mut mac = Hmac::<Sha256>::new_from_slice(&key)
        .map_err(|_| crate::Error::Store("a webhook signing key is unusable".into()))?;
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    Ok(format!(
        "v1,{}",
        STANDARD.encode(mac.finalize().into_bytes())
    ))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn the_reference_libraries_vector_signs_alike() {
        // The vector of the Standard Webhooks reference libraries' tests.
        let secret = SigningSecret::parse("whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD").unwrap();
        let sig = sign(
            &secret,
            "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk",
            1649367553,
            br#"{"email":"test@example.com","username":"test_user"}"#,
        )
        .unwrap();
        assert_eq!(sig, "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw=");
    }

    #[test]
    fn new_secrets_are_prefixed_random_and_hidden() {
        let a = SigningSecret::generate();
        let b = SigningSecret::generate();
        assert_ne!(a, b);
        assert!(a.expose().starts_with(PREFIX));
        assert_eq!(a.key().unwrap().len(), SECRET_BYTES);
        assert!(!format!("{a:?}").contains(&a.expose()[6..]));
        assert!(SigningSecret::parse("whsec_not base64!").is_err());
    }
}
