//! The target group list format of file SD files, with the rules of
//! Prometheus's `targetgroup.Group` unmarshalling: a list of
//! `{targets: [...], labels: {...}}`, unknown fields refused, label names
//! checked, each target string becoming the target's `__address__`.

use super::TargetGroup;
use crate::config::StaticConfig;
use crate::labels::ADDRESS;

/// The two encodings a file SD file may use, chosen by its extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Format {
    /// `.json`
    Json,
    /// `.yml` or `.yaml`
    Yaml,
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

/// Parses a list of target groups, which have the shape of a
/// `static_configs` entry; the file provider gives them their source.
pub(crate) fn parse(content: &[u8], format: Format) -> Result<Vec<TargetGroup>, ParseError> {
    let raw: Vec<StaticConfig> = match format {
        Format::Json => serde_json::from_slice(content).map_err(|e| ParseError {
            line: Some(e.line()),
            column: Some(e.column()),
            message: e.to_string(),
        })?,
        // As Go's yaml.UnmarshalStrict: an empty document is an empty list.
        Format::Yaml => yaml_groups(content)?,
    };
    raw.into_iter()
        .enumerate()
        .map(|(i, group)| {
            if let Some(j) = group.targets.iter().position(String::is_empty) {
                return Err(ParseError {
                    line: None,
                    column: None,
                    message: format!("group {i}, target {j}: empty {ADDRESS}"),
                });
            }
            Ok(TargetGroup::new(
                &group.targets,
                group.labels,
                String::new(),
            ))
        })
        .collect()
}

/// A YAML list of groups, read as `prometheus.yml` is.
fn yaml_groups(content: &[u8]) -> Result<Vec<StaticConfig>, ParseError> {
    let text = std::str::from_utf8(content).map_err(|e| ParseError {
        line: None,
        column: None,
        message: format!("not UTF-8: {e}"),
    })?;
    let groups = crate::config::from_yaml_str::<Option<Vec<StaticConfig>>>(text).map_err(|e| {
        let message = match e.field() {
            field if field.is_empty() => e.message.clone(),
            field => format!("{field}: {}", e.message),
        };
        ParseError {
            line: e.pos.map(|p| p.line),
            column: e.pos.map(|p| p.column),
            message,
        }
    })?;
    // As Go's yaml.UnmarshalStrict: an empty document is an empty list.
    Ok(groups.flatten().unwrap_or_default())
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
