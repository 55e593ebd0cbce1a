//! Authentication and authorisation of every HTTP request. Off until users are configured
//! (`[[auth.users]]`); then every route but `/health` and `POST /v4/token` needs a credential:
//! HTTP Basic (Eureka clients: `http://user:pass@host:8761/eureka/`; operators, registryctl,
//! the dashboard) or a bearer token from `POST /v4/token` (ServiceCenter clients). What a request
//! needs is [`policy`]'s; who is configured is [`users`]'; tokens are [`token`]'s. A refusal
//! answers in the protocol's own format ([`crate::refusal`]): Eureka 401/403 with
//! `WWW-Authenticate`, ServiceCenter `401002`/`403001`, the node's endpoints `{"error": ...}`.

pub mod policy;
pub mod token;
pub mod users;

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ConnectInfo;
use axum::extract::Request;
use axum::extract::State;
use axum::http::header;
use axum::http::HeaderMap;
use axum::middleware::Next;
use axum::response::IntoResponse;
use axum::response::Response;
use axum::routing::post;
use axum::Router;
use base64::Engine;
use registry_store::model::Tenant;
use serde::Deserialize;
use serde_json::json;

use self::policy::Tenancy;
use self::token::TokenKeys;
use self::users::Checked;
use self::users::Principal;
use self::users::User;
use self::users::UserFile;
use self::users::Users;
use crate::limits::ClientAddr;
use crate::limits::RateLimit;
use crate::refusal::refusal;
use crate::refusal::Refusal;
use crate::servicecenter::core::body;
use crate::servicecenter::error::ErrorCode;
use crate::servicecenter::error::ScError;

/// How long a ServiceCenter token is valid unless configured.
pub const DEFAULT_TOKEN_TTL: Duration = Duration::from_secs(3600);
/// Tokens whose subject starts with this were minted by a node for its calls to the others
/// (user names cannot contain `:`); they may read everything, as the cluster's own reads do.
pub const NODE_PREFIX: &str = "node:";

/// The `[auth]` table of the configuration file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthFile {
    /// Shared by every node: signs tokens and authenticates node-to-node calls.
    pub cluster_secret: Option<String>,
    pub token_ttl_secs: Option<u64>,
    #[serde(default)]
    pub users: Vec<UserFile>,
}

/// Validated authentication settings; [`AuthSettings::enabled`] once users are configured.
#[derive(Debug, Clone, Default)]
pub struct AuthSettings {
    pub users: Users,
    /// Signs tokens (and authenticates nodes to each other, see the store's node settings).
    pub tokens: Option<TokenKeys>,
}

impl AuthSettings {
    /// From the file's `[auth]` table and the cluster secret (which the flag or environment may
    /// give instead of the file).
    pub fn from_file(file: &AuthFile, cluster_secret: Option<&str>) -> Result<Self, String> {
        let users = Users::new(file.users.iter().map(User::from_file).collect::<Result<_, _>>()?)?;
        let ttl = file.token_ttl_secs.map_or(DEFAULT_TOKEN_TTL, Duration::from_secs);
        let tokens = match cluster_secret {
            Some(secret) if secret.len() < 16 => {
                return Err("the cluster secret must be at least 16 characters".into());
            }
            Some(secret) => Some(TokenKeys::new(secret, ttl)),
            None if !users.is_empty() => {
                return Err("users are configured: set a cluster secret (--cluster-secret or auth.cluster_secret), shared by every node".into());
            }
            None => None,
        };
        Ok(Self { users, tokens })
    }

    pub fn enabled(&self) -> bool {
        !self.users.is_empty()
    }
}

/// Password checks each client address may make: a few a second, whatever the general rate
/// limit (guessing passwords is what it stops; a password once verified is not checked again).
const LOGIN_ATTEMPTS_PER_SECOND: u32 = 5;
const LOGIN_ATTEMPTS_BURST: u32 = 20;

/// Per-client limits on password checks.
#[derive(Clone)]
pub struct LoginLimit(Arc<RateLimit>);

impl std::fmt::Debug for LoginLimit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LoginLimit")
    }
}

impl LoginLimit {
    pub fn start() -> Self {
        let per_second = NonZeroU32::new(LOGIN_ATTEMPTS_PER_SECOND).unwrap_or(NonZeroU32::MIN);
        Self(RateLimit::start(per_second, NonZeroU32::new(LOGIN_ATTEMPTS_BURST)))
    }

    /// Whether `client` may make one more password check now (a request with no known client
    /// address is not limited here).
    fn admits(&self, client: Option<IpAddr>) -> bool {
        client.is_none_or(|c| self.0.check(c).is_ok())
    }
}

/// Checks requests against the configured users.
#[derive(Debug, Clone)]
pub struct Guard {
    settings: AuthSettings,
    eureka_tenant: Tenant,
    logins: LoginLimit,
}

impl Guard {
    pub fn new(settings: AuthSettings, eureka_tenant: Tenant) -> Self {
        Self {
            settings,
            eureka_tenant,
            logins: LoginLimit::start(),
        }
    }

    /// Who `headers` says is calling: Basic credentials or a bearer token. Password checks
    /// from `client` beyond its login limit are refused (429) without being made.
    pub async fn authenticate(&self, headers: &HeaderMap, client: Option<IpAddr>) -> Result<Principal, Refusal> {
        let missing = || Refusal::Unauthenticated("credentials are required".into());
        let value = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(missing)?;
        let (scheme, credential) = value.trim().split_once(' ').ok_or_else(missing)?;
        let credential = credential.trim();
        if scheme.eq_ignore_ascii_case("basic") {
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(credential)
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
                .ok_or_else(|| Refusal::Unauthenticated("malformed Basic credentials".into()))?;
            let (name, password) = decoded
                .split_once(':')
                .ok_or_else(|| Refusal::Unauthenticated("malformed Basic credentials".into()))?;
            return match self
                .settings
                .users
                .check(name, password, || self.logins.admits(client))
                .await
            {
                Checked::Limited => Err(too_many_attempts()),
                checked => checked
                    .principal()
                    .ok_or_else(|| Refusal::Unauthenticated("wrong user name or password".into())),
            };
        }
        if scheme.eq_ignore_ascii_case("bearer") {
            let keys = self.settings.tokens.as_ref().ok_or_else(missing)?;
            let name = keys.verify(credential).map_err(Refusal::Unauthenticated)?;
            if name.starts_with(NODE_PREFIX) {
                return Ok(Principal {
                    name,
                    role: users::Role::Read,
                    scope: users::Scope::All,
                });
            }
            return self
                .settings
                .users
                .get(&name)
                .cloned()
                .ok_or_else(|| Refusal::Unauthenticated(format!("user {name} no longer exists")));
        }
        Err(Refusal::Unauthenticated(format!(
            "unsupported authorization scheme {scheme}"
        )))
    }

    /// Whether `principal` may make a request needing `role` on `tenancy`.
    pub fn authorize(principal: &Principal, role: users::Role, tenancy: &Tenancy) -> Result<(), Refusal> {
        if principal.role < role {
            return Err(Refusal::Forbidden(format!(
                "{} has the {} role; this needs {}",
                principal.name,
                principal.role.as_str(),
                role.as_str()
            )));
        }
        match tenancy {
            Tenancy::One(t) if !principal.scope.admits(t) => Err(Refusal::Forbidden(format!(
                "{} may not reach tenant {t}",
                principal.name
            ))),
            Tenancy::All if principal.scope != users::Scope::All => Err(Refusal::Forbidden(format!(
                "{} is limited to some tenants; this spans all of them",
                principal.name
            ))),
            _ => Ok(()),
        }
    }
}

/// The middleware: authenticates and authorises each request, and hands the principal to the
/// handlers (request extensions) for the audit trail.
pub async fn check(State(guard): State<Arc<Guard>>, mut request: Request, next: Next) -> Response {
    let requirement = policy::requirement(
        request.method(),
        request.uri().path(),
        request.headers(),
        &guard.eureka_tenant,
    );
    let Some(role) = requirement.role else {
        return next.run(request).await;
    };
    let client = client_of(&request);
    let checked = guard
        .authenticate(request.headers(), client)
        .await
        .and_then(|p| Guard::authorize(&p, role, &requirement.tenancy).map(|()| p));
    match checked {
        Ok(principal) => {
            request.extensions_mut().insert(principal.clone());
            let mut response = next.run(request).await;
            // For the audit trail, which sees the response.
            response.extensions_mut().insert(principal);
            response
        }
        Err(e) => {
            tracing::info!(path = request.uri().path(), reason = %e, "request refused");
            refusal(requirement.protocol, &e)
        }
    }
}

#[derive(Deserialize)]
struct TokenRequest {
    name: String,
    password: String,
}

/// The client address of a request, as the listener saw it.
fn client_of(request: &Request) -> Option<IpAddr> {
    request
        .extensions()
        .get::<ConnectInfo<ClientAddr>>()
        .map(|ConnectInfo(ClientAddr(addr))| addr.ip())
}

fn too_many_attempts() -> Refusal {
    Refusal::TooManyRequests {
        retry_after: Duration::from_secs(1),
    }
}

/// What `POST /v4/token` needs: the users, and a limit on password checks per client.
struct TokenIssuer {
    settings: AuthSettings,
    logins: LoginLimit,
}

/// `POST /v4/token`: a bearer token for a user's name and password.
pub fn routes(settings: AuthSettings) -> Router {
    let issuer = TokenIssuer {
        settings,
        logins: LoginLimit::start(),
    };
    Router::new()
        .route("/v4/token", post(issue_token))
        .with_state(Arc::new(issuer))
}

/// The largest token request read (a name and a password).
const MAX_TOKEN_REQUEST_BYTES: usize = 64 * 1024;

async fn issue_token(State(issuer): State<Arc<TokenIssuer>>, request: Request) -> Response {
    let settings = &issuer.settings;
    let client = client_of(&request);
    let Ok(bytes) = axum::body::to_bytes(request.into_body(), MAX_TOKEN_REQUEST_BYTES).await else {
        return ScError::invalid("the token request is not readable or too large").into_response();
    };
    let Some(keys) = settings.tokens.as_ref().filter(|_| settings.enabled()) else {
        return ScError::invalid("authentication is not enabled on this registry: no token is needed").into_response();
    };
    let request: TokenRequest = match body(&bytes) {
        Ok(r) => r,
        Err(e) => return e.into_response(),
    };
    // Every request here is a password check, remembered or not: each counts.
    if !issuer.logins.admits(client) {
        return crate::refusal::refusal(policy::Protocol::ServiceCenter, &too_many_attempts());
    }
    if settings
        .users
        .check(&request.name, &request.password, || true)
        .await
        .principal()
        .is_none()
    {
        return ScError::new(ErrorCode::Unauthorized, "wrong user name or password").into_response();
    }
    match keys.issue(&request.name) {
        Ok(token) => axum::Json(json!({ "token": token })).into_response(),
        Err(e) => ScError::new(ErrorCode::Internal, e).into_response(),
    }
}
