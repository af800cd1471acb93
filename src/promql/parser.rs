//! A recursive-descent parser for the PromQL subset, as Prometheus's
//! `promql/parser` for what it accepts: number literals, vector selectors
//! (the storage's selector parser does the matchers), range selectors as the
//! argument of the range functions, `sum`/`avg`/`min`/`max`/`count` with
//! `by`/`without`, and arithmetic (`+ - * / % ^`, unary minus) where one
//! side is a scalar. Precedence and associativity are Prometheus's: `^`
//! binds tightest and to the right, then unary minus, then `* / %`, then
//! `+ -`.
//!
//! Everything else PromQL has is refused with an error that names it
//! (`function "histogram_quantile" is not supported`), so an operator knows
//! the query is valid PromQL that this box does not evaluate. Errors carry
//! the line and column, as Prometheus's `1:5: parse error: ...`.

use std::fmt;

use crate::config::Duration as PromDuration;
use crate::promql::ast::{Aggregate, AggregateOp, ArithOp, Expr, Function, Selector, ValueType};
use crate::storage::selector::parse_selector;

/// A query that does not parse or is outside the subset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    /// Line of the problem, from 1.
    pub line: usize,
    /// Column (in bytes) of the problem, from 1.
    pub col: usize,
    /// What is wrong.
    pub msg: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: parse error: {}", self.line, self.col, self.msg)
    }
}

impl std::error::Error for ParseError {}

/// PromQL aggregation operators edgescrape does not evaluate.
const UNSUPPORTED_AGGREGATIONS: &[&str] = &[
    "stddev",
    "stdvar",
    "topk",
    "bottomk",
    "quantile",
    "count_values",
    "group",
];

/// PromQL binary operators edgescrape does not evaluate, longest first.
const UNSUPPORTED_OPERATORS: &[&str] = &[
    "==", "!=", ">=", "<=", ">", "<", "and", "or", "unless", "atan2",
];

/// Parses `input` into a type-checked expression of the subset.
pub fn parse(input: &str) -> Result<Expr, ParseError> {
    let mut p = Parser { src: input, pos: 0 };
    p.skip_ws();
    if p.at_end() {
        return Err(p.error_at(0, "no expression found in input".to_string()));
    }
    let expr = p.expr()?;
    p.skip_ws();
    if !p.at_end() {
        return Err(p.unexpected());
    }
    Ok(expr)
}

struct Parser<'a> {
    src: &'a str,
    pos: usize,
}

impl<'a> Parser<'a> {
    fn rest(&self) -> &'a str {
        &self.src[self.pos..]
    }

    fn peek(&self) -> Option<char> {
        self.rest().chars().next()
    }

    fn at_end(&self) -> bool {
        self.pos >= self.src.len()
    }

    fn skip_ws(&mut self) {
        while let Some(c) = self.peek() {
            if c == '#' {
                let line_end = self.rest().find('\n').unwrap_or(self.rest().len());
                self.pos += line_end;
            } else if c.is_whitespace() {
                self.pos += c.len_utf8();
            } else {
                break;
            }
        }
    }

    fn error_at(&self, pos: usize, msg: String) -> ParseError {
        let before = &self.src[..pos.min(self.src.len())];
        let line = before.matches('\n').count() + 1;
        let col = pos - before.rfind('\n').map_or(0, |i| i + 1) + 1;
        ParseError { line, col, msg }
    }

    fn error(&self, msg: String) -> ParseError {
        self.error_at(self.pos, msg)
    }

    fn unsupported(&self, pos: usize, what: String) -> ParseError {
        self.error_at(pos, format!("{what} is not supported by edgescrape"))
    }

    /// The error for text where an operator or the end was expected.
    fn unexpected(&self) -> ParseError {
        if let Some(op) = self.unsupported_operator() {
            return self.unsupported(self.pos, format!("binary operator {op:?}"));
        }
        match self.peek() {
            Some(c) => self.error(format!("unexpected character {c:?}")),
            None => self.error("unexpected end of input".to_string()),
        }
    }

    fn unsupported_operator(&self) -> Option<&'static str> {
        let rest = self.rest();
        UNSUPPORTED_OPERATORS.iter().copied().find(|op| {
            rest.starts_with(op)
                && (!op.as_bytes()[0].is_ascii_alphabetic()
                    || !rest[op.len()..].starts_with(is_ident_char))
        })
    }

    fn eat(&mut self, c: char) -> bool {
        self.skip_ws();
        if self.peek() == Some(c) {
            self.pos += c.len_utf8();
            true
        } else {
            false
        }
    }

    fn expect(&mut self, c: char, context: &str) -> Result<(), ParseError> {
        if self.eat(c) {
            return Ok(());
        }
        match self.peek() {
            Some(found) => Err(self.error(format!(
                "unexpected character {found:?} in {context}, expected {c:?}"
            ))),
            None => Err(self.error(format!("unexpected end of input in {context}"))),
        }
    }

    /// An identifier (metric names may hold `:`), without consuming it.
    fn peek_ident(&self, metric: bool) -> Option<&'a str> {
        let rest = self.rest();
        let first = rest.chars().next()?;
        if !(first.is_ascii_alphabetic() || first == '_' || (metric && first == ':')) {
            return None;
        }
        let len = rest
            .find(|c: char| !(is_ident_char(c) || (metric && c == ':')))
            .unwrap_or(rest.len());
        Some(&rest[..len])
    }

    fn expr(&mut self) -> Result<Expr, ParseError> {
        self.left_assoc(
            &[('+', ArithOp::Add), ('-', ArithOp::Sub)],
            Parser::mul_expr,
        )
    }

    fn mul_expr(&mut self) -> Result<Expr, ParseError> {
        let ops = [
            ('*', ArithOp::Mul),
            ('/', ArithOp::Div),
            ('%', ArithOp::Mod),
        ];
        self.left_assoc(&ops, Parser::unary_expr)
    }

    /// One precedence level of left-associative operators over `operand`.
    fn left_assoc(
        &mut self,
        ops: &[(char, ArithOp)],
        operand: fn(&mut Parser<'a>) -> Result<Expr, ParseError>,
    ) -> Result<Expr, ParseError> {
        let mut lhs = operand(self)?;
        loop {
            self.skip_ws();
            let next = self.peek();
            let Some(&(_, op)) = ops.iter().find(|(c, _)| next == Some(*c)) else {
                return Ok(lhs);
            };
            let op_pos = self.pos;
            self.pos += 1;
            let rhs = operand(self)?;
            lhs = self.binary(op_pos, op, lhs, rhs)?;
        }
    }

    fn unary_expr(&mut self) -> Result<Expr, ParseError> {
        self.skip_ws();
        let pos = self.pos;
        let negate = match self.peek() {
            Some('-') => true,
            Some('+') => false,
            _ => return self.pow_expr(),
        };
        self.pos += 1;
        let operand = self.unary_expr()?;
        if operand.value_type() == ValueType::Matrix {
            return Err(self.error_at(
                pos,
                "unary expression only allowed on expressions of type scalar or instant vector"
                    .to_string(),
            ));
        }
        Ok(match (negate, operand) {
            (false, e) => e,
            (true, Expr::Number(n)) => Expr::Number(-n),
            (true, e) => Expr::Negate(Box::new(e)),
        })
    }

    fn pow_expr(&mut self) -> Result<Expr, ParseError> {
        let base = self.postfix_expr()?;
        self.skip_ws();
        if self.peek() != Some('^') {
            return Ok(base);
        }
        let op_pos = self.pos;
        self.pos += 1;
        let exponent = self.unary_expr()?;
        self.binary(op_pos, ArithOp::Pow, base, exponent)
    }

    /// Type-checks and builds an arithmetic node.
    fn binary(&self, pos: usize, op: ArithOp, lhs: Expr, rhs: Expr) -> Result<Expr, ParseError> {
        let (lt, rt) = (lhs.value_type(), rhs.value_type());
        if lt == ValueType::Matrix || rt == ValueType::Matrix {
            return Err(self.error_at(
                pos,
                "binary expression must contain only scalar and instant vector types".to_string(),
            ));
        }
        if lt == ValueType::Vector && rt == ValueType::Vector {
            return Err(self.unsupported(
                pos,
                "a binary operation between two vectors (only arithmetic with a scalar)"
                    .to_string(),
            ));
        }
        Ok(Expr::Binary(op, Box::new(lhs), Box::new(rhs)))
    }

    /// A primary expression and an optional `[range]` after it.
    fn postfix_expr(&mut self) -> Result<Expr, ParseError> {
        let expr = self.primary()?;
        self.skip_ws();
        let expr = if self.peek() == Some('[') {
            let pos = self.pos;
            let range_ms = self.range()?;
            match expr {
                Expr::VectorSelector(s) => Expr::MatrixSelector(s, range_ms),
                _ => {
                    return Err(
                        self.error_at(pos, "ranges only allowed for vector selectors".to_string())
                    )
                }
            }
        } else {
            expr
        };
        self.skip_ws();
        if self.peek() == Some('@') {
            return Err(self.unsupported(self.pos, "the @ modifier".to_string()));
        }
        if self.peek_ident(false) == Some("offset") {
            return Err(self.unsupported(self.pos, "the offset modifier".to_string()));
        }
        Ok(expr)
    }

    /// `[5m]`, returned in milliseconds.
    fn range(&mut self) -> Result<i64, ParseError> {
        let open = self.pos;
        self.pos += 1;
        let Some(len) = self.rest().find(']') else {
            return Err(self.error("unclosed left bracket".to_string()));
        };
        let text = self.rest()[..len].trim();
        if text.contains(':') {
            return Err(self.unsupported(open, "a subquery".to_string()));
        }
        let start = self.pos;
        self.pos += len + 1;
        let d = PromDuration::parse(text)
            .map_err(|e| self.error_at(start, format!("bad duration {text:?}: {e}")))?;
        let ms = i64::try_from(d.0.as_millis()).unwrap_or(i64::MAX);
        if ms == 0 {
            return Err(self.error_at(start, "duration must be greater than 0".to_string()));
        }
        Ok(ms)
    }

    fn primary(&mut self) -> Result<Expr, ParseError> {
        self.skip_ws();
        let pos = self.pos;
        match self.peek() {
            None => Err(self.error("unexpected end of input".to_string())),
            Some('(') => {
                self.pos += 1;
                let e = self.expr()?;
                self.skip_ws();
                if self.peek() != Some(')') {
                    return Err(if self.at_end() {
                        self.error("unclosed left parenthesis".to_string())
                    } else {
                        self.unexpected()
                    });
                }
                self.pos += 1;
                Ok(e)
            }
            Some(c) if c.is_ascii_digit() || c == '.' => self.number(),
            Some('"' | '\'' | '`') => Err(self.unsupported(pos, "a string literal".to_string())),
            Some('{') => self.selector(pos),
            Some(_) => match self.peek_ident(true) {
                Some(name) => self.identifier(pos, name),
                None => Err(self.unexpected()),
            },
        }
    }

    fn number(&mut self) -> Result<Expr, ParseError> {
        let start = self.pos;
        let rest = self.rest();
        let len = if rest.starts_with("0x") || rest.starts_with("0X") {
            2 + rest[2..]
                .find(|c: char| !c.is_ascii_hexdigit())
                .unwrap_or(rest.len() - 2)
        } else {
            decimal_len(rest)
        };
        let text = &rest[..len];
        self.pos += len;
        if self.peek().is_some_and(is_ident_char) {
            return Err(self.error_at(start, "bad number or duration syntax".to_string()));
        }
        let value = match text.strip_prefix("0x").or(text.strip_prefix("0X")) {
            Some(hex) => u64::from_str_radix(hex, 16).ok().map(|n| n as f64),
            None => text.parse::<f64>().ok(),
        };
        value
            .map(Expr::Number)
            .ok_or_else(|| self.error_at(start, format!("bad number {text:?}")))
    }

    /// A name: a keyword, a number word, a function call or a selector.
    fn identifier(&mut self, pos: usize, name: &'a str) -> Result<Expr, ParseError> {
        let lower = name.to_ascii_lowercase();
        if lower == "inf" || lower == "nan" {
            self.pos += name.len();
            return Ok(Expr::Number(if lower == "inf" {
                f64::INFINITY
            } else {
                f64::NAN
            }));
        }
        if let Some(op) = AggregateOp::by_name(&lower) {
            self.pos += name.len();
            return self.aggregation(pos, op);
        }
        if UNSUPPORTED_AGGREGATIONS.contains(&lower.as_str()) {
            return Err(self.unsupported(
                pos,
                format!("aggregation {name:?} (supported: sum, avg, min, max, count)"),
            ));
        }
        let after = &self.rest()[name.len()..];
        if after.trim_start().starts_with('(') {
            self.pos += name.len();
            return self.call(pos, name);
        }
        self.selector(pos)
    }

    fn call(&mut self, pos: usize, name: &str) -> Result<Expr, ParseError> {
        let Some(function) = Function::by_name(name) else {
            let supported: Vec<&str> = Function::ALL.iter().map(|(n, _)| *n).collect();
            return Err(self.unsupported(
                pos,
                format!("function {name:?} (supported: {})", supported.join(", ")),
            ));
        };
        let args = self.arguments(&format!("call to function {name:?}"))?;
        if args.len() != 1 {
            return Err(self.error_at(
                pos,
                format!(
                    "expected 1 argument(s) in call to {name:?}, got {}",
                    args.len()
                ),
            ));
        }
        let (arg_pos, arg) = args.into_iter().next().expect("one argument");
        match arg {
            Expr::MatrixSelector(..) => Ok(Expr::Call(function, Box::new(arg))),
            other => Err(self.error_at(
                arg_pos,
                format!(
                    "expected type range vector in call to function {name:?}, got {}",
                    other.value_type().name()
                ),
            )),
        }
    }

    /// `(a, b, ...)` with the position of each argument.
    fn arguments(&mut self, context: &str) -> Result<Vec<(usize, Expr)>, ParseError> {
        self.expect('(', context)?;
        let mut args = Vec::new();
        if self.eat(')') {
            return Ok(args);
        }
        loop {
            self.skip_ws();
            let pos = self.pos;
            args.push((pos, self.expr()?));
            if self.eat(',') {
                continue;
            }
            if self.eat(')') {
                return Ok(args);
            }
            return Err(if self.at_end() {
                self.error(format!("unclosed left parenthesis in {context}"))
            } else {
                self.unexpected()
            });
        }
    }

    /// After the operator name: `[by|without (...)] (expr) [by|without (...)]`.
    fn aggregation(&mut self, pos: usize, op: AggregateOp) -> Result<Expr, ParseError> {
        let mut grouping = self.grouping()?;
        let args = self.arguments("aggregation")?;
        if grouping.is_none() {
            grouping = self.grouping()?;
        }
        let (without, mut labels) = grouping.unwrap_or((false, Vec::new()));
        if args.len() != 1 {
            return Err(self.error_at(
                pos,
                format!(
                    "wrong number of arguments for aggregate expression provided, expected 1, got {}",
                    args.len()
                ),
            ));
        }
        let (arg_pos, expr) = args.into_iter().next().expect("one argument");
        if expr.value_type() != ValueType::Vector {
            return Err(self.error_at(
                arg_pos,
                format!(
                    "expected type instant vector in aggregation expression, got {}",
                    expr.value_type().name()
                ),
            ));
        }
        labels.sort();
        labels.dedup();
        Ok(Expr::Aggregate(Aggregate {
            op,
            grouping: labels,
            without,
            expr: Box::new(expr),
        }))
    }

    /// `by (a, b)` or `without (a)`, if one comes next.
    fn grouping(&mut self) -> Result<Option<(bool, Vec<String>)>, ParseError> {
        self.skip_ws();
        let without = match self.peek_ident(false) {
            Some(w) if w.eq_ignore_ascii_case("by") => false,
            Some(w) if w.eq_ignore_ascii_case("without") => true,
            _ => return Ok(None),
        };
        self.pos += if without { 7 } else { 2 };
        self.expect('(', "grouping opts")?;
        let mut labels = Vec::new();
        loop {
            if self.eat(')') {
                return Ok(Some((without, labels)));
            }
            self.skip_ws();
            let Some(label) = self.peek_ident(false) else {
                return Err(match self.peek() {
                    Some(c) => self.error(format!(
                        "unexpected character {c:?} in grouping opts, expected label"
                    )),
                    None => self.error("unclosed left parenthesis in grouping opts".to_string()),
                });
            };
            self.pos += label.len();
            labels.push(label.to_string());
            if !self.eat(',') {
                self.expect(')', "grouping opts")?;
                return Ok(Some((without, labels)));
            }
        }
    }

    /// `metric`, `metric{...}` or `{...}` starting at `pos`; the storage's
    /// selector parser reads the matchers.
    fn selector(&mut self, pos: usize) -> Result<Expr, ParseError> {
        if let Some(name) = self.peek_ident(true) {
            self.pos += name.len();
        }
        self.skip_ws();
        if self.peek() == Some('{') {
            self.pos += braces_len(self.rest())
                .ok_or_else(|| self.error("unexpected end of input inside braces".to_string()))?;
        }
        let text = &self.src[pos..self.pos];
        let matchers =
            parse_selector(text).map_err(|e| self.error_at(pos + e.pos, e.msg.clone()))?;
        Ok(Expr::VectorSelector(Selector {
            matchers,
            series: Vec::new(),
            nameless: Vec::new(),
        }))
    }
}

fn is_ident_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// Length of a decimal float literal at the start of `s`
/// (`12`, `1.5`, `.5`, `1e-3`).
fn decimal_len(s: &str) -> usize {
    let b = s.as_bytes();
    let digits = |mut i: usize| {
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        i
    };
    let mut i = digits(0);
    if b.get(i) == Some(&b'.') {
        i = digits(i + 1);
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        let sign = usize::from(matches!(b.get(i + 1), Some(b'+' | b'-')));
        let end = digits(i + 1 + sign);
        if end > i + 1 + sign {
            i = end;
        }
    }
    i
}

/// Length of `{...}` at the start of `s`, quotes honoured; `None` when the
/// closing brace is missing.
fn braces_len(s: &str) -> Option<usize> {
    let mut quote: Option<char> = None;
    let mut escaped = false;
    for (i, c) in s.char_indices() {
        match quote {
            Some(_) if escaped => escaped = false,
            Some(q) if c == '\\' && q != '`' => escaped = true,
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None if matches!(c, '"' | '\'' | '`') => quote = Some(c),
            None if c == '}' => return Some(i + 1),
            None => {}
        }
    }
    None
}

#[cfg(test)]
mod tests;
