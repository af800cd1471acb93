//! `/relabel-debug` and the relabeling walk-through that `/service-discovery`
//! also uses: a label set passed through a job's `relabel_configs` or
//! `metric_relabel_configs` one rule at a time, showing after each rule
//! what it added, changed or removed, and the rule that dropped the set, as
//! vmagent's and Prometheus 3's relabel debug views do. The page is a plain
//! form (`/relabel-debug?job=node&kind=relabel_configs&labels={...}`).

use std::fmt::Write;

use crate::labels::Labels;
use crate::relabel::{process_builder, RelabelConfig};
use crate::storage::selector::{parse_selector, MatchKind};
use crate::web::layout::{self, url_encode};
use crate::web::page::escape;
use crate::web::views::JobRelabelRules;

/// The set after one rule: `None` when the rule dropped it.
pub type StepResult = Option<Labels>;

/// Applies `rules` one at a time; stops after the rule that drops the set.
pub fn steps(labels: &Labels, rules: &[RelabelConfig]) -> Vec<StepResult> {
    let mut builder = labels.builder();
    let mut out = Vec::with_capacity(rules.len());
    for rule in rules {
        if !process_builder(&mut builder, std::slice::from_ref(rule)) {
            out.push(None);
            break;
        }
        out.push(Some(builder.labels()));
    }
    out
}

/// Index of the rule that drops `labels`, if one does.
pub fn dropping_rule(labels: &Labels, rules: &[RelabelConfig]) -> Option<usize> {
    steps(labels, rules).iter().position(Option::is_none)
}

/// A rule as YAML, as it stands in the config.
pub fn rule_yaml(rule: &RelabelConfig) -> String {
    crate::config::to_yaml_string(rule).unwrap_or_else(|e| format!("# cannot show the rule: {e}\n"))
}

/// A label set in selector syntax, `{a="b", c="d"}`, readable back by the
/// form.
pub fn selector_text(labels: &Labels) -> String {
    let pairs: Vec<String> = labels
        .iter()
        .map(|l| {
            let value = l
                .value
                .replace('\\', "\\\\")
                .replace('"', "\\\"")
                .replace('\n', "\\n");
            format!("{}=\"{value}\"", l.name)
        })
        .collect();
    format!("{{{}}}", pairs.join(", "))
}

/// The link that opens this page on `labels` for `job`.
pub fn link(job: &str, kind: &str, labels: &Labels) -> String {
    format!(
        "/relabel-debug?job={}&amp;kind={kind}&amp;labels={}",
        escape(&url_encode(job)),
        escape(&url_encode(&selector_text(labels)))
    )
}

/// Parses the form's label set: selector syntax with `=` only.
fn parse_labels(text: &str) -> Result<Labels, String> {
    let matchers = parse_selector(text).map_err(|e| format!("labels: {e}"))?;
    if let Some(m) = matchers.iter().find(|m| m.kind != MatchKind::Equal) {
        return Err(format!(
            "labels: {m} is a matcher, not a label; use name=\"value\""
        ));
    }
    Ok(Labels::from_pairs(
        matchers.iter().map(|m| (m.name.as_str(), m.value.as_str())),
    ))
}

/// Renders the page for the form values `job`, `kind` and `labels`.
pub fn render(
    app_name: &str,
    jobs: &[JobRelabelRules],
    job: &str,
    kind: &str,
    labels: &str,
) -> String {
    let metric = kind == "metric_relabel_configs";
    let mut out = String::from("<form method=\"get\" action=\"/relabel-debug\" id=\"relabel-form\"><div class=\"filters\"><label>Job <select name=\"job\">");
    for j in jobs {
        let selected = if j.job == job { " selected" } else { "" };
        let _ = write!(out, "<option{selected}>{}</option>", escape(&j.job));
    }
    let _ = write!(
        out,
        "</select></label> <label>Rules <select name=\"kind\"><option{}>relabel_configs</option><option{}>metric_relabel_configs</option></select></label></div>\
         <textarea name=\"labels\" rows=\"4\" placeholder='{{__address__=\"10.0.0.1:9100\", job=\"node\"}}'>{}</textarea>\
         <button type=\"submit\">Relabel</button></form>",
        if metric { "" } else { " selected" },
        if metric { " selected" } else { "" },
        escape(labels)
    );
    if !labels.trim().is_empty() {
        match walk(jobs, job, metric, labels) {
            Ok(html) => out.push_str(&html),
            Err(msg) => {
                let _ = write!(
                    out,
                    "<div class=\"box bad\" id=\"relabel-error\">{}</div>",
                    escape(&msg)
                );
            }
        }
    }
    layout::render(app_name, "relabel debug", "/relabel-debug", &out)
}

fn walk(jobs: &[JobRelabelRules], job: &str, metric: bool, text: &str) -> Result<String, String> {
    let rules = jobs
        .iter()
        .find(|j| j.job == job)
        .ok_or_else(|| format!("no job {job:?} in the running config"))?;
    let rules = if metric {
        &rules.metric_relabel_configs
    } else {
        &rules.relabel_configs
    };
    let input = parse_labels(text)?;
    let mut out = String::from("<table id=\"relabel-steps\"><thead><tr><th>#</th><th>Rule</th><th>Labels after the rule</th></tr></thead><tbody>");
    let _ = write!(
        out,
        "<tr class=\"step\"><td>0</td><td class=\"muted\">input</td><td>{}</td></tr>",
        diff(&input, &input)
    );
    let mut before = input.clone();
    let results = steps(&input, rules);
    for (i, (rule, after)) in rules.iter().zip(&results).enumerate() {
        let cell = match after {
            Some(after) => diff(&before, after),
            None => "<span class=\"health down\">DROPPED</span>".to_string(),
        };
        let _ = write!(
            out,
            "<tr class=\"step\"><td>{}</td><td><pre>{}</pre></td><td>{cell}</td></tr>",
            i + 1,
            escape(&rule_yaml(rule))
        );
        if let Some(after) = after {
            before = after.clone();
        }
    }
    out.push_str("</tbody></table>");
    let outcome = match results.last() {
        _ if rules.is_empty() => "No rules: the labels pass unchanged.".to_string(),
        Some(None) => format!("Dropped by rule {}.", results.len()),
        _ => "Kept.".to_string(),
    };
    let _ = write!(
        out,
        "<p class=\"box\" id=\"relabel-outcome\">{}</p>",
        escape(&outcome)
    );
    Ok(out)
}

/// Labels of `after`, those new or changed since `before` marked added,
/// and those gone shown struck through.
fn diff(before: &Labels, after: &Labels) -> String {
    let mut out = String::new();
    for l in after.iter() {
        let class = if before.get(l.name) == Some(l.value) {
            "label"
        } else {
            "label added"
        };
        let _ = write!(
            out,
            "<span class=\"{class}\">{}=&quot;{}&quot;</span>",
            escape(l.name),
            escape(l.value)
        );
    }
    for l in before.iter().filter(|l| !after.has(l.name)) {
        let _ = write!(
            out,
            "<span class=\"label removed\">{}=&quot;{}&quot;</span>",
            escape(l.name),
            escape(l.value)
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(yaml: &str) -> Vec<RelabelConfig> {
        serde_yaml::from_str(yaml).expect("rules")
    }

    #[test]
    fn steps_stop_at_the_dropping_rule() {
        let r = rules(
            "- {source_labels: [a], target_label: b}\n- {source_labels: [b], regex: x, action: drop}\n- {target_label: c, replacement: never}",
        );
        let input = Labels::from_pairs([("a", "x")]);
        let s = steps(&input, &r);
        assert_eq!(s.len(), 2);
        assert_eq!(s[0], Some(Labels::from_pairs([("a", "x"), ("b", "x")])));
        assert_eq!(s[1], None);
        assert_eq!(dropping_rule(&input, &r), Some(1));
        assert_eq!(dropping_rule(&Labels::from_pairs([("a", "y")]), &r), None);
    }

    #[test]
    fn the_form_round_trips_labels_and_escapes_them() {
        let l = Labels::from_pairs([("a", "q\"<b>\\"), ("job", "n")]);
        assert_eq!(parse_labels(&selector_text(&l)), Ok(l));
        assert!(parse_labels("{a=~\"x\"}")
            .unwrap_err()
            .contains("not a label"));
        let jobs = vec![JobRelabelRules {
            job: "n".to_string(),
            relabel_configs: rules("- {source_labels: [a], target_label: b}"),
            metric_relabel_configs: Vec::new(),
        }];
        let html = render(
            "edgescrape",
            &jobs,
            "n",
            "relabel_configs",
            "{a=\"<script>\"}",
        );
        assert!(!html.contains("<script>"), "{html}");
        assert!(
            html.contains("<span class=\"label added\">b=&quot;&lt;script&gt;&quot;</span>"),
            "{html}"
        );
        assert!(html.contains("Kept."));
    }
}
