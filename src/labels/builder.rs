//! [`LabelsBuilder`]: changed copies of a label set, as Prometheus's `labels.Builder`.

use super::Labels;

/// Builds a new [`Labels`] from a base set with labels set and deleted.
///
/// Setting an empty value deletes the label, as in Prometheus. The builder
/// keeps its working set sorted, so `get` and `labels` see the result of
/// every change so far. It can be reset and reused to keep its capacity.
#[derive(Debug, Clone, Default)]
pub struct LabelsBuilder {
    /// Working set, sorted by name, names unique, values non-empty.
    pairs: Vec<(String, String)>,
}

impl LabelsBuilder {
    /// A builder starting from `base`.
    pub fn new(base: &Labels) -> LabelsBuilder {
        let mut builder = LabelsBuilder { pairs: Vec::new() };
        builder.reset(base);
        builder
    }

    /// Starts over from `base`, keeping allocated capacity.
    pub fn reset(&mut self, base: &Labels) {
        self.pairs.clear();
        self.pairs.extend(
            base.iter()
                .map(|l| (l.name.to_string(), l.value.to_string())),
        );
    }

    /// Sets `name` to `value`; an empty value deletes the label.
    pub fn set(&mut self, name: &str, value: &str) -> &mut Self {
        if value.is_empty() {
            return self.del(name);
        }
        match self.find(name) {
            Ok(i) => {
                self.pairs[i].1.clear();
                self.pairs[i].1.push_str(value);
            }
            Err(i) => self.pairs.insert(i, (name.to_string(), value.to_string())),
        }
        self
    }

    /// Deletes `name` if present.
    pub fn del(&mut self, name: &str) -> &mut Self {
        if let Ok(i) = self.find(name) {
            self.pairs.remove(i);
        }
        self
    }

    /// Keeps only the labels for which `keep(name, value)` is true.
    pub fn retain(&mut self, mut keep: impl FnMut(&str, &str) -> bool) -> &mut Self {
        self.pairs.retain(|(n, v)| keep(n, v));
        self
    }

    /// The current value of `name`, or `""` when absent (Prometheus semantics).
    pub fn get(&self, name: &str) -> &str {
        match self.find(name) {
            Ok(i) => &self.pairs[i].1,
            Err(_) => "",
        }
    }

    /// Iterates the current labels in name order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> + Clone {
        self.pairs.iter().map(|(n, v)| (n.as_str(), v.as_str()))
    }

    /// Whether the working set is empty.
    pub fn is_empty(&self) -> bool {
        self.pairs.is_empty()
    }

    /// The label set built so far.
    pub fn labels(&self) -> Labels {
        Labels::from_sorted(self.iter())
    }

    fn find(&self, name: &str) -> Result<usize, usize> {
        self.pairs.binary_search_by(|(n, _)| n.as_str().cmp(name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
