//! Prometheus remote_write 1.0, as Prometheus's `storage/remote`.
//!
//! The request body is built by [`codec::WriteRequestEncoder`] (protobuf
//! `WriteRequest`, snappy block format, messages in [`prompb`]) and posted
//! by [`WriteClient`], which sorts failures into retryable (connection
//! errors, 5xx, 429) and final (other 4xx). [`client::HttpClient`] turns an
//! `HttpClientConfig` into a blocking ureq agent with auth and TLS.

pub mod client;
pub mod codec;
pub mod prompb;
mod write_client;

pub use write_client::{retry_after, StoreError, WriteClient, USER_AGENT};
