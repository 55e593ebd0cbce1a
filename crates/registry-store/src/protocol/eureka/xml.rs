//! Eureka XML (the XStream format py-eureka-client parses): exact output, lenient input.
//!
//! **Output** is written by hand into a `Vec<u8>`, compact (XStream indents; parsers don't care),
//! with no `<?xml?>` line, in the element order of spec §4: `overriddenstatus` in lower case,
//! `<port enabled="true">8080</port>`, `<dataCenterInfo class="…">`, metadata entries as child
//! elements, an empty metadata map as `<metadata class="java.util.Collections$EmptyMap"/>`.
//! As XStream does, text and attributes escape `& < > " '`, `\r` and other control characters
//! become character references (`&#xd;`, `&#x0;`), and element names escape `$` → `_-`,
//! `_` → `__` and any character not allowed in an XML name → `_.XXXX` (UTF-16 hex). Unlike
//! XStream we also escape `:` (namespace-aware parsers reject undeclared prefixes). A metadata
//! entry with an empty key cannot be written as an element and is left out.
//!
//! **Input** is parsed with quick-xml into a small element tree (any whitespace or
//! indentation, comments, declaration, CDATA, character references), then mapped onto the JSON
//! shape — attributes become `@name`, a leaf's text becomes a string (or `$` next to attributes),
//! metadata names are un-escaped, repeated `application` / `instance` become arrays — and read by
//! [`super::json`]'s lenient reader, so `overriddenStatus` / `overriddenstatus`, missing
//! attributes, defaults and every other rule are the same as for JSON.
//!
//! **Caps** (issue 19, attack 2: one `<instance>` with 100,000 attributes took 10 s, because
//! quick-xml's duplicate-attribute check compares each attribute with all those before it). The
//! tree is built in one pass that refuses, as [`DecodeError::OverLimit`], an element with more
//! than [`MAX_ATTRIBUTES`] attributes (so our own duplicate check is at most 2,016 comparisons),
//! nesting deeper than [`MAX_DEPTH`], more than [`MAX_ELEMENTS`] elements in a registration
//! ([`MAX_APPLICATIONS_ELEMENTS`] in an `<applications>` document) and a `<metadata>` with more
//! than [`MAX_METADATA_ENTRIES`] entries. Real clients' registrations have fewer than 100
//! elements, a handful of attributes and nest four deep.

use std::borrow::Cow;
use std::collections::BTreeMap;

use quick_xml::escape::resolve_predefined_entity;
use quick_xml::events::BytesStart;
use quick_xml::events::Event;
use quick_xml::Reader;
use serde_json::Map;
use serde_json::Value;

use super::json;
use super::wire::Application;
use super::wire::Applications;
use super::wire::DataCenterInfo;
use super::wire::Detail;
use super::wire::InstanceInfo;
use super::wire::LeaseInfo;
use super::wire::Port;
use super::wire::EMPTY_MAP_CLASS;
use super::DecodeError;

const FORMAT: &str = "XML";

/// Rough size of one encoded instance, to allocate once.
const INSTANCE_SIZE_HINT: usize = 1536;

pub use super::json::MAX_DEPTH;
pub use super::json::MAX_METADATA_ENTRIES;

/// Most attributes on one element (Eureka writes at most one: `enabled`, `class`).
pub const MAX_ATTRIBUTES: usize = 64;

/// Most elements in one `<instance>` document (a real registration has fewer than 100; one with
/// [`MAX_METADATA_ENTRIES`] metadata entries in both maps still fits).
pub const MAX_ELEMENTS: usize = 10_000;

/// Most elements in one `<applications>` document: about 20,000 instances' worth.
pub const MAX_APPLICATIONS_ELEMENTS: usize = 1_000_000;

/// Elements that are always objects, even when empty (`<leaseInfo/>`, `<metadata/>`).
const CONTAINERS: [&str; 6] = [
    "applications",
    "application",
    "instance",
    "dataCenterInfo",
    "leaseInfo",
    "metadata",
];

/// Elements that repeat and become arrays.
const LISTS: [&str; 2] = ["application", "instance"];

/// `<applications><versions__delta>…</versions__delta><apps__hashcode>…</apps__hashcode><application>…`.
pub fn encode_applications(apps: &Applications) -> Vec<u8> {
    encode_applications_as(apps, Detail::Full)
}

/// [`encode_applications`] with each instance at `detail`.
pub fn encode_applications_as(apps: &Applications, detail: Detail) -> Vec<u8> {
    let instances: usize = apps.applications.iter().map(|app| app.instances.len()).sum();
    let mut out = Vec::with_capacity(128 + instances * INSTANCE_SIZE_HINT);
    open(&mut out, "applications");
    leaf(&mut out, "versions__delta", &apps.versions_delta);
    leaf(&mut out, "apps__hashcode", &apps.apps_hashcode);
    for app in &apps.applications {
        write_application(&mut out, app, detail);
    }
    close(&mut out, "applications");
    out
}

/// `<application><name>…</name><instance>…</instance>…</application>`.
pub fn encode_application(app: &Application) -> Vec<u8> {
    encode_application_as(app, Detail::Full)
}

/// [`encode_application`] with each instance at `detail`.
pub fn encode_application_as(app: &Application, detail: Detail) -> Vec<u8> {
    let mut out = Vec::with_capacity(64 + app.instances.len() * INSTANCE_SIZE_HINT);
    write_application(&mut out, app, detail);
    out
}

/// The full registry document in parts, as [`super::json::applications_head`] describes:
/// assembled, byte for byte [`encode_applications_as`].
pub fn applications_head(out: &mut Vec<u8>, versions_delta: &str, apps_hashcode: &str) {
    open(out, "applications");
    leaf(out, "versions__delta", versions_delta);
    leaf(out, "apps__hashcode", apps_hashcode);
}

/// See [`applications_head`].
pub const APPLICATIONS_TAIL: &[u8] = b"</applications>";

/// Between two applications, and between two runs of instances: nothing in XML.
pub const SEPARATOR: &[u8] = b"";

/// See [`applications_head`].
pub fn application_head(out: &mut Vec<u8>, name: &str) {
    open(out, "application");
    leaf(out, "name", name);
}

/// See [`applications_head`].
pub const APPLICATION_TAIL: &[u8] = b"</application>";

/// Instances at `detail`, one after the other (a run of an application's instances).
pub fn encode_instances(out: &mut Vec<u8>, infos: &[InstanceInfo], detail: Detail) {
    for info in infos {
        write_instance(out, info, detail);
    }
}

/// `<instance>…</instance>`.
pub fn encode_instance(info: &InstanceInfo) -> Vec<u8> {
    let mut out = Vec::with_capacity(INSTANCE_SIZE_HINT);
    write_instance(&mut out, info, Detail::Full);
    out
}

/// Reads an `<instance>` document.
pub fn decode_instance(body: &[u8]) -> Result<InstanceInfo, DecodeError> {
    let root = parse_root(body, "instance", MAX_ELEMENTS)?;
    json::instance_from_map(&to_map(&root, false), FORMAT)
}

/// Reads an `<applications>` document, as another Eureka server sends it.
pub fn decode_applications(body: &[u8]) -> Result<Applications, DecodeError> {
    let root = parse_root(body, "applications", MAX_APPLICATIONS_ELEMENTS)?;
    json::applications_from_map(&to_map(&root, false), FORMAT)
}

// ---- writing -------------------------------------------------------------------------------

fn open(out: &mut Vec<u8>, name: &str) {
    out.push(b'<');
    out.extend_from_slice(name.as_bytes());
    out.push(b'>');
}

fn close(out: &mut Vec<u8>, name: &str) {
    out.extend_from_slice(b"</");
    out.extend_from_slice(name.as_bytes());
    out.push(b'>');
}

/// `<name>text</name>` for a fixed (already XML-safe) element name.
fn leaf(out: &mut Vec<u8>, name: &str, text: &str) {
    open(out, name);
    push_escaped(out, text, false);
    close(out, name);
}

fn leaf_int(out: &mut Vec<u8>, name: &str, value: i64) {
    open(out, name);
    json::push_int(out, value);
    close(out, name);
}

/// `<name attribute="value">` (or `<name attribute="value"/>` when `empty`).
fn open_with_attribute(out: &mut Vec<u8>, name: &str, attribute: &str, value: &str, empty: bool) {
    out.push(b'<');
    out.extend_from_slice(name.as_bytes());
    out.push(b' ');
    out.extend_from_slice(attribute.as_bytes());
    out.extend_from_slice(b"=\"");
    push_escaped(out, value, true);
    out.extend_from_slice(if empty { b"\"/>" } else { b"\">" });
}

fn write_application(out: &mut Vec<u8>, app: &Application, detail: Detail) {
    open(out, "application");
    leaf(out, "name", &app.name);
    for info in &app.instances {
        write_instance(out, info, detail);
    }
    close(out, "application");
}

/// The elements of spec §4, in its order (at [`Detail::Compact`], without those it leaves out).
fn write_instance(out: &mut Vec<u8>, info: &InstanceInfo, detail: Detail) {
    let full = detail.is_full();
    open(out, "instance");
    if let Some(id) = &info.instance_id {
        leaf(out, "instanceId", id);
    }
    leaf(out, "hostName", &info.host_name);
    leaf(out, "app", &info.app);
    leaf(out, "ipAddr", &info.ip_addr);
    if let Some(sid) = info.wire_sid().filter(|_| full) {
        leaf(out, "sid", sid);
    }
    leaf(out, "status", info.status.as_str());
    if full {
        leaf(out, "overriddenstatus", info.overridden_status.as_str());
    }
    write_port(out, "port", info.port);
    write_port(out, "securePort", info.secure_port);
    if full {
        leaf_int(out, "countryId", info.country_id);
    }
    write_data_center(out, &info.data_center_info, detail);
    if full {
        if let Some(lease) = &info.lease_info {
            write_lease(out, lease);
        }
        write_metadata(out, &info.metadata);
    }
    write_trailer(out, info, detail);
    close(out, "instance");
}

/// Everything after `metadata`: optional URLs and VIPs, then flags, timestamps and action.
fn write_trailer(out: &mut Vec<u8>, info: &InstanceInfo, detail: Detail) {
    for (name, value) in info.optional_text_fields() {
        if let Some(value) = value.filter(|_| detail.shows_text_field(name)) {
            leaf(out, name, value);
        }
    }
    if detail.is_full() {
        leaf(
            out,
            "isCoordinatingDiscoveryServer",
            json::bool_text(info.is_coordinating_discovery_server),
        );
    }
    leaf_int(out, "lastUpdatedTimestamp", info.last_updated_timestamp);
    if detail.is_full() {
        leaf_int(out, "lastDirtyTimestamp", info.last_dirty_timestamp);
    }
    if let Some(action) = info.action_type {
        leaf(out, "actionType", action.as_str());
    }
    if let Some(asg) = &info.asg_name {
        leaf(out, "asgName", asg);
    }
}

/// `<port enabled="true">8080</port>`.
fn write_port(out: &mut Vec<u8>, name: &str, port: Port) {
    open_with_attribute(out, name, "enabled", json::bool_text(port.enabled), false);
    json::push_int(out, port.number.into());
    close(out, name);
}

fn write_data_center(out: &mut Vec<u8>, data_center: &DataCenterInfo, detail: Detail) {
    open_with_attribute(out, "dataCenterInfo", "class", &data_center.class, false);
    leaf(out, "name", &data_center.name);
    if data_center.has_wire_metadata() {
        write_entries(out, detail.data_center_entries(&data_center.metadata));
    }
    close(out, "dataCenterInfo");
}

fn write_lease(out: &mut Vec<u8>, lease: &LeaseInfo) {
    open(out, "leaseInfo");
    leaf_int(out, "renewalIntervalInSecs", lease.renewal_interval_in_secs.into());
    leaf_int(out, "durationInSecs", lease.duration_in_secs.into());
    leaf_int(out, "registrationTimestamp", lease.registration_timestamp);
    leaf_int(out, "lastRenewalTimestamp", lease.last_renewal_timestamp);
    leaf_int(out, "evictionTimestamp", lease.eviction_timestamp);
    leaf_int(out, "serviceUpTimestamp", lease.service_up_timestamp);
    close(out, "leaseInfo");
}

/// Instance metadata; empty is `<metadata class="java.util.Collections$EmptyMap"/>`.
fn write_metadata(out: &mut Vec<u8>, metadata: &BTreeMap<String, String>) {
    if metadata.is_empty() {
        open_with_attribute(out, "metadata", "class", EMPTY_MAP_CLASS, true);
    } else {
        write_entries(out, metadata);
    }
}

/// `<metadata><key>value</key>…</metadata>` with escaped key names (`<metadata/>` when empty).
fn write_entries<'m>(out: &mut Vec<u8>, entries: impl IntoIterator<Item = (&'m String, &'m String)>) {
    let mut entries = entries.into_iter().peekable();
    if entries.peek().is_none() {
        out.extend_from_slice(b"<metadata/>");
        return;
    }
    open(out, "metadata");
    for (key, value) in entries.filter(|(key, _)| !key.is_empty()) {
        let name = encode_name(key);
        open(out, &name);
        push_escaped(out, value, false);
        close(out, &name);
    }
    close(out, "metadata");
}

/// Appends `text` escaped as XStream does; `attribute` also escapes tab and newline.
fn push_escaped(out: &mut Vec<u8>, text: &str, attribute: bool) {
    for &byte in text.as_bytes() {
        match byte {
            b'&' => out.extend_from_slice(b"&amp;"),
            b'<' => out.extend_from_slice(b"&lt;"),
            b'>' => out.extend_from_slice(b"&gt;"),
            b'"' => out.extend_from_slice(b"&quot;"),
            b'\'' => out.extend_from_slice(b"&apos;"),
            b'\t' | b'\n' if !attribute => out.push(byte),
            0..=0x1f => push_char_reference(out, byte),
            _ => out.push(byte),
        }
    }
}

/// `&#x1f;`-style reference for an ASCII control character.
fn push_char_reference(out: &mut Vec<u8>, byte: u8) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.extend_from_slice(b"&#x");
    if byte >= 0x10 {
        out.push(HEX[usize::from(byte >> 4)]);
    }
    out.push(HEX[usize::from(byte & 0xf)]);
    out.push(b';');
}

/// XStream's element name for a map key: `$` → `_-`, `_` → `__`, others not allowed → `_.XXXX`.
fn encode_name(key: &str) -> Cow<'_, str> {
    let plain = key
        .chars()
        .enumerate()
        .all(|(index, ch)| ch != '_' && ch != '$' && is_name_char(ch, index == 0));
    if plain {
        return Cow::Borrowed(key);
    }
    let mut name = String::with_capacity(key.len() + 8);
    for (index, ch) in key.chars().enumerate() {
        match ch {
            '$' => name.push_str("_-"),
            '_' => name.push_str("__"),
            ch if is_name_char(ch, index == 0) => name.push(ch),
            ch => {
                for unit in ch.encode_utf16(&mut [0; 2]) {
                    name.push_str(&format!("_.{unit:04x}"));
                }
            }
        }
    }
    Cow::Owned(name)
}

/// XML 1.0 name characters (without `:`, which we always escape, and `_`, escaped by the caller).
fn is_name_char(ch: char, first: bool) -> bool {
    let start = ch.is_ascii_alphabetic()
        || matches!(ch,
            '\u{C0}'..='\u{D6}' | '\u{D8}'..='\u{F6}' | '\u{F8}'..='\u{2FF}' | '\u{370}'..='\u{37D}'
            | '\u{37F}'..='\u{1FFF}' | '\u{200C}'..='\u{200D}' | '\u{2070}'..='\u{218F}'
            | '\u{2C00}'..='\u{2FEF}' | '\u{3001}'..='\u{D7FF}' | '\u{F900}'..='\u{FDCF}'
            | '\u{FDF0}'..='\u{FFFD}' | '\u{10000}'..='\u{EFFFF}');
    start
        || (!first
            && (ch.is_ascii_digit()
                || matches!(ch, '-' | '.' | '\u{B7}' | '\u{300}'..='\u{36F}' | '\u{203F}'..='\u{2040}')))
}

/// Reverses [`encode_name`]; anything that is not an escape is kept as it is.
fn decode_name(name: &str) -> String {
    let mut key = String::with_capacity(name.len());
    let mut rest = name;
    while let Some(at) = rest.find('_') {
        key.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        rest = if let Some(tail) = after.strip_prefix('-') {
            key.push('$');
            tail
        } else if let Some(tail) = after.strip_prefix('_') {
            key.push('_');
            tail
        } else if let Some((unit, tail)) = hex_unit(after) {
            let (ch, tail) = decode_unit(unit, tail);
            key.push(ch);
            tail
        } else {
            key.push('_');
            after
        };
    }
    key.push_str(rest);
    key
}

/// `.XXXX` (four hex digits) at the start of `text`: the UTF-16 unit and what follows.
fn hex_unit(text: &str) -> Option<(u16, &str)> {
    let digits = text.strip_prefix('.')?.get(..4)?;
    if !digits.bytes().all(|byte| byte.is_ascii_hexdigit()) {
        return None;
    }
    let unit = u16::from_str_radix(digits, 16).ok()?;
    Some((unit, &text[5..]))
}

/// One `_.XXXX` unit, pairing a high surrogate with a following `_.XXXX` low one.
fn decode_unit(unit: u16, rest: &str) -> (char, &str) {
    if let Some(ch) = char::from_u32(unit.into()) {
        return (ch, rest);
    }
    let low = rest.strip_prefix('_').and_then(hex_unit);
    if let Some((low, tail)) = low {
        if let Some(Ok(ch)) = char::decode_utf16([unit, low]).next() {
            return (ch, tail);
        }
    }
    (char::REPLACEMENT_CHARACTER, rest)
}

// ---- reading -------------------------------------------------------------------------------

/// One parsed element: what the reader needs of it.
#[derive(Debug, Default)]
struct Element {
    name: String,
    attributes: Vec<(String, String)>,
    text: String,
    children: Vec<Element>,
}

fn malformed(reason: impl ToString) -> DecodeError {
    DecodeError::Malformed {
        format: FORMAT,
        reason: reason.to_string(),
    }
}

fn over_limit(reason: impl ToString) -> DecodeError {
    json::over_limit(FORMAT, reason)
}

/// What a parse did, counted so tests can show it grows with the input and no faster.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(not(test), allow(dead_code))]
struct Work {
    /// Events read from quick-xml (start and end tags, text, references, ...).
    events: usize,
    /// Elements opened.
    elements: usize,
    /// Attributes read.
    attributes: usize,
    /// Attribute names compared in the duplicate check.
    comparisons: usize,
}

/// The document's root element, which must be called `expected`.
fn parse_root(body: &[u8], expected: &'static str, max_elements: usize) -> Result<Element, DecodeError> {
    let missing = DecodeError::MissingRoot {
        format: FORMAT,
        expected,
    };
    let root = parse(body, max_elements, &mut Work::default())?.ok_or_else(|| missing.clone())?;
    if root.name == expected {
        Ok(root)
    } else {
        Err(missing)
    }
}

/// The first complete top-level element of `body`; `None` if there is none at all. One pass,
/// each event handled in constant time but for its own text and (at most [`MAX_ATTRIBUTES`])
/// attributes; past a cap it stops at once.
fn parse(body: &[u8], max_elements: usize, work: &mut Work) -> Result<Option<Element>, DecodeError> {
    let text = std::str::from_utf8(body).map_err(malformed)?;
    let mut reader = Reader::from_str(text);
    reader.config_mut().expand_empty_elements = true;
    let mut open: Vec<Element> = Vec::new();
    loop {
        let event = reader.read_event().map_err(malformed)?;
        work.events += 1;
        match event {
            Event::Start(start) => {
                if open.len() >= MAX_DEPTH {
                    return Err(over_limit(format!("elements nested deeper than {MAX_DEPTH}")));
                }
                work.elements += 1;
                if work.elements > max_elements {
                    return Err(over_limit(format!("more than {max_elements} elements")));
                }
                if let Some(parent) = open.last().filter(|parent| parent.name == "metadata") {
                    if parent.children.len() >= MAX_METADATA_ENTRIES {
                        return Err(over_limit(format!("more than {MAX_METADATA_ENTRIES} metadata entries")));
                    }
                }
                open.push(start_element(&start, work)?);
            }
            Event::End(_) => {
                let done = open.pop().ok_or_else(|| malformed("unexpected end tag"))?;
                match open.last_mut() {
                    Some(parent) => parent.children.push(done),
                    None => return Ok(Some(done)),
                }
            }
            Event::Text(text) => {
                if let Some(current) = open.last_mut() {
                    current.text.push_str(&text.xml10_content().map_err(malformed)?);
                }
            }
            Event::CData(data) => {
                if let Some(current) = open.last_mut() {
                    current.text.push_str(&data.decode().map_err(malformed)?);
                }
            }
            Event::GeneralRef(reference) => {
                if let Some(current) = open.last_mut() {
                    resolve_reference(&mut current.text, &reference.decode().map_err(malformed)?)?;
                }
            }
            Event::Eof if open.is_empty() => return Ok(None),
            Event::Eof => return Err(malformed("document ends inside an element")),
            Event::Empty(_) | Event::Comment(_) | Event::Decl(_) | Event::PI(_) | Event::DocType(_) => {}
        }
    }
}

/// The element's name and attributes. quick-xml's own duplicate check is off (it compares each
/// attribute with every one before it, whatever their number); ours does the same within the
/// [`MAX_ATTRIBUTES`] cap.
fn start_element(start: &BytesStart<'_>, work: &mut Work) -> Result<Element, DecodeError> {
    let name = std::str::from_utf8(start.name().as_ref())
        .map_err(malformed)?
        .to_owned();
    let mut attributes = Vec::new();
    let mut keys: Vec<&[u8]> = Vec::new();
    let mut iter = start.attributes();
    iter.with_checks(false);
    for attribute in iter {
        let attribute = attribute.map_err(malformed)?;
        work.attributes += 1;
        if keys.len() >= MAX_ATTRIBUTES {
            return Err(over_limit(format!(
                "element <{name}> has more than {MAX_ATTRIBUTES} attributes"
            )));
        }
        let qualified = attribute.key.into_inner();
        for key in &keys {
            work.comparisons += 1;
            if *key == qualified {
                return Err(malformed(format!(
                    "duplicate attribute `{}` on <{name}>",
                    String::from_utf8_lossy(qualified)
                )));
            }
        }
        keys.push(qualified);
        let key = std::str::from_utf8(attribute.key.local_name().as_ref())
            .map_err(malformed)?
            .to_owned();
        let raw = std::str::from_utf8(&attribute.value).map_err(malformed)?;
        attributes.push((key, unescape_attribute(raw)?));
    }
    Ok(Element {
        name,
        attributes,
        ..Element::default()
    })
}

/// An attribute value with references resolved and literal tabs and newlines read as spaces.
fn unescape_attribute(raw: &str) -> Result<String, DecodeError> {
    let mut value = String::with_capacity(raw.len());
    let mut rest = raw;
    while let Some(at) = rest.find('&') {
        push_normalised(&mut value, &rest[..at]);
        let after = &rest[at + 1..];
        let end = after.find(';').ok_or_else(|| malformed("unterminated reference"))?;
        resolve_reference(&mut value, &after[..end])?;
        rest = &after[end + 1..];
    }
    push_normalised(&mut value, rest);
    Ok(value)
}

fn push_normalised(value: &mut String, text: &str) {
    value.extend(
        text.chars()
            .map(|ch| if matches!(ch, '\t' | '\n' | '\r') { ' ' } else { ch }),
    );
}

/// Appends what `&name;` stands for: a predefined entity or a character reference (`&#x0;`,
/// which XStream writes for NUL, included).
fn resolve_reference(out: &mut String, name: &str) -> Result<(), DecodeError> {
    if let Some(number) = name.strip_prefix('#') {
        let code = match number.strip_prefix(['x', 'X']) {
            Some(hex) => u32::from_str_radix(hex, 16),
            None => number.parse::<u32>(),
        };
        let ch = code
            .ok()
            .and_then(char::from_u32)
            .ok_or_else(|| malformed(format!("invalid character reference &{name};")))?;
        out.push(ch);
        return Ok(());
    }
    let text = resolve_predefined_entity(name).ok_or_else(|| malformed(format!("unknown entity &{name};")))?;
    out.push_str(text);
    Ok(())
}

/// An element as the JSON reader's value: a leaf's text, or an object for the rest.
fn to_value(element: &Element, is_entry: bool) -> Value {
    let container = !is_entry && CONTAINERS.contains(&element.name.as_str());
    if !container && element.children.is_empty() && element.attributes.is_empty() {
        Value::String(element.text.clone())
    } else {
        Value::Object(to_map(element, is_entry))
    }
}

/// Attributes as `@name`, a leaf's text as `$`, children by name (metadata names un-escaped,
/// `application` / `instance` collected into arrays, other repeats: last wins).
fn to_map(element: &Element, is_entry: bool) -> Map<String, Value> {
    let mut map = Map::new();
    for (name, value) in &element.attributes {
        map.insert(format!("@{name}"), Value::String(value.clone()));
    }
    let container = !is_entry && CONTAINERS.contains(&element.name.as_str());
    if !container && element.children.is_empty() {
        map.insert("$".to_owned(), Value::String(element.text.clone()));
    }
    let entries = !is_entry && element.name == "metadata";
    for child in &element.children {
        let value = to_value(child, entries);
        if entries {
            map.insert(decode_name(&child.name), value);
        } else if LISTS.contains(&child.name.as_str()) {
            push_to_list(&mut map, &child.name, value);
        } else {
            map.insert(child.name.clone(), value);
        }
    }
    map
}

fn push_to_list(map: &mut Map<String, Value>, name: &str, value: Value) {
    match map.get_mut(name) {
        Some(Value::Array(items)) => items.push(value),
        _ => {
            map.insert(name.to_owned(), Value::Array(vec![value]));
        }
    }
}

#[cfg(test)]
mod tests {
    use pretty_assertions::assert_eq;

    use super::*;
    use crate::protocol::eureka::json::tests::mangled;
    use crate::protocol::eureka::json::tests::rich_instance;
    use crate::protocol::eureka::json::tests::spec_example_apps;
    use crate::protocol::eureka::wire::Status;
    use crate::protocol::eureka::wire::AMAZON_DATA_CENTER_CLASS;
    use crate::protocol::eureka::wire::DEFAULT_DATA_CENTER_CLASS;

    /// Spec §4's example `GET /eureka/apps` body, verbatim.
    const SPEC_EXAMPLE: &str = r#"
<applications>
<versions__delta>1</versions__delta>
<apps__hashcode>UP_2_</apps__hashcode>
<application>
<name>ORDERS</name>
<instance>
<instanceId>10.0.0.11:orders:8080</instanceId><hostName>10.0.0.11</hostName><app>ORDERS</app>
<ipAddr>10.0.0.11</ipAddr><status>UP</status><overriddenstatus>UNKNOWN</overriddenstatus>
<port enabled="true">8080</port><securePort enabled="false">443</securePort><countryId>1</countryId>
<dataCenterInfo class="com.netflix.appinfo.InstanceInfo$DefaultDataCenterInfo"><name>MyOwn</name></dataCenterInfo>
<leaseInfo><renewalIntervalInSecs>30</renewalIntervalInSecs><durationInSecs>90</durationInSecs>
<registrationTimestamp>1700000000000</registrationTimestamp><lastRenewalTimestamp>1700000150000</lastRenewalTimestamp>
<evictionTimestamp>0</evictionTimestamp><serviceUpTimestamp>1700000000000</serviceUpTimestamp></leaseInfo>
<metadata><management.port>8080</management.port><zone>zone-a</zone></metadata>
<homePageUrl>http://10.0.0.11:8080/</homePageUrl><statusPageUrl>http://10.0.0.11:8080/actuator/info</statusPageUrl>
<healthCheckUrl>http://10.0.0.11:8080/actuator/health</healthCheckUrl>
<vipAddress>orders</vipAddress><secureVipAddress>orders</secureVipAddress>
<isCoordinatingDiscoveryServer>false</isCoordinatingDiscoveryServer>
<lastUpdatedTimestamp>1700000000000</lastUpdatedTimestamp><lastDirtyTimestamp>1699999995000</lastDirtyTimestamp>
<actionType>ADDED</actionType>
</instance>
<instance>
<instanceId>10.0.0.12:orders:8080</instanceId><hostName>10.0.0.12</hostName><app>ORDERS</app>
<ipAddr>10.0.0.12</ipAddr><status>UP</status><overriddenstatus>UNKNOWN</overriddenstatus>
<port enabled="true">8080</port><securePort enabled="false">443</securePort><countryId>1</countryId>
<dataCenterInfo class="com.netflix.appinfo.InstanceInfo$DefaultDataCenterInfo"><name>MyOwn</name></dataCenterInfo>
<leaseInfo><renewalIntervalInSecs>30</renewalIntervalInSecs><durationInSecs>90</durationInSecs>
<registrationTimestamp>1700000010000</registrationTimestamp><lastRenewalTimestamp>1700000010000</lastRenewalTimestamp>
<evictionTimestamp>0</evictionTimestamp><serviceUpTimestamp>1700000010000</serviceUpTimestamp></leaseInfo>
<metadata class="java.util.Collections$EmptyMap"/>
<homePageUrl>http://10.0.0.12:8080/</homePageUrl><statusPageUrl>http://10.0.0.12:8080/actuator/info</statusPageUrl>
<healthCheckUrl>http://10.0.0.12:8080/actuator/health</healthCheckUrl>
<vipAddress>orders</vipAddress><secureVipAddress>orders</secureVipAddress>
<isCoordinatingDiscoveryServer>false</isCoordinatingDiscoveryServer>
<lastUpdatedTimestamp>1700000010000</lastUpdatedTimestamp><lastDirtyTimestamp>1700000009000</lastDirtyTimestamp>
<actionType>ADDED</actionType>
</instance>
</application>
</applications>
"#;

    /// `xml` without the whitespace between tags.
    fn flatten(xml: &str) -> String {
        let mut out = String::with_capacity(xml.len());
        let mut gap = String::new();
        let mut after_tag = false;
        for ch in xml.trim().chars() {
            if after_tag && ch.is_whitespace() {
                gap.push(ch);
                continue;
            }
            if ch != '<' {
                out.push_str(&gap);
            }
            gap.clear();
            out.push(ch);
            after_tag = ch == '>';
        }
        out
    }

    fn as_text(body: Vec<u8>) -> String {
        String::from_utf8(body).expect("UTF-8")
    }

    fn decode(body: &str) -> InstanceInfo {
        decode_instance(body.as_bytes()).expect("decodes")
    }

    /// A valid registration document with `extra` elements appended.
    fn with_elements(extra: &str) -> String {
        format!("<instance><hostName>h</hostName><app>APP</app><ipAddr>1.2.3.4</ipAddr>{extra}</instance>")
    }

    #[test]
    fn golden_spec_example() {
        let encoded = as_text(encode_applications(&spec_example_apps()));
        assert_eq!(encoded, flatten(SPEC_EXAMPLE));
    }

    #[test]
    fn golden_spec_example_decodes() {
        assert_eq!(decode_applications(SPEC_EXAMPLE.as_bytes()), Ok(spec_example_apps()));
        let flat = flatten(SPEC_EXAMPLE);
        assert_eq!(decode_applications(flat.as_bytes()), Ok(spec_example_apps()));
    }

    #[test]
    fn application_and_instance_roots() {
        let apps = spec_example_apps();
        let app = as_text(encode_application(&apps.applications[0]));
        assert!(
            app.starts_with("<application><name>ORDERS</name><instance><instanceId>"),
            "{app}"
        );
        assert!(app.ends_with("</instance></application>"), "{app}");
        let instance = as_text(encode_instance(&apps.applications[0].instances[0]));
        assert!(instance.starts_with("<instance><instanceId>10.0.0.11:orders:8080</instanceId>"));
        assert!(instance.ends_with("<actionType>ADDED</actionType></instance>"));
    }

    #[test]
    fn empty_registry_and_application() {
        let apps = Applications {
            versions_delta: "-1".into(),
            apps_hashcode: String::new(),
            applications: vec![],
        };
        let expected =
            "<applications><versions__delta>-1</versions__delta><apps__hashcode></apps__hashcode></applications>";
        assert_eq!(as_text(encode_applications(&apps)), expected);
        assert_eq!(decode_applications(expected.as_bytes()), Ok(apps));
        let app = Application {
            name: "EMPTY".into(),
            instances: vec![],
        };
        assert_eq!(
            as_text(encode_application(&app)),
            "<application><name>EMPTY</name></application>"
        );
    }

    #[test]
    fn minimal_instance_omits_unset_fields() {
        let info = InstanceInfo::new("APP", "host");
        let expected = concat!(
            "<instance><hostName>host</hostName><app>APP</app><ipAddr></ipAddr><status>UP</status>",
            "<overriddenstatus>UNKNOWN</overriddenstatus><port enabled=\"true\">7001</port>",
            "<securePort enabled=\"false\">7002</securePort><countryId>1</countryId>",
            "<dataCenterInfo class=\"com.netflix.appinfo.InstanceInfo$DefaultDataCenterInfo\"><name>MyOwn</name>",
            "</dataCenterInfo><metadata class=\"java.util.Collections$EmptyMap\"/>",
            "<isCoordinatingDiscoveryServer>false</isCoordinatingDiscoveryServer>",
            "<lastUpdatedTimestamp>0</lastUpdatedTimestamp><lastDirtyTimestamp>0</lastDirtyTimestamp></instance>",
        );
        assert_eq!(as_text(encode_instance(&info)), expected);
    }

    #[test]
    fn sid_placeholders_are_not_emitted() {
        let mut info = InstanceInfo::new("APP", "host");
        info.sid = Some("na".into());
        assert!(!as_text(encode_instance(&info)).contains("<sid>"));
        info.sid = Some("s-1".into());
        assert!(as_text(encode_instance(&info)).contains("</ipAddr><sid>s-1</sid><status>"));
    }

    #[test]
    fn amazon_data_center_carries_metadata() {
        let encoded = as_text(encode_instance(&rich_instance()));
        let expected = concat!(
            "<dataCenterInfo class=\"com.netflix.appinfo.AmazonInfo\"><name>Amazon</name><metadata>",
            "<ami-id>ami-123</ami-id><availability-zone>eu-west-1a</availability-zone>",
            "<instance-id>i-0abc</instance-id></metadata></dataCenterInfo><leaseInfo>",
        );
        assert!(encoded.contains(expected), "{encoded}");
        let mut amazon = InstanceInfo::new("APP", "host");
        amazon.data_center_info.name = "Amazon".into();
        amazon.data_center_info.class = AMAZON_DATA_CENTER_CLASS.into();
        assert!(as_text(encode_instance(&amazon)).contains("<name>Amazon</name><metadata/></dataCenterInfo>"));
    }

    #[test]
    fn trailer_elements_in_order() {
        let encoded = as_text(encode_instance(&rich_instance()));
        let tail = concat!(
            "<appGroupName>GROUP</appGroupName><homePageUrl>http://h/?a=1&amp;b=&lt;2&gt;</homePageUrl>",
            "<statusPageUrl>http://h/info</statusPageUrl><healthCheckUrl>http://h/health</healthCheckUrl>",
            "<secureHealthCheckUrl>https://h/health</secureHealthCheckUrl>",
            "<vipAddress>payments,payments-v2</vipAddress><secureVipAddress>payments-secure</secureVipAddress>",
            "<isCoordinatingDiscoveryServer>true</isCoordinatingDiscoveryServer>",
            "<lastUpdatedTimestamp>9223372036854775807</lastUpdatedTimestamp>",
            "<lastDirtyTimestamp>-9223372036854775808</lastDirtyTimestamp>",
            "<actionType>MODIFIED</actionType><asgName>asg-1</asgName></instance>",
        );
        assert!(encoded.ends_with(tail), "{encoded}");
    }

    #[test]
    fn compact_keeps_the_mini_codecs_elements() {
        let app = Application {
            name: "PAYMENTS".into(),
            instances: vec![rich_instance()],
        };
        let encoded = as_text(encode_application_as(&app, Detail::Compact));
        let expected = concat!(
            "<application><name>PAYMENTS</name><instance>",
            "<instanceId>i-0abc &quot;quoted&quot; &lt;tag&gt; &amp; &apos;apos&apos;</instanceId>",
            "<hostName>ip-10-1-2-3.ec2.internal</hostName><app>PAYMENTS</app><ipAddr>10.1.2.3</ipAddr>",
            "<status>DOWN</status><port enabled=\"false\">65535</port><securePort enabled=\"true\">8443</securePort>",
            "<dataCenterInfo class=\"com.netflix.appinfo.AmazonInfo\"><name>Amazon</name><metadata>",
            "<availability-zone>eu-west-1a</availability-zone><instance-id>i-0abc</instance-id></metadata>",
            "</dataCenterInfo><vipAddress>payments,payments-v2</vipAddress>",
            "<secureVipAddress>payments-secure</secureVipAddress>",
            "<lastUpdatedTimestamp>9223372036854775807</lastUpdatedTimestamp><actionType>MODIFIED</actionType>",
            "<asgName>asg-1</asgName></instance></application>",
        );
        assert_eq!(encoded, expected);
    }

    #[test]
    fn text_and_attributes_escaped() {
        let mut out = Vec::new();
        push_escaped(&mut out, "a<b>&\"c'\r\u{0}\u{1f}\t\n✓", false);
        assert_eq!(as_text(out), "a&lt;b&gt;&amp;&quot;c&apos;&#xd;&#x0;&#x1f;\t\n✓");
        let mut out = Vec::new();
        push_escaped(&mut out, "x\"\t\n", true);
        assert_eq!(as_text(out), "x&quot;&#x9;&#xa;");
        let mut info = InstanceInfo::new("APP", "host");
        info.data_center_info.class = "odd\"class\"\n".into();
        let encoded = as_text(encode_instance(&info));
        assert!(
            encoded.contains("<dataCenterInfo class=\"odd&quot;class&quot;&#xa;\">"),
            "{encoded}"
        );
        assert_eq!(decode_instance(encoded.as_bytes()), Ok(info));
    }

    #[test]
    fn metadata_names_escaped_like_xstream() {
        let cases = [
            ("zone", "zone"),
            ("management.port", "management.port"),
            ("a_b", "a__b"),
            ("$dollar", "_-dollar"),
            ("mixed_$_-key", "mixed___-__-key"),
            ("with space", "with_.0020space"),
            ("1st:colon", "_.0031st_.003acolon"),
            ("-dash", "_.002ddash"),
            ("unicode-日本", "unicode-日本"),
            ("plane15-\u{F0001}", "plane15-_.db80_.dc01"),
        ];
        for (key, name) in cases {
            assert_eq!(encode_name(key), name, "{key}");
            assert_eq!(decode_name(name), key, "{name}");
        }
    }

    #[test]
    fn decode_name_keeps_stray_underscores() {
        assert_eq!(decode_name("a_b"), "a_b");
        assert_eq!(decode_name("x_.zz"), "x_.zz");
        assert_eq!(decode_name("x_.d800y"), "x\u{FFFD}y");
        assert_eq!(decode_name("_"), "_");
        assert_eq!(decode_name("trail_._"), "trail_._");
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
        let wrapped = [
            b"<applications>".as_slice(),
            &encode_application(&apps.applications[1]),
            b"</applications>",
        ]
        .concat();
        let decoded = decode_applications(&wrapped).expect("decodes");
        assert_eq!(decoded.applications, vec![apps.applications[1].clone()]);
    }

    #[test]
    fn empty_metadata_key_left_out() {
        let mut info = InstanceInfo::new("APP", "host");
        info.metadata.insert(String::new(), "lost".into());
        info.metadata.insert("kept".into(), "yes".into());
        let encoded = as_text(encode_instance(&info));
        assert!(encoded.contains("<metadata><kept>yes</kept></metadata>"), "{encoded}");
    }

    #[test]
    fn overridden_status_either_case() {
        let camel = decode(&with_elements("<overriddenStatus>OUT_OF_SERVICE</overriddenStatus>"));
        assert_eq!(camel.overridden_status, Status::OutOfService);
        let lower = decode(&with_elements("<overriddenstatus>DOWN</overriddenstatus>"));
        assert_eq!(lower.overridden_status, Status::Down);
    }

    #[test]
    fn ports_without_attributes() {
        let info = decode(&with_elements("<port>8080</port><securePort> 443 </securePort>"));
        assert_eq!(
            (info.port, info.secure_port),
            (
                Port {
                    number: 8080,
                    enabled: true
                },
                Port {
                    number: 443,
                    enabled: false
                }
            )
        );
        let flags = decode(&with_elements(
            "<port enabled='FALSE'>80</port><securePort enabled=\"true\"/>",
        ));
        assert_eq!(
            (flags.port, flags.secure_port),
            (
                Port {
                    number: 80,
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
    fn absent_ports_are_the_java_builders_defaults() {
        let info = decode(&with_elements(""));
        let port = Port {
            number: 7001,
            enabled: true,
        };
        let secure = Port {
            number: 7002,
            enabled: false,
        };
        assert_eq!((info.port, info.secure_port), (port, secure));
    }

    #[test]
    fn data_center_leniency() {
        let inferred = decode(&with_elements("<dataCenterInfo><name>Amazon</name></dataCenterInfo>"));
        assert_eq!(inferred.data_center_info.class, AMAZON_DATA_CENTER_CLASS);
        let own = decode(&with_elements("<dataCenterInfo><name>MyOwn</name></dataCenterInfo>"));
        assert_eq!(own.data_center_info, DataCenterInfo::my_own());
        let absent = decode(&with_elements(""));
        assert_eq!(
            (
                absent.data_center_info.name.as_str(),
                absent.data_center_info.class.as_str()
            ),
            ("", "")
        );
        let nameless = decode(&with_elements(
            "<dataCenterInfo class=\"com.netflix.appinfo.InstanceInfo$DefaultDataCenterInfo\"/>",
        ));
        assert_eq!(nameless.data_center_info.name, "");
        assert_eq!(nameless.data_center_info.class, DEFAULT_DATA_CENTER_CLASS);
    }

    #[test]
    fn indented_document_with_prolog_and_comments() {
        let body = r#"<?xml version="1.0" encoding="UTF-8"?>
<!-- sent by a hand-written client -->
<instance>
  <instanceId>i-1</instanceId>
  <hostName>host-1</hostName>
  <app>ORDERS</app>
  <ipAddr>10.0.0.1</ipAddr>
  <status>STARTING</status>
  <port enabled="true">
    8080
  </port>
  <countryId>
    2
  </countryId>
  <dataCenterInfo class="com.netflix.appinfo.AmazonInfo">
    <name>Amazon</name>
    <metadata>
      <instance-id>i-1</instance-id>
    </metadata>
  </dataCenterInfo>
  <leaseInfo>
    <durationInSecs>30</durationInSecs>
  </leaseInfo>
  <metadata class="java.util.HashMap">
    <a__b>1</a__b>
    <!-- a comment between entries -->
  </metadata>
  <isCoordinatingDiscoveryServer> true </isCoordinatingDiscoveryServer>
  <lastDirtyTimestamp>1700000000000</lastDirtyTimestamp>
</instance>
"#;
        let info = decode(body);
        assert_eq!(info.instance_id.as_deref(), Some("i-1"));
        assert_eq!(info.status, Status::Starting);
        assert_eq!(info.port.number, 8080);
        assert_eq!(info.country_id, 2);
        assert_eq!(
            info.data_center_info.metadata.get("instance-id").map(String::as_str),
            Some("i-1")
        );
        assert_eq!(
            info.lease_info
                .map(|lease| (lease.renewal_interval_in_secs, lease.duration_in_secs)),
            Some((30, 30))
        );
        assert_eq!(info.metadata, BTreeMap::from([("a_b".to_owned(), "1".to_owned())]));
        assert!(info.is_coordinating_discovery_server);
        assert_eq!(
            (info.last_dirty_timestamp, info.last_updated_timestamp),
            (1_700_000_000_000, 0)
        );
    }

    #[test]
    fn defaults_for_an_empty_instance() {
        let info = decode("<instance/>");
        assert_eq!((info.status, info.overridden_status), (Status::Up, Status::Unknown));
        assert_eq!(
            (info.host_name.as_str(), info.app.as_str(), info.ip_addr.as_str()),
            ("", "", "")
        );
        assert_eq!(
            (info.last_updated_timestamp, info.last_dirty_timestamp, info.country_id),
            (0, 0, 1)
        );
        assert_eq!((info.lease_info, info.instance_id), (None, None));
        assert!(info.metadata.is_empty());
        let empty_lease = decode("<instance><leaseInfo/><metadata/></instance>");
        assert_eq!(empty_lease.lease_info, Some(LeaseInfo::default()));
    }

    #[test]
    fn references_cdata_and_unknown_elements() {
        let info = decode(&with_elements(concat!(
            "<homePageUrl>http://h/?a=1&amp;b=&#50;&#x33;</homePageUrl>",
            "<vipAddress><![CDATA[<raw & text>]]></vipAddress>",
            "<futureField><nested>1</nested></futureField>",
            "<metadata><k attr=\"x\">v&lt;</k></metadata>",
        )));
        assert_eq!(info.home_page_url.as_deref(), Some("http://h/?a=1&b=23"));
        assert_eq!(info.vip_address.as_deref(), Some("<raw & text>"));
        assert_eq!(info.metadata, BTreeMap::from([("k".to_owned(), "v<".to_owned())]));
    }

    #[test]
    fn single_and_repeated_applications() {
        let single = "<applications><versions__delta>3</versions__delta><apps__hashcode>UP_1_</apps__hashcode>\
            <application><name>ONE</name><instance><hostName>h1</hostName></instance></application></applications>";
        let apps = decode_applications(single.as_bytes()).expect("decodes");
        assert_eq!(
            (apps.versions_delta.as_str(), apps.apps_hashcode.as_str()),
            ("3", "UP_1_")
        );
        assert_eq!(apps.applications.len(), 1);
        assert_eq!(apps.applications[0].instances[0].host_name, "h1");
        let repeated = "<applications><application><name>A</name><instance/><instance/></application>\
            <application><name>B</name></application></applications>";
        let apps = decode_applications(repeated.as_bytes()).expect("decodes");
        let shape: Vec<(&str, usize)> = apps
            .applications
            .iter()
            .map(|app| (app.name.as_str(), app.instances.len()))
            .collect();
        assert_eq!(shape, vec![("A", 2), ("B", 0)]);
    }

    #[test]
    fn unreadable_documents() {
        let malformed = [
            "<instance><hostName>h</app></instance>",
            "<instance><hostName>h</hostName>",
            "<instance>&bogus;</instance>",
            "<instance><hostName>&#0</hostName></instance>",
            "<instance><port enabled=\"&nope;\">1</port></instance>",
            "<instance><a><b><c>",
        ];
        for body in malformed {
            let err = decode_instance(body.as_bytes()).expect_err(body);
            assert!(
                matches!(err, DecodeError::Malformed { format: "XML", .. }),
                "{body}: {err}"
            );
        }
        let deep = format!(
            "{}{}",
            "<instance>".repeat(MAX_DEPTH + 1),
            "</instance>".repeat(MAX_DEPTH + 1)
        );
        assert!(matches!(
            decode_instance(deep.as_bytes()),
            Err(DecodeError::OverLimit { .. })
        ));
        assert!(matches!(
            decode_instance(b"<instance>\xff</instance>"),
            Err(DecodeError::Malformed { .. })
        ));
        let missing = DecodeError::MissingRoot {
            format: "XML",
            expected: "instance",
        };
        for body in ["", "   ", r#"{"instance":{}}"#, "<application/>", "<!-- only -->"] {
            assert_eq!(decode_instance(body.as_bytes()), Err(missing.clone()), "{body}");
        }
    }

    #[test]
    fn wrongly_shaped_values() {
        let cases = [
            ("<port>http</port>", "port"),
            ("<port enabled=\"maybe\">80</port>", "port.@enabled"),
            ("<countryId>x</countryId>", "countryId"),
            ("<hostName><first>a</first></hostName>", "hostName"),
        ];
        for (extra, field) in cases {
            let err = decode_instance(with_elements(extra).as_bytes()).expect_err(extra);
            let DecodeError::InvalidField { format, field: got, .. } = &err else {
                panic!("{extra}: {err}");
            };
            assert_eq!((*format, got.as_str()), ("XML", field), "{extra}");
        }
    }

    #[test]
    fn mangled_documents_never_panic() {
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
        assert!(decoded > 0, "some byte flips inside text still decode");
    }
}

/// Issue 19, attack 2: bodies built to make the reader work hard are refused at a cap, and the
/// reader's work grows with the input and no faster. Durations are printed, never asserted
/// (`cargo test -p registry-store --lib protocol::eureka::xml::caps -- --nocapture`).
#[cfg(test)]
mod caps {
    use std::time::Instant;

    use pretty_assertions::assert_eq;

    use super::*;

    const N: usize = 100_000;

    /// `<instance a0="x" a1="x" …/>` with `n` attributes.
    fn attributes(n: usize) -> String {
        let attributes: String = (0..n).map(|i| format!(" a{i}=\"x\"")).collect();
        format!("<instance{attributes}/>")
    }

    /// A registration with `entries` metadata entries.
    fn metadata(entries: usize) -> String {
        let entries: String = (0..entries).map(|i| format!("<k{i}>v</k{i}>")).collect();
        format!("<instance><hostName>h</hostName><metadata>{entries}</metadata></instance>")
    }

    /// `<instance>` holding `depth - 1` nested elements.
    fn nested(depth: usize) -> String {
        format!(
            "<instance>{}{}</instance>",
            "<a>".repeat(depth - 1),
            "</a>".repeat(depth - 1)
        )
    }

    /// `<instance>` holding `children` copies of `child`.
    fn repeated(child: &str, children: usize) -> String {
        format!("<instance>{}</instance>", child.repeat(children))
    }

    fn refusal(body: &str) -> String {
        match decode_instance(body.as_bytes()) {
            Err(DecodeError::OverLimit { format: "XML", reason }) => reason,
            other => panic!("{}…: {other:?}", &body[..body.len().min(60)]),
        }
    }

    #[test]
    fn attack_bodies_refused_at_a_cap() {
        let cases = [
            (
                "100k attributes",
                attributes(N),
                "element <instance> has more than 64 attributes",
            ),
            ("nested 100k deep", nested(N), "elements nested deeper than 32"),
            ("100k metadata entries", metadata(N), "more than 1000 metadata entries"),
            (
                "100k sibling <metadata>",
                repeated("<metadata/>", N),
                "more than 10000 elements",
            ),
            (
                "100k <hostName>",
                repeated("<hostName>h</hostName>", N),
                "more than 10000 elements",
            ),
            (
                "100k <instance>",
                repeated("<instance/>", N),
                "more than 10000 elements",
            ),
        ];
        for (name, body, reason) in cases {
            let started = Instant::now();
            let got = refusal(&body);
            println!("{name} ({} bytes): refused in {:?}", body.len(), started.elapsed());
            assert_eq!(got, reason, "{name}");
        }
        let err = decode_instance(attributes(N).as_bytes()).expect_err("refused");
        assert_eq!(
            err.to_string(),
            "XML body refused: element <instance> has more than 64 attributes"
        );
    }

    #[test]
    fn up_to_each_cap_is_read() {
        let info = decode_instance(attributes(MAX_ATTRIBUTES).as_bytes()).expect("64 attributes");
        assert_eq!(info.host_name, "");
        refusal(&attributes(MAX_ATTRIBUTES + 1));

        decode_instance(nested(MAX_DEPTH).as_bytes()).expect("32 deep");
        refusal(&nested(MAX_DEPTH + 1));

        let info = decode_instance(metadata(MAX_METADATA_ENTRIES).as_bytes()).expect("1000 entries");
        assert_eq!(info.metadata.len(), MAX_METADATA_ENTRIES);
        refusal(&metadata(MAX_METADATA_ENTRIES + 1));
        // The same key a thousand and one times is still a thousand and one entries.
        refusal(&repeated(
            &format!("<metadata>{}</metadata>", "<k>v</k>".repeat(MAX_METADATA_ENTRIES + 1)),
            1,
        ));

        // The root and 9,999 others.
        decode_instance(repeated("<x/>", MAX_ELEMENTS - 1).as_bytes()).expect("10,000 elements");
        refusal(&repeated("<x/>", MAX_ELEMENTS));
        // <applications> has room for a large registry.
        let apps = format!(
            "<applications>{}</applications>",
            "<application><name>A</name><instance/></application>".repeat(5_000)
        );
        assert_eq!(
            decode_applications(apps.as_bytes()).expect("read").applications.len(),
            5_000
        );
    }

    #[test]
    fn duplicate_attributes_still_malformed() {
        let err = decode_instance(b"<instance><port a=\"1\" b=\"2\" a=\"3\">1</port></instance>").expect_err("dup");
        assert_eq!(
            err,
            DecodeError::Malformed {
                format: "XML",
                reason: "duplicate attribute `a` on <port>".into()
            }
        );
        // Same local name under different prefixes: distinct attributes, as quick-xml saw them.
        decode_instance(b"<instance><port x:enabled=\"true\" y:enabled=\"true\">1</port></instance>").expect("read");
    }

    fn work(body: &str, max_elements: usize) -> Work {
        let mut work = Work::default();
        let _ = parse(body.as_bytes(), max_elements, &mut work);
        work
    }

    /// `<applications>` holding `n` elements of 64 attributes each.
    fn wide_elements(n: usize) -> String {
        let element = attributes(MAX_ATTRIBUTES).replace("<instance", "<e");
        format!("<applications>{}</applications>", element.repeat(n))
    }

    #[test]
    fn work_grows_with_the_input() {
        let small = work(&wide_elements(100), MAX_APPLICATIONS_ELEMENTS);
        let large = work(&wide_elements(1_000), MAX_APPLICATIONS_ELEMENTS);
        assert_eq!(small.elements, 101);
        assert_eq!(large.elements, 1_001);
        // 64 attributes: 64 × 63 / 2 name comparisons each, ten times the elements ten times the
        // comparisons (the old check did the same per element, but without a cap on 64).
        assert_eq!(small.comparisons, 100 * 2_016);
        assert_eq!(large.comparisons, 1_000 * 2_016);
        assert_eq!(large.attributes, 10 * small.attributes);
        // Start, end per element, plus the root's and the end of the document.
        assert_eq!((small.events, large.events), (2 * 101, 2 * 1_001));

        // One element with 10,000 or 100,000 attributes: the same bounded work, then refused.
        let ten_thousand = work(&attributes(10_000), MAX_ELEMENTS);
        let hundred_thousand = work(&attributes(N), MAX_ELEMENTS);
        assert_eq!(ten_thousand, hundred_thousand);
        assert_eq!(
            hundred_thousand,
            Work {
                events: 1,
                elements: 1,
                attributes: MAX_ATTRIBUTES + 1,
                comparisons: 2_016
            }
        );

        // Repeated elements: stopped at the cap whatever follows.
        let at_cap = work(&repeated("<x/>", 20_000), MAX_ELEMENTS);
        let far_past = work(&repeated("<x/>", N), MAX_ELEMENTS);
        assert_eq!(at_cap, far_past);
        assert_eq!(far_past.elements, MAX_ELEMENTS + 1);
    }
}
