//! ServiceCenter's bearer tokens (`POST /v4/token`): JWTs signed with a key derived from the
//! cluster secret, so a token issued by one node is taken by every node. A token names its
//! user and expiry only; the user's role and tenants are read from the configuration at each
//! request, so a changed or removed user takes effect at once.

use std::time::Duration;

use jsonwebtoken::Algorithm;
use jsonwebtoken::DecodingKey;
use jsonwebtoken::EncodingKey;
use jsonwebtoken::Header;
use jsonwebtoken::Validation;
use registry_store::node::wall_clock_ms;
use serde::Deserialize;
use serde::Serialize;
use sha2::Digest;
use sha2::Sha256;

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    /// The user's name.
    sub: String,
    /// Expiry, seconds since the epoch.
    exp: u64,
    iat: u64,
}

/// Issues and checks tokens.
#[derive(Clone)]
pub struct TokenKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    ttl: Duration,
}

impl std::fmt::Debug for TokenKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenKeys")
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

impl TokenKeys {
    /// Keys derived from the cluster secret (the secret itself is never the signing key).
    pub fn new(cluster_secret: &str, ttl: Duration) -> Self {
        let key = Sha256::new()
            .chain_update(b"registry token key:")
            .chain_update(cluster_secret.as_bytes())
            .finalize();
        Self {
            encoding: EncodingKey::from_secret(&key),
            decoding: DecodingKey::from_secret(&key),
            ttl,
        }
    }

    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// A token for `user`, valid for the configured time.
    pub fn issue(&self, user: &str) -> Result<String, String> {
        let now = wall_clock_ms() / 1000;
        let claims = Claims {
            sub: user.to_string(),
            iat: now,
            exp: now + self.ttl.as_secs(),
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding).map_err(|e| e.to_string())
    }

    /// The user a valid, unexpired token names; why not otherwise.
    pub fn verify(&self, token: &str) -> Result<String, String> {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 0;
        validation.set_required_spec_claims(&["exp", "sub"]);
        jsonwebtoken::decode::<Claims>(token, &self.decoding, &validation)
            .map(|data| data.claims.sub)
            .map_err(|e| match e.kind() {
                jsonwebtoken::errors::ErrorKind::ExpiredSignature => "the token has expired".to_string(),
                _ => "the token is not valid".to_string(),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_name_their_user_and_only_the_same_secret_verifies_them() {
        let keys = TokenKeys::new("s3cret", Duration::from_secs(60));
        let token = keys.issue("orders").unwrap();
        assert_eq!(keys.verify(&token), Ok("orders".to_string()));
        let other = TokenKeys::new("other", Duration::from_secs(60));
        assert_eq!(other.verify(&token), Err("the token is not valid".to_string()));
        assert!(keys.verify("not.a.token").is_err());
        let mut tampered = token.clone();
        tampered.pop();
        assert!(keys.verify(&tampered).is_err());
    }

    #[test]
    fn expired_tokens_are_refused() {
        let keys = TokenKeys::new("s3cret", Duration::from_secs(0));
        let token = keys.issue("orders").unwrap();
        std::thread::sleep(Duration::from_millis(1100));
        assert_eq!(keys.verify(&token), Err("the token has expired".to_string()));
    }
}
