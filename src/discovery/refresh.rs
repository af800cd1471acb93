//! Prometheus's `discovery/refresh`: a [`Discoverer`] that asks a
//! [`Refresh`] for the full list of groups at start and then every
//! interval. A refresh that fails is logged and sends nothing, so the last
//! good groups stay.

use std::time::Duration;

use crossbeam_channel::{select, tick, Receiver, Sender};
use log::{debug, warn};

use super::{Discoverer, TargetGroup};

/// One mechanism's way of listing its groups.
pub(crate) trait Refresh: Send {
    /// Every group the mechanism knows now, including empty groups for
    /// sources that vanished since the last success.
    fn refresh(&mut self) -> Result<Vec<TargetGroup>, String>;
}

/// Runs a [`Refresh`] every `interval` on the discoverer's thread.
pub(crate) struct RefreshDiscovery<R> {
    /// `http`, `dns`: names the mechanism in logs.
    pub(crate) mechanism: &'static str,
    /// The job, for logs.
    pub(crate) job: String,
    /// Time between refreshes; more than zero (config validation).
    pub(crate) interval: Duration,
    pub(crate) refresher: R,
}

impl<R: Refresh> Discoverer for RefreshDiscovery<R> {
    fn run(mut self: Box<Self>, up: Sender<Vec<TargetGroup>>, stop: Receiver<()>) {
        debug!(job = self.job.as_str(), mechanism = self.mechanism; "Discovery started");
        let ticker = tick(self.interval);
        loop {
            match self.refresher.refresh() {
                Ok(groups) => {
                    if up.send(groups).is_err() {
                        break;
                    }
                }
                Err(e) => warn!(
                    job = self.job.as_str(), mechanism = self.mechanism, err:% = e;
                    "Unable to refresh target groups, keeping the last good ones"
                ),
            }
            select! {
                recv(stop) -> _ => break,
                recv(ticker) -> _ => {}
            }
        }
        debug!(job = self.job.as_str(), mechanism = self.mechanism; "Discovery stopped");
    }
}
