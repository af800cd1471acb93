//! [`Current`]: what a parser knows of the entry it stands on, the same
//! for both formats. The token machines fill it token by token, the fast
//! line recognizers (`fast.rs`) a line at a time.

use super::fast::{self, Format, MetaKind};
use super::lex::{Lexer, State};
use super::{
    build_labels, check_utf8, checked_str, find_duplicate, unescape, Entry, MetricType, ParseError,
    RawLabels,
};
use crate::labels::{Labels, LabelsBuilder};

/// The current entry of a parser; borrowed slices point into the body.
#[derive(Debug, Clone)]
pub(crate) struct Current<'a> {
    /// Start of the current entry in the buffer.
    pub start: usize,
    /// Raw series bytes of a sample (the scrape cache key).
    pub series: &'a [u8],
    /// Metric name of the current sample.
    pub name: &'a [u8],
    /// Raw label names and values (between the quotes) of the current sample.
    pub labels: RawLabels<'a>,
    /// Reused by the duplicate check of samples with many labels.
    pub scratch: Vec<&'a [u8]>,
    /// Family name of the current HELP, TYPE or UNIT entry.
    pub family: &'a [u8],
    /// Help, comment, type or unit text.
    pub text: &'a [u8],
    /// Type of a TYPE entry.
    pub mtype: MetricType,
    /// Value of a sample.
    pub val: f64,
    /// Timestamp of a sample, in milliseconds.
    pub ts: Option<i64>,
    /// Whether the current sample has an exemplar not yet handed out
    /// (OpenMetrics).
    pub has_exemplar: bool,
    /// Raw label names and values of the exemplar.
    pub exemplar_labels: RawLabels<'a>,
    /// Value of the exemplar.
    pub exemplar_val: f64,
    /// Timestamp of the exemplar, in milliseconds.
    pub exemplar_ts: Option<i64>,
    /// Whether lines go to the fast recognizers first (always, except in
    /// the tests that compare both paths).
    pub fast: bool,
    /// Whether the fast recognizers hand out a sample before its series
    /// checks (UTF-8, duplicate label names), for the caller to make them
    /// with [`Current::check_deferred`] when it does not know the series.
    pub defer_checks: bool,
    /// Whether the current sample's series checks are still to be made.
    pub unchecked: bool,
}

impl Default for Current<'_> {
    fn default() -> Self {
        Current {
            start: 0,
            series: &[],
            name: &[],
            labels: Vec::new(),
            scratch: Vec::new(),
            family: &[],
            text: &[],
            mtype: MetricType::Unknown,
            val: 0.0,
            ts: None,
            has_exemplar: false,
            exemplar_labels: Vec::new(),
            exemplar_val: 0.0,
            exemplar_ts: None,
            fast: true,
            defer_checks: false,
            unchecked: false,
        }
    }
}

impl<'a> Current<'a> {
    /// Reads the line at `start` with the fast recognizers if they take
    /// it, leaving `l` after it as the token machine would; otherwise
    /// nothing has moved.
    #[inline(always)]
    pub fn read_fast_line(&mut self, l: &mut Lexer<'a>, format: Format) -> Option<Entry> {
        if !self.fast {
            return None;
        }
        // A new line has no exemplar until one is read, nor checks to make.
        self.has_exemplar = false;
        self.unchecked = false;
        let b = l.b;
        let (entry, next) = if b.get(self.start) == Some(&b'#') {
            let meta = fast::meta(b, self.start, format)?;
            self.family = meta.family;
            self.text = meta.text;
            if let MetaKind::Type(t) = meta.kind {
                self.mtype = t;
            }
            (meta.kind.entry(), meta.next)
        } else {
            (Entry::Series, fast::sample(b, format, self)?)
        };
        // As after the line's last token, which ends with the newline.
        l.start = next - 1;
        l.i = next;
        l.state = State::Init;
        Some(entry)
    }

    /// Whether the current series passes the checks the token machines
    /// make on every sample: valid UTF-8, no label name twice.
    #[inline(always)]
    pub fn series_is_valid(&mut self) -> bool {
        let names = self.labels.iter().map(|l| l.0);
        check_utf8(self.series).is_ok() && find_duplicate(names, &mut self.scratch).is_none()
    }

    /// The token machines' error for invalid UTF-8 in the current series
    /// (`b` is the body), if it has any.
    pub fn utf8_error(&self, b: &[u8]) -> Option<ParseError> {
        let bad = check_utf8(self.series).err()?;
        let msg = "invalid UTF-8 label value".to_string();
        Some(ParseError::at(b, self.start + bad, msg))
    }

    /// The token machines' error for a label name the current series has
    /// twice, if it has one; Prometheus 2.42 counts that line as a sample.
    pub fn duplicate_error(&mut self, b: &[u8]) -> Option<ParseError> {
        let dup = find_duplicate(self.labels.iter().map(|l| l.0), &mut self.scratch)?;
        let msg = format!("label name \"{}\" is not unique", checked_str(dup));
        Some(ParseError::at(b, self.start, msg).counted_as_sample())
    }

    /// Makes the series checks the fast recognizers deferred for the
    /// current sample, if they did: the error is the one the token machine
    /// gives for the line, as the recognizer accepted everything else of it.
    pub fn check_deferred(&mut self, b: &[u8]) -> Result<(), ParseError> {
        if !std::mem::take(&mut self.unchecked) {
            return Ok(());
        }
        match self.utf8_error(b).or_else(|| self.duplicate_error(b)) {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// Raw series bytes, timestamp in milliseconds, and value.
    pub fn series(&self) -> (&'a [u8], Option<i64>, f64) {
        (self.series, self.ts, self.val)
    }

    /// Family name and type.
    pub fn metric_type(&self) -> (&'a [u8], MetricType) {
        (self.family, self.mtype)
    }

    /// Whether the current series names label `name` in its label set,
    /// even with an empty value (which [`Self::labels`] leaves out).
    pub fn exposes_label(&self, name: &str) -> bool {
        self.labels.iter().any(|&(n, _)| n == name.as_bytes())
    }

    /// The labels of the current sample, `__name__` included, values
    /// unescaped.
    pub fn labels(&self, builder: &mut LabelsBuilder) -> Labels {
        build_labels(
            builder,
            checked_str(self.name),
            self.labels
                .iter()
                .map(|&(n, v)| (checked_str(n), unescape(checked_str(v), true))),
        )
    }
}
