//! The remote_write 1.0 protobuf messages (`prompb/remote.proto` and
//! `prompb/types.proto` of Prometheus), written by hand with prost derives so
//! the build needs no `protoc`. Only the fields remote_write 1.0 sends with
//! float samples are declared; a decoder skips the others (exemplars,
//! histograms) as unknown fields.
//!
//! The send path does not build these structs: [`super::codec`] writes the
//! same wire format straight from queued samples without allocating. They
//! are the reference for that encoder's tests and what a receiver decodes.

/// `prometheus.WriteRequest`: one remote_write request body.
#[derive(Clone, PartialEq, prost::Message)]
pub struct WriteRequest {
    /// The series and their samples.
    #[prost(message, repeated, tag = "1")]
    pub timeseries: Vec<TimeSeries>,
    /// Metric metadata (field 2 is reserved upstream).
    #[prost(message, repeated, tag = "3")]
    pub metadata: Vec<MetricMetadata>,
}

/// `prometheus.TimeSeries`: a label set and samples in timestamp order.
#[derive(Clone, PartialEq, prost::Message)]
pub struct TimeSeries {
    /// Labels, sorted by name.
    #[prost(message, repeated, tag = "1")]
    pub labels: Vec<Label>,
    /// Samples, oldest first.
    #[prost(message, repeated, tag = "2")]
    pub samples: Vec<Sample>,
}

/// `prometheus.Label`: one name/value pair.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct Label {
    /// The label name.
    #[prost(string, tag = "1")]
    pub name: String,
    /// The label value.
    #[prost(string, tag = "2")]
    pub value: String,
}

/// `prometheus.Sample`: a float value at a millisecond timestamp.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Sample {
    /// The value (stale markers keep their NaN bit pattern).
    #[prost(double, tag = "1")]
    pub value: f64,
    /// Milliseconds since the Unix epoch.
    #[prost(int64, tag = "2")]
    pub timestamp: i64,
}

/// `prometheus.MetricMetadata`: type, help and unit of a metric family.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct MetricMetadata {
    /// `MetricType` enum: 0 unknown, 1 counter, 2 gauge, 3 histogram,
    /// 4 gaugehistogram, 5 summary, 6 info, 7 stateset.
    #[prost(int32, tag = "1")]
    pub metric_type: i32,
    /// The family name.
    #[prost(string, tag = "2")]
    pub metric_family_name: String,
    /// HELP text.
    #[prost(string, tag = "4")]
    pub help: String,
    /// UNIT.
    #[prost(string, tag = "5")]
    pub unit: String,
}
