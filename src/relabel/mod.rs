//! Relabeling, as Prometheus's `model/relabel`: [`RelabelConfig`] is one
//! rule of `relabel_configs`, `metric_relabel_configs` or
//! `write_relabel_configs`.

use serde::{Deserialize, Serialize};

/// One relabeling rule with Prometheus's defaults: separator `;`, regex
/// `(.*)` (anchored), replacement `$1`, action `replace`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RelabelConfig {
    /// Labels whose values are joined with `separator` as the rule's input.
    #[serde(default)]
    pub source_labels: Vec<String>,
    /// Joins the source label values.
    #[serde(default = "default_separator")]
    pub separator: String,
    /// Matched against the joined input, fully anchored.
    #[serde(default)]
    pub regex: Regex,
    /// Divisor for `hashmod`.
    #[serde(default)]
    pub modulus: u64,
    /// Label written by `replace`, `hashmod`, `lowercase`, `uppercase`.
    #[serde(default)]
    pub target_label: String,
    /// Template with `$1`/`${name}` references to regex groups.
    #[serde(default = "default_replacement")]
    pub replacement: String,
    /// What the rule does.
    #[serde(default)]
    pub action: Action,
}

fn default_separator() -> String {
    ";".to_string()
}

fn default_replacement() -> String {
    "$1".to_string()
}

/// A relabeling action of Prometheus 2.53.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// Write the expanded replacement to `target_label` when the regex matches.
    #[default]
    Replace,
    /// Drop the set unless the regex matches.
    Keep,
    /// Drop the set when the regex matches.
    Drop,
    /// Keep the set when the joined source equals `target_label`'s value.
    KeepEqual,
    /// Drop the set when the joined source equals `target_label`'s value.
    DropEqual,
    /// Set `target_label` to the hash of the source modulo `modulus`.
    HashMod,
    /// Copy labels whose names match to names given by the replacement.
    LabelMap,
    /// Remove labels whose names match.
    LabelDrop,
    /// Remove labels whose names do not match.
    LabelKeep,
    /// Write the lowercased source to `target_label`.
    Lowercase,
    /// Write the uppercased source to `target_label`.
    Uppercase,
}

/// A fully anchored regular expression that remembers how it was written.
#[derive(Debug, Clone)]
pub struct Regex {
    source: String,
    anchored: regex::Regex,
}

impl Regex {
    /// Compiles `source` as `^(?s:source)$`.
    pub fn new(source: &str) -> Result<Regex, regex::Error> {
        let anchored = regex::Regex::new(&format!("^(?s:{source})$"))?;
        Ok(Regex {
            source: source.to_string(),
            anchored,
        })
    }

    /// The expression as written in the config.
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// The compiled, anchored expression.
    pub fn regex(&self) -> &regex::Regex {
        &self.anchored
    }
}

impl Default for Regex {
    fn default() -> Regex {
        Regex::new("(.*)").expect("the default regex compiles")
    }
}

impl PartialEq for Regex {
    fn eq(&self, other: &Regex) -> bool {
        self.source == other.source
    }
}

impl Eq for Regex {}

impl Serialize for Regex {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.source)
    }
}

impl<'de> Deserialize<'de> for Regex {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Regex, D::Error> {
        let s = String::deserialize(deserializer)?;
        Regex::new(&s).map_err(|e| serde::de::Error::custom(format!("invalid regex {s:?}: {e}")))
    }
}
