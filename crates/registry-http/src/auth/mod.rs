//! Authentication and authorisation of every HTTP request. Off until users are configured
//! (`[[auth.users]]`); then every route but `/health` and `POST /v4/token` needs a credential:
//! HTTP Basic (Eureka clients: `http://user:pass@host:8761/eureka/`; operators, registryctl,
//! the dashboard) or a bearer token from `POST /v4/token` (ServiceCenter clients, served by
//! `servicecenter::token`). What a request needs is its endpoint's ([`crate::endpoint`], parsed
//! once by each protocol), in the terms of [`policy`]; who is configured is [`users`]'; tokens
//! are [`token`]'s. A refusal answers in the protocol's own format (the endpoint renders it):
//! Eureka 401/403 with `WWW-Authenticate`, ServiceCenter `401002`/`403001`, the node's
//! endpoints `{"error": ...}`.

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
use axum::response::Response;
use base64::Engine;
use serde::Deserialize;

use self::token::TokenKeys;
use self::users::Checked;
use self::users::Principal;
use self::users::User;
use self::users::UserFile;
use self::users::Users;
use crate::connections::ClientAddr;
use crate::endpoint::RequestEndpoint;
use crate::limits::RateLimit;
use crate::refusal::Refusal;

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
    pub fn admits(&self, client: Option<IpAddr>) -> bool {
        client.is_none_or(|c| self.0.check(c).is_ok())
    }
}

/// Checks requests against the configured users.
#[derive(Debug, Clone)]
pub struct Guard {
    settings: AuthSettings,
    logins: LoginLimit,
}

impl Guard {
    pub fn new(settings: AuthSettings) -> Self {
        Self {
            settings,
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
}

/// The middleware: authenticates and authorises each request as its endpoint
/// ([`RequestEndpoint`]) requires, and hands the principal to the handlers (request extensions)
/// and the audit trail (response extensions).
pub async fn check(State(guard): State<Arc<Guard>>, mut request: Request, next: Next) -> Response {
    let endpoint = RequestEndpoint::of(request.extensions());
    let Some(requirement) = endpoint.requirement() else {
        return next.run(request).await;
    };
    let client = client_of(&request);
    let checked = guard
        .authenticate(request.headers(), client)
        .await
        .and_then(|p| requirement.admits(&p).map(|()| p));
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
            endpoint.refuse(&e)
        }
    }
}

/// The client address of a request, as the listener saw it.
pub fn client_of(request: &Request) -> Option<IpAddr> {
    request
        .extensions()
        .get::<ConnectInfo<ClientAddr>>()
        .map(|ConnectInfo(ClientAddr(addr))| addr.ip())
}

/// The refusal of a client over its login limit.
pub fn too_many_attempts() -> Refusal {
    Refusal::TooManyRequests {
        retry_after: Duration::from_secs(1),
    }
}
