//! edgescrape: Prometheus's scrape module rebuilt for edge and embedded boxes.
//!
//! A sample flows `config` → `discovery` → `scrape` → `storage`, and `web`
//! shows the state. The principal types are [`config::Config`],
//! [`labels::Labels`], [`relabel::RelabelConfig`] and [`storage::Appendable`].
//! There is no async runtime: every stage runs on named OS threads that wait
//! on crossbeam channels.

#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod cli;
pub mod config;
pub mod discovery;
pub mod http_client;
pub mod labels;
pub mod logging;
pub mod promql;
pub mod relabel;
pub mod scrape;
pub mod storage;
pub mod textparse;
pub mod web;
