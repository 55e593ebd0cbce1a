//! Eureka's own fields of an instance (what the neutral model has no column for) and their
//! stored form, kept with every instance in `protocol_fields["eureka"]`.
//!
//! The stored form is compact JSON text: short keys, no values equal to Eureka's defaults, the
//! five boolean fields in one number, URLs on the instance's own host and port kept as their
//! path (`"/health"` for `http://10.0.0.1:8080/health`), and virtual addresses equal to the app
//! name (as given or lower-cased, as Spring clients send them) kept as a flag. A typical
//! instance's fields shrink from about 300 bytes to under 100, in memory, in the log and in
//! snapshots. Records written before this form (camelCase keys, no `"v"`) read the same.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde::Serialize;

use super::wire::DEFAULT_DATA_CENTER_CLASS;
use super::wire::MY_OWN_DATA_CENTER;
use crate::model::RawJson;

/// Eureka's own fields, kept verbatim so `InstanceInfo` round-trips exactly.
///
/// Its serde form is the older stored form (camelCase keys), still read for records written
/// before [`Compact`].
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub(super) struct EurekaFields {
    pub instance_id_given: bool,
    pub app: String,
    pub sid: Option<String>,
    pub port: u16,
    pub port_enabled: bool,
    pub secure_port: u16,
    pub secure_port_enabled: bool,
    pub country_id: i64,
    #[serde(default = "my_own")]
    pub data_center_name: String,
    #[serde(default = "default_class")]
    pub data_center_class: String,
    pub data_center_metadata: BTreeMap<String, String>,
    pub has_lease_info: bool,
    pub service_up_timestamp: i64,
    pub app_group_name: Option<String>,
    pub home_page_url: Option<String>,
    pub status_page_url: Option<String>,
    pub health_check_url: Option<String>,
    pub secure_health_check_url: Option<String>,
    pub vip_address: Option<String>,
    pub secure_vip_address: Option<String>,
    pub is_coordinating_discovery_server: bool,
    pub asg_name: Option<String>,
}

impl EurekaFields {
    /// The stored form for an instance on `host`.
    pub fn store(&self, host: &str) -> RawJson {
        RawJson::to_json(&Compact::of(self, host))
    }

    /// Reads either stored form back, for an instance on `host`; `None` if `raw` is neither.
    pub fn load(raw: &RawJson, host: &str) -> Option<Self> {
        if raw.as_str().starts_with(COMPACT_PREFIX) {
            raw.parse::<Compact>().map(|c| c.expand(host))
        } else {
            raw.parse()
        }
    }
}

/// The app name alone of either stored form, borrowed where it has no escapes: what the full
/// registry groups instances by before it converts any (`None` if `raw` is neither form).
pub(super) fn stored_app(raw: &RawJson) -> Option<std::borrow::Cow<'_, str>> {
    #[derive(Deserialize)]
    struct AppOnly<'a> {
        #[serde(borrow, default, alias = "app")]
        a: Option<std::borrow::Cow<'a, str>>,
    }
    let app: AppOnly<'_> = serde_json::from_str(raw.as_str()).ok()?;
    Some(app.a.unwrap_or_default())
}

fn my_own() -> String {
    MY_OWN_DATA_CENTER.into()
}

fn default_class() -> String {
    DEFAULT_DATA_CENTER_CLASS.into()
}

/// The compact form's version; the text starts with it, which tells the two forms apart.
const COMPACT_VERSION: u8 = 2;
const COMPACT_PREFIX: &str = r#"{"v":2"#;

/// Eureka's defaults (`InstanceInfo`'s), left out of the compact form.
const DEFAULT_PORT: u16 = 7001;
const DEFAULT_SECURE_PORT: u16 = 7002;
const DEFAULT_COUNTRY: i64 = 1;

/// Bits of [`Compact::f`].
mod flag {
    pub const INSTANCE_ID_GIVEN: u16 = 1;
    pub const PORT_ENABLED: u16 = 1 << 1;
    pub const SECURE_PORT_ENABLED: u16 = 1 << 2;
    pub const HAS_LEASE_INFO: u16 = 1 << 3;
    pub const COORDINATING_DISCOVERY_SERVER: u16 = 1 << 4;
    pub const VIP_IS_APP: u16 = 1 << 5;
    pub const VIP_IS_LOWER_APP: u16 = 1 << 6;
    pub const SECURE_VIP_IS_APP: u16 = 1 << 7;
    pub const SECURE_VIP_IS_LOWER_APP: u16 = 1 << 8;
}

/// The stored form. Every field but `v` is left out when it holds its default.
#[derive(Debug, Serialize, Deserialize)]
#[serde(default)]
struct Compact {
    v: u8,
    #[serde(skip_serializing_if = "is_zero")]
    f: u16,
    a: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    s: Option<String>,
    #[serde(skip_serializing_if = "is_default_port")]
    p: u16,
    #[serde(skip_serializing_if = "is_default_secure_port")]
    sp: u16,
    #[serde(skip_serializing_if = "is_default_country")]
    c: i64,
    #[serde(skip_serializing_if = "is_my_own")]
    dn: String,
    #[serde(skip_serializing_if = "is_default_class")]
    dc: String,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    dm: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "is_zero")]
    u: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    g: Option<String>,
    /// URLs: see [`relative_url`].
    #[serde(skip_serializing_if = "Option::is_none")]
    h: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    st: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    hc: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    sh: Option<String>,
    /// Virtual addresses the flags do not cover.
    #[serde(skip_serializing_if = "Option::is_none")]
    vip: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    svip: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    asg: Option<String>,
}

impl Default for Compact {
    fn default() -> Self {
        Self {
            v: COMPACT_VERSION,
            f: 0,
            a: String::new(),
            s: None,
            p: DEFAULT_PORT,
            sp: DEFAULT_SECURE_PORT,
            c: DEFAULT_COUNTRY,
            dn: my_own(),
            dc: default_class(),
            dm: BTreeMap::new(),
            u: 0,
            g: None,
            h: None,
            st: None,
            hc: None,
            sh: None,
            vip: None,
            svip: None,
            asg: None,
        }
    }
}

impl Compact {
    fn of(fields: &EurekaFields, host: &str) -> Self {
        let plain = base_url("http", host, fields.port);
        let secure = base_url("https", host, fields.secure_port);
        let (vip_flag, vip) = vip_flags(&fields.app, fields.vip_address.as_deref(), false);
        let (svip_flag, svip) = vip_flags(&fields.app, fields.secure_vip_address.as_deref(), true);
        let mut f = vip_flag | svip_flag;
        for (set, bit) in [
            (fields.instance_id_given, flag::INSTANCE_ID_GIVEN),
            (fields.port_enabled, flag::PORT_ENABLED),
            (fields.secure_port_enabled, flag::SECURE_PORT_ENABLED),
            (fields.has_lease_info, flag::HAS_LEASE_INFO),
            (
                fields.is_coordinating_discovery_server,
                flag::COORDINATING_DISCOVERY_SERVER,
            ),
        ] {
            if set {
                f |= bit;
            }
        }
        Self {
            v: COMPACT_VERSION,
            f,
            a: fields.app.clone(),
            s: fields.sid.clone(),
            p: fields.port,
            sp: fields.secure_port,
            c: fields.country_id,
            dn: fields.data_center_name.clone(),
            dc: fields.data_center_class.clone(),
            dm: fields.data_center_metadata.clone(),
            u: fields.service_up_timestamp,
            g: fields.app_group_name.clone(),
            h: fields.home_page_url.as_deref().map(|u| relative_url(u, &plain)),
            st: fields.status_page_url.as_deref().map(|u| relative_url(u, &plain)),
            hc: fields.health_check_url.as_deref().map(|u| relative_url(u, &plain)),
            sh: fields
                .secure_health_check_url
                .as_deref()
                .map(|u| relative_url(u, &secure)),
            vip,
            svip,
            asg: fields.asg_name.clone(),
        }
    }

    fn expand(self, host: &str) -> EurekaFields {
        let plain = base_url("http", host, self.p);
        let secure = base_url("https", host, self.sp);
        let has = |bit: u16| self.f & bit != 0;
        let vip = |given: Option<String>, as_is: u16, lower: u16| {
            if has(as_is) {
                Some(self.a.clone())
            } else if has(lower) {
                Some(self.a.to_lowercase())
            } else {
                given
            }
        };
        EurekaFields {
            instance_id_given: has(flag::INSTANCE_ID_GIVEN),
            port_enabled: has(flag::PORT_ENABLED),
            secure_port_enabled: has(flag::SECURE_PORT_ENABLED),
            has_lease_info: has(flag::HAS_LEASE_INFO),
            is_coordinating_discovery_server: has(flag::COORDINATING_DISCOVERY_SERVER),
            vip_address: vip(self.vip, flag::VIP_IS_APP, flag::VIP_IS_LOWER_APP),
            secure_vip_address: vip(self.svip, flag::SECURE_VIP_IS_APP, flag::SECURE_VIP_IS_LOWER_APP),
            sid: self.s,
            port: self.p,
            secure_port: self.sp,
            country_id: self.c,
            data_center_name: self.dn,
            data_center_class: self.dc,
            data_center_metadata: self.dm,
            service_up_timestamp: self.u,
            app_group_name: self.g,
            home_page_url: self.h.map(|u| absolute_url(u, &plain)),
            status_page_url: self.st.map(|u| absolute_url(u, &plain)),
            health_check_url: self.hc.map(|u| absolute_url(u, &plain)),
            secure_health_check_url: self.sh.map(|u| absolute_url(u, &secure)),
            asg_name: self.asg,
            app: self.a,
        }
    }
}

/// The flag for a virtual address equal to `app` (as given or lower-cased), or the address
/// itself when no flag says it.
fn vip_flags(app: &str, vip: Option<&str>, secure: bool) -> (u16, Option<String>) {
    let (as_is, lower) = if secure {
        (flag::SECURE_VIP_IS_APP, flag::SECURE_VIP_IS_LOWER_APP)
    } else {
        (flag::VIP_IS_APP, flag::VIP_IS_LOWER_APP)
    };
    match vip {
        Some(v) if v == app => (as_is, None),
        Some(v) if v == app.to_lowercase() => (lower, None),
        other => (0, other.map(str::to_string)),
    }
}

/// `scheme://host:port`, the start of the URLs clients build for themselves.
fn base_url(scheme: &str, host: &str, port: u16) -> String {
    format!("{scheme}://{host}:{port}")
}

/// A URL as stored: its path when it is on `base` (`/info`); other URLs as they are, with a
/// `=` in front of those that would otherwise read as a path or carry one already.
fn relative_url(url: &str, base: &str) -> String {
    match url.strip_prefix(base) {
        Some(path) if path.starts_with('/') => path.to_string(),
        _ if url.starts_with('/') || url.starts_with('=') => format!("={url}"),
        _ => url.to_string(),
    }
}

/// The inverse of [`relative_url`].
fn absolute_url(stored: String, base: &str) -> String {
    if stored.starts_with('/') {
        format!("{base}{stored}")
    } else if let Some(verbatim) = stored.strip_prefix('=') {
        verbatim.to_string()
    } else {
        stored
    }
}

fn is_zero<T: Default + PartialEq>(n: &T) -> bool {
    *n == T::default()
}

fn is_default_port(port: &u16) -> bool {
    *port == DEFAULT_PORT
}

fn is_default_secure_port(port: &u16) -> bool {
    *port == DEFAULT_SECURE_PORT
}

fn is_default_country(country: &i64) -> bool {
    *country == DEFAULT_COUNTRY
}

fn is_my_own(name: &str) -> bool {
    name == MY_OWN_DATA_CENTER
}

fn is_default_class(class: &str) -> bool {
    class == DEFAULT_DATA_CENTER_CLASS
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spring_like() -> EurekaFields {
        EurekaFields {
            instance_id_given: true,
            app: "ORDERS".into(),
            port: 8080,
            port_enabled: true,
            secure_port: 443,
            country_id: 1,
            data_center_name: my_own(),
            data_center_class: default_class(),
            has_lease_info: true,
            home_page_url: Some("http://10.0.0.1:8080/".into()),
            status_page_url: Some("http://10.0.0.1:8080/actuator/info".into()),
            health_check_url: Some("http://10.0.0.1:8080/actuator/health".into()),
            vip_address: Some("orders".into()),
            secure_vip_address: Some("orders".into()),
            ..EurekaFields::default()
        }
    }

    #[test]
    fn a_typical_instance_stores_only_what_the_record_does_not_say() {
        let stored = spring_like().store("10.0.0.1");
        assert_eq!(
            stored.as_str(),
            r#"{"v":2,"f":331,"a":"ORDERS","p":8080,"sp":443,"h":"/","st":"/actuator/info","hc":"/actuator/health"}"#
        );
        assert_eq!(EurekaFields::load(&stored, "10.0.0.1"), Some(spring_like()));
    }

    #[test]
    fn unusual_values_round_trip() {
        let unusual = EurekaFields {
            instance_id_given: false,
            app: "Mixed".into(),
            sid: Some("sid-1".into()),
            port: 7001,
            port_enabled: false,
            secure_port: 7002,
            secure_port_enabled: true,
            country_id: 0,
            data_center_name: String::new(),
            data_center_class: "com.netflix.appinfo.AmazonInfo".into(),
            data_center_metadata: [("instance-id".to_string(), "i-1".to_string())].into(),
            has_lease_info: false,
            service_up_timestamp: 1_700_000_000_000,
            app_group_name: Some(String::new()),
            home_page_url: Some("http://elsewhere:8080/".into()),
            status_page_url: Some("/relative".into()),
            health_check_url: Some("=odd".into()),
            secure_health_check_url: Some("https://host-1:7002/health".into()),
            vip_address: Some("other-vip".into()),
            secure_vip_address: None,
            is_coordinating_discovery_server: true,
            asg_name: Some("asg".into()),
        };
        let stored = unusual.store("host-1");
        assert!(stored.as_str().contains(r#""sh":"/health""#), "{stored:?}");
        assert_eq!(EurekaFields::load(&stored, "host-1"), Some(unusual.clone()));
        let mut lower = spring_like();
        lower.app = "ÄPP".into();
        lower.vip_address = Some("äpp".into());
        lower.secure_vip_address = Some("ÄPP".into());
        assert_eq!(EurekaFields::load(&lower.store("h"), "h"), Some(lower));
    }

    #[test]
    fn the_older_camel_case_form_still_reads() {
        let older = RawJson::to_json(&spring_like());
        assert!(older.as_str().contains("homePageUrl"));
        assert_eq!(EurekaFields::load(&older, "any-host"), Some(spring_like()));
        // That form left defaults out too: a missing data center is Eureka's own.
        let sparse = RawJson::to_json(&serde_json::json!({"app": "ORDERS", "port": 8080, "portEnabled": true}));
        let read = EurekaFields::load(&sparse, "any-host").unwrap();
        assert_eq!((read.data_center_name.as_str(), read.port), (MY_OWN_DATA_CENTER, 8080));
        assert_eq!(read.data_center_class, DEFAULT_DATA_CENTER_CLASS);
    }
}
