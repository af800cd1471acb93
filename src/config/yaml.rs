//! A YAML document as a tree whose every node remembers its line and column.
//!
//! `prometheus.yml` is parsed once into this form; [`super::de`] feeds it to
//! the serde types and the validation in [`super::validate`] looks nodes up
//! by path, so every refusal can point at the offending key or value.

use std::collections::HashMap;
use std::fmt;

pub(crate) mod emit;

use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::{Marker, TScalarStyle};

/// A 1-based line and column in the config text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Pos {
    pub(crate) line: usize,
    pub(crate) column: usize,
}

impl Pos {
    fn from_marker(m: Marker) -> Pos {
        // yaml-rust2 counts lines from 1 and columns from 0.
        Pos {
            line: m.line(),
            column: m.col() + 1,
        }
    }
}

/// What a node holds.
#[derive(Debug, Clone)]
pub(crate) enum Value {
    /// A scalar; `plain` is false for quoted and block scalars, which are
    /// always strings.
    Scalar { text: String, plain: bool },
    /// A sequence.
    Seq(Vec<Node>),
    /// A mapping, keys in document order.
    Map(Vec<(Node, Node)>),
}

/// One node of the document and where it starts.
#[derive(Debug, Clone)]
pub(crate) struct Node {
    pub(crate) value: Value,
    pub(crate) pos: Pos,
}

/// One step of a path into the document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Step {
    Key(String),
    Index(usize),
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Step::Key(k) => f.write_str(k),
            Step::Index(i) => write!(f, "[{i}]"),
        }
    }
}

/// Formats a path as `scrape_configs[0].basic_auth.password`.
pub(crate) fn path_string(path: &[Step]) -> String {
    let mut out = String::new();
    for step in path {
        if matches!(step, Step::Key(_)) && !out.is_empty() {
            out.push('.');
        }
        out.push_str(&step.to_string());
    }
    out
}

impl Node {
    /// The number of nodes in this subtree, itself included.
    fn size(&self) -> usize {
        match &self.value {
            Value::Scalar { .. } => 1,
            Value::Seq(items) => 1 + items.iter().map(Node::size).sum::<usize>(),
            Value::Map(entries) => {
                1 + entries
                    .iter()
                    .map(|(k, v)| k.size() + v.size())
                    .sum::<usize>()
            }
        }
    }

    /// Whether this is a plain `null`, `~` or empty scalar.
    pub(crate) fn is_null(&self) -> bool {
        matches!(&self.value, Value::Scalar { text, plain: true }
            if matches!(text.as_str(), "" | "~" | "null" | "Null" | "NULL"))
    }

    /// The scalar text, if this is a scalar.
    pub(crate) fn scalar(&self) -> Option<&str> {
        match &self.value {
            Value::Scalar { text, .. } => Some(text),
            _ => None,
        }
    }

    /// The mapping entries, if this is a mapping.
    pub(crate) fn entries(&self) -> &[(Node, Node)] {
        match &self.value {
            Value::Map(entries) => entries,
            _ => &[],
        }
    }

    /// The sequence items, if this is a sequence.
    pub(crate) fn items(&self) -> &[Node] {
        match &self.value {
            Value::Seq(items) => items,
            _ => &[],
        }
    }

    /// The key node and value node of `key` in a mapping.
    pub(crate) fn entry(&self, key: &str) -> Option<&(Node, Node)> {
        self.entries().iter().find(|(k, _)| k.scalar() == Some(key))
    }

    /// The value of `key` in a mapping.
    pub(crate) fn get(&self, key: &str) -> Option<&Node> {
        self.entry(key).map(|(_, v)| v)
    }

    /// The node at `path`, if the document has it.
    pub(crate) fn at(&self, path: &[Step]) -> Option<&Node> {
        let mut node = self;
        for step in path {
            node = match step {
                Step::Key(k) => node.get(k)?,
                Step::Index(i) => node.items().get(*i)?,
            };
        }
        Some(node)
    }

    /// Where the last step of `path` is written: the key for a mapping
    /// entry, the item for a sequence index. Falls back to the deepest node
    /// the document has.
    pub(crate) fn key_pos(&self, path: &[Step]) -> Pos {
        let mut node = self;
        let mut pos = self.pos;
        for step in path {
            let next = match step {
                Step::Key(k) => node.entry(k).map(|(key, value)| (key.pos, value)),
                Step::Index(i) => node.items().get(*i).map(|item| (item.pos, item)),
            };
            let Some((p, n)) = next else { break };
            pos = p;
            node = n;
        }
        pos
    }

    /// Where the value at `path` is written, or the deepest node present.
    pub(crate) fn value_pos(&self, path: &[Step]) -> Pos {
        let mut node = self;
        for step in path {
            let next = match step {
                Step::Key(k) => node.get(k),
                Step::Index(i) => node.items().get(*i),
            };
            let Some(n) = next else { break };
            node = n;
        }
        node.pos
    }
}

/// A YAML syntax error with its position.
#[derive(Debug)]
pub(crate) struct SyntaxError {
    pub(crate) pos: Pos,
    pub(crate) message: String,
}

/// Most nodes that aliases may copy into one document. Each alias copies
/// its anchored node whole, so nested aliases grow a document
/// exponentially (a "billion laughs" file of a few hundred bytes would
/// fill memory); legitimate configs reuse a relabel rule or a TLS block a
/// few dozen times. Go's yaml.v2, which Prometheus uses, likewise refuses
/// "excessive aliasing".
pub(crate) const MAX_ALIAS_NODES: usize = 100_000;

/// Deepest nesting of sequences and mappings. A `prometheus.yml` nests
/// about ten levels; the bound keeps the recursive walks over the tree
/// (deserializing, dropping) well inside a thread's stack.
pub(crate) const MAX_DEPTH: usize = 100;

/// Parses the first document of `text`; `None` for an empty document.
pub(crate) fn parse(text: &str) -> Result<Option<Node>, SyntaxError> {
    let mut builder = Builder {
        lines: text.lines().collect(),
        stack: Vec::new(),
        anchors: HashMap::new(),
        alias_nodes: 0,
        root: None,
        error: None,
    };
    // Events are pulled one by one: yaml-rust2's `Parser::load` recurses
    // once per nesting level, and a line of `- - - - …` would overflow the
    // stack before any limit here could refuse it.
    let mut parser = Parser::new_from_str(text);
    loop {
        let (event, mark) = parser.next_token().map_err(|e| SyntaxError {
            pos: Pos::from_marker(*e.marker()),
            message: e.info().to_string(),
        })?;
        let last = matches!(event, Event::StreamEnd | Event::DocumentEnd);
        builder.on_event(event, mark);
        if let Some(err) = builder.error.take() {
            return Err(err);
        }
        // As `load` with `multi = false`: the first document only.
        if last {
            return Ok(builder.root);
        }
    }
}

/// A container being filled while events arrive.
enum Open {
    Seq(Vec<Node>, Pos, usize),
    Map(Vec<(Node, Node)>, Option<Node>, Pos, usize),
}

struct Builder<'a> {
    lines: Vec<&'a str>,
    stack: Vec<Open>,
    /// Anchored nodes with their size in nodes.
    anchors: HashMap<usize, (Node, usize)>,
    /// Nodes copied by aliases so far; at most [`MAX_ALIAS_NODES`].
    alias_nodes: usize,
    root: Option<Node>,
    error: Option<SyntaxError>,
}

impl Builder<'_> {
    /// In flow collections yaml-rust2 marks a quoted scalar after its
    /// opening quote; the value starts at the quote.
    fn opening_quote(&self, pos: Pos, quote: char) -> Pos {
        let Some(line) = self.lines.get(pos.line.wrapping_sub(1)) else {
            return pos;
        };
        let mut before = line.chars().skip(pos.column.saturating_sub(2));
        match (before.next(), before.next()) {
            (Some(prev), Some(at)) if prev == quote && at != quote => Pos {
                line: pos.line,
                column: pos.column - 1,
            },
            _ => pos,
        }
    }

    /// yaml-rust2 marks an empty value where the next token starts; point
    /// at the `-` or `:` that introduced it instead.
    fn empty_value(&self, pos: Pos) -> Pos {
        let mut line = pos.line;
        let mut column = pos.column.saturating_sub(1);
        while line >= 1 {
            let Some(text) = self.lines.get(line - 1) else {
                line -= 1;
                column = usize::MAX;
                continue;
            };
            let chars: Vec<char> = text.chars().take(column).collect();
            if let Some(i) = chars.iter().rposition(|c| !c.is_whitespace()) {
                return Pos {
                    line,
                    column: i + 1,
                };
            }
            line -= 1;
            column = usize::MAX;
        }
        pos
    }

    /// Records the first error; [`parse`] stops there.
    fn fail(&mut self, pos: Pos, message: String) {
        self.error.get_or_insert(SyntaxError { pos, message });
    }

    fn finish(&mut self, node: Node, anchor: usize) {
        if anchor > 0 {
            let size = node.size();
            self.anchors.insert(anchor, (node.clone(), size));
        }
        match self.stack.last_mut() {
            None => {
                if self.root.is_none() {
                    self.root = Some(node);
                }
            }
            Some(Open::Seq(items, _, _)) => items.push(node),
            Some(Open::Map(entries, pending, _, _)) => match pending.take() {
                None => *pending = Some(node),
                Some(key) => {
                    // As Prometheus's strict YAML decoding: a key given twice
                    // is an error, not a silent override.
                    if let Some(name) = key.scalar() {
                        if entries.iter().any(|(k, _)| k.scalar() == Some(name)) {
                            self.error.get_or_insert(SyntaxError {
                                pos: key.pos,
                                message: format!("{name}: key given twice in one mapping"),
                            });
                        }
                    }
                    entries.push((key, node));
                }
            },
        }
    }
}

impl MarkedEventReceiver for Builder<'_> {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        let pos = Pos::from_marker(mark);
        match ev {
            Event::Scalar(text, style, anchor, _) => {
                let plain = matches!(style, TScalarStyle::Plain);
                let quote = match style {
                    TScalarStyle::SingleQuoted => Some('\''),
                    TScalarStyle::DoubleQuoted => Some('"'),
                    _ => None,
                };
                let pos = match quote {
                    Some(q) => self.opening_quote(pos, q),
                    None if text.is_empty() => self.empty_value(pos),
                    None => pos,
                };
                self.finish(
                    Node {
                        value: Value::Scalar { text, plain },
                        pos,
                    },
                    anchor,
                );
            }
            Event::SequenceStart(..) | Event::MappingStart(..) if self.stack.len() >= MAX_DEPTH => {
                self.fail(pos, format!("nested deeper than {MAX_DEPTH} levels"));
            }
            Event::SequenceStart(anchor, _) => self.stack.push(Open::Seq(Vec::new(), pos, anchor)),
            Event::MappingStart(anchor, _) => {
                self.stack.push(Open::Map(Vec::new(), None, pos, anchor))
            }
            Event::SequenceEnd | Event::MappingEnd => {
                let (value, pos, anchor) = match self.stack.pop() {
                    Some(Open::Seq(items, pos, anchor)) => (Value::Seq(items), pos, anchor),
                    Some(Open::Map(entries, _, pos, anchor)) => {
                        // yaml-rust2 marks a block mapping after its first
                        // key; the mapping starts at that key.
                        let pos = match entries.first() {
                            Some((k, _)) if (k.pos.line, k.pos.column) < (pos.line, pos.column) => {
                                k.pos
                            }
                            _ => pos,
                        };
                        (Value::Map(entries), pos, anchor)
                    }
                    None => return,
                };
                self.finish(Node { value, pos }, anchor);
            }
            Event::Alias(id) => {
                let Some((target, size)) = self.anchors.get(&id) else {
                    self.fail(pos, "alias to an unknown anchor".to_string());
                    return;
                };
                self.alias_nodes = self.alias_nodes.saturating_add(*size);
                if self.alias_nodes > MAX_ALIAS_NODES {
                    self.fail(
                        pos,
                        format!(
                            "aliases expand to more than {MAX_ALIAS_NODES} nodes (excessive aliasing)"
                        ),
                    );
                    return;
                }
                let node = Node {
                    value: target.value.clone(),
                    pos,
                };
                self.finish(node, 0);
            }
            Event::Nothing
            | Event::StreamStart
            | Event::StreamEnd
            | Event::DocumentStart
            | Event::DocumentEnd => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_are_one_based_and_point_at_keys_and_values() {
        let doc = parse("global:\n  scrape_interval: 15s\nscrape_configs:\n  - job_name: a\n")
            .unwrap()
            .unwrap();
        let path = [
            Step::Key("scrape_configs".into()),
            Step::Index(0),
            Step::Key("job_name".into()),
        ];
        assert_eq!(doc.key_pos(&path), Pos { line: 4, column: 5 });
        assert_eq!(
            doc.value_pos(&path),
            Pos {
                line: 4,
                column: 15
            }
        );
        assert_eq!(doc.at(&path).and_then(Node::scalar), Some("a"));
        assert_eq!(path_string(&path), "scrape_configs[0].job_name");
    }

    #[test]
    fn duplicate_keys_and_bad_syntax_are_errors() {
        let err = parse("a: 1\nb: 2\na: 3\n").unwrap_err();
        assert_eq!(err.pos, Pos { line: 3, column: 1 });
        assert!(
            err.message.contains("a: key given twice"),
            "{}",
            err.message
        );
        let err = parse("a: [1, 2\n").unwrap_err();
        assert_eq!(err.pos.line, 2);
    }

    /// `levels` anchors, each a list of ten aliases of the one before:
    /// 10^levels scalars once expanded.
    fn laughs(levels: usize) -> String {
        let mut doc = "a0: &a0 [lol]\n".to_string();
        for i in 1..=levels {
            let prev = format!("*a{}", i - 1);
            let items = [prev.as_str(); 10].join(", ");
            doc.push_str(&format!("a{i}: &a{i} [{items}]\n"));
        }
        doc
    }

    #[test]
    fn billion_laughs_is_refused_where_the_limit_is_crossed() {
        let err = parse(&laughs(9)).unwrap_err();
        assert!(
            err.message
                .contains("aliases expand to more than 100000 nodes"),
            "{}",
            err.message
        );
        // a5 (10^5 scalars and its lists) is the first to cross the limit.
        assert_eq!(err.pos.line, 6, "{err:?}");
        // Four levels copy about 23,000 nodes: fine.
        let doc = parse(&laughs(4)).unwrap().unwrap();
        assert_eq!(doc.get("a4").map(Node::size), Some(21_111));
    }

    #[test]
    fn deep_nesting_is_refused() {
        let flow = |n: usize| format!("x: {}1{}\n", "[".repeat(n), "]".repeat(n));
        let block = |n: usize| {
            (0..n)
                .map(|i| format!("{}k{i}:\n", " ".repeat(i)))
                .collect::<String>()
        };
        let dashes = |n: usize| format!("{}1\n", "- ".repeat(n));
        for deep in [flow(150), block(150), block(5_000), dashes(1_000_000)] {
            let err = parse(&deep).unwrap_err();
            assert!(
                err.message.contains("nested deeper than 100 levels"),
                "{}",
                err.message
            );
        }
        // yaml-rust2 itself stops flow nesting at 255 levels.
        let err = parse(&flow(100_000)).unwrap_err();
        assert!(err.message.contains("recursion limit"), "{}", err.message);
        assert!(parse(&flow(90)).is_ok());
        assert!(parse(&block(90)).is_ok());
    }

    #[test]
    fn aliases_copy_the_anchored_node() {
        let doc = parse("x: &v {a: 1}\ny: *v\n").unwrap().unwrap();
        assert_eq!(
            doc.at(&[Step::Key("y".into()), Step::Key("a".into())])
                .and_then(Node::scalar),
            Some("1")
        );
        assert!(parse("").unwrap().is_none());
    }
}
