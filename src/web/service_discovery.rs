//! `/service-discovery`: per job, every discovered target with its labels
//! before and after `relabel_configs`, and every dropped target with the
//! rule that dropped it (found by replaying the job's rules on its
//! discovered labels) and a link to walk through the rules step by step.
//! Server-rendered, no script.

use std::collections::BTreeMap;
use std::fmt::Write;

use crate::web::layout::{self, labels_html};
use crate::web::page::escape;
use crate::web::relabel_debug::{dropping_rule, link, rule_yaml};
use crate::web::views::{DroppedTargetInfo, JobRelabelRules, TargetInfo};

/// Renders the page.
pub fn render(
    app_name: &str,
    active: &[TargetInfo],
    dropped: &[DroppedTargetInfo],
    rules: &[JobRelabelRules],
) -> String {
    let mut jobs: Vec<&str> = rules.iter().map(|r| r.job.as_str()).collect();
    let mut extra: BTreeMap<&str, ()> = BTreeMap::new();
    for pool in active
        .iter()
        .map(|t| t.scrape_pool.as_str())
        .chain(dropped.iter().map(|t| t.scrape_pool.as_str()))
    {
        if !jobs.contains(&pool) {
            extra.insert(pool, ());
        }
    }
    jobs.extend(extra.into_keys());
    let mut out = String::with_capacity(8192);
    if jobs.is_empty() {
        out.push_str("<p class=\"muted\">No scrape jobs.</p>");
    }
    for job in jobs {
        let job_rules = rules.iter().find(|r| r.job == job);
        let act: Vec<&TargetInfo> = active.iter().filter(|t| t.scrape_pool == job).collect();
        let drop: Vec<&DroppedTargetInfo> =
            dropped.iter().filter(|t| t.scrape_pool == job).collect();
        let _ = write!(
            out,
            "<section class=\"sd-job\" id=\"pool-{id}\" data-job=\"{j}\"><h2>{j} <span class=\"muted\">({a} active, {d} dropped)</span></h2>\
             <table><thead><tr><th style=\"width:45%\">Discovered labels</th><th>Target labels</th></tr></thead><tbody>",
            id = escape(&layout::url_encode(job)),
            j = escape(job),
            a = act.len(),
            d = drop.len()
        );
        for t in &act {
            let _ = write!(
                out,
                "<tr class=\"sd-active\"><td>{}<br><a class=\"muted\" href=\"{}\">step through relabeling</a></td><td>{}</td></tr>",
                labels_html(&t.discovered_labels),
                link(job, "relabel_configs", &t.discovered_labels),
                labels_html(&t.labels)
            );
        }
        for t in &drop {
            let why = match job_rules.and_then(|r| dropping_rule(&t.discovered_labels, &r.relabel_configs).map(|i| (i, &r.relabel_configs[i]))) {
                Some((i, rule)) => format!(
                    "dropped by rule {} of relabel_configs:<pre>{}</pre>",
                    i + 1,
                    escape(&rule_yaml(rule))
                ),
                None => "dropped after relabeling (no rule drops it now: the rules may have changed, or no address was left)".to_string(),
            };
            let _ = write!(
                out,
                "<tr class=\"sd-dropped\"><td>{}<br><a class=\"muted\" href=\"{}\">step through relabeling</a></td><td class=\"error\">{why}</td></tr>",
                labels_html(&t.discovered_labels),
                link(job, "relabel_configs", &t.discovered_labels),
            );
        }
        out.push_str("</tbody></table></section>");
    }
    layout::render(app_name, "service discovery", "/service-discovery", &out)
}
