//! The lexer state shared by both exposition parsers.
//!
//! Prometheus generates its lexers with golex (`promlex.l`,
//! `openmetricslex.l`). The parsers in this module are hand-written ports of
//! those state machines, and they keep the machines' quirks on purpose,
//! because a scrape has to accept and reject exactly what Prometheus 2.42
//! does:
//!
//! - the machines never backtrack: once a longer match has started and then
//!   fails, the token is invalid even if a shorter rule matched earlier;
//! - `next` skips NUL bytes while inside a label value, a HELP text or a
//!   comment (golex cannot match a NUL), so those may contain NULs; anywhere
//!   else a NUL ends the token;
//! - the byte that ends a token is read in the state of that token, and the
//!   new state only applies from the following byte on.

use std::fmt;

/// A token of the exposition grammar; names print as in Prometheus errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Token {
    Invalid,
    Eof,
    Linebreak,
    Whitespace,
    Help,
    Type,
    Unit,
    EofWord,
    Text,
    Comment,
    MName,
    BraceOpen,
    BraceClose,
    LName,
    LValue,
    Comma,
    Equal,
    Timestamp,
    Value,
}

impl Token {
    /// The name Prometheus prints for the token.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Token::Invalid => "INVALID",
            Token::Eof => "EOF",
            Token::Linebreak => "LINEBREAK",
            Token::Whitespace => "WHITESPACE",
            Token::Help => "HELP",
            Token::Type => "TYPE",
            Token::Unit => "UNIT",
            Token::EofWord => "EOFWORD",
            Token::Text => "TEXT",
            Token::Comment => "COMMENT",
            Token::MName => "MNAME",
            Token::BraceOpen => "BOPEN",
            Token::BraceClose => "BCLOSE",
            Token::LName => "LNAME",
            Token::LValue => "LVALUE",
            Token::Comma => "COMMA",
            Token::Equal => "EQUAL",
            Token::Timestamp => "TIMESTAMP",
            Token::Value => "VALUE",
        }
    }
}

impl fmt::Display for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Start conditions of the golex machines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum State {
    Init,
    Comment,
    Meta1,
    Meta2,
    Labels,
    LValue,
    Value,
    Timestamp,
    Exemplar,
    EValue,
    ETimestamp,
}

/// Position and state of a lexer over a borrowed buffer.
///
/// Invariant: `start <= i <= end`. Bytes at `i < end` are real bytes of
/// `b`, except that the text parser sees one virtual `\n` at `b.len()` (as
/// Prometheus appends one to the scraped body, here without copying it).
#[derive(Debug, Clone)]
pub(crate) struct Lexer<'a> {
    pub(crate) b: &'a [u8],
    /// `b.len()`, plus one when a virtual trailing newline is present.
    pub(crate) end: usize,
    pub(crate) i: usize,
    pub(crate) start: usize,
    pub(crate) state: State,
}

impl<'a> Lexer<'a> {
    pub(crate) fn new(b: &'a [u8], virtual_newline: bool) -> Lexer<'a> {
        Lexer {
            b,
            end: b.len() + usize::from(virtual_newline),
            i: 0,
            start: 0,
            state: State::Init,
        }
    }

    /// The byte at `i`: the virtual newline past the buffer, 0 past the end.
    #[inline(always)]
    pub(crate) fn at(&self, i: usize) -> u8 {
        match self.b.get(i) {
            Some(&c) => c,
            None if i < self.end => b'\n',
            None => 0,
        }
    }

    /// The byte under the cursor (golex `c` at the start of `Lex`).
    #[inline(always)]
    pub(crate) fn cur(&self) -> u8 {
        self.at(self.i)
    }

    /// Advances one byte, as the golex `next`: 0 at the end of input, and
    /// NUL bytes skipped in label values, HELP texts and comments.
    #[inline(always)]
    pub(crate) fn next(&mut self) -> u8 {
        self.i += 1;
        if self.i >= self.end {
            self.i = self.end;
            return 0;
        }
        let mut c = self.at(self.i);
        if c == 0 && matches!(self.state, State::LValue | State::Meta2 | State::Comment) {
            while c == 0 {
                self.i += 1;
                if self.i >= self.end {
                    self.i = self.end;
                    return 0;
                }
                c = self.at(self.i);
            }
        }
        c
    }

    /// `c = next(); while pred(c) { c = next() }` in one tight loop: moves
    /// past the byte under the cursor and then over every byte `pred`
    /// accepts (and over NULs where `next` skips them); returns the byte
    /// it stops at. `pred` must reject 0, the end-of-input byte.
    #[inline(always)]
    pub(crate) fn advance_while(&mut self, pred: impl Fn(u8) -> bool) -> u8 {
        let skip_nul = matches!(self.state, State::LValue | State::Meta2 | State::Comment);
        let mut i = self.i + 1;
        while let Some(&c) = self.b.get(i) {
            if !(pred(c) || (c == 0 && skip_nul)) {
                break;
            }
            i += 1;
        }
        self.i = i.min(self.end);
        self.cur()
    }

    /// Bytes of `b` in `[s, e)`, clamped to the real buffer.
    #[inline(always)]
    pub(crate) fn slice(&self, s: usize, e: usize) -> &'a [u8] {
        let len = self.b.len();
        self.b.get(s.min(len)..e.min(len)).unwrap_or(&[])
    }

    /// The bytes of the current token.
    #[inline(always)]
    pub(crate) fn buf(&self) -> &'a [u8] {
        self.slice(self.start, self.i)
    }
}

const MNAME_START: u8 = 1;
const MNAME: u8 = 2;
const LNAME_START: u8 = 4;
const LNAME: u8 = 8;

/// Byte classes of the name rules, one lookup per byte in the hot loops.
static CLASS: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut c = 0;
    while c < 256 {
        let b = c as u8;
        let alpha = b.is_ascii_alphabetic() || b == b'_';
        let digit = b.is_ascii_digit();
        let mut class = 0;
        if alpha || b == b':' {
            class |= MNAME_START | MNAME;
        }
        if digit {
            class |= MNAME | LNAME;
        }
        if alpha {
            class |= LNAME_START | LNAME;
        }
        t[c] = class;
        c += 1;
    }
    t
};

#[inline(always)]
fn class(c: u8) -> u8 {
    CLASS[usize::from(c)]
}

/// `[a-zA-Z_:]`: first byte of a metric name.
#[inline(always)]
pub(crate) fn is_mname_start(c: u8) -> bool {
    class(c) & MNAME_START != 0
}

/// `[a-zA-Z0-9_:]`: later bytes of a metric name.
#[inline(always)]
pub(crate) fn is_mname_char(c: u8) -> bool {
    class(c) & MNAME != 0
}

/// `[a-zA-Z_]`: first byte of a label name.
#[inline(always)]
pub(crate) fn is_lname_start(c: u8) -> bool {
    class(c) & LNAME_START != 0
}

/// `[a-zA-Z0-9_]`: later bytes of a label name.
#[inline(always)]
pub(crate) fn is_lname_char(c: u8) -> bool {
    class(c) & LNAME != 0
}
