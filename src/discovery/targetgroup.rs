//! The target group list format of file SD files, with the rules of
//! Prometheus's `targetgroup.Group` unmarshalling: a list of
//! `{targets: [...], labels: {...}}`, unknown fields refused, label names
//! checked, each target string becoming the target's `__address__`.

use serde::Deserialize;

use crate::labels::{Labels, ADDRESS};

/// The two encodings a file SD file may use, chosen by its extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Format {
    /// `.json`
    Json,
    /// `.yml` or `.yaml`
    Yaml,
}

/// One list entry as written in a file.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGroup {
    #[serde(default)]
    targets: Vec<String>,
    #[serde(default)]
    labels: Labels,
}

/// A group as parsed, before the file provider gives it a source.
#[derive(Debug)]
pub(crate) struct ParsedGroup {
    /// One `{__address__: target}` set per target.
    pub targets: Vec<Labels>,
    /// The group's labels, names validated.
    pub labels: Labels,
}

/// Why a file's content is not a valid target group list.
#[derive(Debug)]
pub(crate) struct ParseError {
    /// 1-based line, when the parser knows it.
    pub line: Option<usize>,
    /// 1-based column, when the parser knows it.
    pub column: Option<usize>,
    /// What is wrong.
    pub message: String,
}

/// Parses a list of target groups.
pub(crate) fn parse(content: &[u8], format: Format) -> Result<Vec<ParsedGroup>, ParseError> {
    let raw: Vec<RawGroup> = match format {
        Format::Json => serde_json::from_slice(content).map_err(|e| ParseError {
            line: Some(e.line()),
            column: Some(e.column()),
            message: e.to_string(),
        })?,
        // As Go's yaml.UnmarshalStrict: an empty document is an empty list.
        Format::Yaml => serde_yaml::from_slice::<Option<Vec<RawGroup>>>(content)
            .map_err(|e| {
                let loc = e.location();
                ParseError {
                    line: loc.as_ref().map(|l| l.line()),
                    column: loc.as_ref().map(|l| l.column()),
                    message: e.to_string(),
                }
            })?
            .unwrap_or_default(),
    };
    raw.into_iter()
        .enumerate()
        .map(|(i, group)| {
            let targets = group
                .targets
                .iter()
                .enumerate()
                .map(|(j, address)| {
                    if address.is_empty() {
                        return Err(ParseError {
                            line: None,
                            column: None,
                            message: format!("group {i}, target {j}: empty {ADDRESS}"),
                        });
                    }
                    Ok(Labels::from_pairs([(ADDRESS, address.as_str())]))
                })
                .collect::<Result<Vec<_>, _>>()?;
            Ok(ParsedGroup {
                targets,
                labels: group.labels,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn refused(content: &str, format: Format, wanted: &str) {
        match parse(content.as_bytes(), format) {
            Ok(groups) => panic!("accepted {content:?} as {groups:?}"),
            Err(e) => assert!(
                e.message.contains(wanted),
                "error {:?} does not contain {wanted:?}",
                e.message
            ),
        }
    }

    #[test]
    fn yaml_and_json_lists_parse() {
        let yaml = "- targets: ['a:1', 'b:2']\n  labels: {env: prod}\n- targets: []\n";
        let groups = parse(yaml.as_bytes(), Format::Yaml).unwrap();
        assert_eq!(groups.len(), 2);
        assert_eq!(groups[0].targets[1].get(ADDRESS), Some("b:2"));
        assert_eq!(groups[0].labels.get("env"), Some("prod"));
        assert!(groups[1].targets.is_empty());

        let json = r#"[{"targets": ["c:3"], "labels": {"team": "x"}}]"#;
        let groups = parse(json.as_bytes(), Format::Json).unwrap();
        assert_eq!(groups[0].targets[0].get(ADDRESS), Some("c:3"));
        assert_eq!(groups[0].labels.get("team"), Some("x"));
    }

    #[test]
    fn yaml_scalar_label_values_are_strings() {
        // go-yaml reads any scalar into a label value.
        let groups = parse(b"- labels: {rack: 1, on: true}\n", Format::Yaml).unwrap();
        assert_eq!(groups[0].labels.get("rack"), Some("1"));
        assert_eq!(groups[0].labels.get("on"), Some("true"));
    }

    #[test]
    fn empty_yaml_is_an_empty_list() {
        assert!(parse(b"", Format::Yaml).unwrap().is_empty());
        assert!(parse(b"# nothing yet\n", Format::Yaml).unwrap().is_empty());
    }

    #[test]
    fn invalid_content_is_refused_with_position() {
        refused(
            "- targets: ['a:1']\n  labels: {a-b: x}\n",
            Format::Yaml,
            "a-b",
        );
        refused(r#"[{"labels": {"1x": "v"}}]"#, Format::Json, "1x");
        refused("- targets: ['a:1']\n  lables: {}\n", Format::Yaml, "lables");
        refused(
            r#"[{"targets": ["a:1"], "extra": 1}]"#,
            Format::Json,
            "extra",
        );
        refused("- targets: ['']\n", Format::Yaml, "empty __address__");
        refused("[", Format::Json, "EOF");
        refused("{}", Format::Json, "invalid type");

        let e = parse(b"- targets: ['a:1']\n  labels: [oops\n", Format::Yaml).unwrap_err();
        assert!(e.line.is_some() && e.column.is_some(), "{e:?}");
        let e = parse(b"[\n {\"targets\": [\"a:1\",]}]", Format::Json).unwrap_err();
        assert_eq!(e.line, Some(2), "{e:?}");
    }
}
