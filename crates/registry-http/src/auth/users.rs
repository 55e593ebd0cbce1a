//! Who may call: the configured users (name, password digest, role, tenants), the principal a
//! request is made by, and checking a name and password in constant time.

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::Mutex;
use registry_store::model::Tenant;
use serde::Deserialize;
use sha2::Digest;
use sha2::Sha256;
use subtle::ConstantTimeEq;

/// What a principal may do; each role includes the ones before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Discovery and every other read.
    Read,
    /// Registrations, heartbeats, cancellations, status and metadata changes, services.
    Write,
    /// Membership, draining, snapshots, backup and restore.
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Read => "read",
            Role::Write => "write",
            Role::Admin => "admin",
        }
    }
}

/// The tenants a principal may see and change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    All,
    Tenants(Vec<Tenant>),
}

impl Scope {
    pub fn admits(&self, tenant: &Tenant) -> bool {
        match self {
            Scope::All => true,
            Scope::Tenants(tenants) => tenants.contains(tenant),
        }
    }
}

/// Who a request is made by, once authenticated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub name: String,
    pub role: Role,
    pub scope: Scope,
}

/// One `[[auth.users]]` table of the configuration file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserFile {
    pub name: String,
    /// The password itself (keep the file readable by the service only; it is hashed with a
    /// random salt when read)...
    pub password: Option<String>,
    /// ...or its Argon2 hash as a PHC string (`registryctl hash-password` makes one)...
    pub password_argon2: Option<String>,
    /// ...or, from older configurations, its unsalted SHA-256 digest in hex: still accepted,
    /// with a warning in the log.
    pub password_sha256: Option<String>,
    pub role: Role,
    /// `domain/project` tenants the user may reach; `*` (the default) for all.
    #[serde(default)]
    pub tenants: Vec<String>,
}

/// How a user's password is checked.
#[derive(Debug, Clone)]
enum Secret {
    /// A salted, slow Argon2 hash (PHC string).
    Argon2(String),
    /// An unsalted SHA-256 digest (older configurations).
    Sha256([u8; 32]),
}

/// The Argon2 hash of `password` with a new random salt, as a PHC string.
pub fn hash_password(password: &str) -> Result<String, String> {
    use argon2::password_hash::rand_core::OsRng;
    use argon2::password_hash::PasswordHasher;
    use argon2::password_hash::SaltString;
    let salt = SaltString::generate(&mut OsRng);
    argon2::Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| e.to_string())
}

fn argon2_matches(phc: &str, password: &str) -> bool {
    use argon2::password_hash::PasswordHash;
    use argon2::password_hash::PasswordVerifier;
    PasswordHash::new(phc).is_ok_and(|hash| {
        argon2::Argon2::default()
            .verify_password(password.as_bytes(), &hash)
            .is_ok()
    })
}

/// A configured user, its password kept as a hash.
#[derive(Debug, Clone)]
pub struct User {
    principal: Principal,
    secret: Secret,
}

impl User {
    /// Validates a `[[auth.users]]` table.
    pub fn from_file(file: &UserFile) -> Result<Self, String> {
        let name = file.name.trim();
        if name.is_empty() || name.contains(':') {
            return Err(format!("user {:?} must be non-empty and have no ':'", file.name));
        }
        let secret = match (&file.password, &file.password_argon2, &file.password_sha256) {
            (Some(p), None, None) if !p.is_empty() => Secret::Argon2(hash_password(p)?),
            (None, Some(phc), None) => {
                argon2::password_hash::PasswordHash::new(phc)
                    .map_err(|e| format!("user {name}: password_argon2 is not an Argon2 PHC string: {e}"))?;
                Secret::Argon2(phc.clone())
            }
            (None, None, Some(hex)) => {
                let digest =
                    parse_digest(hex).ok_or_else(|| format!("user {name}: password_sha256 is not 64 hex digits"))?;
                tracing::warn!(
                    user = name,
                    "password_sha256 is an unsalted, fast hash: replace it with password_argon2 (registryctl hash-password)"
                );
                Secret::Sha256(digest)
            }
            _ => {
                return Err(format!(
                    "user {name}: give one of password, password_argon2 or password_sha256"
                ))
            }
        };
        let scope = if file.tenants.is_empty() || file.tenants.iter().any(|t| t == "*") {
            Scope::All
        } else {
            let tenants = file
                .tenants
                .iter()
                .map(|t| Tenant::parse(t).ok_or_else(|| format!("user {name}: tenant {t:?} is not domain/project")))
                .collect::<Result<Vec<_>, _>>()?;
            Scope::Tenants(tenants)
        };
        Ok(Self {
            principal: Principal {
                name: name.to_string(),
                role: file.role,
                scope,
            },
            secret,
        })
    }

    pub fn principal(&self) -> &Principal {
        &self.principal
    }
}

fn parse_digest(hex: &str) -> Option<[u8; 32]> {
    let hex = hex.trim();
    if hex.len() != 64 {
        return None;
    }
    let mut digest = [0u8; 32];
    for (i, byte) in digest.iter_mut().enumerate() {
        *byte = u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(digest)
}

/// Passwords already verified against their slow hash, remembered by a keyed digest (the key is
/// random per process), so a client sending Basic credentials with every heartbeat costs one
/// Argon2 verification per process, not one per request.
#[derive(Debug)]
struct Verified {
    key: [u8; 32],
    by_name: Mutex<HashMap<String, [u8; 32]>>,
}

impl Verified {
    fn new() -> Self {
        use argon2::password_hash::rand_core::OsRng;
        use argon2::password_hash::rand_core::RngCore;
        let mut key = [0u8; 32];
        OsRng.fill_bytes(&mut key);
        Self {
            key,
            by_name: Mutex::new(HashMap::new()),
        }
    }

    fn digest(&self, password: &str) -> [u8; 32] {
        let mut h = Sha256::new();
        h.update(self.key);
        h.update(password.as_bytes());
        h.finalize().into()
    }
}

/// The configured users by name.
#[derive(Debug, Clone)]
pub struct Users {
    by_name: HashMap<String, User>,
    verified: Arc<Verified>,
}

impl Default for Users {
    fn default() -> Self {
        Self {
            by_name: HashMap::new(),
            verified: Arc::new(Verified::new()),
        }
    }
}

/// The outcome of checking a name and password.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Checked {
    /// Known and verified before: no slow hash was computed.
    Remembered(Principal),
    /// Verified now against its slow hash.
    Verified(Principal),
    /// Unknown user or wrong password.
    Refused,
    /// Not checked: the caller's attempts are over their limit.
    Limited,
}

impl Checked {
    pub fn principal(self) -> Option<Principal> {
        match self {
            Checked::Remembered(p) | Checked::Verified(p) => Some(p),
            Checked::Refused | Checked::Limited => None,
        }
    }

    /// Whether a slow password check was made (what login limits count).
    pub fn was_attempt(&self) -> bool {
        !matches!(self, Checked::Remembered(_))
    }
}

impl Users {
    pub fn new(users: Vec<User>) -> Result<Self, String> {
        let mut by_name = HashMap::new();
        for u in users {
            let name = u.principal.name.clone();
            if by_name.insert(name.clone(), u).is_some() {
                return Err(format!("user {name} is configured twice"));
            }
        }
        Ok(Self {
            by_name,
            ..Self::default()
        })
    }

    pub fn is_empty(&self) -> bool {
        self.by_name.is_empty()
    }

    /// Whether `password` is `name`'s. A password verified before is recognised by its keyed
    /// digest (compared in constant time); otherwise, if `may_attempt()` allows it, the slow
    /// hash is verified off the async runtime, on a blocking thread.
    pub async fn check(&self, name: &str, password: &str, may_attempt: impl FnOnce() -> bool) -> Checked {
        let digest = self.verified.digest(password);
        let remembered = self.verified.by_name.lock().get(name).copied();
        if let (Some(user), Some(known)) = (self.by_name.get(name), remembered) {
            if bool::from(known.ct_eq(&digest)) {
                return Checked::Remembered(user.principal.clone());
            }
        }
        if !may_attempt() {
            return Checked::Limited;
        }
        let Some(user) = self.by_name.get(name) else {
            return Checked::Refused;
        };
        let matches = match &user.secret {
            Secret::Sha256(stored) => {
                let given: [u8; 32] = Sha256::digest(password.as_bytes()).into();
                bool::from(stored.ct_eq(&given))
            }
            Secret::Argon2(phc) => {
                let (phc, password) = (phc.clone(), password.to_string());
                tokio::task::spawn_blocking(move || argon2_matches(&phc, &password))
                    .await
                    .unwrap_or(false)
            }
        };
        if !matches {
            return Checked::Refused;
        }
        self.verified.by_name.lock().insert(name.to_string(), digest);
        Checked::Verified(user.principal.clone())
    }

    /// The user `name`, as a token names it.
    pub fn get(&self, name: &str) -> Option<&Principal> {
        self.by_name.get(name).map(|u| &u.principal)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(password: Option<&str>, digest: Option<&str>, tenants: &[&str]) -> UserFile {
        UserFile {
            name: "orders".into(),
            password: password.map(str::to_string),
            password_argon2: None,
            password_sha256: digest.map(str::to_string),
            role: Role::Write,
            tenants: tenants.iter().map(|t| t.to_string()).collect(),
        }
    }

    #[tokio::test]
    async fn passwords_are_checked_against_salted_hashes_then_remembered() {
        // printf %s secret | sha256sum
        let hex = "2bb80d537b1da3e38bd30361aa855686bde0eacd7162fef6a25fe97bf527a25b";
        let phc = hash_password("secret").unwrap();
        assert!(phc.starts_with("$argon2id$"), "{phc}");
        assert_ne!(phc, hash_password("secret").unwrap(), "a new salt each time");
        let from_phc = UserFile {
            password_argon2: Some(phc),
            ..file(None, None, &[])
        };
        for f in [file(Some("secret"), None, &[]), from_phc, file(None, Some(hex), &[])] {
            let users = Users::new(vec![User::from_file(&f).unwrap()]).unwrap();
            let first = users.check("orders", "secret", || true).await;
            assert!(first.was_attempt(), "{first:?}");
            assert_eq!(first.principal().map(|p| p.role), Some(Role::Write));
            let again = users.check("orders", "secret", || true).await;
            assert!(matches!(again, Checked::Remembered(_)), "{again:?}");
            assert_eq!(users.check("orders", "Secret", || true).await, Checked::Refused);
            assert_eq!(users.check("nobody", "secret", || true).await, Checked::Refused);
            assert_eq!(users.check("orders", "other", || false).await, Checked::Limited);
        }
        let bad = UserFile {
            password_argon2: Some("not-a-hash".into()),
            ..file(None, None, &[])
        };
        assert!(User::from_file(&bad).is_err());
        let both = UserFile {
            password_argon2: Some(hash_password("x").unwrap()),
            ..file(Some("x"), None, &[])
        };
        assert!(User::from_file(&both).is_err(), "one secret only");
    }

    #[test]
    fn tenants_default_to_all_and_are_validated() {
        let all = User::from_file(&file(Some("p"), None, &[])).unwrap();
        assert_eq!(all.principal().scope, Scope::All);
        let one = User::from_file(&file(Some("p"), None, &["shop/prod"])).unwrap();
        assert!(one.principal().scope.admits(&Tenant::new("shop", "prod")));
        assert!(!one.principal().scope.admits(&Tenant::default_tenant()));
        assert!(User::from_file(&file(Some("p"), None, &["nope"])).is_err());
        assert!(User::from_file(&file(Some("p"), Some("ab"), &[])).is_err());
        assert!(User::from_file(&file(None, None, &[])).is_err());
        assert!(User::from_file(&file(None, Some("zz"), &[])).is_err());
    }

    #[test]
    fn roles_include_the_ones_before() {
        assert!(Role::Admin > Role::Write && Role::Write > Role::Read);
    }
}
