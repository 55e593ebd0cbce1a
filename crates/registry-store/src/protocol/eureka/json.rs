//! Eureka JSON (the Jackson "LegacyJacksonJson" format): exact output, lenient input.
//!
//! **Output** is written by hand into a `Vec<u8>` in the exact field order of spec §3 (it is the
//! hot path of `GET /apps`); serde_json only escapes strings. Nulls are omitted, lists are always
//! arrays, `port.$` and `countryId` and `leaseInfo` are numbers, the last timestamps are strings.
//!
//! **Input** is parsed into a `serde_json::Value` and read leniently (spec §3 "Input leniency"):
//! - roots `{"instance":{…}}` or the bare object, `{"applications":{…}}` or the bare object;
//!   `application` and `instance` lists as arrays or single objects (Netflix/eureka#642);
//! - `null` is absent, unknown keys are ignored, numbers and booleans may be strings, and text may
//!   come as an XML-style `{"$": …}` object;
//! - `port` / `securePort` as a bare number or `{"$", "@enabled"}`; `$` number or numeric string,
//!   `@enabled` bool or string; without `@enabled` the port is on and the secure port off; a port
//!   missing altogether (or without a number) keeps the defaults of Java's `InstanceInfo.Builder`:
//!   port 7001 enabled, secure port 7002 disabled;
//! - `dataCenterInfo` without `@class` gets [`DataCenterInfo::class_for`] its name; absent, it
//!   reads as name and class `""` (the handler answers 400 `Missing dataCenterInfo`); without a
//!   name, as name `""` (400 `Missing dataCenterInfo Name`);
//! - `overriddenStatus` or `overriddenstatus`; `@class` inside metadata maps is skipped;
//! - defaults: `status` UP, `overriddenStatus` UNKNOWN, `countryId` 1, lease interval 30 s and
//!   duration 90 s, timestamps 0 (the handler stamps them), `hostName` / `app` / `ipAddr` `""`
//!   (the handler answers 400); values are kept as sent (no upper-casing here);
//! - a value of the wrong shape (an array for `hostName`, `"abc"` for a port, 70000 for a port) is
//!   [`DecodeError::InvalidField`]; nothing panics.
//!
//! **Caps** (issue 19, attack 2): before parsing, one pass over the bytes refuses nesting deeper
//! than [`MAX_DEPTH`] and a registration of more than [`MAX_VALUES`] values; a metadata map of
//! more than [`MAX_METADATA_ENTRIES`] entries is refused too, each as
//! [`DecodeError::OverLimit`]. A real client's registration has fewer than 100 values, nests
//! four deep (`instance` → `dataCenterInfo` → `metadata`) and an `/apps` document eight deep.
//!
//! The XML reader ([`super::xml`]) maps its element tree onto this same shape and reuses
//! `instance_from_map` / `applications_from_map`, so both formats share one set of rules.

use std::borrow::Cow;
use std::collections::BTreeMap;

use serde_json::Map;
use serde_json::Value;

use super::wire::ActionType;
use super::wire::Application;
use super::wire::Applications;
use super::wire::DataCenterInfo;
use super::wire::Detail;
use super::wire::InstanceInfo;
use super::wire::LeaseInfo;
use super::wire::Port;
use super::wire::Status;
use super::wire::EMPTY_MAP_CLASS;
use super::DecodeError;

const FORMAT: &str = "JSON";

/// Deepest nesting of objects and arrays (of elements, in XML) a body may have.
pub const MAX_DEPTH: usize = 32;

/// Most entries in one metadata map (the store keeps at most `validate::MAX_MAP_ENTRIES`, 512).
pub const MAX_METADATA_ENTRIES: usize = 1_000;

/// Most values in one registration body (counted as opening brackets and commas outside
/// strings, so never more than there are). `/apps` documents, which a followed registry sends,
/// grow with its instances and have no such cap: the HTTP client's body limit bounds them.
pub const MAX_VALUES: usize = 10_000;

/// Rough size of one encoded instance, to allocate once.
const INSTANCE_SIZE_HINT: usize = 1280;

/// What a missing `port` reads as: `InstanceInfo.Builder`'s `DEFAULT_PORT`, enabled.
const DEFAULT_PORT: Port = Port {
    number: 7001,
    enabled: true,
};

/// What a missing `securePort` reads as: `DEFAULT_SECURE_PORT`, disabled.
const DEFAULT_SECURE_PORT: Port = Port {
    number: 7002,
    enabled: false,
};

/// `{"applications":{"versions__delta":…,"apps__hashcode":…,"application":[…]}}`.
pub fn encode_applications(apps: &Applications) -> Vec<u8> {
    encode_applications_as(apps, Detail::Full)
}

/// [`encode_applications`] with each instance at `detail`.
pub fn encode_applications_as(apps: &Applications, detail: Detail) -> Vec<u8> {
    let instances: usize = apps.applications.iter().map(|app| app.instances.len()).sum();
    let mut out = Vec::with_capacity(128 + instances * INSTANCE_SIZE_HINT);
    let mut root = Obj::open(&mut out);
    write_applications(root.key("applications"), apps, detail);
    root.close();
    out
}

/// `{"application":{"name":…,"instance":[…]}}`.
pub fn encode_application(app: &Application) -> Vec<u8> {
    encode_application_as(app, Detail::Full)
}

/// [`encode_application`] with each instance at `detail`.
pub fn encode_application_as(app: &Application, detail: Detail) -> Vec<u8> {
    let mut out = Vec::with_capacity(64 + app.instances.len() * INSTANCE_SIZE_HINT);
    let mut root = Obj::open(&mut out);
    write_application(root.key("application"), app, detail);
    root.close();
    out
}

/// The full registry document in parts, for a payload assembled from pieces encoded apart:
/// [`applications_head`], then each application as [`application_head`], its instances (runs
/// of [`encode_instances`] joined by [`SEPARATOR`]) and [`APPLICATION_TAIL`], the applications
/// joined by [`SEPARATOR`], then [`APPLICATIONS_TAIL`]. Put together they are, byte for byte,
/// [`encode_applications_as`] of the same applications.
pub fn applications_head(out: &mut Vec<u8>, versions_delta: &str, apps_hashcode: &str) {
    // The objects are left open: the parts after them close them.
    let mut root = Obj::open(out);
    let mut apps = Obj::open(root.key("applications"));
    apps.text("versions__delta", versions_delta);
    apps.text("apps__hashcode", apps_hashcode);
    apps.key("application").push(b'[');
}

/// See [`applications_head`].
pub const APPLICATIONS_TAIL: &[u8] = b"]}}";

/// Between two applications, and between two runs of instances.
pub const SEPARATOR: &[u8] = b",";

/// See [`applications_head`].
pub fn application_head(out: &mut Vec<u8>, name: &str) {
    let mut app = Obj::open(out);
    app.text("name", name);
    app.key("instance").push(b'[');
}

/// See [`applications_head`].
pub const APPLICATION_TAIL: &[u8] = b"]}";

/// Instances at `detail`, joined by [`SEPARATOR`] (a run of an application's instance list).
pub fn encode_instances(out: &mut Vec<u8>, infos: &[InstanceInfo], detail: Detail) {
    for (index, info) in infos.iter().enumerate() {
        if index > 0 {
            out.extend_from_slice(SEPARATOR);
        }
        write_instance(out, info, detail);
    }
}

/// `{"instance":{…}}`.
pub fn encode_instance(info: &InstanceInfo) -> Vec<u8> {
    let mut out = Vec::with_capacity(INSTANCE_SIZE_HINT);
    let mut root = Obj::open(&mut out);
    write_instance(root.key("instance"), info, Detail::Full);
    root.close();
    out
}

/// Reads `{"instance":{…}}` or the bare instance object.
pub fn decode_instance(body: &[u8]) -> Result<InstanceInfo, DecodeError> {
    let value = parse(body, MAX_VALUES)?;
    let map = unwrap_root(&value, "instance").ok_or(DecodeError::MissingRoot {
        format: FORMAT,
        expected: "instance",
    })?;
    instance_from_map(map, FORMAT)
}

/// Reads `{"applications":{…}}` or the bare object, as another Eureka server sends it.
pub fn decode_applications(body: &[u8]) -> Result<Applications, DecodeError> {
    let value = parse(body, usize::MAX)?;
    let map = unwrap_root(&value, "applications").ok_or(DecodeError::MissingRoot {
        format: FORMAT,
        expected: "applications",
    })?;
    applications_from_map(map, FORMAT)
}

/// An instance from its (unwrapped) object; `format` names the wire format in errors.
pub(super) fn instance_from_map(map: &Map<String, Value>, format: &'static str) -> Result<InstanceInfo, DecodeError> {
    read_instance(Fields::root(map, format))
}

/// `Applications` from its (unwrapped) object; `format` names the wire format in errors.
pub(super) fn applications_from_map(
    map: &Map<String, Value>,
    format: &'static str,
) -> Result<Applications, DecodeError> {
    let fields = Fields::root(map, format);
    Ok(Applications {
        versions_delta: fields.text(&["versions__delta"])?.unwrap_or_default(),
        apps_hashcode: fields.text(&["apps__hashcode"])?.unwrap_or_default(),
        applications: fields
            .objects("application")?
            .into_iter()
            .map(read_application)
            .collect::<Result<_, _>>()?,
    })
}

/// Appends `value` in decimal (no allocation; shared with the XML writer).
pub(super) fn push_int(out: &mut Vec<u8>, value: i64) {
    if value < 0 {
        out.push(b'-');
    }
    let mut rest = value.unsigned_abs();
    let mut digits = [0u8; 20];
    let mut start = digits.len();
    loop {
        start -= 1;
        digits[start] = b'0' + (rest % 10) as u8;
        rest /= 10;
        if rest == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[start..]);
}

/// Eureka's booleans on the wire.
pub(super) fn bool_text(value: bool) -> &'static str {
    if value {
        "true"
    } else {
        "false"
    }
}

// ---- writing -------------------------------------------------------------------------------

/// A JSON object being written; knows whether the next member needs a comma.
struct Obj<'a> {
    out: &'a mut Vec<u8>,
    empty: bool,
}

impl<'a> Obj<'a> {
    fn open(out: &'a mut Vec<u8>) -> Self {
        out.push(b'{');
        Self { out, empty: true }
    }

    /// Writes `"key":` and hands out the buffer for the value.
    fn key(&mut self, key: &str) -> &mut Vec<u8> {
        if !self.empty {
            self.out.push(b',');
        }
        self.empty = false;
        push_str(self.out, key);
        self.out.push(b':');
        self.out
    }

    fn text(&mut self, key: &str, value: &str) {
        push_str(self.key(key), value);
    }

    fn int(&mut self, key: &str, value: i64) {
        push_int(self.key(key), value);
    }

    /// A number written as a JSON string (`"lastUpdatedTimestamp":"1700…"`).
    fn int_text(&mut self, key: &str, value: i64) {
        let out = self.key(key);
        out.push(b'"');
        push_int(out, value);
        out.push(b'"');
    }

    fn close(self) {
        self.out.push(b'}');
    }
}

/// Appends `text` as a JSON string literal.
fn push_str(out: &mut Vec<u8>, text: &str) {
    serde_json::to_writer(&mut *out, text).expect("serialising a str into a Vec<u8> cannot fail");
}

fn write_array<T>(out: &mut Vec<u8>, items: &[T], write: impl Fn(&mut Vec<u8>, &T)) {
    out.push(b'[');
    for (index, item) in items.iter().enumerate() {
        if index > 0 {
            out.push(b',');
        }
        write(out, item);
    }
    out.push(b']');
}

fn write_applications(out: &mut Vec<u8>, apps: &Applications, detail: Detail) {
    let mut obj = Obj::open(out);
    obj.text("versions__delta", &apps.versions_delta);
    obj.text("apps__hashcode", &apps.apps_hashcode);
    write_array(obj.key("application"), &apps.applications, |out, app| {
        write_application(out, app, detail)
    });
    obj.close();
}

fn write_application(out: &mut Vec<u8>, app: &Application, detail: Detail) {
    let mut obj = Obj::open(out);
    obj.text("name", &app.name);
    write_array(obj.key("instance"), &app.instances, |out, info| {
        write_instance(out, info, detail)
    });
    obj.close();
}

/// The fields of spec §3, in its order (at [`Detail::Compact`], without those it leaves out).
fn write_instance(out: &mut Vec<u8>, info: &InstanceInfo, detail: Detail) {
    let full = detail.is_full();
    let mut obj = Obj::open(out);
    if let Some(id) = &info.instance_id {
        obj.text("instanceId", id);
    }
    obj.text("hostName", &info.host_name);
    obj.text("app", &info.app);
    obj.text("ipAddr", &info.ip_addr);
    if let Some(sid) = info.wire_sid().filter(|_| full) {
        obj.text("sid", sid);
    }
    obj.text("status", info.status.as_str());
    if full {
        obj.text("overriddenStatus", info.overridden_status.as_str());
    }
    write_port(obj.key("port"), info.port);
    write_port(obj.key("securePort"), info.secure_port);
    if full {
        obj.int("countryId", info.country_id);
    }
    write_data_center(obj.key("dataCenterInfo"), &info.data_center_info, detail);
    if full {
        if let Some(lease) = &info.lease_info {
            write_lease(obj.key("leaseInfo"), lease);
        }
        write_metadata(obj.key("metadata"), &info.metadata);
    }
    write_trailer(&mut obj, info, detail);
    obj.close();
}

/// Everything after `metadata`: optional URLs and VIPs, then flags, timestamps and action.
fn write_trailer(obj: &mut Obj<'_>, info: &InstanceInfo, detail: Detail) {
    for (name, value) in info.optional_text_fields() {
        if let Some(value) = value.filter(|_| detail.shows_text_field(name)) {
            obj.text(name, value);
        }
    }
    if detail.is_full() {
        obj.text(
            "isCoordinatingDiscoveryServer",
            bool_text(info.is_coordinating_discovery_server),
        );
    }
    obj.int_text("lastUpdatedTimestamp", info.last_updated_timestamp);
    if detail.is_full() {
        obj.int_text("lastDirtyTimestamp", info.last_dirty_timestamp);
    }
    if let Some(action) = info.action_type {
        obj.text("actionType", action.as_str());
    }
    if let Some(asg) = &info.asg_name {
        obj.text("asgName", asg);
    }
}

/// `{"$":8080,"@enabled":"true"}`: the number as a number, the flag as a string.
fn write_port(out: &mut Vec<u8>, port: Port) {
    let mut obj = Obj::open(out);
    obj.int("$", port.number.into());
    obj.text("@enabled", bool_text(port.enabled));
    obj.close();
}

fn write_data_center(out: &mut Vec<u8>, data_center: &DataCenterInfo, detail: Detail) {
    let mut obj = Obj::open(out);
    obj.text("@class", &data_center.class);
    obj.text("name", &data_center.name);
    if data_center.has_wire_metadata() {
        write_string_map(obj.key("metadata"), detail.data_center_entries(&data_center.metadata));
    }
    obj.close();
}

fn write_lease(out: &mut Vec<u8>, lease: &LeaseInfo) {
    let mut obj = Obj::open(out);
    obj.int("renewalIntervalInSecs", lease.renewal_interval_in_secs.into());
    obj.int("durationInSecs", lease.duration_in_secs.into());
    obj.int("registrationTimestamp", lease.registration_timestamp);
    obj.int("lastRenewalTimestamp", lease.last_renewal_timestamp);
    obj.int("evictionTimestamp", lease.eviction_timestamp);
    obj.int("serviceUpTimestamp", lease.service_up_timestamp);
    obj.close();
}

/// Instance metadata; Java writes an empty map as `{"@class":"java.util.Collections$EmptyMap"}`.
fn write_metadata(out: &mut Vec<u8>, metadata: &BTreeMap<String, String>) {
    if metadata.is_empty() {
        let mut obj = Obj::open(out);
        obj.text("@class", EMPTY_MAP_CLASS);
        obj.close();
    } else {
        write_string_map(out, metadata);
    }
}

fn write_string_map<'m>(out: &mut Vec<u8>, entries: impl IntoIterator<Item = (&'m String, &'m String)>) {
    let mut obj = Obj::open(out);
    for (key, value) in entries {
        obj.text(key, value);
    }
    obj.close();
}

// ---- reading -------------------------------------------------------------------------------

/// A body past one of the caps.
pub(super) fn over_limit(format: &'static str, reason: impl ToString) -> DecodeError {
    DecodeError::OverLimit {
        format,
        reason: reason.to_string(),
    }
}

fn parse(body: &[u8], max_values: usize) -> Result<Value, DecodeError> {
    check_shape(body, max_values)?;
    serde_json::from_slice(body).map_err(|err| DecodeError::Malformed {
        format: FORMAT,
        reason: err.to_string(),
    })
}

/// One pass over the bytes before any value is built: nesting deeper than [`MAX_DEPTH`], or more
/// than `max_values` opening brackets and commas outside strings, is refused. What is malformed
/// is left to the parser.
fn check_shape(body: &[u8], max_values: usize) -> Result<(), DecodeError> {
    let mut depth = 0usize;
    let mut values = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for &byte in body {
        if in_string {
            if escaped {
                escaped = false;
            } else if byte == b'\\' {
                escaped = true;
            } else if byte == b'"' {
                in_string = false;
            }
            continue;
        }
        match byte {
            b'"' => in_string = true,
            b'{' | b'[' => {
                depth += 1;
                if depth > MAX_DEPTH {
                    return Err(over_limit(FORMAT, format!("nested deeper than {MAX_DEPTH}")));
                }
                values += 1;
            }
            b'}' | b']' => depth = depth.saturating_sub(1),
            b',' => values += 1,
            _ => continue,
        }
        if values > max_values {
            return Err(over_limit(FORMAT, format!("more than {max_values} values")));
        }
    }
    Ok(())
}

/// `{"<root>": {…}}` → the inner object (also a one-element array of it); a bare object → itself.
fn unwrap_root<'v>(value: &'v Value, root: &str) -> Option<&'v Map<String, Value>> {
    let map = value.as_object()?;
    match map.get(root) {
        None => Some(map),
        Some(Value::Object(inner)) => Some(inner),
        Some(Value::Array(items)) if items.len() == 1 => items[0].as_object(),
        Some(_) => None,
    }
}

/// One JSON object read leniently. `path` (the key it came from) and `format` go into errors.
#[derive(Clone, Copy)]
struct Fields<'v> {
    map: &'v Map<String, Value>,
    path: Option<&'static str>,
    format: &'static str,
}

impl<'v> Fields<'v> {
    fn root(map: &'v Map<String, Value>, format: &'static str) -> Self {
        Self {
            map,
            path: None,
            format,
        }
    }

    fn nested(&self, path: &'static str, map: &'v Map<String, Value>) -> Self {
        Self {
            map,
            path: Some(path),
            format: self.format,
        }
    }

    fn invalid(&self, field: &str, reason: &str) -> DecodeError {
        let field = match self.path {
            Some(path) => format!("{path}.{field}"),
            None => field.to_owned(),
        };
        DecodeError::InvalidField {
            format: self.format,
            field,
            reason: reason.to_owned(),
        }
    }

    /// The first of `names` present with a non-null value.
    fn get(&self, names: &[&str]) -> Option<&'v Value> {
        names
            .iter()
            .filter_map(|name| self.map.get(*name))
            .find(|value| !value.is_null())
    }

    /// A scalar as text: strings as they are, numbers and booleans spelled out, `{"$": x}` as `x`.
    fn scalar_text(&self, field: &str, value: &'v Value) -> Result<Option<Cow<'v, str>>, DecodeError> {
        match value {
            Value::Null => Ok(None),
            Value::String(text) => Ok(Some(Cow::Borrowed(text))),
            Value::Number(number) => Ok(Some(Cow::Owned(number.to_string()))),
            Value::Bool(flag) => Ok(Some(Cow::Borrowed(bool_text(*flag)))),
            Value::Object(map) => match map.get("$") {
                Some(inner) if !inner.is_object() => self.scalar_text(field, inner),
                _ => Err(self.invalid(field, "expected text, found an object")),
            },
            Value::Array(_) => Err(self.invalid(field, "expected text, found an array")),
        }
    }

    fn text(&self, names: &[&'static str]) -> Result<Option<String>, DecodeError> {
        match self.get(names) {
            None => Ok(None),
            Some(value) => Ok(self.scalar_text(names[0], value)?.map(Cow::into_owned)),
        }
    }

    fn number<T: TryFrom<i64>>(&self, names: &[&'static str]) -> Result<Option<T>, DecodeError> {
        match self.get(names) {
            None => Ok(None),
            Some(value) => self.number_value(names[0], value),
        }
    }

    /// A whole number (or numeric string) that fits `T`; blank text is absent.
    fn number_value<T: TryFrom<i64>>(&self, field: &str, value: &'v Value) -> Result<Option<T>, DecodeError> {
        let Some(text) = self.scalar_text(field, value)? else {
            return Ok(None);
        };
        let text = text.trim();
        if text.is_empty() {
            return Ok(None);
        }
        let number = text.parse::<i64>().ok().and_then(|number| T::try_from(number).ok());
        number
            .map(Some)
            .ok_or_else(|| self.invalid(field, "expected a whole number in range"))
    }

    /// `true` / `false` as booleans or (any-case) strings; blank text is absent.
    fn boolean(&self, names: &[&'static str]) -> Result<Option<bool>, DecodeError> {
        let Some(value) = self.get(names) else {
            return Ok(None);
        };
        let Some(text) = self.scalar_text(names[0], value)? else {
            return Ok(None);
        };
        match text.trim() {
            "" => Ok(None),
            flag if flag.eq_ignore_ascii_case("true") => Ok(Some(true)),
            flag if flag.eq_ignore_ascii_case("false") => Ok(Some(false)),
            _ => Err(self.invalid(names[0], "expected true or false")),
        }
    }

    /// A status name; unrecognised text is `UNKNOWN` (as Java's `toEnum`).
    fn status(&self, names: &[&'static str]) -> Result<Option<Status>, DecodeError> {
        Ok(self.text(names)?.map(|text| Status::parse(&text)))
    }

    fn object(&self, name: &'static str) -> Result<Option<Fields<'v>>, DecodeError> {
        match self.get(&[name]) {
            None => Ok(None),
            Some(Value::Object(map)) => Ok(Some(self.nested(name, map))),
            Some(_) => Err(self.invalid(name, "expected an object")),
        }
    }

    /// A list given as an array of objects or as one object; nulls in the array are skipped.
    fn objects(&self, name: &'static str) -> Result<Vec<Fields<'v>>, DecodeError> {
        match self.get(&[name]) {
            None => Ok(Vec::new()),
            Some(Value::Object(map)) => Ok(vec![self.nested(name, map)]),
            Some(Value::Array(items)) => items
                .iter()
                .filter(|item| !item.is_null())
                .map(|item| match item {
                    Value::Object(map) => Ok(self.nested(name, map)),
                    _ => Err(self.invalid(name, "expected an array of objects")),
                })
                .collect(),
            Some(_) => Err(self.invalid(name, "expected an object or an array")),
        }
    }

    /// A string map under `name` (absent → empty); `@class` and null entries are skipped.
    fn string_map(&self, name: &'static str) -> Result<BTreeMap<String, String>, DecodeError> {
        let Some(map) = self.object(name)? else {
            return Ok(BTreeMap::new());
        };
        if map.map.len() > MAX_METADATA_ENTRIES {
            return Err(over_limit(
                self.format,
                format!("more than {MAX_METADATA_ENTRIES} {name} entries"),
            ));
        }
        let mut entries = BTreeMap::new();
        for (key, value) in map.map {
            if key == "@class" {
                continue;
            }
            if let Some(text) = map.scalar_text(key, value)? {
                entries.insert(key.clone(), text.into_owned());
            }
        }
        Ok(entries)
    }
}

fn read_application(fields: Fields<'_>) -> Result<Application, DecodeError> {
    Ok(Application {
        name: fields.text(&["name"])?.unwrap_or_default(),
        instances: fields
            .objects("instance")?
            .into_iter()
            .map(read_instance)
            .collect::<Result<_, _>>()?,
    })
}

fn read_instance(fields: Fields<'_>) -> Result<InstanceInfo, DecodeError> {
    Ok(InstanceInfo {
        instance_id: fields.text(&["instanceId"])?,
        host_name: fields.text(&["hostName"])?.unwrap_or_default(),
        app: fields.text(&["app"])?.unwrap_or_default(),
        ip_addr: fields.text(&["ipAddr"])?.unwrap_or_default(),
        sid: fields.text(&["sid"])?,
        status: fields.status(&["status"])?.unwrap_or(Status::Up),
        overridden_status: fields
            .status(&["overriddenStatus", "overriddenstatus"])?
            .unwrap_or(Status::Unknown),
        port: read_port(fields, "port", DEFAULT_PORT)?,
        secure_port: read_port(fields, "securePort", DEFAULT_SECURE_PORT)?,
        country_id: fields.number(&["countryId"])?.unwrap_or(1),
        data_center_info: read_data_center(fields)?,
        lease_info: read_lease(fields)?,
        metadata: fields.string_map("metadata")?,
        app_group_name: fields.text(&["appGroupName"])?,
        home_page_url: fields.text(&["homePageUrl"])?,
        status_page_url: fields.text(&["statusPageUrl"])?,
        health_check_url: fields.text(&["healthCheckUrl"])?,
        secure_health_check_url: fields.text(&["secureHealthCheckUrl"])?,
        vip_address: fields.text(&["vipAddress"])?,
        secure_vip_address: fields.text(&["secureVipAddress"])?,
        is_coordinating_discovery_server: fields.boolean(&["isCoordinatingDiscoveryServer"])?.unwrap_or(false),
        last_updated_timestamp: fields.number(&["lastUpdatedTimestamp"])?.unwrap_or(0),
        last_dirty_timestamp: fields.number(&["lastDirtyTimestamp"])?.unwrap_or(0),
        action_type: fields.text(&["actionType"])?.and_then(|text| ActionType::parse(&text)),
        asg_name: fields.text(&["asgName"])?,
    })
}

/// `{"$":8080,"@enabled":"true"}` or a bare `8080`; what is missing keeps `default`.
fn read_port(fields: Fields<'_>, name: &'static str, default: Port) -> Result<Port, DecodeError> {
    let Some(value) = fields.get(&[name]) else {
        return Ok(default);
    };
    let (number, enabled) = match value {
        Value::Object(map) => {
            let port = fields.nested(name, map);
            (port.number(&["$"])?, port.boolean(&["@enabled", "enabled"])?)
        }
        scalar => (fields.number_value(name, scalar)?, None),
    };
    Ok(Port {
        number: number.unwrap_or(default.number),
        enabled: enabled.unwrap_or(default.enabled),
    })
}

/// `{"@class":…,"name":…[,"metadata":{…}]}`; a bare string is taken as the name.
fn read_data_center(fields: Fields<'_>) -> Result<DataCenterInfo, DecodeError> {
    let Some(value) = fields.get(&["dataCenterInfo"]) else {
        return Ok(DataCenterInfo {
            name: String::new(),
            class: String::new(),
            metadata: BTreeMap::new(),
        });
    };
    let Value::Object(map) = value else {
        let name = fields
            .scalar_text("dataCenterInfo", value)?
            .unwrap_or_default()
            .into_owned();
        return Ok(DataCenterInfo {
            class: DataCenterInfo::class_for(&name).to_owned(),
            name,
            metadata: BTreeMap::new(),
        });
    };
    let data_center = fields.nested("dataCenterInfo", map);
    let name = data_center.text(&["name"])?.unwrap_or_default();
    let class = data_center
        .text(&["@class", "class"])?
        .filter(|class| !class.trim().is_empty())
        .unwrap_or_else(|| DataCenterInfo::class_for(&name).to_owned());
    Ok(DataCenterInfo {
        metadata: data_center.string_map("metadata")?,
        name,
        class,
    })
}

fn read_lease(fields: Fields<'_>) -> Result<Option<LeaseInfo>, DecodeError> {
    let Some(lease) = fields.object("leaseInfo")? else {
        return Ok(None);
    };
    let defaults = LeaseInfo::default();
    Ok(Some(LeaseInfo {
        renewal_interval_in_secs: lease
            .number(&["renewalIntervalInSecs"])?
            .unwrap_or(defaults.renewal_interval_in_secs),
        duration_in_secs: lease.number(&["durationInSecs"])?.unwrap_or(defaults.duration_in_secs),
        registration_timestamp: lease.number(&["registrationTimestamp"])?.unwrap_or(0),
        last_renewal_timestamp: lease.number(&["lastRenewalTimestamp"])?.unwrap_or(0),
        eviction_timestamp: lease.number(&["evictionTimestamp"])?.unwrap_or(0),
        service_up_timestamp: lease.number(&["serviceUpTimestamp"])?.unwrap_or(0),
    }))
}

#[cfg(test)]
pub(super) mod tests {
    use pretty_assertions::assert_eq;

    use super::*;
    use crate::protocol::eureka::wire::AMAZON_DATA_CENTER_CLASS;
    use crate::protocol::eureka::wire::DEFAULT_DATA_CENTER_CLASS;

    /// Spec §3's example `GET /eureka/apps` body, verbatim.
    const SPEC_EXAMPLE: &str = r#"
{"applications":{"versions__delta":"1","apps__hashcode":"UP_2_","application":[{"name":"ORDERS","instance":[
{"instanceId":"10.0.0.11:orders:8080","hostName":"10.0.0.11","app":"ORDERS","ipAddr":"10.0.0.11",
 "status":"UP","overriddenStatus":"UNKNOWN","port":{"$":8080,"@enabled":"true"},
 "securePort":{"$":443,"@enabled":"false"},"countryId":1,
 "dataCenterInfo":{"@class":"com.netflix.appinfo.InstanceInfo$DefaultDataCenterInfo","name":"MyOwn"},
 "leaseInfo":{"renewalIntervalInSecs":30,"durationInSecs":90,"registrationTimestamp":1700000000000,
  "lastRenewalTimestamp":1700000150000,"evictionTimestamp":0,"serviceUpTimestamp":1700000000000},
 "metadata":{"management.port":"8080","zone":"zone-a"},
 "homePageUrl":"http://10.0.0.11:8080/","statusPageUrl":"http://10.0.0.11:8080/actuator/info",
 "healthCheckUrl":"http://10.0.0.11:8080/actuator/health","vipAddress":"orders","secureVipAddress":"orders",
 "isCoordinatingDiscoveryServer":"false","lastUpdatedTimestamp":"1700000000000",
 "lastDirtyTimestamp":"1699999995000","actionType":"ADDED"},
{"instanceId":"10.0.0.12:orders:8080","hostName":"10.0.0.12","app":"ORDERS","ipAddr":"10.0.0.12",
 "status":"UP","overriddenStatus":"UNKNOWN","port":{"$":8080,"@enabled":"true"},
 "securePort":{"$":443,"@enabled":"false"},"countryId":1,
 "dataCenterInfo":{"@class":"com.netflix.appinfo.InstanceInfo$DefaultDataCenterInfo","name":"MyOwn"},
 "leaseInfo":{"renewalIntervalInSecs":30,"durationInSecs":90,"registrationTimestamp":1700000010000,
  "lastRenewalTimestamp":1700000010000,"evictionTimestamp":0,"serviceUpTimestamp":1700000010000},
 "metadata":{"@class":"java.util.Collections$EmptyMap"},
 "homePageUrl":"http://10.0.0.12:8080/","statusPageUrl":"http://10.0.0.12:8080/actuator/info",
 "healthCheckUrl":"http://10.0.0.12:8080/actuator/health","vipAddress":"orders","secureVipAddress":"orders",
 "isCoordinatingDiscoveryServer":"false","lastUpdatedTimestamp":"1700000010000",
 "lastDirtyTimestamp":"1700000009000","actionType":"ADDED"}]}]}}
"#;

    /// One ORDERS instance of the spec examples (§3, §4); `last` is the last IP octet.
    fn spec_instance(last: u8, registered: i64, renewed: i64, dirty: i64) -> InstanceInfo {
        let ip = format!("10.0.0.{last}");
        let mut info = InstanceInfo::new("ORDERS", &ip);
        info.instance_id = Some(format!("{ip}:orders:8080"));
        info.ip_addr = ip.clone();
        info.port = Port {
            number: 8080,
            enabled: true,
        };
        info.secure_port = Port {
            number: 443,
            enabled: false,
        };
        info.lease_info = Some(LeaseInfo {
            registration_timestamp: registered,
            last_renewal_timestamp: renewed,
            service_up_timestamp: registered,
            ..LeaseInfo::default()
        });
        info.home_page_url = Some(format!("http://{ip}:8080/"));
        info.status_page_url = Some(format!("http://{ip}:8080/actuator/info"));
        info.health_check_url = Some(format!("http://{ip}:8080/actuator/health"));
        info.vip_address = Some("orders".into());
        info.secure_vip_address = Some("orders".into());
        info.last_updated_timestamp = registered;
        info.last_dirty_timestamp = dirty;
        info.action_type = Some(ActionType::Added);
        info
    }

    /// The registry of the spec examples: one app ORDERS, two instances.
    pub(in crate::protocol::eureka) fn spec_example_apps() -> Applications {
        let mut first = spec_instance(11, 1_700_000_000_000, 1_700_000_150_000, 1_699_999_995_000);
        first.metadata = BTreeMap::from([
            ("management.port".to_owned(), "8080".to_owned()),
            ("zone".to_owned(), "zone-a".to_owned()),
        ]);
        let second = spec_instance(12, 1_700_000_010_000, 1_700_000_010_000, 1_700_000_009_000);
        Applications {
            versions_delta: "1".into(),
            apps_hashcode: "UP_2_".into(),
            applications: vec![Application {
                name: "ORDERS".into(),
                instances: vec![first, second],
            }],
        }
    }

    /// An instance using every field, an Amazon data center, and text that needs escaping.
    pub(in crate::protocol::eureka) fn rich_instance() -> InstanceInfo {
        let mut info = InstanceInfo::new("PAYMENTS", "ip-10-1-2-3.ec2.internal");
        info.instance_id = Some("i-0abc \"quoted\" <tag> & 'apos'".into());
        info.ip_addr = "10.1.2.3".into();
        info.sid = Some("sid-7".into());
        info.status = Status::Down;
        info.overridden_status = Status::OutOfService;
        info.port = Port {
            number: 65535,
            enabled: false,
        };
        info.secure_port = Port {
            number: 8443,
            enabled: true,
        };
        info.country_id = 44;
        info.data_center_info = DataCenterInfo {
            name: "Amazon".into(),
            class: AMAZON_DATA_CENTER_CLASS.into(),
            metadata: BTreeMap::from([
                ("ami-id".to_owned(), "ami-123".to_owned()),
                ("availability-zone".to_owned(), "eu-west-1a".to_owned()),
                ("instance-id".to_owned(), "i-0abc".to_owned()),
            ]),
        };
        info.lease_info = Some(LeaseInfo {
            renewal_interval_in_secs: 5,
            duration_in_secs: 15,
            registration_timestamp: 1,
            last_renewal_timestamp: 2,
            eviction_timestamp: 3,
            service_up_timestamp: -4,
        });
        info.metadata = BTreeMap::from([
            ("a_b".to_owned(), "under_score".to_owned()),
            ("$dollar".to_owned(), "java$Inner".to_owned()),
            ("mixed_$_-key".to_owned(), "<&>\"' ]]> end".to_owned()),
            ("__".to_owned(), "double".to_owned()),
            ("with space".to_owned(), "kept  two  spaces ".to_owned()),
            ("1st:colon".to_owned(), "starts with a digit".to_owned()),
            ("unicode-日本".to_owned(), "✓ café 🚀".to_owned()),
            (
                "plane15-\u{F0001}".to_owned(),
                "needs a surrogate pair in XML names".to_owned(),
            ),
            (
                "control".to_owned(),
                "tab\tnew\nline\r\ncr\rbell\u{7}nul\u{0}".to_owned(),
            ),
            ("empty".to_owned(), String::new()),
        ]);
        info.app_group_name = Some("GROUP".into());
        info.home_page_url = Some("http://h/?a=1&b=<2>".into());
        info.status_page_url = Some("http://h/info".into());
        info.health_check_url = Some("http://h/health".into());
        info.secure_health_check_url = Some("https://h/health".into());
        info.vip_address = Some("payments,payments-v2".into());
        info.secure_vip_address = Some("payments-secure".into());
        info.is_coordinating_discovery_server = true;
        info.last_updated_timestamp = i64::MAX;
        info.last_dirty_timestamp = i64::MIN;
        info.action_type = Some(ActionType::Modified);
        info.asg_name = Some("asg-1".into());
        info
    }

    /// Truncated prefixes and byte-flipped copies of `body`, for robustness tests.
    pub(in crate::protocol::eureka) fn mangled(body: &[u8]) -> Vec<Vec<u8>> {
        const NASTY: &[u8] = b"\"{}[]<>/&;#:,\\ x0-9\xff\xc3\x00\n";
        let mut variants: Vec<Vec<u8>> = (0..body.len()).map(|end| body[..end].to_vec()).collect();
        let mut seed = 0x9E37_79B9_7F4A_7C15_u64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for round in 0..400 {
            let mut copy = body.to_vec();
            for _ in 0..=(round % 3) {
                let at = (next() % copy.len() as u64) as usize;
                let pick = next();
                copy[at] = if pick % 2 == 0 {
                    NASTY[(pick / 2 % NASTY.len() as u64) as usize]
                } else {
                    (pick >> 8) as u8
                };
            }
            variants.push(copy);
        }
        variants
    }

    /// `text` without whitespace outside string literals.
    fn minify(text: &str) -> String {
        let mut out = String::with_capacity(text.len());
        let (mut in_string, mut escaped) = (false, false);
        for ch in text.chars() {
            if in_string {
                in_string = escaped || ch != '"';
                escaped = !escaped && ch == '\\';
            } else if ch.is_whitespace() {
                continue;
            } else {
                in_string = ch == '"';
            }
            out.push(ch);
        }
        out
    }

    fn as_value(body: &[u8]) -> Value {
        serde_json::from_slice(body).expect("valid JSON")
    }

    fn as_text(body: Vec<u8>) -> String {
        String::from_utf8(body).expect("UTF-8")
    }

    fn decode(body: &str) -> InstanceInfo {
        decode_instance(body.as_bytes()).expect("decodes")
    }

    /// A valid registration body with `extra` members appended.
    fn with_fields(extra: &str) -> String {
        format!(r#"{{"instance":{{"hostName":"h","app":"APP","ipAddr":"1.2.3.4"{extra}}}}}"#)
    }

    #[test]
    fn golden_spec_example_equals_as_json() {
        let encoded = encode_applications(&spec_example_apps());
        assert_eq!(as_value(&encoded), as_value(SPEC_EXAMPLE.as_bytes()));
    }

    #[test]
    fn golden_spec_example_key_order() {
        let encoded = as_text(encode_applications(&spec_example_apps()));
        assert_eq!(encoded, minify(SPEC_EXAMPLE));
    }

    #[test]
    fn golden_spec_example_decodes() {
        assert_eq!(decode_applications(SPEC_EXAMPLE.as_bytes()), Ok(spec_example_apps()));
    }

    #[test]
    fn application_and_instance_roots() {
        let apps = spec_example_apps();
        let app = &apps.applications[0];
        let encoded = as_value(&encode_application(app));
        assert_eq!(encoded["application"]["name"], "ORDERS");
        assert_eq!(encoded["application"]["instance"].as_array().map(Vec::len), Some(2));
        let instance = as_text(encode_instance(&app.instances[1]));
        assert!(instance.starts_with(r#"{"instance":{"instanceId":"10.0.0.12:orders:8080","hostName""#));
    }

    #[test]
    fn empty_lists_are_arrays() {
        let apps = Applications {
            versions_delta: "-1".into(),
            apps_hashcode: String::new(),
            applications: vec![],
        };
        assert_eq!(
            as_text(encode_applications(&apps)),
            r#"{"applications":{"versions__delta":"-1","apps__hashcode":"","application":[]}}"#
        );
        let app = Application {
            name: "EMPTY".into(),
            instances: vec![],
        };
        assert_eq!(
            as_text(encode_application(&app)),
            r#"{"application":{"name":"EMPTY","instance":[]}}"#
        );
    }

    #[test]
    fn minimal_instance_omits_unset_fields() {
        let info = InstanceInfo::new("APP", "host");
        let expected = concat!(
            r#"{"instance":{"hostName":"host","app":"APP","ipAddr":"","status":"UP","#,
            r#""overriddenStatus":"UNKNOWN","port":{"$":7001,"@enabled":"true"},"#,
            r#""securePort":{"$":7002,"@enabled":"false"},"countryId":1,"#,
            r#""dataCenterInfo":{"@class":"com.netflix.appinfo.InstanceInfo$DefaultDataCenterInfo","name":"MyOwn"},"#,
            r#""metadata":{"@class":"java.util.Collections$EmptyMap"},"#,
            r#""isCoordinatingDiscoveryServer":"false","lastUpdatedTimestamp":"0","lastDirtyTimestamp":"0"}}"#,
        );
        assert_eq!(as_text(encode_instance(&info)), expected);
    }

    #[test]
    fn sid_placeholders_are_not_emitted() {
        let mut info = InstanceInfo::new("APP", "host");
        for placeholder in ["na", "unknown", "NA"] {
            info.sid = Some(placeholder.into());
            assert!(!as_text(encode_instance(&info)).contains("\"sid\""), "{placeholder}");
        }
        info.sid = Some("s-1".into());
        let encoded = as_text(encode_instance(&info));
        assert!(
            encoded.contains(r#""ipAddr":"","sid":"s-1","status":"UP""#),
            "{encoded}"
        );
    }

    #[test]
    fn amazon_data_center_carries_metadata() {
        let encoded = as_text(encode_instance(&rich_instance()));
        let expected = concat!(
            r#""dataCenterInfo":{"@class":"com.netflix.appinfo.AmazonInfo","name":"Amazon","metadata":"#,
            r#"{"ami-id":"ami-123","availability-zone":"eu-west-1a","instance-id":"i-0abc"}},"#,
            r#""leaseInfo":{"renewalIntervalInSecs":5,"durationInSecs":15,"registrationTimestamp":1,"#,
            r#""lastRenewalTimestamp":2,"evictionTimestamp":3,"serviceUpTimestamp":-4},"#
        );
        assert!(encoded.contains(expected), "{encoded}");
        let mut amazon = InstanceInfo::new("APP", "host");
        amazon.data_center_info.name = "Amazon".into();
        amazon.data_center_info.class = AMAZON_DATA_CENTER_CLASS.into();
        assert!(as_text(encode_instance(&amazon)).contains(r#""name":"Amazon","metadata":{}}"#));
    }

    #[test]
    fn trailer_fields_in_order() {
        let encoded = as_text(encode_instance(&rich_instance()));
        let tail = concat!(
            r#""appGroupName":"GROUP","homePageUrl":"http://h/?a=1&b=<2>","statusPageUrl":"http://h/info","#,
            r#""healthCheckUrl":"http://h/health","secureHealthCheckUrl":"https://h/health","#,
            r#""vipAddress":"payments,payments-v2","secureVipAddress":"payments-secure","#,
            r#""isCoordinatingDiscoveryServer":"true","lastUpdatedTimestamp":"9223372036854775807","#,
            r#""lastDirtyTimestamp":"-9223372036854775808","actionType":"MODIFIED","asgName":"asg-1"}}"#
        );
        assert!(encoded.ends_with(tail), "{encoded}");
    }

    #[test]
    fn compact_keeps_the_mini_codecs_fields() {
        let app = Application {
            name: "PAYMENTS".into(),
            instances: vec![rich_instance()],
        };
        let encoded = as_text(encode_application_as(&app, Detail::Compact));
        let expected = concat!(
            r#"{"application":{"name":"PAYMENTS","instance":[{"instanceId":"i-0abc \"quoted\" <tag> & 'apos'","#,
            r#""hostName":"ip-10-1-2-3.ec2.internal","app":"PAYMENTS","ipAddr":"10.1.2.3","status":"DOWN","#,
            r#""port":{"$":65535,"@enabled":"false"},"securePort":{"$":8443,"@enabled":"true"},"#,
            r#""dataCenterInfo":{"@class":"com.netflix.appinfo.AmazonInfo","name":"Amazon","#,
            r#""metadata":{"availability-zone":"eu-west-1a","instance-id":"i-0abc"}},"#,
            r#""vipAddress":"payments,payments-v2","secureVipAddress":"payments-secure","#,
            r#""lastUpdatedTimestamp":"9223372036854775807","actionType":"MODIFIED","asgName":"asg-1"}]}}"#
        );
        assert_eq!(encoded, expected);
        assert_eq!(
            encode_application_as(&app, Detail::Full),
            encode_application(&app),
            "full is the default"
        );
    }

    #[test]
    fn strings_are_escaped() {
        let mut info = InstanceInfo::new("APP", "a\"b\\c\nd\u{1}e");
        info.metadata.insert("k\"ey".into(), "\u{2028}✓".into());
        let encoded = as_text(encode_instance(&info));
        assert!(encoded.contains(r#""hostName":"a\"b\\c\nd\u0001e""#), "{encoded}");
        assert_eq!(decode_instance(encoded.as_bytes()), Ok(info));
    }

    #[test]
    fn push_int_extremes() {
        for value in [0, 7, -7, 10, 1_700_000_000_000, i64::MAX, i64::MIN] {
            let mut out = Vec::new();
            push_int(&mut out, value);
            assert_eq!(as_text(out), value.to_string());
        }
    }

    #[test]
    fn round_trip_rich_instance() {
        let info = rich_instance();
        assert_eq!(decode_instance(&encode_instance(&info)), Ok(info));
    }

    #[test]
    fn round_trip_applications_and_application() {
        let mut apps = spec_example_apps();
        apps.applications.push(Application {
            name: "PAYMENTS".into(),
            instances: vec![rich_instance()],
        });
        apps.applications.push(Application {
            name: "EMPTY".into(),
            instances: vec![],
        });
        assert_eq!(decode_applications(&encode_applications(&apps)), Ok(apps.clone()));
        let app = &apps.applications[1];
        let decoded = decode_applications(&encode_application(app)).expect("decodes");
        assert_eq!(decoded.applications, vec![app.clone()]);
    }

    #[test]
    fn accepts_unwrapped_instance() {
        let info = decode(r#"{"hostName":"h","app":"APP","ipAddr":"1.2.3.4"}"#);
        assert_eq!((info.host_name.as_str(), info.app.as_str()), ("h", "APP"));
        let array = decode(r#"{"instance":[{"hostName":"h"}]}"#);
        assert_eq!(array.host_name, "h");
    }

    #[test]
    fn port_as_bare_number() {
        let info = decode(&with_fields(r#","port":8080,"securePort":"8443""#));
        assert_eq!(
            info.port,
            Port {
                number: 8080,
                enabled: true
            }
        );
        assert_eq!(
            info.secure_port,
            Port {
                number: 8443,
                enabled: false
            }
        );
    }

    #[test]
    fn port_number_and_flag_spellings() {
        let info = decode(&with_fields(
            r#","port":{"$":"8080","@enabled":true},"securePort":{"$":443,"@enabled":"TRUE"}"#,
        ));
        assert_eq!(
            (info.port, info.secure_port),
            (
                Port {
                    number: 8080,
                    enabled: true
                },
                Port {
                    number: 443,
                    enabled: true
                }
            )
        );
        let off = decode(&with_fields(r#","port":{"$":80,"@enabled":false}"#));
        assert!(!off.port.enabled);
    }

    #[test]
    fn port_without_enabled_flag() {
        let info = decode(&with_fields(r#","port":{"$":8080},"securePort":{"$":443}"#));
        assert!(info.port.enabled);
        assert!(!info.secure_port.enabled);
    }

    #[test]
    fn absent_ports_are_the_java_builders_defaults() {
        let info = decode(&with_fields(r#","port":null"#));
        assert_eq!(info.port, DEFAULT_PORT);
        assert_eq!(info.secure_port, DEFAULT_SECURE_PORT);
        let no_number = decode(&with_fields(
            r#","port":{"@enabled":"false"},"securePort":{"@enabled":"true"}"#,
        ));
        assert_eq!(
            (no_number.port, no_number.secure_port),
            (
                Port {
                    number: 7001,
                    enabled: false
                },
                Port {
                    number: 7002,
                    enabled: true
                }
            )
        );
    }

    #[test]
    fn data_center_class_inferred_from_name() {
        let own = decode(&with_fields(r#","dataCenterInfo":{"name":"MyOwn"}"#));
        assert_eq!(own.data_center_info, DataCenterInfo::my_own());
        let amazon = decode(&with_fields(
            r#","dataCenterInfo":{"name":"Amazon","metadata":{"instance-id":"i-1"}}"#,
        ));
        assert_eq!(amazon.data_center_info.class, AMAZON_DATA_CENTER_CLASS);
        assert_eq!(amazon.effective_id(), "i-1");
        let blank_class = decode(&with_fields(r#","dataCenterInfo":{"@class":"","name":"MyOwn"}"#));
        assert_eq!(blank_class.data_center_info.class, DEFAULT_DATA_CENTER_CLASS);
    }

    #[test]
    fn absent_data_center_is_blank() {
        for body in [with_fields(""), with_fields(r#","dataCenterInfo":null"#)] {
            let info = decode(&body);
            assert_eq!(info.data_center_info.name, "");
            assert_eq!(info.data_center_info.class, "");
        }
    }

    #[test]
    fn data_center_without_name() {
        let info = decode(&with_fields(
            r#","dataCenterInfo":{"@class":"com.netflix.appinfo.InstanceInfo$DefaultDataCenterInfo"}"#,
        ));
        assert_eq!(info.data_center_info.name, "");
        assert_eq!(info.data_center_info.class, DEFAULT_DATA_CENTER_CLASS);
    }

    #[test]
    fn overridden_status_either_case() {
        let lower = decode(&with_fields(r#","overriddenstatus":"OUT_OF_SERVICE""#));
        assert_eq!(lower.overridden_status, Status::OutOfService);
        let camel = decode(&with_fields(r#","overriddenStatus":"DOWN""#));
        assert_eq!(camel.overridden_status, Status::Down);
    }

    #[test]
    fn numbers_as_strings() {
        let info = decode(&with_fields(concat!(
            r#","countryId":"2","lastUpdatedTimestamp":"1700000000000","lastDirtyTimestamp":1699999995000,"#,
            r#""leaseInfo":{"renewalIntervalInSecs":"10","durationInSecs":" 30 ","registrationTimestamp":"5"}"#
        )));
        assert_eq!(info.country_id, 2);
        assert_eq!(info.last_updated_timestamp, 1_700_000_000_000);
        assert_eq!(info.last_dirty_timestamp, 1_699_999_995_000);
        let lease = info.lease_info.expect("lease");
        assert_eq!(
            (
                lease.renewal_interval_in_secs,
                lease.duration_in_secs,
                lease.registration_timestamp
            ),
            (10, 30, 5)
        );
    }

    #[test]
    fn null_is_absent() {
        let info = decode(&with_fields(concat!(
            r#","instanceId":null,"status":null,"overriddenStatus":null,"metadata":null,"leaseInfo":null,"#,
            r#""countryId":null,"vipAddress":null,"actionType":null,"isCoordinatingDiscoveryServer":null"#
        )));
        let mut expected = InstanceInfo::new("APP", "h");
        expected.ip_addr = "1.2.3.4".into();
        expected.data_center_info.name.clear();
        expected.data_center_info.class.clear();
        assert_eq!(info, expected);
    }

    #[test]
    fn metadata_class_marker_skipped_and_scalars_spelled_out() {
        let info = decode(&with_fields(
            r#","metadata":{"@class":"java.util.Collections$EmptyMap","port":8080,"on":true,"gone":null}"#,
        ));
        let expected = BTreeMap::from([
            ("on".to_owned(), "true".to_owned()),
            ("port".to_owned(), "8080".to_owned()),
        ]);
        assert_eq!(info.metadata, expected);
    }

    #[test]
    fn unknown_keys_ignored() {
        let info = decode(&with_fields(r#","someFutureField":{"nested":[1,2]},"x":null"#));
        assert_eq!(info.host_name, "h");
    }

    #[test]
    fn defaults_for_an_empty_instance() {
        let info = decode(r#"{"instance":{}}"#);
        assert_eq!(info.status, Status::Up);
        assert_eq!(info.overridden_status, Status::Unknown);
        assert_eq!((info.last_updated_timestamp, info.last_dirty_timestamp), (0, 0));
        assert_eq!(
            (info.host_name.as_str(), info.app.as_str(), info.ip_addr.as_str()),
            ("", "", "")
        );
        assert_eq!((info.instance_id, info.lease_info, info.country_id), (None, None, 1));
        assert!(!info.is_coordinating_discovery_server);
    }

    #[test]
    fn text_values_read_verbatim() {
        let info = decode(&with_fields(
            r#","status":"starting","app":"lower","actionType":"deleted","hostName":{"$":"xml-style"}"#,
        ));
        assert_eq!(info.status, Status::Starting);
        assert_eq!(info.app, "lower");
        assert_eq!(info.action_type, Some(ActionType::Deleted));
        assert_eq!(info.host_name, "xml-style");
        let odd = decode(&with_fields(r#","status":"SLEEPING","actionType":"RENAMED""#));
        assert_eq!((odd.status, odd.action_type), (Status::Unknown, None));
    }

    #[test]
    fn unparseable_bodies() {
        for body in ["", "{", "not json", r#"{"instance":{"hostName":"h",}}"#] {
            let err = decode_instance(body.as_bytes()).expect_err(body);
            assert!(
                matches!(err, DecodeError::Malformed { format: "JSON", .. }),
                "{body}: {err}"
            );
        }
        for body in ["[]", "42", r#""text""#, r#"{"instance":5}"#, r#"{"instance":null}"#] {
            let err = decode_instance(body.as_bytes()).expect_err(body);
            assert_eq!(
                err,
                DecodeError::MissingRoot {
                    format: "JSON",
                    expected: "instance"
                }
            );
        }
    }

    #[test]
    fn wrongly_shaped_values() {
        let cases = [
            (r#","port":"http""#, "port"),
            (r#","port":{"$":70000}"#, "port.$"),
            (r#","port":{"$":-1}"#, "port.$"),
            (r#","securePort":{"$":443,"@enabled":"yes"}"#, "securePort.@enabled"),
            (r#","hostName":["a"]"#, "hostName"),
            (r#","countryId":1.5"#, "countryId"),
            (r#","leaseInfo":"soon""#, "leaseInfo"),
            (r#","leaseInfo":{"durationInSecs":-90}"#, "leaseInfo.durationInSecs"),
            (r#","metadata":{"k":{"deep":1}}"#, "metadata.k"),
            (r#","dataCenterInfo":{"name":{}}"#, "dataCenterInfo.name"),
        ];
        for (extra, field) in cases {
            // `hostName` appears twice in the array case: serde_json keeps the last one.
            let err = decode_instance(with_fields(extra).as_bytes()).expect_err(extra);
            let DecodeError::InvalidField { field: got, .. } = &err else {
                panic!("{extra}: {err}");
            };
            assert_eq!(got, field, "{extra}");
        }
    }

    #[test]
    fn applications_take_single_objects() {
        let body = r#"{"applications":{"versions__delta":2,"apps__hashcode":"UP_1_",
            "application":{"name":"ONE","instance":{"hostName":"h1","app":"ONE"}}}}"#;
        let apps = decode_applications(body.as_bytes()).expect("decodes");
        assert_eq!(
            (apps.versions_delta.as_str(), apps.apps_hashcode.as_str()),
            ("2", "UP_1_")
        );
        assert_eq!(apps.applications.len(), 1);
        assert_eq!(apps.applications[0].name, "ONE");
        assert_eq!(apps.applications[0].instances[0].host_name, "h1");
    }

    #[test]
    fn applications_mixed_and_empty_forms() {
        let body = r#"{"applications":{"application":[
            {"name":"A","instance":[{"hostName":"a1"},{"hostName":"a2"}]},
            {"name":"B","instance":{"hostName":"b1"}},
            {"name":"C"}, null]}}"#;
        let apps = decode_applications(body.as_bytes()).expect("decodes");
        let shape: Vec<(&str, usize)> = apps
            .applications
            .iter()
            .map(|app| (app.name.as_str(), app.instances.len()))
            .collect();
        assert_eq!(shape, vec![("A", 2), ("B", 1), ("C", 0)]);
        let bare = decode_applications(br#"{"versions__delta":"1","apps__hashcode":""}"#).expect("bare");
        assert!(bare.applications.is_empty());
        let err = decode_applications(br#"{"applications":{"application":"x"}}"#).expect_err("string");
        assert!(matches!(err, DecodeError::InvalidField { .. }), "{err}");
    }

    #[test]
    fn mangled_bodies_never_panic() {
        let mut apps = spec_example_apps();
        apps.applications[0].instances.push(rich_instance());
        let bodies = [encode_applications(&apps), encode_instance(&rich_instance())];
        let mut decoded = 0;
        for body in &bodies {
            for variant in mangled(body) {
                decoded += usize::from(decode_applications(&variant).is_ok());
                decoded += usize::from(decode_instance(&variant).is_ok());
            }
        }
        assert!(decoded > 0, "some byte flips inside strings still decode");
    }

    /// A registration with `entries` metadata entries under `map` (`metadata`, or
    /// `dataCenterInfo`'s).
    fn with_metadata(entries: usize, data_center: bool) -> String {
        let map: Vec<String> = (0..entries).map(|i| format!("\"k{i}\":\"v\"")).collect();
        let map = format!("{{{}}}", map.join(","));
        if data_center {
            format!(r#"{{"instance":{{"hostName":"h","dataCenterInfo":{{"name":"MyOwn","metadata":{map}}}}}}}"#)
        } else {
            format!(r#"{{"instance":{{"hostName":"h","metadata":{map}}}}}"#)
        }
    }

    /// A registration with an unknown field nested so that the body is `depth` deep.
    fn nested(depth: usize) -> String {
        let inner = depth - 2;
        format!(r#"{{"instance":{{"x":{}{}}}}}"#, "[".repeat(inner), "]".repeat(inner))
    }

    fn refusal(body: &str) -> String {
        match decode_instance(body.as_bytes()) {
            Err(DecodeError::OverLimit { format: "JSON", reason }) => reason,
            other => panic!("{}…: {other:?}", &body[..body.len().min(60)]),
        }
    }

    /// Issue 19, attack 2, in JSON: the same caps as the XML reader (durations printed only:
    /// `cargo test -p registry-store --lib protocol::eureka::json::tests::caps -- --nocapture`).
    #[test]
    fn caps_refuse_attack_bodies() {
        let cases = [
            ("nested 100k deep", nested(100_000), "nested deeper than 32"),
            (
                "100k metadata entries",
                with_metadata(100_000, false),
                "more than 10000 values",
            ),
            (
                "100k values",
                format!(r#"{{"instance":{{"x":[{}0]}}}}"#, "0,".repeat(100_000)),
                "more than 10000 values",
            ),
        ];
        for (name, body, reason) in cases {
            let started = std::time::Instant::now();
            let got = refusal(&body);
            println!("{name} ({} bytes): refused in {:?}", body.len(), started.elapsed());
            assert_eq!(got, reason, "{name}");
        }

        decode_instance(nested(MAX_DEPTH).as_bytes()).expect("32 deep");
        assert_eq!(refusal(&nested(MAX_DEPTH + 1)), "nested deeper than 32");
        for data_center in [false, true] {
            let info = decode_instance(with_metadata(MAX_METADATA_ENTRIES, data_center).as_bytes()).expect("1000");
            let map = if data_center {
                &info.data_center_info.metadata
            } else {
                &info.metadata
            };
            assert_eq!(map.len(), MAX_METADATA_ENTRIES);
            assert_eq!(
                refusal(&with_metadata(MAX_METADATA_ENTRIES + 1, data_center)),
                "more than 1000 metadata entries"
            );
        }
        let err = decode_instance(nested(40).as_bytes()).expect_err("deep");
        assert_eq!(err.to_string(), "JSON body refused: nested deeper than 32");
    }

    #[test]
    fn brackets_and_commas_inside_strings_are_not_counted() {
        let tricky = format!(
            r#"{{"instance":{{"hostName":"{}","app":"a\"[{{,\\","ipAddr":"\\"}}}}"#,
            "[{,".repeat(20_000)
        );
        let info = decode_instance(tricky.as_bytes()).expect("strings are text");
        assert_eq!(info.app, "a\"[{,\\");
        assert_eq!(info.ip_addr, "\\");
        // Malformed JSON is still the parser's to report.
        assert!(matches!(
            decode_instance(b"{\"instance\":]]]"),
            Err(DecodeError::Malformed { .. })
        ));
    }

    #[test]
    fn applications_have_no_value_cap() {
        let instance = encode_instance(&rich_instance());
        let instance = std::str::from_utf8(&instance).expect("utf-8");
        let instance = &instance["{\"instance\":".len()..instance.len() - 1];
        let body = format!(
            r#"{{"applications":{{"application":[{{"name":"PAYMENTS","instance":[{}]}}]}}}}"#,
            vec![instance; 1_000].join(",")
        );
        let apps = decode_applications(body.as_bytes()).expect("a thousand instances");
        assert_eq!(apps.applications[0].instances.len(), 1_000);
    }
}
