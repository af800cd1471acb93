//! [`Regex`]: a relabel rule's anchored regular expression, read as Go's
//! RE2 syntax reads it.

use serde::{Deserialize, Serialize};

/// A fully anchored regular expression that remembers how it was written.
///
/// As Prometheus 2.53's `relabel.NewRegexp`, `s` compiles as `^(?:s)$`, and
/// the syntax means what it means in Go: `.` does not match a newline (that
/// came only with Prometheus 3), and `\d`, `\w`, `\s`, `\b`, `\B` are ASCII
/// classes. The Rust regex crate makes those classes Unicode-aware, so the
/// pattern is rewritten to the ASCII forms before compiling.
///
/// Two shapes skip the regex engine because their answer is known: `.*` and
/// `(.*)` (the default) match any string without a newline, with the whole
/// string as group 1; a pattern without metacharacters matches only itself.
#[derive(Debug, Clone)]
pub struct Regex {
    source: String,
    anchored: regex::Regex,
    shape: Shape,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    /// `.*` (`group: false`) or `(.*)` (`group: true`).
    AnyLine { group: bool },
    /// No metacharacter: matches exactly the source text.
    Literal,
    /// Anything else: ask the engine.
    General,
}

/// Where a match and its groups lie in the haystack.
#[derive(Debug)]
pub(crate) enum Captures {
    /// The whole haystack is group 0 and, when `group`, group 1.
    Whole { len: usize, group: bool },
    /// Group positions found by the engine.
    Found(regex::CaptureLocations),
}

impl Captures {
    /// The span of group `i`, if it took part in the match.
    pub(crate) fn get(&self, i: usize) -> Option<(usize, usize)> {
        match self {
            Captures::Whole { len, group } => (i == 0 || (i == 1 && *group)).then_some((0, *len)),
            Captures::Found(locs) => locs.get(i),
        }
    }
}

/// Go's regexp metacharacters (`regexp.QuoteMeta`'s set).
const META: &[char] = &[
    '\\', '.', '+', '*', '?', '(', ')', '|', '[', ']', '{', '}', '^', '$',
];

impl Regex {
    /// Compiles `source` as `^(?:source)$` with Go's meaning of the syntax.
    pub fn new(source: &str) -> Result<Regex, regex::Error> {
        let anchored = regex::Regex::new(&format!("^(?:{})$", go_ascii_classes(source)))?;
        let shape = match source {
            ".*" => Shape::AnyLine { group: false },
            "(.*)" => Shape::AnyLine { group: true },
            s if !s.contains(META) => Shape::Literal,
            _ => Shape::General,
        };
        Ok(Regex {
            source: source.to_string(),
            anchored,
            shape,
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

    /// Whether the whole of `hay` matches.
    pub fn is_match(&self, hay: &str) -> bool {
        match self.shape {
            Shape::AnyLine { .. } => !hay.contains('\n'),
            Shape::Literal => hay == self.source,
            Shape::General => self.anchored.is_match(hay),
        }
    }

    /// Matches the whole of `hay` and reports where the groups are.
    pub(crate) fn captures(&self, hay: &str) -> Option<Captures> {
        match self.shape {
            Shape::AnyLine { group } => (!hay.contains('\n')).then_some(Captures::Whole {
                len: hay.len(),
                group,
            }),
            Shape::Literal => (hay == self.source).then_some(Captures::Whole {
                len: hay.len(),
                group: false,
            }),
            Shape::General => {
                let mut locs = self.anchored.capture_locations();
                self.anchored
                    .captures_read(&mut locs, hay)
                    .map(|_| Captures::Found(locs))
            }
        }
    }

    /// Calls `f` for each successive non-overlapping match of `hay`, with
    /// where the groups of that match lie.
    pub(crate) fn for_each_match(
        &self,
        hay: &str,
        mut f: impl FnMut(&dyn Fn(usize) -> Option<(usize, usize)>),
    ) {
        match self.shape {
            Shape::AnyLine { .. } | Shape::Literal => {
                if let Some(caps) = self.captures(hay) {
                    f(&|i| caps.get(i));
                }
            }
            Shape::General => {
                for caps in self.anchored.captures_iter(hay) {
                    f(&|i| caps.get(i).map(|m| (m.start(), m.end())));
                }
            }
        }
    }

    /// The index of the group called `name`, if there is one.
    pub(crate) fn group_index(&self, name: &str) -> Option<usize> {
        self.anchored.capture_names().position(|n| n == Some(name))
    }
}

/// Rewrites Go's ASCII-only Perl classes and word boundaries, and the class
/// members Go takes literally but the regex crate does not (`[`, `&&`,
/// `~~`), into forms the regex crate reads the same way; everything else is
/// left as written.
fn go_ascii_classes(source: &str) -> String {
    let mut out = String::with_capacity(source.len() + 16);
    let mut chars = source.chars();
    // Inside a bracketed class, where `\b` is not a word boundary.
    let mut in_class = false;
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                let Some(e) = chars.next() else {
                    out.push(c);
                    break;
                };
                let rewritten = match e {
                    'd' => "[0-9]",
                    'D' => "[^0-9]",
                    'w' => "[0-9A-Za-z_]",
                    'W' => "[^0-9A-Za-z_]",
                    's' => r"[\t\n\f\r ]",
                    'S' => r"[^\t\n\f\r ]",
                    'b' if !in_class => r"(?-u:\b)",
                    'B' if !in_class => r"(?-u:\B)",
                    _ => {
                        out.push(c);
                        out.push(e);
                        continue;
                    }
                };
                out.push_str(rewritten);
            }
            '[' if !in_class => {
                in_class = true;
                out.push(c);
                // A `]` right after `[` or `[^` is a literal member.
                let mut rest = chars.clone();
                match rest.next() {
                    Some('^') => {
                        out.push('^');
                        chars.next();
                        if rest.next() == Some(']') {
                            out.push(']');
                            chars.next();
                        }
                    }
                    Some(']') => {
                        out.push(']');
                        chars.next();
                    }
                    _ => {}
                }
            }
            '[' if chars.as_str().starts_with(':') => {
                // `[:alpha:]` inside a class: copy through its closing `]`.
                out.push(c);
                if let Some(end) = chars.as_str().find(":]") {
                    let rest = chars.as_str();
                    out.push_str(&rest[..end + 2]);
                    chars = rest[end + 2..].chars();
                }
            }
            // Go reads these literally inside a class; the regex crate
            // would read a nested class or a set operation.
            '[' => out.push_str(r"\["),
            '&' | '~' if in_class => {
                out.push('\\');
                out.push(c);
            }
            ']' if in_class => {
                in_class = false;
                out.push(c);
            }
            _ => out.push(c),
        }
    }
    out
}

impl Default for Regex {
    /// `(.*)`, Prometheus's default relabel regex.
    fn default() -> Regex {
        let anchored = regex::Regex::new("^(?:(.*))$").expect("the default regex compiles");
        Regex {
            source: "(.*)".to_string(),
            anchored,
            shape: Shape::AnyLine { group: true },
        }
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
    /// A string, or null for the empty regex (as Prometheus's
    /// `UnmarshalYAML`, which turns a nil regexp into `""`).
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Regex, D::Error> {
        let s = Option::<String>::deserialize(deserializer)?.unwrap_or_default();
        Regex::new(&s).map_err(|e| serde::de::Error::custom(format!("invalid regex {s:?}: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check(pattern: &str, hay: &str, want: bool) {
        let re = Regex::new(pattern).unwrap();
        assert_eq!(re.is_match(hay), want, "{pattern:?} on {hay:?}");
        assert_eq!(
            re.captures(hay).is_some(),
            want,
            "{pattern:?} captures on {hay:?}"
        );
        assert_eq!(
            re.regex().is_match(hay),
            want,
            "{pattern:?} engine on {hay:?}"
        );
    }

    #[test]
    fn matches_as_go_reads_the_pattern() {
        check("(.*)", "", true);
        check("(.*)", "foo", true);
        check("(.*)", "foo\nbar", false);
        check(".*", "foo\nbar", false);
        check("(?s:.*)", "foo\nbar", true);
        check("foo", "foo", true);
        check("foo", "foobar", false);
        check("foo", "xfoo", false);
        check("f|o", "foo", false);
        check("f|o", "o", true);
        check("a)|(b", "a", true);
        // Spliced into `^(?:…)$` as Prometheus does, so `$` binds to `(b` only.
        check("a)|(b", "xb", true);
        check("^metrics$", "metrics", true);
        check(r"\d+", "123", true);
        check(r"\d+", "١٢٣", false);
        check(r"\w+", "héllo", false);
        check(r"\w+", "h_llo9", true);
        check(r"[\w-]+", "a-b", true);
        check(r"[^\d]+", "abc", true);
        check(r"[\D]", "5", false);
        check(r"\s", "\u{a0}", false);
        check(r"\s", "\t", true);
        check(r"\s", "\u{b}", false);
        check(r"é\b", "é", false);
        check(r"a\b", "a", true);
        check(r"[]a]+", "]a", true);
        check(r"[^]a]", "b", true);
        check(r"[[:digit:]\d]", "7", true);
        check(r"\.\*", ".*", true);
        check(r"[a[]+", "[a", true);
        check(r"[a&&b]+", "a&b", true);
        check(r"[a~~b]+", "~b", true);
        check("", "", true);
        check("", "x", false);
    }

    #[test]
    fn unicode_classes_are_those_go_knows() {
        // General categories, scripts and `Any`, as Go's unicode tables.
        check(r"\pL+", "héllo", true);
        check(r"\p{Lu}\p{Ll}+", "Éa", true);
        check(r"\p{Greek}+", "αβγ", true);
        check(r"\P{Greek}", "α", false);
        check(r"\p{Any}", "\u{10ffff}", true);
        // Simple case folding under (?i), beyond ASCII.
        check("(?i)straße", "STRASSE", false);
        check("(?i)σ", "Σ", true);
        check("(?i)k", "\u{212a}", true);
        // Go has no age, boolean-property or segmentation classes; the
        // release build leaves them out of the regex crate (Cargo.toml),
        // which `make dist-test` checks on the shipped binaries (the test
        // build has them: proptest turns on all of regex-syntax).
    }

    #[test]
    fn groups_of_the_fast_paths() {
        let whole = Regex::new("(.*)").unwrap().captures("abc").unwrap();
        assert_eq!(
            (whole.get(0), whole.get(1), whole.get(2)),
            (Some((0, 3)), Some((0, 3)), None)
        );
        let bare = Regex::new(".*").unwrap().captures("abc").unwrap();
        assert_eq!((bare.get(0), bare.get(1)), (Some((0, 3)), None));
        let lit = Regex::new("abc").unwrap().captures("abc").unwrap();
        assert_eq!((lit.get(0), lit.get(1)), (Some((0, 3)), None));
        let re = Regex::new("(?P<x>a)(b)?").unwrap();
        let found = re.captures("a").unwrap();
        assert_eq!((found.get(1), found.get(2)), (Some((0, 1)), None));
        assert_eq!(re.group_index("x"), Some(1));
        assert_eq!(re.group_index("y"), None);
    }

    #[test]
    fn keeps_source_and_refuses_bad_syntax() {
        assert_eq!(Regex::new("a(b)").unwrap().as_str(), "a(b)");
        assert_eq!(Regex::default().as_str(), "(.*)");
        assert_eq!(Regex::default(), Regex::new("(.*)").unwrap());
        assert!(Regex::new("(").is_err());
        assert!(Regex::new("a{2,1}").is_err());
    }
}
