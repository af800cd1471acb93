//! Prometheus remote_write 1.0, as Prometheus's `storage/remote`.
//!
//! A [`QueueManager`] per `remote_write` URL tails the WAL and ships every
//! committed sample, surviving receiver outages and restarts: its progress
//! is saved per shard after every acknowledged batch, so after a crash it
//! resumes exactly where the receiver stopped acknowledging (see
//! [`progress`]).
//!
//! The request body is built by [`codec::WriteRequestEncoder`] (protobuf
//! `WriteRequest`, snappy block format, messages in [`prompb`]) and posted
//! by [`WriteClient`], which sorts failures into retryable (connection
//! errors, 5xx, 429) and final (other 4xx), through the same
//! [`crate::http_client::HttpClient`] (auth, TLS, proxy, redirects) that
//! scraping uses.

pub mod codec;
pub mod progress;
pub mod prompb;
mod queue_manager;
mod shards;
mod stats;
mod write_client;

pub use queue_manager::{position_file, queue_name, QueueError, QueueManager};
pub use stats::{DropReason, QueueStats};
pub use write_client::{retry_after, StoreError, WriteClient, USER_AGENT};
