//! `GET /admin/leases`: the leader's lease statistics and self-preservation state, with the
//! banner Eureka's dashboard shows for it (`../shared/specs/eureka.md` §6).
//!
//! Leases live in the leader's memory, so a follower answers with the leader's report
//! (`?local=true` asks this node alone: 503 unless it leads).

use axum::extract::Query;
use axum::extract::State;
use axum::response::IntoResponse;
use axum::response::Response;
use axum::routing::get;
use axum::Json;
use axum::Router;
use registry_store::lease::GuardRule;
use registry_store::lease::LeasePolicy;
use registry_store::lease::LeaseStats;
use registry_store::node::NodeError;
use registry_store::node::RegistryNode;
use serde::Deserialize;
use serde::Serialize;

use crate::error::ApiError;
use crate::member_http::MemberHttp;

/// Eureka's banner while self-preservation holds evictions.
pub const EMERGENCY: &str = "EMERGENCY! EUREKA MAY BE INCORRECTLY CLAIMING INSTANCES ARE UP WHEN THEY'RE NOT. \
RENEWALS ARE LESSER THAN THRESHOLD AND HENCE THE INSTANCES ARE NOT BEING EXPIRED JUST TO BE SAFE.";
/// Eureka's banner when renewals are low and self-preservation is off.
pub const BELOW_THRESHOLD_UNPROTECTED: &str = "RENEWALS ARE LESSER THAN THE THRESHOLD. THE SELF PRESERVATION MODE IS \
TURNED OFF. THIS MAY NOT PROTECT INSTANCE EXPIRY IN CASE OF NETWORK/OTHER PROBLEMS.";
/// The mass-expiry guard's banner while it holds a tenant's evictions (followed by the tenants).
pub const MASS_EXPIRY_HELD: &str =
    "EMERGENCY! MANY INSTANCES STOPPED RENEWING AT ONCE, MORE LIKELY A NETWORK PROBLEM THAN \
DEAD INSTANCES: THEIR EXPIRY IS HELD BACK JUST TO BE SAFE. TENANTS:";
/// Eureka's banner when self-preservation is off.
pub const SELF_PRESERVATION_OFF: &str =
    "THE SELF PRESERVATION MODE IS TURNED OFF. THIS MAY NOT PROTECT INSTANCE EXPIRY IN CASE OF NETWORK/OTHER PROBLEMS.";

/// The leader's leases and what they mean for evictions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LeaseReport {
    /// The leader that keeps these leases.
    pub node_id: u64,
    pub self_preservation: bool,
    /// The guard's rule: `mass-expiry` or `eureka`.
    pub rule: String,
    /// Eureka rule: share of expected renewals below which self-preservation holds evictions.
    pub renewal_percent_threshold: f64,
    /// Mass-expiry rule: share and count of a tenant's leases expiring within one window that
    /// hold its evictions, and the longest hold.
    pub mass_expiry_share: f64,
    pub mass_expiry_min: usize,
    pub max_hold_secs: u64,
    /// Tenants whose evictions the mass-expiry rule holds now.
    pub held_tenants: Vec<String>,
    /// The window renewals are counted over.
    pub window_secs: u64,
    /// Instances holding a lease.
    pub leases: usize,
    pub renewals_last_window: u64,
    /// Renewals per window at or below which evictions stop while self-preservation is on.
    pub threshold: u64,
    /// Whether expired leases are evicted now.
    pub expiry_enabled: bool,
    /// Renewals are at or below the threshold while instances hold leases, counted over a
    /// full window.
    pub below_threshold: bool,
    /// How long the leader has counted renewals (a young leader extrapolates).
    pub counted_for_secs: u64,
    /// The banner Eureka's dashboard shows in this state, if any.
    pub banner: Option<String>,
}

impl LeaseReport {
    /// This node's report while it leads.
    pub fn local(node: &RegistryNode) -> Option<Self> {
        let keeper = node.leases();
        let stats = keeper.stats()?;
        let policy = keeper.policy();
        let below_threshold = below_threshold(&stats, policy.window_ms);
        Some(Self {
            node_id: node.node_id(),
            self_preservation: policy.self_preservation,
            rule: rule_name(policy.rule).into(),
            renewal_percent_threshold: policy.renewal_percent_threshold,
            mass_expiry_share: policy.mass_expiry_share,
            mass_expiry_min: policy.mass_expiry_min,
            max_hold_secs: policy.max_hold_ms / 1000,
            window_secs: policy.window_ms / 1000,
            leases: stats.leases,
            renewals_last_window: stats.renewals_last_window,
            threshold: stats.threshold,
            expiry_enabled: stats.expiry_enabled,
            below_threshold,
            counted_for_secs: stats.counted_for_ms / 1000,
            banner: report_banner(&policy, below_threshold, &stats.held_tenants),
            held_tenants: stats.held_tenants,
        })
    }
}

/// The configuration name of a guard rule.
pub fn rule_name(rule: GuardRule) -> &'static str {
    match rule {
        GuardRule::MassExpiry => "mass-expiry",
        GuardRule::Eureka => "eureka",
    }
}

/// The banner for what the guard does now: Eureka's wording under its rule, ours for a
/// mass-expiry hold (which names the tenants held); none while all is well.
fn report_banner(policy: &LeasePolicy, below_threshold: bool, held: &[String]) -> Option<String> {
    if policy.self_preservation && !held.is_empty() {
        return Some(format!("{MASS_EXPIRY_HELD} {}", held.join(", ")));
    }
    match policy.rule {
        GuardRule::Eureka => banner(policy.self_preservation, below_threshold).map(str::to_string),
        GuardRule::MassExpiry => (!policy.self_preservation).then(|| SELF_PRESERVATION_OFF.to_string()),
    }
}

/// Whether renewals are at or below the threshold. Like Eureka's start-up wait, a leader that
/// has not yet counted a full window raises no alarm: its clients may not have renewed even
/// once. Unlike Eureka, an empty registry is not below the threshold: no instance can be
/// wrongly claimed up.
pub fn below_threshold(stats: &LeaseStats, window_ms: u64) -> bool {
    stats.leases > 0 && stats.counted_for_ms >= window_ms && stats.renewals_last_window <= stats.threshold
}

impl LeaseReport {
    /// The leader's report: this node's while it leads, else asked of the leader; why not when
    /// the leader cannot be reached.
    pub async fn from_cluster(node: &RegistryNode, members: &MemberHttp) -> Result<Self, String> {
        if let Some(local) = Self::local(node) {
            return Ok(local);
        }
        members
            .leader_json("/admin/leases?local=true")
            .await
            .ok_or_else(|| "the leader, which keeps the leases, cannot be reached".to_string())
    }
}

/// The banner for a self-preservation setting and renewal state, as Eureka words it.
pub fn banner(self_preservation: bool, below_threshold: bool) -> Option<&'static str> {
    match (self_preservation, below_threshold) {
        (true, true) => Some(EMERGENCY),
        (true, false) => None,
        (false, true) => Some(BELOW_THRESHOLD_UNPROTECTED),
        (false, false) => Some(SELF_PRESERVATION_OFF),
    }
}

#[derive(Clone)]
struct LeaseState {
    node: RegistryNode,
    members: MemberHttp,
}

#[derive(Deserialize)]
struct ReportQuery {
    #[serde(default)]
    local: bool,
}

pub fn routes(node: RegistryNode, members: MemberHttp) -> Router {
    Router::new()
        .route("/admin/leases", get(report))
        .with_state(LeaseState { node, members })
}

async fn report(State(s): State<LeaseState>, Query(q): Query<ReportQuery>) -> Response {
    let report = if q.local {
        LeaseReport::local(&s.node).ok_or_else(|| "this node does not lead: leases are kept by the leader".to_string())
    } else {
        LeaseReport::from_cluster(&s.node, &s.members).await
    };
    match report {
        Ok(report) => Json(report).into_response(),
        Err(why) => ApiError::Node(NodeError::Unavailable(why)).into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn banners_follow_eurekas_dashboard() {
        assert_eq!(banner(true, false), None);
        assert_eq!(banner(true, true), Some(EMERGENCY));
        assert_eq!(banner(false, true), Some(BELOW_THRESHOLD_UNPROTECTED));
        assert_eq!(banner(false, false), Some(SELF_PRESERVATION_OFF));
        assert!(EMERGENCY.starts_with("EMERGENCY! EUREKA MAY BE INCORRECTLY CLAIMING INSTANCES ARE UP"));
    }

    #[test]
    fn below_threshold_only_over_a_full_window_with_leases() {
        let stats = LeaseStats {
            leases: 10,
            renewals_last_window: 5,
            threshold: 17,
            expiry_enabled: false,
            held_tenants: Vec::new(),
            counted_for_ms: 60_000,
        };
        assert!(below_threshold(&stats, 60_000));
        let young = LeaseStats {
            counted_for_ms: 59_999,
            ..stats.clone()
        };
        assert!(!below_threshold(&young, 60_000));
        let renewing = LeaseStats {
            renewals_last_window: 18,
            ..stats.clone()
        };
        assert!(!below_threshold(&renewing, 60_000));
        let empty = LeaseStats {
            leases: 0,
            renewals_last_window: 0,
            threshold: 0,
            ..stats
        };
        assert!(!below_threshold(&empty, 60_000));
    }

    #[test]
    fn the_banner_says_what_the_guard_does() {
        let mass = LeasePolicy::default();
        assert_eq!(
            report_banner(&mass, true, &[]),
            None,
            "renewal rates do not matter to the mass rule"
        );
        let held = report_banner(&mass, false, &["default/default".into()]).unwrap();
        assert!(
            held.starts_with("EMERGENCY!") && held.ends_with("TENANTS: default/default"),
            "{held}"
        );
        let eureka = LeasePolicy {
            rule: GuardRule::Eureka,
            ..LeasePolicy::default()
        };
        assert_eq!(report_banner(&eureka, true, &[]).as_deref(), Some(EMERGENCY));
        assert_eq!(report_banner(&eureka, false, &[]), None);
        let off = LeasePolicy {
            self_preservation: false,
            ..LeasePolicy::default()
        };
        assert_eq!(report_banner(&off, false, &[]).as_deref(), Some(SELF_PRESERVATION_OFF));
    }
}
