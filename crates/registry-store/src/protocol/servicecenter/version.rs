//! ServiceCenter version rules for `find`: `latest`, `N+`, ranges, exact versions.
//!
//! A ServiceCenter [`Version`] is 1 to 4 dot-separated integers, each `0..=32767`, compared part by part
//! as numbers (missing parts are 0, so `1.2` == `1.2.0.0`). The `version` query value of
//! `GET /instances` is a [`VersionRule`]:
//!
//! | text            | rule                                   |
//! |-----------------|----------------------------------------|
//! | `latest`        | [`VersionRule::Latest`]: the highest version present |
//! | `1.0.0+`        | [`VersionRule::AtLeast`]: `>= 1.0.0`   |
//! | `1.0.0-2.0.0`   | [`VersionRule::Range`]: `[1.0.0, 2.0.0)` |
//! | `1.0.0`         | [`VersionRule::Exact`]                 |
//! | anything else   | [`VersionRule::All`]                   |
//!
//! The accepted syntax is SC v2.0.0's regex
//! `^\d+(\.\d+){0,3}\+?$|^\d+(\.\d+){0,3}-\d+(\.\d+){0,3}$|^latest$`, with parts limited to 0..=32767.
//! Departures, all on the lenient side:
//! - Parsing a rule never fails. SC 2.1+ ignores `version` and returns every version, and an SC build
//!   that rejected `latest` with 400001 broke java-chassis users (java-chassis#1922), so an empty,
//!   malformed or out-of-range value means [`VersionRule::All`].
//! - Surrounding whitespace is trimmed, and `latest` is matched case-insensitively.
//! - go-chassis sc-client escapes its already-escaped `0%2B` a second time, so the server receives
//!   the literal text `0%2B`. `%2B`/`%2b` is therefore read as `+` (one decoding step, that escape
//!   only) before the rule is parsed: `0%2B` is `0+`, i.e. [`VersionRule::AtLeast`] `0.0.0.0`.
//!   Since registered versions are validated, that keeps every registered version, as the client meant.
//!   Any other `%` escape leaves the text malformed, hence [`VersionRule::All`].
//! - Leading zeros are accepted (`01` is 1), as `\d+` allows.
//!
//! The module is pure: no I/O, no async, no panics on input.

use std::fmt;

/// The largest value of one version part (SC compares parts as int16).
const MAX_PART: u16 = 32767;

/// How many parts a version has at most.
const MAX_PARTS: usize = 4;

/// A ServiceCenter version: 1 to 4 dot-separated integers, each 0..=32767; missing parts are 0
/// ("1.2" == "1.2.0.0"). Ordered numerically part by part.
///
/// Displayed with at least three parts, and the fourth only when it is not 0:
/// `[1, 0, 0, 0]` prints `1.0.0`, `[1, 2, 3, 4]` prints `1.2.3.4`. Parsing the printed text gives the
/// same version back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Version([u16; 4]);

impl Version {
    /// Reads a version strictly: 1 to 4 parts of ASCII digits separated by single dots, each at most
    /// 32767. No spaces, no signs, no empty parts. Leading zeros are accepted (`01.002` is `1.2`).
    pub fn parse(text: &str) -> Option<Version> {
        let mut parts = [0u16; MAX_PARTS];
        for (index, piece) in text.split('.').enumerate() {
            *parts.get_mut(index)? = parse_part(piece)?;
        }
        Some(Version(parts))
    }
}

/// One version part: a non-empty run of ASCII digits whose value is at most [`MAX_PART`].
fn parse_part(piece: &str) -> Option<u16> {
    if piece.is_empty() || !piece.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    // Digits only, so the one possible error is overflow; leading zeros never overflow.
    let value = piece.parse::<u16>().ok()?;
    (value <= MAX_PART).then_some(value)
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [a, b, c, d] = self.0;
        write!(f, "{a}.{b}.{c}")?;
        if d != 0 {
            write!(f, ".{d}")?;
        }
        Ok(())
    }
}

/// A `version` query value of find.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VersionRule {
    /// Empty, malformed or absent: every version (never rejected — see java-chassis#1922).
    All,
    /// `latest`: only the highest registered version.
    Latest,
    /// `1.0.0+`: every version ≥ this.
    AtLeast(Version),
    /// `1.0.0-2.0.0`: [start, end), end exclusive; given reversed, the bounds are swapped.
    ///
    /// [`VersionRule::parse`] always yields `start <= end`; a range built by hand with reversed
    /// bounds is read the same way. Equal bounds match nothing.
    Range(Version, Version),
    /// `1.0.0`: exactly this version.
    Exact(Version),
}

impl VersionRule {
    /// Never fails: anything it cannot read is `All`. Trims whitespace; `latest` case-insensitive.
    ///
    /// `%2B`/`%2b` is read as `+` first (one decoding step for go-chassis sc-client's doubly escaped
    /// `0%2B`), so `0%2B` is `AtLeast(0.0.0.0)`. See the module docs.
    pub fn parse(text: &str) -> VersionRule {
        let text = text.trim();
        if text.contains('%') {
            return Self::parse_plain(&decode_plus(text));
        }
        Self::parse_plain(text)
    }

    /// Parses a trimmed rule with no escapes left.
    fn parse_plain(text: &str) -> VersionRule {
        if text.eq_ignore_ascii_case("latest") {
            return VersionRule::Latest;
        }
        if let Some(start) = text.strip_suffix('+') {
            return Version::parse(start).map_or(VersionRule::All, VersionRule::AtLeast);
        }
        if let Some((start, end)) = text.split_once('-') {
            return Self::parse_range(start, end);
        }
        Version::parse(text).map_or(VersionRule::All, VersionRule::Exact)
    }

    /// `start-end` with both bounds valid versions, swapped if reversed; otherwise `All`.
    fn parse_range(start: &str, end: &str) -> VersionRule {
        match (Version::parse(start), Version::parse(end)) {
            (Some(start), Some(end)) => VersionRule::Range(start.min(end), start.max(end)),
            _ => VersionRule::All,
        }
    }

    /// Keeps the items whose version matches. `Latest` keeps every item whose version equals the
    /// highest parseable version among `items`. Items whose version does not parse match only `All`.
    ///
    /// The kept items stay in their input order. When the items are instances, `Latest` is the
    /// highest version that has instances (what service-center#578 asked for).
    pub fn select<T>(&self, items: Vec<T>, version_of: impl Fn(&T) -> &str) -> Vec<T> {
        if *self == VersionRule::All {
            return items;
        }
        let latest = match self {
            VersionRule::Latest => items.iter().filter_map(|item| Version::parse(version_of(item))).max(),
            _ => None,
        };
        items
            .into_iter()
            .filter(|item| Version::parse(version_of(item)).is_some_and(|version| self.accepts(version, latest)))
            .collect()
    }

    /// Whether a parsed `version` matches; `latest` is the highest version present (for `Latest`).
    fn accepts(&self, version: Version, latest: Option<Version>) -> bool {
        match *self {
            VersionRule::All => true,
            VersionRule::Latest => latest == Some(version),
            VersionRule::AtLeast(start) => version >= start,
            VersionRule::Range(a, b) => a.min(b) <= version && version < a.max(b),
            VersionRule::Exact(exact) => version == exact,
        }
    }
}

/// Replaces every `%2B`/`%2b` with `+`, once (the result is not decoded again).
fn decode_plus(text: &str) -> String {
    text.replace("%2B", "+").replace("%2b", "+")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(text: &str) -> Version {
        Version::parse(text).expect("test version parses")
    }

    fn versions_of(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    /// Applies `rule` to bare version strings, returning what it keeps.
    fn keep(rule: &VersionRule, items: &[&str]) -> Vec<String> {
        rule.select(versions_of(items), |s| s.as_str())
    }

    // ---- Version::parse ----

    #[test]
    fn parses_one_to_four_parts_filling_zeros() {
        assert_eq!(Version::parse("1"), Some(Version([1, 0, 0, 0])));
        assert_eq!(Version::parse("1.2"), Some(Version([1, 2, 0, 0])));
        assert_eq!(Version::parse("1.2.3"), Some(Version([1, 2, 3, 0])));
        assert_eq!(Version::parse("1.2.3.4"), Some(Version([1, 2, 3, 4])));
        assert_eq!(Version::parse("0"), Some(Version([0, 0, 0, 0])));
    }

    #[test]
    fn part_limit_is_32767() {
        assert_eq!(Version::parse("32767"), Some(Version([32767, 0, 0, 0])));
        assert_eq!(Version::parse("32767.32767.32767.32767"), Some(Version([32767; 4])));
        assert_eq!(Version::parse("32768"), None);
        assert_eq!(Version::parse("1.32768"), None);
        assert_eq!(Version::parse("65535"), None);
        assert_eq!(Version::parse("65536"), None);
        assert_eq!(Version::parse("99999999999999999999999"), None);
    }

    #[test]
    fn rejects_malformed_versions() {
        for text in [
            "",
            ".",
            "1.",
            ".1",
            "1..2",
            " 1",
            "1 ",
            "1. 2",
            "-1",
            "+1",
            "1.-2",
            "1.2.3.4.5",
            "1.0.0.0.0",
            "a",
            "1.a",
            "1.2b",
            "0x10",
            "1_000",
            "１",
            "1,2",
            "1.2+",
            "1-2",
        ] {
            assert_eq!(Version::parse(text), None, "{text:?} must not parse");
        }
    }

    #[test]
    fn leading_zeros_are_accepted() {
        assert_eq!(Version::parse("01"), Some(Version([1, 0, 0, 0])));
        assert_eq!(Version::parse("01.002.0003"), Some(v("1.2.3")));
        assert_eq!(Version::parse("00000000000000000001"), Some(v("1")));
        assert_eq!(Version::parse("032767"), Some(v("32767")));
        assert_eq!(Version::parse("032768"), None);
    }

    // ---- ordering and display ----

    #[test]
    fn orders_numerically_part_by_part() {
        assert!(v("1.10") > v("1.9"));
        assert!(v("1.10.0") > v("1.9.32767"));
        assert!(v("2") > v("1.32767.32767.32767"));
        assert!(v("1.0.0.1") > v("1.0.0"));
        assert!(v("0.0.1") < v("0.1"));
        assert_eq!(v("1.2"), v("1.2.0"));
        assert_eq!(v("1.2"), v("1.2.0.0"));
        assert_eq!(v("1").cmp(&v("1.0.0.0")), std::cmp::Ordering::Equal);
    }

    #[test]
    fn equal_versions_hash_equal() {
        use std::collections::HashSet;
        let set: HashSet<Version> = ["1.2", "1.2.0", "1.2.0.0", "01.02"].into_iter().map(v).collect();
        assert_eq!(set.len(), 1);
    }

    #[test]
    fn displays_at_least_three_parts() {
        assert_eq!(v("1").to_string(), "1.0.0");
        assert_eq!(v("1.2").to_string(), "1.2.0");
        assert_eq!(v("1.2.3").to_string(), "1.2.3");
        assert_eq!(v("1.2.3.0").to_string(), "1.2.3");
        assert_eq!(v("1.2.3.4").to_string(), "1.2.3.4");
        assert_eq!(v("0.0.0.1").to_string(), "0.0.0.1");
        assert_eq!(v("007").to_string(), "7.0.0");
    }

    #[test]
    fn display_round_trips() {
        for text in ["0", "1.2", "1.2.3", "1.2.3.4", "0.0.0.1", "32767.0.32767.32767"] {
            let version = v(text);
            assert_eq!(Version::parse(&version.to_string()), Some(version));
        }
    }

    // ---- VersionRule::parse ----

    #[test]
    fn parses_latest_case_insensitively() {
        assert_eq!(VersionRule::parse("latest"), VersionRule::Latest);
        assert_eq!(VersionRule::parse("LATEST"), VersionRule::Latest);
        assert_eq!(VersionRule::parse("Latest"), VersionRule::Latest);
        assert_eq!(VersionRule::parse("  latest\n"), VersionRule::Latest);
        assert_eq!(VersionRule::parse("latest+"), VersionRule::All);
        assert_eq!(VersionRule::parse("lates"), VersionRule::All);
    }

    #[test]
    fn parses_at_least() {
        assert_eq!(VersionRule::parse("1.0.0+"), VersionRule::AtLeast(v("1")));
        assert_eq!(VersionRule::parse("0+"), VersionRule::AtLeast(v("0")));
        assert_eq!(VersionRule::parse("0.0.0.0+"), VersionRule::AtLeast(v("0")));
        assert_eq!(VersionRule::parse(" 2.1+ "), VersionRule::AtLeast(v("2.1")));
    }

    #[test]
    fn parses_range_swapping_reversed_bounds() {
        assert_eq!(VersionRule::parse("1.0.0-2.0.0"), VersionRule::Range(v("1"), v("2")));
        assert_eq!(VersionRule::parse("2.0.0-1.0.0"), VersionRule::Range(v("1"), v("2")));
        assert_eq!(
            VersionRule::parse("1-1.0.0.1"),
            VersionRule::Range(v("1"), v("1.0.0.1"))
        );
        assert_eq!(VersionRule::parse("1.5-1.5"), VersionRule::Range(v("1.5"), v("1.5")));
    }

    #[test]
    fn parses_exact() {
        assert_eq!(VersionRule::parse("1.0.0"), VersionRule::Exact(v("1")));
        assert_eq!(VersionRule::parse("1.2.3.4"), VersionRule::Exact(v("1.2.3.4")));
        assert_eq!(VersionRule::parse("\t0.0.1 "), VersionRule::Exact(v("0.0.1")));
        assert_eq!(VersionRule::parse("01"), VersionRule::Exact(v("1")));
    }

    #[test]
    fn empty_or_malformed_is_all() {
        for text in [
            "",
            "   ",
            "abc",
            "+",
            "-",
            "1.0.0+-",
            "1.0.0-+",
            "1.0.0++",
            "+1.0.0",
            "1.0.0-",
            "-1.0.0",
            "1-2-3",
            "1.0.0-2.0.0+",
            "1..0+",
            "1.2.3.4.5",
            "1.2.3.4.5+",
            "1-1.2.3.4.5",
            "32768",
            "32768+",
            "1-32768",
            "1 .0",
            "1.0.0 +",
            "*",
            "latest-1",
            "1.0.0,2.0.0",
            "v1.0.0",
            "1.0.0%",
            "0%2",
            "0%252B",
            "0%20",
        ] {
            assert_eq!(VersionRule::parse(text), VersionRule::All, "{text:?} must be All");
        }
    }

    #[test]
    fn doubly_escaped_plus_is_decoded_once() {
        assert_eq!(VersionRule::parse("0%2B"), VersionRule::AtLeast(v("0")));
        assert_eq!(VersionRule::parse("0%2b"), VersionRule::AtLeast(v("0")));
        assert_eq!(VersionRule::parse("1.2%2B"), VersionRule::AtLeast(v("1.2")));
        assert_eq!(VersionRule::parse(" 0.0.0.0%2B "), VersionRule::AtLeast(v("0")));
        // Only one step, and only that escape: anything else stays malformed.
        assert_eq!(VersionRule::parse("0%252B"), VersionRule::All);
        assert_eq!(VersionRule::parse("0%2B%2B"), VersionRule::All);
        assert_eq!(VersionRule::parse("1%2D2"), VersionRule::All);
        // What sc-client means by it: every registered version.
        let items = ["1.0.0", "0.0.1", "2"];
        assert_eq!(keep(&VersionRule::parse("0%2B"), &items), versions_of(&items));
    }

    /// The regex SC v2.0.0 accepted, as a table: accepted text (parts in range) gives a rule other
    /// than `All`, and text outside it gives `All`.
    #[test]
    fn follows_the_spec_regex() {
        let accepted = [
            ("0", VersionRule::Exact(v("0"))),
            ("1.2.3.4", VersionRule::Exact(v("1.2.3.4"))),
            ("1+", VersionRule::AtLeast(v("1"))),
            ("1.2.3.4+", VersionRule::AtLeast(v("1.2.3.4"))),
            ("1-2", VersionRule::Range(v("1"), v("2"))),
            ("1.2.3.4-5.6.7.8", VersionRule::Range(v("1.2.3.4"), v("5.6.7.8"))),
            ("latest", VersionRule::Latest),
        ];
        for (text, rule) in accepted {
            assert_eq!(VersionRule::parse(text), rule, "{text:?}");
        }
        let rejected = [
            "1.2.3.4.5",
            "1.2.3.4.5+",
            "1-2.3.4.5.6",
            "1+-2",
            "1-2+",
            "a+",
            "latest+",
            ".1",
            "1.",
            "1+2",
        ];
        for text in rejected {
            assert_eq!(VersionRule::parse(text), VersionRule::All, "{text:?}");
        }
    }

    // ---- VersionRule::select ----

    #[test]
    fn all_keeps_everything_even_unparseable() {
        let items = ["2.0.0", "garbage", "", "1.0.0"];
        assert_eq!(keep(&VersionRule::All, &items), versions_of(&items));
    }

    #[test]
    fn latest_keeps_every_item_at_the_highest_version() {
        let items = ["1.0.0", "1.10", "1.9.9", "1.10.0.0", "oops", "1.10.0"];
        assert_eq!(
            keep(&VersionRule::Latest, &items),
            versions_of(&["1.10", "1.10.0.0", "1.10.0"])
        );
    }

    #[test]
    fn latest_ignores_unparseable_versions() {
        assert_eq!(
            keep(&VersionRule::Latest, &["99999", "x", "1.0.0"]),
            versions_of(&["1.0.0"])
        );
        assert_eq!(keep(&VersionRule::Latest, &["x", ""]), Vec::<String>::new());
        assert_eq!(keep(&VersionRule::Latest, &[]), Vec::<String>::new());
    }

    #[test]
    fn at_least_keeps_order_and_excludes_unparseable() {
        let rule = VersionRule::parse("1.0.0+");
        let items = ["3.0", "0.9", "1.0.0.0", "bad", "1.0.0.1", "2"];
        assert_eq!(keep(&rule, &items), versions_of(&["3.0", "1.0.0.0", "1.0.0.1", "2"]));
    }

    #[test]
    fn range_excludes_end_and_accepts_reversed_bounds() {
        let items = ["0.9", "1.0.0", "1.5", "2.0.0", "1.99.99.99", "x", "2.0.0.1"];
        let expected = versions_of(&["1.0.0", "1.5", "1.99.99.99"]);
        assert_eq!(keep(&VersionRule::parse("1.0.0-2.0.0"), &items), expected);
        assert_eq!(keep(&VersionRule::parse("2.0.0-1.0.0"), &items), expected);
        // A hand-built reversed range reads the same.
        assert_eq!(keep(&VersionRule::Range(v("2"), v("1")), &items), expected);
        // Equal bounds: an empty interval.
        assert_eq!(keep(&VersionRule::parse("1.5-1.5"), &items), Vec::<String>::new());
    }

    #[test]
    fn exact_keeps_numerically_equal_versions() {
        let items = ["1.0", "1.0.0.1", "1", "01.0.0", "bad", "1.0.0"];
        assert_eq!(
            keep(&VersionRule::parse("1.0.0"), &items),
            versions_of(&["1.0", "1", "01.0.0", "1.0.0"])
        );
    }

    #[test]
    fn select_works_on_any_item_type() {
        struct Instance {
            id: u32,
            version: String,
        }
        let instances = vec![
            Instance {
                id: 1,
                version: "1.0.0".into(),
            },
            Instance {
                id: 2,
                version: "2.0.0".into(),
            },
            Instance {
                id: 3,
                version: "2.0".into(),
            },
        ];
        let kept = VersionRule::Latest.select(instances, |i| i.version.as_str());
        assert_eq!(kept.iter().map(|i| i.id).collect::<Vec<_>>(), vec![2, 3]);
    }

    /// Property-style: over a grid of versions, `AtLeast`, `Range` and `Exact` (parsed from text)
    /// keep exactly what the numeric definition says. The oracle encodes a version as one integer
    /// in base 32768, independent of `Version`'s derived ordering.
    #[test]
    fn rules_agree_with_the_numeric_definition_on_a_grid() {
        fn key(parts: &[u16]) -> u64 {
            (0..MAX_PARTS).fold(0, |acc, i| acc * 32768 + u64::from(parts.get(i).copied().unwrap_or(0)))
        }
        fn text(parts: &[u16]) -> String {
            parts.iter().map(u16::to_string).collect::<Vec<_>>().join(".")
        }
        let values = [0u16, 1, 9, 10, 32767];
        let mut grid: Vec<Vec<u16>> = Vec::new();
        for a in values {
            grid.push(vec![a]);
            for b in values {
                grid.push(vec![a, b]);
                for c in [0u16, 1, 32767] {
                    grid.push(vec![a, b, c]);
                    grid.push(vec![a, b, 0, c]);
                }
            }
        }
        let items: Vec<String> = grid.iter().map(|p| text(p)).collect();
        let item_keys: Vec<u64> = grid.iter().map(|p| key(p)).collect();
        let kept_by = |rule: &VersionRule, wanted: &dyn Fn(u64) -> bool| {
            let kept = rule.select(items.clone(), |s| s.as_str());
            let expected: Vec<String> = items
                .iter()
                .zip(&item_keys)
                .filter(|(_, &k)| wanted(k))
                .map(|(s, _)| s.clone())
                .collect();
            assert_eq!(kept, expected, "rule {rule:?}");
        };
        for (i, lo) in grid.iter().enumerate() {
            let (lo_text, lo_key) = (text(lo), key(lo));
            kept_by(&VersionRule::parse(&format!("{lo_text}+")), &|k| k >= lo_key);
            kept_by(&VersionRule::parse(&lo_text), &|k| k == lo_key);
            // Ranges against a sample of the grid, both ways round.
            for hi in grid.iter().skip(i % 7).step_by(11) {
                let (hi_text, hi_key) = (text(hi), key(hi));
                let (min, max) = (lo_key.min(hi_key), lo_key.max(hi_key));
                kept_by(&VersionRule::parse(&format!("{lo_text}-{hi_text}")), &|k| {
                    min <= k && k < max
                });
                kept_by(&VersionRule::parse(&format!("{hi_text}-{lo_text}")), &|k| {
                    min <= k && k < max
                });
            }
        }
    }
}
