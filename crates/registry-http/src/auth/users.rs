//! Who may call: the configured users (name, password digest, role, tenants), the principal a
//! request is made by, and checking a name and password in constant time.

use std::collections::HashMap;

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
    /// The password itself (keep the file readable by the service only)...
    pub password: Option<String>,
    /// ...or its SHA-256 digest in hex (`printf %s PASSWORD | sha256sum`).
    pub password_sha256: Option<String>,
    pub role: Role,
    /// `domain/project` tenants the user may reach; `*` (the default) for all.
    #[serde(default)]
    pub tenants: Vec<String>,
}

/// A configured user, its password kept as a digest.
#[derive(Debug, Clone)]
pub struct User {
    principal: Principal,
    digest: [u8; 32],
}

impl User {
    /// Validates a `[[auth.users]]` table.
    pub fn from_file(file: &UserFile) -> Result<Self, String> {
        let name = file.name.trim();
        if name.is_empty() || name.contains(':') {
            return Err(format!("user name {:?} must be non-empty and have no ':'", file.name));
        }
        let digest = match (&file.password, &file.password_sha256) {
            (Some(p), None) if !p.is_empty() => Sha256::digest(p.as_bytes()).into(),
            (None, Some(hex)) => {
                parse_digest(hex).ok_or_else(|| format!("user {name}: password_sha256 is not 64 hex digits"))?
            }
            _ => return Err(format!("user {name}: give password or password_sha256 (one of them)")),
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
            digest,
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

/// The configured users by name.
#[derive(Debug, Clone, Default)]
pub struct Users {
    by_name: HashMap<String, User>,
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
        Ok(Self { by_name })
    }

    pub fn is_empty(&self) -> bool {
        self.by_name.is_empty()
    }

    /// The user `name` if `password` is theirs (compared in constant time).
    pub fn check(&self, name: &str, password: &str) -> Option<&Principal> {
        let user = self.by_name.get(name)?;
        let digest: [u8; 32] = Sha256::digest(password.as_bytes()).into();
        bool::from(user.digest.ct_eq(&digest)).then_some(&user.principal)
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
            password_sha256: digest.map(str::to_string),
            role: Role::Write,
            tenants: tenants.iter().map(|t| t.to_string()).collect(),
        }
    }

    #[test]
    fn passwords_are_checked_by_digest() {
        // printf %s secret | sha256sum
        let hex = "2bb80d537b1da3e38bd30361aa855686bde0eacd7162fef6a25fe97bf527a25b";
        for f in [file(Some("secret"), None, &[]), file(None, Some(hex), &[])] {
            let users = Users::new(vec![User::from_file(&f).unwrap()]).unwrap();
            assert_eq!(users.check("orders", "secret").map(|p| p.role), Some(Role::Write));
            assert!(users.check("orders", "Secret").is_none());
            assert!(users.check("nobody", "secret").is_none());
        }
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
