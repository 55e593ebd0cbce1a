//! Tenants: ServiceCenter's `domain/project`; Eureka lives in a configurable one (`default/default`).

use std::fmt;

use serde::Deserialize;
use serde::Serialize;
use smol_str::SmolStr;

/// An isolated namespace of services and instances.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Tenant {
    /// ServiceCenter's `X-Domain-Name`; `default` unless a client says otherwise.
    pub domain: SmolStr,
    /// ServiceCenter's `{project}` path segment; `default` unless a client says otherwise.
    pub project: SmolStr,
}

impl Tenant {
    pub fn new(domain: impl Into<SmolStr>, project: impl Into<SmolStr>) -> Self {
        Self {
            domain: domain.into(),
            project: project.into(),
        }
    }

    /// `default/default`, which always exists.
    pub fn default_tenant() -> Self {
        Self::new("default", "default")
    }

    /// Parses `domain/project`.
    pub fn parse(text: &str) -> Option<Self> {
        let (domain, project) = text.split_once('/')?;
        if domain.is_empty() || project.is_empty() || project.contains('/') {
            return None;
        }
        Some(Self::new(domain, project))
    }
}

impl Default for Tenant {
    fn default() -> Self {
        Self::default_tenant()
    }
}

impl fmt::Display for Tenant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.domain, self.project)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_displays_domain_project() {
        let t = Tenant::parse("acme/shop").unwrap();
        assert_eq!(t, Tenant::new("acme", "shop"));
        assert_eq!(t.to_string(), "acme/shop");
        assert!(Tenant::parse("nodelimiter").is_none());
        assert!(Tenant::parse("/x").is_none());
        assert!(Tenant::parse("a/b/c").is_none());
    }
}
