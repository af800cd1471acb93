//! Applying relabel rules to a label set: Prometheus's `relabel.Process`.

use md5::{Digest, Md5};

use super::expand::{expand, has_reference, replace_all};
use super::{Action, RelabelConfig};
use crate::labels::{is_valid_label_name, Labels, LabelsBuilder};

/// Applies `configs` in order to `labels`. `None` means a rule dropped the
/// set; otherwise the relabeled set (which may be empty).
pub fn process(labels: &Labels, configs: &[RelabelConfig]) -> Option<Labels> {
    let mut builder = LabelsBuilder::new(labels);
    process_builder(&mut builder, configs).then(|| builder.labels())
}

/// Like [`process`] on the builder's current set, changing it in place, so
/// a caller can reuse one builder. Returns whether the set is kept; when it
/// is not, the builder holds the set as the dropping rule saw it.
pub fn process_builder(builder: &mut LabelsBuilder, configs: &[RelabelConfig]) -> bool {
    let mut scratch = Scratch::default();
    configs
        .iter()
        .all(|config| relabel(config, builder, &mut scratch))
}

/// Buffers reused across the rules of one `process_builder` call.
#[derive(Default)]
struct Scratch {
    value: String,
    target: String,
    replacement: String,
}

fn relabel(config: &RelabelConfig, builder: &mut LabelsBuilder, scratch: &mut Scratch) -> bool {
    let Scratch {
        value,
        target,
        replacement,
    } = scratch;
    value.clear();
    for (i, name) in config.source_labels.iter().enumerate() {
        if i > 0 {
            value.push_str(&config.separator);
        }
        value.push_str(builder.get(name));
    }
    let value = value.as_str();
    match config.action {
        Action::Drop => return !config.regex.is_match(value),
        Action::Keep => return config.regex.is_match(value),
        Action::DropEqual => return builder.get(&config.target_label) != value,
        Action::KeepEqual => return builder.get(&config.target_label) == value,
        Action::Replace => replace(config, builder, value, (target, replacement)),
        Action::Lowercase => builder.set(&config.target_label, &go_to_lower(value)),
        Action::Uppercase => builder.set(&config.target_label, &go_to_upper(value)),
        Action::HashMod => hash_mod(config, builder, value),
        Action::LabelMap => label_map(config, builder),
        Action::LabelDrop => builder.retain(|name, _| !config.regex.is_match(name)),
        Action::LabelKeep => builder.retain(|name, _| config.regex.is_match(name)),
    };
    true
}

/// `replace`: only when the regex matches, write the expanded replacement
/// to the expanded target label; an empty result deletes the label, an
/// invalid target name does nothing.
fn replace<'b>(
    config: &RelabelConfig,
    builder: &'b mut LabelsBuilder,
    value: &str,
    (target, replacement): (&mut String, &mut String),
) -> &'b mut LabelsBuilder {
    let regex = &config.regex;
    if !has_reference(&config.target_label) && !has_reference(&config.replacement) {
        // Nothing to expand: only whether it matches counts.
        if regex.is_match(value) && is_valid_label_name(&config.target_label) {
            builder.set(&config.target_label, &config.replacement);
        }
        return builder;
    }
    let Some(caps) = regex.captures(value) else {
        return builder;
    };
    target.clear();
    expand(regex, &config.target_label, value, |i| caps.get(i), target);
    if !is_valid_label_name(target) {
        return builder;
    }
    replacement.clear();
    expand(
        regex,
        &config.replacement,
        value,
        |i| caps.get(i),
        replacement,
    );
    builder.set(target, replacement)
}

/// `hashmod`: the last 8 bytes of the MD5 sum of the value, big-endian,
/// modulo `modulus`, as Prometheus. A zero modulus (refused by
/// [`RelabelConfig::validate`]) leaves the set unchanged.
fn hash_mod<'b>(
    config: &RelabelConfig,
    builder: &'b mut LabelsBuilder,
    value: &str,
) -> &'b mut LabelsBuilder {
    let sum = Md5::digest(value.as_bytes());
    let mut tail = [0u8; 8];
    tail.copy_from_slice(&sum[8..]);
    match u64::from_be_bytes(tail).checked_rem(config.modulus) {
        Some(m) => builder.set(&config.target_label, &m.to_string()),
        None => builder,
    }
}

/// `labelmap`: every label whose name matches is copied to the name
/// `ReplaceAllString(name, replacement)` gives. Labels are visited in Prometheus's `Range` order
/// over the set as it was before the rule, so when two names map to the same
/// target the later one wins as in Prometheus.
fn label_map<'b>(config: &RelabelConfig, builder: &'b mut LabelsBuilder) -> &'b mut LabelsBuilder {
    let regex = &config.regex;
    let mut copies: Vec<(String, String)> = Vec::new();
    builder.range(|name, value| {
        if regex.is_match(name) {
            let mut target = String::new();
            replace_all(regex, name, &config.replacement, &mut target);
            copies.push((target, value.to_string()));
        }
    });
    for (target, value) in &copies {
        builder.set(target, value);
    }
    builder
}

/// Go's `strings.ToLower`: each character's simple lowercase mapping.
fn go_to_lower(s: &str) -> String {
    if s.is_ascii() {
        return s.to_ascii_lowercase();
    }
    s.chars().map(simple_lower).collect()
}

/// Go's `strings.ToUpper`: each character's simple uppercase mapping.
fn go_to_upper(s: &str) -> String {
    if s.is_ascii() {
        return s.to_ascii_uppercase();
    }
    s.chars().map(simple_upper).collect()
}

/// Unicode's simple lowercase mapping. Rust gives the full mapping, which
/// differs only for U+0130 (`İ` → `i` + U+0307 in full, `i` in simple).
fn simple_lower(c: char) -> char {
    if c == '\u{130}' {
        return 'i';
    }
    let mut lower = c.to_lowercase();
    match (lower.next(), lower.next()) {
        (Some(l), None) => l,
        _ => c,
    }
}

/// Unicode's simple uppercase mapping. Where the full mapping has several
/// characters (`ß` → `SS`) the simple one keeps the character, except the
/// Greek letters with ypogegrammeni, which map to their prosgegrammeni forms.
fn simple_upper(c: char) -> char {
    let mut upper = c.to_uppercase();
    if let (Some(u), None) = (upper.next(), upper.next()) {
        return u;
    }
    let shifted = match c {
        '\u{1f80}'..='\u{1f87}' | '\u{1f90}'..='\u{1f97}' | '\u{1fa0}'..='\u{1fa7}' => {
            char::from_u32(u32::from(c) + 8)
        }
        '\u{1fb3}' => Some('\u{1fbc}'),
        '\u{1fc3}' => Some('\u{1fcc}'),
        '\u{1ff3}' => Some('\u{1ffc}'),
        _ => None,
    };
    shifted.unwrap_or(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn case_mapping_is_go_simple_mapping() {
        assert_eq!(go_to_lower("bAr123Foo"), "bar123foo");
        assert_eq!(go_to_upper("bAr123Foo"), "BAR123FOO");
        assert_eq!(go_to_upper("straße"), "STRAßE");
        assert_eq!(go_to_lower("İSTANBUL"), "istanbul");
        assert_eq!(go_to_lower("ΟΔΟΣ"), "οδοσ");
        assert_eq!(go_to_upper("ﬁx ŉ ǰ"), "ﬁX ŉ ǰ");
        assert_eq!(
            go_to_upper("\u{1f80}\u{1fb3}\u{1f88}"),
            "\u{1f88}\u{1fbc}\u{1f88}"
        );
        assert_eq!(go_to_upper("ǆ ǅ"), "Ǆ Ǆ");
        assert_eq!(go_to_lower("ǅ Ǆ"), "ǆ ǆ");
    }
}
