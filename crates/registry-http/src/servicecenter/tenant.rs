//! The tenant of a ServiceCenter request: `X-Domain-Name` (default `default`, case-folded) and
//! the `{project}` path segment; and [`ScTenant`], the extractor every handler takes it by,
//! which reads the tenant the endpoint middleware parsed ([`super::endpoint`]).

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::HeaderMap;
use registry_store::model::Tenant;

use super::endpoint::ScRequest;
use super::error::ScError;
use crate::endpoint::RequestEndpoint;

/// The tenant of a request: `X-Domain-Name` (default `default`) and the `{project}` segment.
pub fn tenant(headers: &HeaderMap, project: &str) -> Result<Tenant, ScError> {
    let domain = headers
        .get("x-domain-name")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|d| !d.is_empty())
        .unwrap_or("default");
    let tenant = Tenant::new(domain.to_ascii_lowercase(), project);
    registry_store::validate::tenant(&tenant).map_err(|e| ScError::invalid(format!("tenant: {e}")))?;
    Ok(tenant)
}

/// The `{project}` segment of a `/v4/{project}/...` path, percent-decoded as axum's `Path`
/// decodes it; `None` for any other path.
pub fn project_of(path: &str) -> Option<Result<String, ScError>> {
    let segment = path.strip_prefix("/v4/")?.split('/').next()?;
    Some(
        percent_encoding::percent_decode_str(segment)
            .decode_utf8()
            .map(|p| p.into_owned())
            .map_err(|_| ScError::invalid("tenant: the project is not UTF-8")),
    )
}

/// The tenant of `headers` and a `/v4/{project}/...` `path`.
pub fn tenant_of(path: &str, headers: &HeaderMap) -> Result<Tenant, ScError> {
    let project = project_of(path).unwrap_or_else(|| Err(ScError::invalid("tenant: no project in the path")))?;
    tenant(headers, &project)
}

/// The request's tenant; an invalid one is refused with 400001.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScTenant(pub Tenant);

impl<S: Send + Sync> FromRequestParts<S> for ScTenant {
    type Rejection = ScError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let parsed = parts
            .extensions
            .get::<RequestEndpoint>()
            .and_then(|e| e.get::<ScRequest>())
            .and_then(|r| r.tenant.clone());
        match parsed {
            Some(tenant) => tenant.map(ScTenant),
            // A router served without the endpoint middleware: read it here.
            None => tenant_of(parts.uri.path(), &parts.headers).map(ScTenant),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::servicecenter::error::ErrorCode;

    fn headers(domain: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("x-domain-name", domain.parse().unwrap());
        h
    }

    #[test]
    fn domain_header_and_project_segment() {
        assert_eq!(
            tenant_of("/v4/prod/registry/instances", &headers(" Shop ")).unwrap(),
            Tenant::new("shop", "prod")
        );
        assert_eq!(
            tenant_of("/v4/default/registry/instances", &HeaderMap::new()).unwrap(),
            Tenant::default_tenant()
        );
        assert_eq!(
            tenant_of("/v4/my%2Dproj/registry", &HeaderMap::new()).unwrap(),
            Tenant::new("default", "my-proj")
        );
        assert_eq!(
            tenant_of("/v4/a%2Fb/registry", &HeaderMap::new()).unwrap_err().code,
            ErrorCode::InvalidParams
        );
        assert!(tenant_of("/v4/%FF/registry", &HeaderMap::new()).is_err());
        assert!(tenant_of("/eureka/apps", &HeaderMap::new()).is_err());
    }

    #[tokio::test]
    async fn the_extractor_prefers_what_the_middleware_parsed() {
        let request = axum::http::Request::get("/v4/prod/registry/instances")
            .header("x-domain-name", "shop")
            .body(())
            .unwrap();
        let (mut parts, ()) = request.into_parts();
        let ScTenant(t) = ScTenant::from_request_parts(&mut parts, &()).await.unwrap();
        assert_eq!(t, Tenant::new("shop", "prod"));
        let parsed =
            super::super::endpoint::parse(&parts.method, "/v4/other/registry/instances", &HeaderMap::new()).unwrap();
        parts.extensions.insert(RequestEndpoint::new(parsed));
        let ScTenant(t) = ScTenant::from_request_parts(&mut parts, &()).await.unwrap();
        assert_eq!(t, Tenant::new("default", "other"));
    }
}
