//! What a request may need, in terms every protocol shares: a role on one tenant or on every
//! tenant. Which requests need what is each protocol's own (its endpoint type, see
//! [`crate::endpoint`]); the rules they follow:
//!
//! - Eureka (`/eureka/...`): reads need `read`, the rest `write`, on the Eureka tenant.
//! - ServiceCenter (`/v4/{project}/...`): reads (and batch find, a POST) need `read`, the rest
//!   `write` (the heartbeat WebSocket, a GET, too), on the tenant of `X-Domain-Name` and
//!   `{project}`; `/v4/{project}/admin/...` needs `admin` on every tenant.
//! - Everything else (`/admin/...`, `/metrics`, the dashboard, the federation stream) spans every
//!   tenant: reads (and following the federation stream) need `read`, the native API's writes
//!   `write`, other node operations and `/admin/backup` (every record) `admin`.
//! - `/health` and `POST /v4/token` need no credential.

use axum::http::Method;
use registry_store::model::Tenant;

use super::users::Principal;
use super::users::Role;
use super::users::Scope;
use crate::refusal::Refusal;

/// The tenants a request touches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tenancy {
    One(Tenant),
    /// Every tenant: only a principal scoped to all of them may.
    All,
}

/// What a request needs of its caller (a request needing nothing has none).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Requirement {
    pub role: Role,
    pub tenancy: Tenancy,
}

impl Requirement {
    pub fn new(role: Role, tenancy: Tenancy) -> Self {
        Self { role, tenancy }
    }

    /// Whether `principal` may make a request with this requirement.
    pub fn admits(&self, principal: &Principal) -> Result<(), Refusal> {
        if principal.role < self.role {
            return Err(Refusal::Forbidden(format!(
                "{} has the {} role; this needs {}",
                principal.name,
                principal.role.as_str(),
                self.role.as_str()
            )));
        }
        match &self.tenancy {
            Tenancy::One(t) if !principal.scope.admits(t) => Err(Refusal::Forbidden(format!(
                "{} may not reach tenant {t}",
                principal.name
            ))),
            Tenancy::All if principal.scope != Scope::All => Err(Refusal::Forbidden(format!(
                "{} is limited to some tenants; this spans all of them",
                principal.name
            ))),
            _ => Ok(()),
        }
    }
}

/// Whether `method` only reads (GET, HEAD, OPTIONS).
pub fn is_read(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// `read` for a reading method, else `write`.
pub fn read_or(method: &Method, write: Role) -> Role {
    if is_read(method) {
        Role::Read
    } else {
        write
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn principal(role: Role, scope: Scope) -> Principal {
        Principal {
            name: "u".into(),
            role,
            scope,
        }
    }

    #[test]
    fn roles_rank_and_scopes_bound_tenants() {
        let shop = Tenant::new("shop", "prod");
        let need = Requirement::new(Role::Write, Tenancy::One(shop.clone()));
        assert!(need.admits(&principal(Role::Write, Scope::All)).is_ok());
        assert!(need.admits(&principal(Role::Admin, Scope::All)).is_ok());
        assert!(matches!(
            need.admits(&principal(Role::Read, Scope::All)),
            Err(Refusal::Forbidden(_))
        ));
        let all = Requirement::new(Role::Read, Tenancy::All);
        assert!(all.admits(&principal(Role::Admin, Scope::All)).is_ok());
        let other = Scope::Tenants(vec![Tenant::new("other", "prod")]);
        assert!(need.admits(&principal(Role::Admin, other.clone())).is_err());
        assert!(all.admits(&principal(Role::Admin, other)).is_err());
        let only_shop = Scope::Tenants(vec![shop]);
        assert!(need.admits(&principal(Role::Write, only_shop)).is_ok());
        assert_eq!(read_or(&Method::HEAD, Role::Admin), Role::Read);
        assert_eq!(read_or(&Method::POST, Role::Admin), Role::Admin);
    }
}
