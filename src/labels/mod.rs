//! Label sets: the identity of a series, as in Prometheus's `model/labels`.
//!
//! [`Labels`] is sorted by name, immutable and held in one reference-counted
//! allocation, so cloning is a counter increment and an edge box pays one
//! allocation per series. [`LabelsBuilder`] makes changed copies (relabeling,
//! target labels), and [`Labels::stable_hash`] gives the 64-bit hash that
//! Prometheus uses to identify targets and series.

mod builder;

use std::fmt;
use std::sync::Arc;

pub use builder::LabelsBuilder;

/// `__name__`: the label that holds the metric name.
pub const METRIC_NAME: &str = "__name__";
/// `__address__`: host and port of a target before relabeling.
pub const ADDRESS: &str = "__address__";
/// `__scheme__`: http or https for a target.
pub const SCHEME: &str = "__scheme__";
/// `__metrics_path__`: the URL path scraped on a target.
pub const METRICS_PATH: &str = "__metrics_path__";
/// `__scrape_interval__`: a target's interval, settable by relabeling.
pub const SCRAPE_INTERVAL: &str = "__scrape_interval__";
/// `__scrape_timeout__`: a target's timeout, settable by relabeling.
pub const SCRAPE_TIMEOUT: &str = "__scrape_timeout__";
/// `__param_`: prefix of labels that become URL query parameters.
pub const PARAM_PREFIX: &str = "__param_";
/// `__meta_`: prefix of discovery metadata labels, dropped after relabeling.
pub const META_PREFIX: &str = "__meta_";
/// `__tmp_`: prefix reserved for users' temporary relabeling labels.
pub const TMP_PREFIX: &str = "__tmp_";
/// `__`: prefix of labels that never leave target relabeling.
pub const RESERVED_PREFIX: &str = "__";
/// `instance`: the target label that names a scraped endpoint.
pub const INSTANCE: &str = "instance";
/// `job`: the target label that names a scrape config.
pub const JOB: &str = "job";

/// Separator byte used between names and values when hashing, as Prometheus.
const HASH_SEP: u8 = 0xff;

/// A sorted, immutable set of label name/value pairs.
///
/// Invariants: names are unique and sorted bytewise. The encoding is
/// `len name len value` per label in one shared string, where `len` is a
/// varint of 6-bit digits (bit 6 = more follows), so every length byte is
/// ASCII and the whole buffer stays a `str`: reading never re-checks UTF-8.
/// The encoding is canonical, so equal sets have equal buffers.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Labels {
    data: Arc<str>,
}

/// One label borrowed from a [`Labels`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Label<'a> {
    /// The label name.
    pub name: &'a str,
    /// The label value.
    pub value: &'a str,
}

impl Labels {
    /// The empty label set.
    pub fn empty() -> Labels {
        Labels {
            data: Arc::from(""),
        }
    }

    /// Builds a label set from pairs in any order. Later duplicates of a
    /// name win; pairs with an empty value are left out, as in Prometheus.
    pub fn from_pairs<N, V, I>(pairs: I) -> Labels
    where
        N: AsRef<str>,
        V: AsRef<str>,
        I: IntoIterator<Item = (N, V)>,
    {
        let mut builder = LabelsBuilder::new(&Labels::empty());
        for (name, value) in pairs {
            builder.set(name.as_ref(), value.as_ref());
        }
        builder.labels()
    }

    /// Encodes already sorted, unique, non-empty pairs without checking.
    pub(crate) fn from_sorted<'a, I>(pairs: I) -> Labels
    where
        I: IntoIterator<Item = (&'a str, &'a str)> + Clone,
    {
        let size: usize = pairs
            .clone()
            .into_iter()
            .map(|(n, v)| varint_len(n.len()) + n.len() + varint_len(v.len()) + v.len())
            .sum();
        let mut buf = String::with_capacity(size);
        for (name, value) in pairs {
            put_str(&mut buf, name);
            put_str(&mut buf, value);
        }
        Labels {
            data: Arc::from(buf),
        }
    }

    /// Iterates the labels in name order.
    pub fn iter(&self) -> Iter<'_> {
        Iter { rest: &self.data }
    }

    /// The value of `name`, if the set has it.
    pub fn get(&self, name: &str) -> Option<&str> {
        for label in self.iter() {
            match label.name.cmp(name) {
                std::cmp::Ordering::Less => {}
                std::cmp::Ordering::Equal => return Some(label.value),
                std::cmp::Ordering::Greater => return None,
            }
        }
        None
    }

    /// Whether the set has a label called `name`.
    pub fn has(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    /// The metric name (`__name__`), if set.
    pub fn metric_name(&self) -> Option<&str> {
        self.get(METRIC_NAME)
    }

    /// Number of labels.
    pub fn len(&self) -> usize {
        self.iter().count()
    }

    /// Whether there are no labels.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// Bytes held by the encoded set (without the reference-count header).
    pub fn encoded_len(&self) -> usize {
        self.data.len()
    }

    /// A stable 64-bit hash (xxHash64 over `name 0xff value 0xff`), the same
    /// function Prometheus uses, so it never changes between runs or hosts.
    pub fn stable_hash(&self) -> u64 {
        let mut hasher = xxhash_rust::xxh64::Xxh64::new(0);
        for label in self.iter() {
            hasher.update(label.name.as_bytes());
            hasher.update(&[HASH_SEP]);
            hasher.update(label.value.as_bytes());
            hasher.update(&[HASH_SEP]);
        }
        hasher.digest()
    }

    /// A builder that starts from this set.
    pub fn builder(&self) -> LabelsBuilder {
        LabelsBuilder::new(self)
    }

    /// Checks every name against `[a-zA-Z_][a-zA-Z0-9_]*`; the metric name's
    /// value against the metric-name syntax, which also allows `:`.
    pub fn validate(&self) -> Result<(), InvalidLabel> {
        for label in self.iter() {
            if !is_valid_label_name(label.name) {
                return Err(InvalidLabel::Name(label.name.to_string()));
            }
            if label.name == METRIC_NAME && !is_valid_metric_name(label.value) {
                return Err(InvalidLabel::MetricName(label.value.to_string()));
            }
        }
        Ok(())
    }
}

/// Orders as Prometheus's `labels.Compare`: label by label, name then value,
/// and a set that is a prefix of another sorts first.
impl Ord for Labels {
    fn cmp(&self, other: &Labels) -> std::cmp::Ordering {
        self.iter().cmp(other.iter())
    }
}

impl PartialOrd for Labels {
    fn partial_cmp(&self, other: &Labels) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Default for Labels {
    fn default() -> Labels {
        Labels::empty()
    }
}

/// Why a label set is not valid.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum InvalidLabel {
    /// A label name outside `[a-zA-Z_][a-zA-Z0-9_]*`.
    Name(String),
    /// A metric name outside `[a-zA-Z_:][a-zA-Z0-9_:]*`.
    MetricName(String),
}

impl fmt::Display for InvalidLabel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InvalidLabel::Name(n) => write!(f, "invalid label name {n:?}"),
            InvalidLabel::MetricName(n) => write!(f, "invalid metric name {n:?}"),
        }
    }
}

impl std::error::Error for InvalidLabel {}

/// Whether `name` is a valid label name: `[a-zA-Z_][a-zA-Z0-9_]*`.
pub fn is_valid_label_name(name: &str) -> bool {
    let bytes = name.as_bytes();
    match bytes.first() {
        Some(c) if c.is_ascii_alphabetic() || *c == b'_' => {}
        _ => return false,
    }
    bytes[1..]
        .iter()
        .all(|c| c.is_ascii_alphanumeric() || *c == b'_')
}

/// Whether `name` is a valid metric name: `[a-zA-Z_:][a-zA-Z0-9_:]*`.
pub fn is_valid_metric_name(name: &str) -> bool {
    let bytes = name.as_bytes();
    match bytes.first() {
        Some(c) if c.is_ascii_alphabetic() || *c == b'_' || *c == b':' => {}
        _ => return false,
    }
    bytes[1..]
        .iter()
        .all(|c| c.is_ascii_alphanumeric() || *c == b'_' || *c == b':')
}

/// Iterator over the labels of a [`Labels`], in name order.
#[derive(Clone, Debug)]
pub struct Iter<'a> {
    rest: &'a str,
}

impl<'a> Iterator for Iter<'a> {
    type Item = Label<'a>;

    #[inline]
    fn next(&mut self) -> Option<Label<'a>> {
        let name = take_str(&mut self.rest)?;
        let value = take_str(&mut self.rest)?;
        Some(Label { name, value })
    }
}

impl<'a> IntoIterator for &'a Labels {
    type Item = Label<'a>;
    type IntoIter = Iter<'a>;

    fn into_iter(self) -> Iter<'a> {
        self.iter()
    }
}

/// Formats as Prometheus does: `{a="1", b="2"}`, values escaped.
impl fmt::Display for Labels {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("{")?;
        for (i, label) in self.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{}={:?}", label.name, label.value)?;
        }
        f.write_str("}")
    }
}

impl fmt::Debug for Labels {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl serde::Serialize for Labels {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = serializer.serialize_map(None)?;
        for label in self.iter() {
            map.serialize_entry(label.name, label.value)?;
        }
        map.end()
    }
}

impl<'de> serde::Deserialize<'de> for Labels {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Labels, D::Error> {
        let map: std::collections::BTreeMap<String, String> =
            serde::Deserialize::deserialize(deserializer)?;
        let labels = Labels::from_pairs(map);
        labels.validate().map_err(serde::de::Error::custom)?;
        Ok(labels)
    }
}

/// Bits of a length carried by one length byte; bit 6 says more follow.
const LEN_BITS: u32 = 6;
const LEN_MORE: u8 = 1 << LEN_BITS;
const LEN_MASK: usize = (1 << LEN_BITS) - 1;

fn varint_len(mut n: usize) -> usize {
    let mut len = 1;
    while n > LEN_MASK {
        n >>= LEN_BITS;
        len += 1;
    }
    len
}

fn put_str(buf: &mut String, s: &str) {
    let mut n = s.len();
    while n > LEN_MASK {
        buf.push(char::from(LEN_MORE | (n & LEN_MASK) as u8));
        n >>= LEN_BITS;
    }
    buf.push(char::from(n as u8));
    buf.push_str(s);
}

/// Reads one length-prefixed string; `None` at the end of the buffer.
#[inline]
fn take_str<'a>(rest: &mut &'a str) -> Option<&'a str> {
    let bytes = rest.as_bytes();
    let first = *bytes.first()?;
    let (len, digits) = if first & LEN_MORE == 0 {
        // Most names and values are shorter than 64 bytes: one length byte.
        (usize::from(first), 1)
    } else {
        let mut len = 0usize;
        let mut i = 0;
        loop {
            let b = *bytes.get(i)?;
            len |= usize::from(b & !LEN_MORE).checked_shl(LEN_BITS * i as u32)?;
            i += 1;
            if b & LEN_MORE == 0 {
                break (len, i);
            }
        }
    };
    let (s, tail) = rest.get(digits..)?.split_at_checked(len)?;
    *rest = tail;
    Some(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_are_sorted_and_deduplicated_last_wins() {
        let l = Labels::from_pairs([("b", "2"), ("a", "1"), ("b", "3"), ("c", "")]);
        let got: Vec<_> = l.iter().map(|l| (l.name, l.value)).collect();
        assert_eq!(got, vec![("a", "1"), ("b", "3")]);
        assert_eq!(l.to_string(), r#"{a="1", b="3"}"#);
    }

    #[test]
    fn long_values_round_trip() {
        let long = "x".repeat(70_000);
        let l = Labels::from_pairs([("v", long.as_str()), ("a", "é")]);
        assert_eq!(l.get("v"), Some(long.as_str()));
        assert_eq!(l.get("a"), Some("é"));
        assert_eq!(l.len(), 2);
        for n in [0, 63, 64, 4095, 4096, 262_144] {
            let v = "é".repeat(n);
            let l = Labels::from_pairs([("a", "1"), ("v", v.as_str()), ("z", "2")]);
            let got: Vec<_> = l.iter().map(|l| (l.name, l.value)).collect();
            let want = if n == 0 {
                vec![("a", "1"), ("z", "2")]
            } else {
                vec![("a", "1"), ("v", v.as_str()), ("z", "2")]
            };
            assert_eq!(got, want, "value of {n} chars");
        }
    }

    #[test]
    fn get_finds_only_present_names() {
        let l = Labels::from_pairs([("b", "2"), ("d", "4")]);
        assert_eq!(l.get("b"), Some("2"));
        assert_eq!(l.get("d"), Some("4"));
        assert_eq!(l.get("a"), None);
        assert_eq!(l.get("c"), None);
        assert_eq!(l.get("e"), None);
        assert!(!Labels::empty().has("a"));
    }

    #[test]
    fn order_is_prometheus_compare() {
        let set = |pairs: &[(&str, &str)]| Labels::from_pairs(pairs.iter().copied());
        let mut sets = [
            set(&[("b", "1")]),
            set(&[("a", "2")]),
            set(&[("a", "1"), ("b", "1")]),
            set(&[("a", "1")]),
            Labels::empty(),
            set(&[("a", "10")]),
        ];
        sets.sort();
        let shown: Vec<String> = sets.iter().map(|l| l.to_string()).collect();
        assert_eq!(
            shown,
            [
                "{}",
                r#"{a="1"}"#,
                r#"{a="1", b="1"}"#,
                r#"{a="10"}"#,
                r#"{a="2"}"#,
                r#"{b="1"}"#,
            ]
        );
    }

    #[test]
    fn stable_hash_matches_prometheus_xxhash() {
        // Same bytes Prometheus's Labels.Hash feeds xxhash.Sum64.
        let l = Labels::from_pairs([("__name__", "up"), ("job", "x")]);
        let expected = xxhash_rust::xxh64::xxh64(b"__name__\xffup\xffjob\xffx\xff", 0);
        assert_eq!(l.stable_hash(), expected);
        assert_ne!(l.stable_hash(), Labels::empty().stable_hash());
    }

    #[test]
    fn names_are_validated() {
        assert!(is_valid_label_name("_a1"));
        assert!(!is_valid_label_name("1a"));
        assert!(!is_valid_label_name("a:b"));
        assert!(!is_valid_label_name(""));
        assert!(is_valid_metric_name("a:b_c"));
        assert!(Labels::from_pairs([("a-b", "x")]).validate().is_err());
        assert!(Labels::from_pairs([("__name__", "1x")]).validate().is_err());
    }

    #[test]
    fn json_round_trip() {
        let l = Labels::from_pairs([("job", "a\"b"), ("instance", "h:1")]);
        let json = serde_json::to_string(&l).unwrap();
        assert_eq!(json, r#"{"instance":"h:1","job":"a\"b"}"#);
        let back: Labels = serde_json::from_str(&json).unwrap();
        assert_eq!(back, l);
    }
}
