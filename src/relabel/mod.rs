//! Relabeling, as Prometheus 2.53's `model/relabel`: [`RelabelConfig`] is one
//! rule of `relabel_configs`, `metric_relabel_configs` or
//! `write_relabel_configs`; [`process`] and [`process_builder`] apply a list
//! of rules to a label set.
//!
//! Reading a rule from YAML checks it as Prometheus's `UnmarshalYAML` does
//! (including [`RelabelConfig::validate`]), so a bad rule is refused with the
//! position serde_yaml reports.

mod expand;
mod process;
mod regex;
#[cfg(test)]
mod tests;

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize};

use crate::labels::is_valid_label_name;
pub use process::{process, process_builder};
pub use regex::Regex;

/// One relabeling rule with Prometheus's defaults: separator `;`, regex
/// `(.*)` (anchored), replacement `$1`, action `replace`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RelabelConfig {
    /// Labels whose values are joined with `separator` as the rule's input.
    pub source_labels: Vec<String>,
    /// Joins the source label values.
    pub separator: String,
    /// Matched against the joined input, fully anchored.
    pub regex: Regex,
    /// Divisor for `hashmod`.
    pub modulus: u64,
    /// Label written by `replace`, `hashmod`, `lowercase`, `uppercase`, or
    /// compared by `keepequal` and `dropequal`.
    pub target_label: String,
    /// Template with `$1`/`${name}` references to regex groups.
    pub replacement: String,
    /// What the rule does.
    pub action: Action,
}

/// Prometheus's `DefaultRelabelConfig` separator.
const DEFAULT_SEPARATOR: &str = ";";
/// Prometheus's `DefaultRelabelConfig` replacement.
const DEFAULT_REPLACEMENT: &str = "$1";
/// Prometheus's `DefaultRelabelConfig` regex.
const DEFAULT_REGEX: &str = "(.*)";

impl Default for RelabelConfig {
    fn default() -> RelabelConfig {
        RelabelConfig {
            source_labels: Vec::new(),
            separator: DEFAULT_SEPARATOR.to_string(),
            regex: Regex::default(),
            modulus: 0,
            target_label: String::new(),
            replacement: DEFAULT_REPLACEMENT.to_string(),
            action: Action::Replace,
        }
    }
}

impl RelabelConfig {
    /// Checks the rule as Prometheus's `Config.Validate`, plus the source
    /// label names, which Prometheus checks while reading YAML.
    pub fn validate(&self) -> Result<(), RelabelError> {
        let action = self.action;
        if let Some(name) = self.source_labels.iter().find(|n| !is_valid_label_name(n)) {
            return Err(RelabelError::InvalidSourceLabel {
                action,
                name: name.clone(),
            });
        }
        if action == Action::HashMod && self.modulus == 0 {
            return Err(RelabelError::ModulusRequired);
        }
        let writes_target = matches!(
            action,
            Action::Replace
                | Action::HashMod
                | Action::Lowercase
                | Action::Uppercase
                | Action::KeepEqual
                | Action::DropEqual
        );
        if writes_target && self.target_label.is_empty() {
            return Err(RelabelError::TargetLabelRequired(action));
        }
        let target_ok = match action {
            // A replace target may refer to groups: `${1}_info`.
            Action::Replace if self.target_label.contains('$') => {
                is_relabel_target(&self.target_label)
            }
            Action::Replace
            | Action::Lowercase
            | Action::Uppercase
            | Action::KeepEqual
            | Action::DropEqual
            | Action::HashMod => is_valid_label_name(&self.target_label),
            _ => true,
        };
        if !target_ok {
            return Err(RelabelError::InvalidTargetLabel {
                action,
                target_label: self.target_label.clone(),
            });
        }
        let no_replacement = matches!(
            action,
            Action::Lowercase | Action::Uppercase | Action::KeepEqual | Action::DropEqual
        );
        if no_replacement && self.replacement != DEFAULT_REPLACEMENT {
            return Err(RelabelError::ReplacementNotAllowed(action));
        }
        if action == Action::LabelMap && !is_relabel_target(&self.replacement) {
            return Err(RelabelError::InvalidReplacement {
                action,
                replacement: self.replacement.clone(),
            });
        }
        if matches!(action, Action::KeepEqual | Action::DropEqual)
            && (self.regex.as_str() != DEFAULT_REGEX
                || self.modulus != 0
                || self.separator != DEFAULT_SEPARATOR
                || self.replacement != DEFAULT_REPLACEMENT)
        {
            return Err(RelabelError::OnlySourceAndTarget(action));
        }
        if matches!(action, Action::LabelDrop | Action::LabelKeep)
            && (!self.source_labels.is_empty()
                || !self.target_label.is_empty()
                || self.modulus != 0
                || self.separator != DEFAULT_SEPARATOR
                || self.replacement != DEFAULT_REPLACEMENT)
        {
            return Err(RelabelError::OnlyRegex(action));
        }
        Ok(())
    }
}

/// Prometheus's `relabelTarget`:
/// `^(?:(?:[a-zA-Z_]|\$(?:\{\w+\}|\w+))+\w*)+$`, a label name in which
/// `$name` and `${name}` references may stand for letters.
pub(crate) fn is_relabel_target(s: &str) -> bool {
    // The pattern accepts exactly: non-empty; starts with a letter, `_` or a
    // reference; then any mix of word characters and references.
    let mut rest = s.as_bytes();
    let mut first = true;
    while let Some(&c) = rest.first() {
        if c == b'$' {
            let body = &rest[1..];
            let len = if body.first() == Some(&b'{') {
                let name = word_len(&body[1..]);
                if name == 0 || body.get(1 + name) != Some(&b'}') {
                    return false;
                }
                name + 2
            } else {
                let name = word_len(body);
                if name == 0 {
                    return false;
                }
                name
            };
            rest = &body[len..];
        } else if c.is_ascii_alphabetic() || c == b'_' || (!first && c.is_ascii_digit()) {
            rest = &rest[1..];
        } else {
            return false;
        }
        first = false;
    }
    !first
}

/// Length of the leading run of `\w` (`[0-9A-Za-z_]`) bytes.
fn word_len(s: &[u8]) -> usize {
    s.iter()
        .take_while(|c| c.is_ascii_alphanumeric() || **c == b'_')
        .count()
}

/// Why a relabel rule is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RelabelError {
    /// `hashmod` without a non-zero `modulus`.
    ModulusRequired,
    /// The action needs `target_label`.
    TargetLabelRequired(Action),
    /// `target_label` is not a label name (or template, for `replace`).
    InvalidTargetLabel {
        /// The rule's action.
        action: Action,
        /// The refused `target_label`.
        target_label: String,
    },
    /// `replacement` set for an action that takes none.
    ReplacementNotAllowed(Action),
    /// `labelmap` replacement that cannot expand to a label name.
    InvalidReplacement {
        /// The rule's action.
        action: Action,
        /// The refused `replacement`.
        replacement: String,
    },
    /// `keepequal`/`dropequal` with fields other than source and target.
    OnlySourceAndTarget(Action),
    /// `labeldrop`/`labelkeep` with fields other than `regex`.
    OnlyRegex(Action),
    /// A `source_labels` entry that is not a label name.
    InvalidSourceLabel {
        /// The rule's action.
        action: Action,
        /// The refused name.
        name: String,
    },
    /// `action` missing its value (YAML `action:` with nothing after it).
    EmptyAction,
}

impl fmt::Display for RelabelError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The wording is Prometheus's, so messages read the same.
        match self {
            RelabelError::ModulusRequired => {
                f.write_str("relabel configuration for hashmod requires non-zero modulus")
            }
            RelabelError::TargetLabelRequired(action) => write!(
                f,
                "relabel configuration for {action} action requires 'target_label' value"
            ),
            RelabelError::InvalidTargetLabel {
                action,
                target_label,
            } => write!(
                f,
                "{target_label:?} is invalid 'target_label' for {action} action"
            ),
            RelabelError::ReplacementNotAllowed(action) => {
                write!(f, "'replacement' can not be set for {action} action")
            }
            RelabelError::InvalidReplacement {
                action,
                replacement,
            } => write!(
                f,
                "{replacement:?} is invalid 'replacement' for {action} action"
            ),
            RelabelError::OnlySourceAndTarget(action) => write!(
                f,
                "{action} action requires only 'source_labels' and `target_label`, and no other fields"
            ),
            RelabelError::OnlyRegex(action) => write!(
                f,
                "{action} action requires only 'regex', and no other fields"
            ),
            RelabelError::InvalidSourceLabel { action, name } => write!(
                f,
                "{name:?} is not a valid label name in 'source_labels' for {action} action"
            ),
            RelabelError::EmptyAction => f.write_str("relabel action cannot be empty"),
        }
    }
}

impl std::error::Error for RelabelError {}

/// A relabeling action of Prometheus 2.53. YAML names are lowercase
/// (`keepequal`, `hashmod`, ...); reading accepts any case, as Prometheus.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
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

impl Action {
    /// Every action, in Prometheus's order.
    pub const ALL: [Action; 11] = [
        Action::Replace,
        Action::Keep,
        Action::Drop,
        Action::KeepEqual,
        Action::DropEqual,
        Action::HashMod,
        Action::LabelMap,
        Action::LabelDrop,
        Action::LabelKeep,
        Action::Lowercase,
        Action::Uppercase,
    ];

    /// The name used in YAML.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Replace => "replace",
            Action::Keep => "keep",
            Action::Drop => "drop",
            Action::KeepEqual => "keepequal",
            Action::DropEqual => "dropequal",
            Action::HashMod => "hashmod",
            Action::LabelMap => "labelmap",
            Action::LabelDrop => "labeldrop",
            Action::LabelKeep => "labelkeep",
            Action::Lowercase => "lowercase",
            Action::Uppercase => "uppercase",
        }
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An unknown action name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownAction(pub String);

impl fmt::Display for UnknownAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unknown relabel action {:?}", self.0)
    }
}

impl std::error::Error for UnknownAction {}

impl std::str::FromStr for Action {
    type Err = UnknownAction;

    /// Case-insensitive, as Prometheus's `Action.UnmarshalYAML`.
    fn from_str(s: &str) -> Result<Action, UnknownAction> {
        let lower = s.to_lowercase();
        Action::ALL
            .into_iter()
            .find(|a| a.as_str() == lower)
            .ok_or_else(|| UnknownAction(s.to_string()))
    }
}

impl Serialize for Action {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Action {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Action, D::Error> {
        let s = String::deserialize(deserializer)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// The YAML form of a rule: Prometheus fills in the defaults for missing
/// fields, while a field present with a null value gets the zero value.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRelabelConfig {
    #[serde(default, deserialize_with = "present")]
    source_labels: Option<Vec<String>>,
    #[serde(default = "default_separator", deserialize_with = "null_as_zero")]
    separator: String,
    /// `None` when missing; a null regex reads as the empty regex.
    #[serde(default, deserialize_with = "some")]
    regex: Option<Regex>,
    #[serde(default, deserialize_with = "null_as_zero")]
    modulus: u64,
    #[serde(default, deserialize_with = "null_as_zero")]
    target_label: String,
    #[serde(default = "default_replacement", deserialize_with = "null_as_zero")]
    replacement: String,
    #[serde(default = "default_action", deserialize_with = "present")]
    action: Option<Action>,
}

fn default_separator() -> String {
    DEFAULT_SEPARATOR.to_string()
}

fn default_replacement() -> String {
    DEFAULT_REPLACEMENT.to_string()
}

fn default_action() -> Option<Action> {
    Some(Action::Replace)
}

/// A field that is present: `Some` of its value, `None` when null.
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<T>, D::Error> {
    Option::<T>::deserialize(d)
}

/// A field that is present, whose type reads null itself.
fn some<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<T>, D::Error> {
    T::deserialize(d).map(Some)
}

/// A field that is present: its value, or the zero value when null.
fn null_as_zero<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

impl<'de> Deserialize<'de> for RelabelConfig {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<RelabelConfig, D::Error> {
        // Checking inside the map visit lets serde_yaml tell where the rule is.
        struct RuleVisitor;
        impl<'de> serde::de::Visitor<'de> for RuleVisitor {
            type Value = RelabelConfig;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a relabel rule")
            }

            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                map: A,
            ) -> Result<RelabelConfig, A::Error> {
                let raw = RawRelabelConfig::deserialize(
                    serde::de::value::MapAccessDeserializer::new(map),
                )?;
                RelabelConfig::try_from(raw).map_err(serde::de::Error::custom)
            }
        }
        deserializer.deserialize_map(RuleVisitor)
    }
}

impl TryFrom<RawRelabelConfig> for RelabelConfig {
    type Error = RelabelError;

    fn try_from(raw: RawRelabelConfig) -> Result<RelabelConfig, RelabelError> {
        let action = raw.action.ok_or(RelabelError::EmptyAction)?;
        let config = RelabelConfig {
            source_labels: raw.source_labels.clone().unwrap_or_default(),
            separator: raw.separator,
            regex: raw.regex.clone().unwrap_or_default(),
            modulus: raw.modulus,
            target_label: raw.target_label,
            replacement: raw.replacement,
            action,
        };
        // Prometheus compares the regex with the default by pointer, so any
        // regex written out is refused for these actions, even `(.*)`; and a
        // `source_labels` written out, even empty, for labeldrop/labelkeep.
        match action {
            Action::KeepEqual | Action::DropEqual if raw.regex.is_some() => {
                config.validate()?;
                return Err(RelabelError::OnlySourceAndTarget(action));
            }
            Action::LabelDrop | Action::LabelKeep if raw.source_labels.is_some() => {
                config.validate()?;
                return Err(RelabelError::OnlyRegex(action));
            }
            _ => {}
        }
        config.validate()?;
        Ok(config)
    }
}
