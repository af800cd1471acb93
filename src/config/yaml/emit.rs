//! Serde values written as YAML block text, the way the config has always
//! been shown (`/api/v1/status/config`, the config page, `Config`'s
//! `Display`): libyaml's block style with sequences in mappings not
//! indented, as Go's yaml.v2 prints Prometheus's config.
//!
//! A string is written plain when it reads back as the same string, in
//! single quotes when it would read as another type (`null`, `true`, `42`,
//! `0.5`, an empty string) or when YAML's indicators forbid it plain (a
//! leading `[`, `: `, ` #`, a leading or trailing space), as a literal
//! block (`|-`) when it has several lines, and in double quotes with
//! escapes when it holds a character YAML cannot print (or is a key of
//! several lines). Enums are written by variant name; the config reader takes
//! nothing else, so a variant carrying data is an error.

use std::fmt;

use serde::ser::{self, Serialize};

/// Why a value could not be written as YAML.
#[derive(Debug)]
pub struct EmitError(String);

impl fmt::Display for EmitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for EmitError {}

impl ser::Error for EmitError {
    fn custom<T: fmt::Display>(msg: T) -> EmitError {
        EmitError(msg.to_string())
    }
}

/// `value` as a YAML document (no `---`, ending in a newline).
pub(crate) fn to_string<T: Serialize + ?Sized>(value: &T) -> Result<String, EmitError> {
    let tree = value.serialize(TreeSerializer)?;
    let mut out = String::new();
    match &tree {
        Tree::Seq(items) if !items.is_empty() => write_items(&mut out, items, 0, false),
        Tree::Map(entries) if !entries.is_empty() => write_entries(&mut out, entries, 0, false),
        scalar_or_empty => write_inline(&mut out, scalar_or_empty, 0),
    }
    Ok(out)
}

/// A serialized value; scalars are already in their written form.
enum Tree {
    Scalar(String),
    /// A string of several lines, written as a literal block.
    Literal(String),
    Seq(Vec<Tree>),
    Map(Vec<(String, Tree)>),
}

/// Writes a scalar or an empty collection after `key: ` or `- ` begun at
/// column `indent`.
fn write_inline(out: &mut String, tree: &Tree, indent: usize) {
    out.push_str(match tree {
        Tree::Scalar(text) => text,
        Tree::Literal(text) => return write_literal(out, text, indent + 2),
        Tree::Seq(_) => "[]",
        Tree::Map(_) => "{}",
    });
    out.push('\n');
}

/// `|-` and the lines of `text` at `indent`, as libyaml writes a literal
/// block: `|` keeps one final line break and `|+` several; a digit tells
/// the indentation when the text starts with a space or an empty line.
fn write_literal(out: &mut String, text: &str, indent: usize) {
    out.push('|');
    if text.starts_with([' ', '\n']) {
        out.push('2');
    }
    if !text.ends_with('\n') {
        out.push('-');
    } else if text == "\n" || text.ends_with("\n\n") {
        out.push('+');
    }
    out.push('\n');
    let mut line_start = true;
    for c in text.chars() {
        if c == '\n' {
            line_start = true;
        } else if line_start {
            pad(out, indent);
            line_start = false;
        }
        out.push(c);
    }
    if !text.ends_with('\n') {
        out.push('\n');
    }
}

/// Writes `- item` lines at `indent`; `continued` when the first `- ` goes
/// on the line already begun.
fn write_items(out: &mut String, items: &[Tree], indent: usize, continued: bool) {
    for (i, item) in items.iter().enumerate() {
        if i > 0 || !continued {
            pad(out, indent);
        }
        out.push_str("- ");
        match item {
            Tree::Seq(inner) if !inner.is_empty() => write_items(out, inner, indent + 2, true),
            Tree::Map(inner) if !inner.is_empty() => write_entries(out, inner, indent + 2, true),
            scalar_or_empty => write_inline(out, scalar_or_empty, indent),
        }
    }
}

/// Writes `key: value` lines at `indent`; `continued` when the first key
/// goes on the line already begun (after `- `).
fn write_entries(out: &mut String, entries: &[(String, Tree)], indent: usize, continued: bool) {
    for (i, (key, value)) in entries.iter().enumerate() {
        if i > 0 || !continued {
            pad(out, indent);
        }
        out.push_str(key);
        out.push(':');
        match value {
            // A sequence under a key is not indented, as yaml.v2 prints it.
            Tree::Seq(items) if !items.is_empty() => {
                out.push('\n');
                write_items(out, items, indent, false);
            }
            Tree::Map(inner) if !inner.is_empty() => {
                out.push('\n');
                write_entries(out, inner, indent + 2, false);
            }
            scalar_or_empty => {
                out.push(' ');
                write_inline(out, scalar_or_empty, indent);
            }
        }
    }
}

fn pad(out: &mut String, indent: usize) {
    out.extend(std::iter::repeat(' ').take(indent));
}

/// A string value: a literal block when it has several lines and libyaml
/// would allow one, else [`string_scalar`].
fn string_tree(s: &str) -> Tree {
    let literal = s.contains('\n')
        && !s.ends_with(' ')
        && !s.contains(" \n")
        && s.chars()
            .all(|c| c == '\n' || (printable(c) && !line_break(c)));
    if literal {
        Tree::Literal(s.to_string())
    } else {
        Tree::Scalar(string_scalar(s))
    }
}

/// A string on one line in the form that reads back as the same string.
fn string_scalar(s: &str) -> String {
    let printable = s.chars().all(|c| printable(c) && !line_break(c));
    if !printable {
        return double_quoted(s);
    }
    if reads_as_other_type(s) || !plain_allowed(s) {
        return format!("'{}'", s.replace('\'', "''"));
    }
    s.to_string()
}

/// libyaml's printable set, less the byte order mark.
fn printable(c: char) -> bool {
    matches!(c, '\n' | ' '..='~' | '\u{85}' | '\u{a0}'..='\u{d7ff}' | '\u{e000}'..='\u{fffd}' | '\u{10000}'..)
        && c != '\u{feff}'
}

fn line_break(c: char) -> bool {
    matches!(c, '\n' | '\r' | '\u{85}' | '\u{2028}' | '\u{2029}')
}

/// Whether a plain scalar of printable characters on one line reads back
/// as itself in block context: libyaml's indicator rules.
fn plain_allowed(s: &str) -> bool {
    if s.starts_with(' ') || s.ends_with(' ') || s.starts_with("---") || s.starts_with("...") {
        return false;
    }
    let chars: Vec<char> = s.chars().collect();
    let blank_at = |i: usize| chars.get(i).map_or(true, |c| *c == ' ' || *c == '\t');
    !chars.iter().enumerate().any(|(i, &c)| {
        let followed_by_blank = blank_at(i + 1);
        if i == 0 {
            FIRST_INDICATORS.contains(c) || (matches!(c, '?' | ':' | '-') && followed_by_blank)
        } else {
            (c == ':' && followed_by_blank) || (c == '#' && blank_at(i - 1))
        }
    })
}

/// Characters that cannot start a plain scalar.
const FIRST_INDICATORS: &str = "#,[]{}&*!|>'\"%@`";

/// Whether a plain `s` would read as null, a boolean or a number (YAML
/// 1.2's core schema, as serde's YAML readers take it).
fn reads_as_other_type(s: &str) -> bool {
    matches!(
        s,
        "" | "~"
            | "null"
            | "Null"
            | "NULL"
            | "true"
            | "True"
            | "TRUE"
            | "false"
            | "False"
            | "FALSE"
    ) || reads_as_int(s)
        || reads_as_float(s)
}

fn reads_as_int(s: &str) -> bool {
    let unsigned = s.strip_prefix(['+', '-']).unwrap_or(s);
    let (digits, radix) = match unsigned.get(..2) {
        Some("0x") => (&unsigned[2..], 16),
        Some("0o") => (&unsigned[2..], 8),
        Some("0b") => (&unsigned[2..], 2),
        _ => (unsigned, 10),
    };
    !digits.is_empty() && digits.chars().all(|c| c.is_digit(radix))
}

fn reads_as_float(s: &str) -> bool {
    let unsigned = match s.strip_prefix('+') {
        Some(rest) if rest.starts_with(['+', '-']) => return false,
        Some(rest) => rest,
        None => s,
    };
    matches!(unsigned, ".inf" | ".Inf" | ".INF")
        || matches!(s, "-.inf" | "-.Inf" | "-.INF" | ".nan" | ".NaN" | ".NAN")
        || unsigned.parse::<f64>().is_ok_and(f64::is_finite)
}

/// `"…"` with YAML's escapes for line breaks, quotes, backslashes and
/// characters outside the printable set.
fn double_quoted(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        let escape = match c {
            '\0' => "\\0",
            '\u{7}' => "\\a",
            '\u{8}' => "\\b",
            '\t' => "\\t",
            '\n' => "\\n",
            '\u{b}' => "\\v",
            '\u{c}' => "\\f",
            '\r' => "\\r",
            '\u{1b}' => "\\e",
            '"' => "\\\"",
            '\\' => "\\\\",
            '\u{85}' => "\\N",
            '\u{2028}' => "\\L",
            '\u{2029}' => "\\P",
            c if printable(c) => {
                out.push(c);
                continue;
            }
            c => {
                let code = u32::from(c);
                out.push_str(&match code {
                    0..=0xff => format!("\\x{code:02X}"),
                    0x100..=0xffff => format!("\\u{code:04X}"),
                    _ => format!("\\U{code:08X}"),
                });
                continue;
            }
        };
        out.push_str(escape);
    }
    out.push('"');
    out
}

fn float_scalar(v: f64) -> String {
    if v.is_nan() {
        ".nan".to_string()
    } else if v.is_infinite() {
        if v > 0.0 { ".inf" } else { "-.inf" }.to_string()
    } else {
        format!("{v:?}")
    }
}

fn data_variant(name: &str, variant: &str) -> EmitError {
    EmitError(format!(
        "{name}::{variant} carries data; only plain variant names can be written as YAML"
    ))
}

/// Builds the [`Tree`] of a value.
struct TreeSerializer;

type Done = Result<Tree, EmitError>;

impl ser::Serializer for TreeSerializer {
    type Ok = Tree;
    type Error = EmitError;
    type SerializeSeq = SeqBuilder;
    type SerializeTuple = SeqBuilder;
    type SerializeTupleStruct = SeqBuilder;
    type SerializeTupleVariant = ser::Impossible<Tree, EmitError>;
    type SerializeMap = MapBuilder;
    type SerializeStruct = MapBuilder;
    type SerializeStructVariant = ser::Impossible<Tree, EmitError>;

    fn serialize_bool(self, v: bool) -> Done {
        Ok(Tree::Scalar(v.to_string()))
    }
    fn serialize_i8(self, v: i8) -> Done {
        self.serialize_i64(v.into())
    }
    fn serialize_i16(self, v: i16) -> Done {
        self.serialize_i64(v.into())
    }
    fn serialize_i32(self, v: i32) -> Done {
        self.serialize_i64(v.into())
    }
    fn serialize_i64(self, v: i64) -> Done {
        Ok(Tree::Scalar(v.to_string()))
    }
    fn serialize_i128(self, v: i128) -> Done {
        Ok(Tree::Scalar(v.to_string()))
    }
    fn serialize_u8(self, v: u8) -> Done {
        self.serialize_u64(v.into())
    }
    fn serialize_u16(self, v: u16) -> Done {
        self.serialize_u64(v.into())
    }
    fn serialize_u32(self, v: u32) -> Done {
        self.serialize_u64(v.into())
    }
    fn serialize_u64(self, v: u64) -> Done {
        Ok(Tree::Scalar(v.to_string()))
    }
    fn serialize_u128(self, v: u128) -> Done {
        Ok(Tree::Scalar(v.to_string()))
    }
    fn serialize_f32(self, v: f32) -> Done {
        self.serialize_f64(v.into())
    }
    fn serialize_f64(self, v: f64) -> Done {
        Ok(Tree::Scalar(float_scalar(v)))
    }
    fn serialize_char(self, v: char) -> Done {
        self.serialize_str(v.encode_utf8(&mut [0; 4]))
    }
    fn serialize_str(self, v: &str) -> Done {
        Ok(string_tree(v))
    }
    fn serialize_bytes(self, _v: &[u8]) -> Done {
        Err(EmitError("bytes cannot be written as YAML".to_string()))
    }
    fn serialize_none(self) -> Done {
        self.serialize_unit()
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Done {
        value.serialize(self)
    }
    fn serialize_unit(self) -> Done {
        Ok(Tree::Scalar("null".to_string()))
    }
    fn serialize_unit_struct(self, _name: &'static str) -> Done {
        self.serialize_unit()
    }
    fn serialize_unit_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
    ) -> Done {
        self.serialize_str(variant)
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        value: &T,
    ) -> Done {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        name: &'static str,
        _index: u32,
        variant: &'static str,
        _value: &T,
    ) -> Done {
        Err(data_variant(name, variant))
    }
    fn serialize_seq(self, len: Option<usize>) -> Result<SeqBuilder, EmitError> {
        Ok(SeqBuilder(Vec::with_capacity(len.unwrap_or(0))))
    }
    fn serialize_tuple(self, len: usize) -> Result<SeqBuilder, EmitError> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_struct(
        self,
        _name: &'static str,
        len: usize,
    ) -> Result<SeqBuilder, EmitError> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_variant(
        self,
        name: &'static str,
        _index: u32,
        variant: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeTupleVariant, EmitError> {
        Err(data_variant(name, variant))
    }
    fn serialize_map(self, len: Option<usize>) -> Result<MapBuilder, EmitError> {
        Ok(MapBuilder {
            entries: Vec::with_capacity(len.unwrap_or(0)),
            key: None,
        })
    }
    fn serialize_struct(self, _name: &'static str, len: usize) -> Result<MapBuilder, EmitError> {
        self.serialize_map(Some(len))
    }
    fn serialize_struct_variant(
        self,
        name: &'static str,
        _index: u32,
        variant: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeStructVariant, EmitError> {
        Err(data_variant(name, variant))
    }
}

/// The items of a sequence or tuple.
struct SeqBuilder(Vec<Tree>);

impl ser::SerializeSeq for SeqBuilder {
    type Ok = Tree;
    type Error = EmitError;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), EmitError> {
        self.0.push(value.serialize(TreeSerializer)?);
        Ok(())
    }
    fn end(self) -> Done {
        Ok(Tree::Seq(self.0))
    }
}

impl ser::SerializeTuple for SeqBuilder {
    type Ok = Tree;
    type Error = EmitError;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), EmitError> {
        ser::SerializeSeq::serialize_element(self, value)
    }
    fn end(self) -> Done {
        ser::SerializeSeq::end(self)
    }
}

impl ser::SerializeTupleStruct for SeqBuilder {
    type Ok = Tree;
    type Error = EmitError;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), EmitError> {
        ser::SerializeSeq::serialize_element(self, value)
    }
    fn end(self) -> Done {
        ser::SerializeSeq::end(self)
    }
}

/// The entries of a map or struct, keys in the order given.
struct MapBuilder {
    entries: Vec<(String, Tree)>,
    key: Option<String>,
}

impl ser::SerializeMap for MapBuilder {
    type Ok = Tree;
    type Error = EmitError;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), EmitError> {
        match key.serialize(TreeSerializer)? {
            Tree::Scalar(text) => self.key = Some(text),
            Tree::Literal(text) => self.key = Some(double_quoted(&text)),
            _ => return Err(EmitError("a map key must be a scalar".to_string())),
        }
        Ok(())
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), EmitError> {
        let key = self
            .key
            .take()
            .ok_or_else(|| EmitError("a map value without a key".to_string()))?;
        self.entries.push((key, value.serialize(TreeSerializer)?));
        Ok(())
    }
    fn end(self) -> Done {
        Ok(Tree::Map(self.entries))
    }
}

impl ser::SerializeStruct for MapBuilder {
    type Ok = Tree;
    type Error = EmitError;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), EmitError> {
        self.entries
            .push((string_scalar(key), value.serialize(TreeSerializer)?));
        Ok(())
    }
    fn end(self) -> Done {
        Ok(Tree::Map(self.entries))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use serde::{Deserialize, Serialize};

    use super::to_string;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Job {
        name: String,
        targets: Vec<String>,
        labels: BTreeMap<String, String>,
        groups: Vec<Vec<u32>>,
        limit: Option<u64>,
        ratio: f64,
        on: bool,
    }

    #[test]
    fn layout_is_libyaml_block_style() {
        let job = Job {
            name: "node".into(),
            targets: vec!["a:1".into(), "b:2".into()],
            labels: [("env".to_string(), "prod".to_string())].into(),
            groups: vec![vec![1, 2], vec![]],
            limit: None,
            ratio: 0.5,
            on: true,
        };
        let jobs = BTreeMap::from([("jobs", vec![job]), ("none", vec![])]);
        assert_eq!(
            to_string(&jobs).unwrap(),
            "jobs:\n\
             - name: node\n  \
               targets:\n  \
               - a:1\n  \
               - b:2\n  \
               labels:\n    \
                 env: prod\n  \
               groups:\n  \
               - - 1\n    \
                 - 2\n  \
               - []\n  \
               limit: null\n  \
               ratio: 0.5\n  \
               on: true\n\
             none: []\n"
        );
        assert_eq!(to_string(&BTreeMap::<u8, u8>::new()).unwrap(), "{}\n");
        assert_eq!(to_string("x").unwrap(), "x\n");
    }

    /// How each string is written, and that the config reader gives it
    /// back unchanged.
    #[test]
    fn strings_take_the_style_that_reads_back() {
        for (value, written) in [
            ("go_.*", "go_.*"),
            ("http://h:9100/metrics", "http://h:9100/metrics"),
            ("${1}-$2", "${1}-$2"),
            ("a#b", "a#b"),
            ("ünïcödé", "ünïcödé"),
            ("", "''"),
            ("null", "'null'"),
            ("~", "'~'"),
            ("true", "'true'"),
            ("42", "'42'"),
            ("0123", "'0123'"),
            ("-1.5e3", "'-1.5e3'"),
            ("0x1F", "'0x1F'"),
            (".inf", "'.inf'"),
            ("[a-z]+", "'[a-z]+'"),
            ("a: b", "'a: b'"),
            ("x:", "'x:'"),
            ("a #b", "'a #b'"),
            ("- x", "'- x'"),
            ("*x", "'*x'"),
            (" lead", "' lead'"),
            ("trail ", "'trail '"),
            ("it's", "it's"),
            ("'q'", "'''q'''"),
            ("---x", "'---x'"),
            ("tab\there", "\"tab\\there\""),
            ("cr\r", "\"cr\\r\""),
            ("bom\u{feff}", "\"bom\\uFEFF\""),
            ("del\u{7f}", "\"del\\x7F\""),
            ("quote\"\\\u{1b}", "\"quote\\\"\\\\\\e\""),
            ("a\nb", "|-\n    a\n    b"),
            ("a\n", "|\n    a"),
            ("a\n\n", "|+\n    a\n"),
            (" a\nb", "|2-\n     a\n    b"),
            ("a \nb", "\"a \\nb\""),
            ("a\nb ", "\"a\\nb \""),
        ] {
            let doc = BTreeMap::from([("k", BTreeMap::from([("v", value)]))]);
            let text = to_string(&doc).unwrap();
            assert_eq!(text, format!("k:\n  v: {written}\n"), "{value:?}");
            let back: BTreeMap<String, BTreeMap<String, String>> =
                crate::config::from_yaml_str(&text).unwrap().unwrap();
            assert_eq!(back["k"]["v"], value, "{text}");
        }
    }

    #[test]
    fn variants_with_data_are_refused() {
        #[derive(Serialize)]
        enum Shape {
            Named,
            Sized(u8),
        }
        assert_eq!(to_string(&[Shape::Named]).unwrap(), "- Named\n");
        let err = to_string(&[Shape::Sized(1)]).unwrap_err();
        assert!(err.to_string().contains("Shape::Sized"), "{err}");
    }
}
