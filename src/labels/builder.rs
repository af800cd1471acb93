//! [`LabelsBuilder`]: changed copies of a label set, as Prometheus's `labels.Builder`.

use super::Labels;

/// Builds a new [`Labels`] from a base set with labels set and deleted.
///
/// As Prometheus's `labels.Builder`, it keeps the base set untouched and
/// records changes beside it: labels set (in the order they were first set)
/// and base labels deleted. Setting an empty value deletes the label. `get`,
/// `iter` and `labels` see the result of every change so far; `range` walks
/// the labels in Prometheus's `Builder.Range` order, which relabeling's
/// `labelmap` depends on.
///
/// A builder can be [`reset`](LabelsBuilder::reset) and reused: it keeps its
/// buffers, so a steady-state relabel loop allocates only the final set.
#[derive(Debug, Clone, Default)]
pub struct LabelsBuilder {
    base: Labels,
    /// `deleted[i]`: base label `i` is deleted. As long as the base set.
    deleted: Vec<bool>,
    /// Labels set, sorted by name, names unique, values non-empty.
    added: Vec<Added>,
    /// Names and values of `added`, appended as they are set.
    text: String,
    /// Order stamp for the next new entry of `added`.
    next_order: u32,
}

#[derive(Debug, Clone, Copy)]
struct Added {
    name: Span,
    value: Span,
    /// When the name was first set since it was last absent: `range` order.
    order: u32,
}

#[derive(Debug, Clone, Copy)]
struct Span {
    start: usize,
    end: usize,
}

impl LabelsBuilder {
    /// A builder starting from `base`.
    pub fn new(base: &Labels) -> LabelsBuilder {
        let mut builder = LabelsBuilder::default();
        builder.reset(base);
        builder
    }

    /// Starts over from `base`, keeping allocated capacity.
    pub fn reset(&mut self, base: &Labels) {
        self.base = base.clone();
        self.deleted.clear();
        self.deleted.resize(base.len(), false);
        self.added.clear();
        self.text.clear();
        self.next_order = 0;
    }

    /// Sets `name` to `value`; an empty value deletes the label.
    pub fn set(&mut self, name: &str, value: &str) -> &mut Self {
        if value.is_empty() {
            return self.del(name);
        }
        let value = self.push_text(value);
        match self.find_added(name) {
            Ok(i) => self.added[i].value = value,
            Err(i) => {
                let name = self.push_text(name);
                let order = self.next_order;
                self.next_order = self.next_order.wrapping_add(1);
                self.added.insert(i, Added { name, value, order });
            }
        }
        self
    }

    /// Deletes `name` if present.
    pub fn del(&mut self, name: &str) -> &mut Self {
        if let Ok(i) = self.find_added(name) {
            self.added.remove(i);
        }
        if let Some(i) = self.base.iter().position(|l| l.name == name) {
            self.deleted[i] = true;
        }
        self
    }

    /// Keeps only the labels for which `keep(name, value)` is true.
    pub fn retain(&mut self, mut keep: impl FnMut(&str, &str) -> bool) -> &mut Self {
        let (added, text) = (&self.added, &self.text);
        for (i, label) in self.base.iter().enumerate() {
            let shadowed = added
                .binary_search_by(|a| span(text, a.name).cmp(label.name))
                .is_ok();
            if !shadowed && !self.deleted[i] && !keep(label.name, label.value) {
                self.deleted[i] = true;
            }
        }
        let base = &self.base;
        let deleted = &mut self.deleted;
        self.added.retain(|a| {
            let (name, value) = (span(text, a.name), span(text, a.value));
            let kept = keep(name, value);
            if !kept {
                // As Prometheus's Del: a base label it replaced goes too.
                if let Some(i) = base.iter().position(|l| l.name == name) {
                    deleted[i] = true;
                }
            }
            kept
        });
        self
    }

    /// The current value of `name`, or `""` when absent (Prometheus semantics).
    pub fn get(&self, name: &str) -> &str {
        if let Ok(i) = self.find_added(name) {
            return span(&self.text, self.added[i].value);
        }
        for (i, label) in self.base.iter().enumerate() {
            match label.name.cmp(name) {
                std::cmp::Ordering::Less => {}
                std::cmp::Ordering::Equal if !self.deleted[i] => return label.value,
                _ => break,
            }
        }
        ""
    }

    /// Iterates the current labels in name order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> + Clone {
        Merge {
            base: self.base.iter().enumerate().peekable(),
            deleted: &self.deleted,
            added: self.added.iter().peekable(),
            text: &self.text,
        }
    }

    /// Calls `f` on every current label in the order of Prometheus's
    /// `Builder.Range`: surviving base labels by name, then labels set
    /// since the last reset in the order they were first set.
    pub fn range(&self, mut f: impl FnMut(&str, &str)) {
        for (i, label) in self.base.iter().enumerate() {
            let shadowed = self.find_added(label.name).is_ok();
            if !shadowed && !self.deleted[i] {
                f(label.name, label.value);
            }
        }
        let mut by_order: Vec<&Added> = self.added.iter().collect();
        by_order.sort_unstable_by_key(|a| a.order);
        for a in by_order {
            f(span(&self.text, a.name), span(&self.text, a.value));
        }
    }

    /// Whether the working set is empty.
    pub fn is_empty(&self) -> bool {
        self.iter().next().is_none()
    }

    /// The label set built so far.
    pub fn labels(&self) -> Labels {
        Labels::from_sorted(self.iter())
    }

    fn find_added(&self, name: &str) -> Result<usize, usize> {
        self.added
            .binary_search_by(|a| span(&self.text, a.name).cmp(name))
    }

    fn push_text(&mut self, s: &str) -> Span {
        let start = self.text.len();
        self.text.push_str(s);
        Span {
            start,
            end: self.text.len(),
        }
    }
}

fn span(text: &str, span: Span) -> &str {
    text.get(span.start..span.end).unwrap_or_default()
}

/// Name-order merge of the surviving base labels and the added ones; an
/// added label replaces a base label of the same name.
#[derive(Clone)]
struct Merge<'a> {
    base: std::iter::Peekable<std::iter::Enumerate<super::Iter<'a>>>,
    deleted: &'a [bool],
    added: std::iter::Peekable<std::slice::Iter<'a, Added>>,
    text: &'a str,
}

impl<'a> Iterator for Merge<'a> {
    type Item = (&'a str, &'a str);

    fn next(&mut self) -> Option<(&'a str, &'a str)> {
        loop {
            let added = self.added.peek().map(|a| span(self.text, a.name));
            let Some(&(i, label)) = self.base.peek() else {
                let a = self.added.next()?;
                return Some((span(self.text, a.name), span(self.text, a.value)));
            };
            match added.map(|name| label.name.cmp(name)) {
                Some(std::cmp::Ordering::Greater) | Some(std::cmp::Ordering::Equal) => {
                    if added == Some(label.name) {
                        self.base.next();
                    }
                    let a = self.added.next()?;
                    return Some((span(self.text, a.name), span(self.text, a.value)));
                }
                _ => {
                    self.base.next();
                    if !self.deleted.get(i).copied().unwrap_or(false) {
                        return Some((label.name, label.value));
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(b: &LabelsBuilder) -> Vec<(String, String)> {
        b.iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn set_del_get() {
        let base = Labels::from_pairs([("a", "1"), ("c", "3")]);
        let mut b = base.builder();
        b.set("b", "2").set("a", "9").del("c").set("d", "");
        assert_eq!(b.get("a"), "9");
        assert_eq!(b.get("c"), "");
        assert_eq!(b.labels(), Labels::from_pairs([("a", "9"), ("b", "2")]));
        assert_eq!(base.len(), 2, "base is unchanged");
    }

    #[test]
    fn deleting_a_replaced_base_label_removes_both() {
        let base = Labels::from_pairs([("a", "1"), ("b", "2")]);
        let mut b = base.builder();
        b.set("a", "9").del("a");
        assert_eq!(b.get("a"), "");
        assert_eq!(b.labels(), Labels::from_pairs([("b", "2")]));
        b.set("a", "7");
        assert_eq!(b.labels(), Labels::from_pairs([("a", "7"), ("b", "2")]));
    }

    #[test]
    fn iter_merges_in_name_order() {
        let base = Labels::from_pairs([("b", "1"), ("d", "2"), ("f", "3")]);
        let mut b = base.builder();
        b.set("g", "x")
            .set("a", "x")
            .set("d", "y")
            .set("c", "z")
            .del("f");
        let want = [("a", "x"), ("b", "1"), ("c", "z"), ("d", "y"), ("g", "x")];
        let want: Vec<_> = want
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect();
        assert_eq!(pairs(&b), want);
        assert!(!b.is_empty());
        b.retain(|_, _| false);
        assert!(b.is_empty());
        assert_eq!(b.labels(), Labels::empty());
    }

    #[test]
    fn range_is_base_then_first_set_order() {
        let base = Labels::from_pairs([("b", "1"), ("d", "2")]);
        let mut b = base.builder();
        b.set("z", "1").set("a", "2").set("d", "3").set("z", "4");
        let mut seen = Vec::new();
        b.range(|n, v| seen.push(format!("{n}={v}")));
        assert_eq!(seen, ["b=1", "z=4", "a=2", "d=3"]);
    }

    #[test]
    fn retain_sees_current_values_and_reset_starts_over() {
        let base = Labels::from_pairs([("a", "1"), ("b", "2"), ("c", "3")]);
        let mut b = base.builder();
        b.set("b", "keep").set("x", "drop");
        b.retain(|_, v| v != "drop" && v != "1");
        assert_eq!(b.labels(), Labels::from_pairs([("b", "keep"), ("c", "3")]));
        b.reset(&Labels::from_pairs([("q", "1")]));
        assert_eq!(b.labels(), Labels::from_pairs([("q", "1")]));
        assert_eq!(b.get("b"), "");
    }

    proptest::proptest! {
        /// Any sequence of sets and deletes agrees with a plain map.
        #[test]
        fn agrees_with_a_map(
            base in proptest::collection::btree_map("[a-e]", "[xy]{1,2}", 0..5),
            ops in proptest::collection::vec(("[a-f]", "[xyz]{0,2}"), 0..12),
        ) {
            let mut model = base.clone();
            let mut b = Labels::from_pairs(&base).builder();
            for (name, value) in &ops {
                b.set(name, value);
                if value.is_empty() {
                    model.remove(name);
                } else {
                    model.insert(name.clone(), value.clone());
                }
                let name = name.as_str();
                proptest::prop_assert_eq!(b.get(name), model.get(name).map_or("", |v| v.as_str()));
            }
            proptest::prop_assert_eq!(b.labels(), Labels::from_pairs(&model));
            let mut ranged = Vec::new();
            b.range(|n, v| ranged.push((n.to_string(), v.to_string())));
            ranged.sort();
            let want: Vec<_> = model.into_iter().collect();
            proptest::prop_assert_eq!(ranged, want);
        }
    }
}
