//! `scrape_config_files`, as Prometheus's `Config.GetScrapeConfigs`: each
//! glob (relative to the main file) names files holding only a
//! `scrape_configs` list; their jobs are validated against the main file's
//! `global`, their relative paths taken from their own folder, and appended
//! after the main file's jobs in glob, then file-name, order.
//!
//! A job name used twice is refused at the second use, naming where the
//! first one is. The files are read again on every load, so a reload of the
//! main file picks up their changes (and new or removed files).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::yaml::{Node, Pos, Step};
use super::{de, parse_yaml, read_config, validate, Config, ConfigError, ScrapeConfig};

/// A file of `scrape_config_files`: nothing but `scrape_configs`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ScrapeConfigsFile {
    #[serde(default)]
    scrape_configs: Vec<ScrapeConfig>,
}

/// Where a job was first defined: file, line and column of its name.
struct JobSite {
    file: PathBuf,
    pos: Pos,
}

impl std::fmt::Display for JobSite {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let p = self.pos;
        write!(f, "{}:{}:{}", self.file.display(), p.line, p.column)
    }
}

fn job_name_path(i: usize) -> Vec<Step> {
    vec![
        Step::Key("scrape_configs".to_string()),
        Step::Index(i),
        Step::Key("job_name".to_string()),
    ]
}

/// Reads the files `config.scrape_config_files` match and appends their
/// jobs to `config.scrape_configs`; `main` and `root` are the main file and
/// its tree, for the sites of its jobs.
pub(super) fn load(config: &mut Config, main: &Path, root: &Node) -> Result<(), ConfigError> {
    let mut sites: HashMap<String, JobSite> = HashMap::new();
    for (i, sc) in config.scrape_configs.iter().enumerate() {
        let pos = root.value_pos(&job_name_path(i));
        let file = main.to_path_buf();
        sites.insert(sc.job_name.clone(), JobSite { file, pos });
    }
    for (index, pattern) in config.scrape_config_files.clone().iter().enumerate() {
        for file in matching_files(pattern, main, root, index)? {
            let jobs = load_one(&file, config, &mut sites)?;
            config.scrape_configs.extend(jobs);
        }
    }
    Ok(())
}

/// The files `pattern` matches, sorted, as Go's `filepath.Glob`.
fn matching_files(
    pattern: &str,
    main: &Path,
    root: &Node,
    index: usize,
) -> Result<Vec<PathBuf>, ConfigError> {
    let path = [
        Step::Key("scrape_config_files".to_string()),
        Step::Index(index),
    ];
    let refuse = |message: String| {
        let field = super::yaml::path_string(&path);
        ConfigError::at(main, Some(root.value_pos(&path)), field, message)
    };
    let paths = glob::glob(pattern).map_err(|e| {
        refuse(format!(
            "error retrieving scrape config files for {pattern:?}: {e}"
        ))
    })?;
    let mut files = Vec::new();
    for entry in paths {
        let file = entry.map_err(|e| {
            refuse(format!(
                "error retrieving scrape config files for {pattern:?}: {e}"
            ))
        })?;
        files.push(file);
    }
    files.sort();
    Ok(files)
}

/// Loads one scrape config file and checks its job names against `sites`.
fn load_one(
    file: &Path,
    config: &Config,
    sites: &mut HashMap<String, JobSite>,
) -> Result<Vec<ScrapeConfig>, ConfigError> {
    let text = read_config(file)?;
    let root = parse_yaml(&text, file)?;
    let at = |pos, field, message| ConfigError::at(file, pos, field, message);
    validate::scrape_config_refusals(&root).map_err(|r| at(Some(r.pos), r.field, r.message))?;
    let parsed: ScrapeConfigsFile = de::from_node(&root).map_err(|e| {
        let field = e.field();
        at(e.pos, field, e.message)
    })?;
    let mut jobs = parsed.scrape_configs;
    validate::check_scrape_configs(&mut jobs, &config.global, &root)
        .map_err(|r| at(Some(r.pos), r.field, r.message))?;
    for (i, sc) in jobs.iter_mut().enumerate() {
        let path = job_name_path(i);
        let pos = root.value_pos(&path);
        if let Some(first) = sites.get(&sc.job_name) {
            return Err(at(
                Some(pos),
                super::yaml::path_string(&path),
                format!(
                    "found multiple scrape configs with job name {:?}, first found in {first}",
                    sc.job_name
                ),
            ));
        }
        let site = JobSite {
            file: file.to_path_buf(),
            pos,
        };
        sites.insert(sc.job_name.clone(), site);
        sc.set_directory(file.parent().unwrap_or(Path::new("")));
    }
    Ok(jobs)
}
