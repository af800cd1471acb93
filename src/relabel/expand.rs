//! Template expansion with Go's `Regexp.Expand` rules, which Prometheus uses
//! for `target_label` and `replacement`.
//!
//! `$name` and `${name}` are replaced by the text of a group: a name made
//! only of ASCII digits (without a leading zero, below 10^8) is a group
//! number, anything else a group name. `$name` takes the longest run of
//! letters, digits and `_`, so `$1x` means the group named `1x`, not group 1
//! followed by `x`. `$$` is a `$`; a `$` not followed by a name is kept as
//! written; a group that does not exist or did not take part is empty.

use std::sync::LazyLock;

use super::regex::Regex;

/// Appends `template` to `out` with its group references expanded from a
/// match of `re` on `hay`; `group(i)` is where group `i` lies, if it took
/// part.
pub(crate) fn expand(
    re: &Regex,
    template: &str,
    hay: &str,
    group: impl Fn(usize) -> Option<(usize, usize)>,
    out: &mut String,
) {
    let mut rest = template;
    while let Some(dollar) = rest.find('$') {
        out.push_str(&rest[..dollar]);
        rest = &rest[dollar + 1..];
        if let Some(after) = rest.strip_prefix('$') {
            out.push('$');
            rest = after;
            continue;
        }
        let Some((reference, after)) = parse_reference(rest) else {
            out.push('$');
            continue;
        };
        rest = after;
        let index = match reference {
            Reference::Number(i) => Some(i),
            Reference::Name(name) => re.group_index(name),
        };
        if let Some((start, end)) = index.and_then(&group) {
            out.push_str(hay.get(start..end).unwrap_or_default());
        }
    }
    out.push_str(rest);
}

/// Go's `Regexp.ReplaceAllString`: `hay` with every match of `re` replaced
/// by `template` expanded for that match, appended to `out`. The anchored
/// relabel regex normally matches once, the whole of `hay`; a pattern such
/// as `a)|(b` splices out of the anchors and can match a part.
pub(crate) fn replace_all(re: &Regex, hay: &str, template: &str, out: &mut String) {
    let mut last = 0;
    re.for_each_match(hay, |group| {
        if let Some((start, end)) = group(0) {
            out.push_str(hay.get(last..start).unwrap_or_default());
            expand(re, template, hay, group, out);
            last = end;
        }
    });
    out.push_str(hay.get(last..).unwrap_or_default());
}

/// Whether `template` refers to any group, so expanding it needs a match.
pub(crate) fn has_reference(template: &str) -> bool {
    template.contains('$')
}

#[derive(Debug, PartialEq, Eq)]
enum Reference<'a> {
    Number(usize),
    Name(&'a str),
}

/// Reads a reference after `$`: `name` or `{name}`. Returns it and the text
/// after it, or `None` when malformed (empty name, missing `}`).
fn parse_reference(s: &str) -> Option<(Reference<'_>, &str)> {
    let (braced, body) = match s.strip_prefix('{') {
        Some(body) => (true, body),
        None => (false, s),
    };
    let len = body
        .char_indices()
        .find(|&(_, c)| !is_name_char(c))
        .map_or(body.len(), |(i, _)| i);
    if len == 0 {
        return None;
    }
    let name = &body[..len];
    let after = if braced {
        body[len..].strip_prefix('}')?
    } else {
        &body[len..]
    };
    Some((group_reference(name), after))
}

/// A name of digits only, without a leading zero and below 10^8, is a group
/// number, as Go's `extract`.
fn group_reference(name: &str) -> Reference<'_> {
    let leading_zero = name.len() > 1 && name.starts_with('0');
    let mut num = 0usize;
    for b in name.bytes() {
        if !b.is_ascii_digit() || num >= 100_000_000 || leading_zero {
            return Reference::Name(name);
        }
        num = num * 10 + usize::from(b - b'0');
    }
    Reference::Number(num)
}

/// Go's `unicode.IsLetter(c) || unicode.IsDigit(c) || c == '_'`.
fn is_name_char(c: char) -> bool {
    static LETTER_OR_DIGIT: LazyLock<regex::Regex> =
        LazyLock::new(|| regex::Regex::new(r"^[\p{L}\p{Nd}]$").expect("the letter class compiles"));
    if c.is_ascii() {
        return c.is_ascii_alphanumeric() || c == '_';
    }
    LETTER_OR_DIGIT.is_match(c.encode_utf8(&mut [0; 4]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check(pattern: &str, hay: &str, template: &str, want: &str) {
        let re = Regex::new(pattern).unwrap();
        let caps = re.captures(hay).unwrap();
        let mut out = String::new();
        expand(&re, template, hay, |i| caps.get(i), &mut out);
        assert_eq!(out, want, "{template:?} with {pattern:?} on {hay:?}");
    }

    #[test]
    fn expands_as_go_regexp_expand() {
        check("(a)(b)", "ab", "$1-$2", "a-b");
        check("(a)(b)", "ab", "${1}x${2}", "axb");
        check("(a)(b)", "ab", "$1x", "");
        check("(a)(b)", "ab", "$0", "ab");
        check("(a)(b)", "ab", "$01", "");
        check("(a)(b)", "ab", "${01}", "");
        check("(a)(b)", "ab", "$3", "");
        check("(a)(b)", "ab", "$$1", "$1");
        check("(a)(b)", "ab", "$", "$");
        check("(a)(b)", "ab", "a$-b", "a$-b");
        check("(a)(b)", "ab", "${", "${");
        check("(a)(b)", "ab", "${}", "${}");
        check("(a)(b)", "ab", "${1", "${1");
        check("(a)(b)", "ab", "${1}}", "a}");
        check("(?P<x>a)(?P<y_1>b)", "ab", "$x.${y_1}.$y_1.$y", "a.b.b.");
        check("(?P<é>a)", "a", "$é!", "a!");
        check("(a)?b", "b", "[$1]", "[]");
        check("(.*)", "foo", "$1$1", "foofoo");
        check("(.*)", "foo", "${1}_${2}", "foo_");
        check(".*", "foo", "$0/$1", "foo/");
        check("foo", "foo", "lit$0", "litfoo");
        check("(a)", "a", "$100000000", "");
        check("(a)", "a", "$1\u{345}", "a\u{345}");
        check("(a)", "a", "$1\u{216b}", "a\u{216b}");
        check("(?P<x٣>a)", "a", "$x٣", "a");
    }

    #[track_caller]
    fn check_replace_all(pattern: &str, hay: &str, template: &str, want: &str) {
        let re = Regex::new(pattern).unwrap();
        let mut out = String::new();
        replace_all(&re, hay, template, &mut out);
        assert_eq!(out, want, "{template:?} with {pattern:?} on {hay:?}");
    }

    #[test]
    fn replace_all_as_go() {
        check_replace_all("(.*)", "abc", "x_$1", "x_abc");
        check_replace_all(".*", "abc", "x_$1", "x_");
        check_replace_all("abc", "abc", "[$0]", "[abc]");
        check_replace_all("(b.*)", "b1", "bar_${1}", "bar_b1");
        check_replace_all("(b.*)", "ab1", "bar_${1}", "ab1");
        // `^(?:x)|(y)$`: the second branch matches only the tail.
        check_replace_all("x)|(y", "ay", "<$1>", "a<y>");
        check_replace_all("a)|(b", "ab", "<$1>", "<><b>");
    }

    #[test]
    fn references_are_parsed_as_go_extract() {
        assert_eq!(parse_reference("1x"), Some((Reference::Name("1x"), "")));
        assert_eq!(parse_reference("12-"), Some((Reference::Number(12), "-")));
        assert_eq!(parse_reference("{a}b"), Some((Reference::Name("a"), "b")));
        assert_eq!(parse_reference("{a-}"), None);
        assert_eq!(parse_reference("-"), None);
        assert!(has_reference("a$1"));
        assert!(!has_reference("static"));
    }
}
