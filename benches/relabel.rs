//! Relabeling cost per label set: a typical five-rule
//! `metric_relabel_configs` on scraped series, and Prometheus's own
//! `BenchmarkRelabel` "kubernetes" target relabeling (22 rules, 30 labels).
//!
//! `cargo bench --bench relabel`

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use edgescrape::labels::{Labels, LabelsBuilder};
use edgescrape::relabel::{process, process_builder, RelabelConfig};

const METRIC_RELABEL: &str = r#"
- source_labels: [__name__]
  regex: go_gc_.*|go_memstats_.*|process_.*
  action: drop
- regex: pod_template_hash|controller_revision_hash
  action: labeldrop
- source_labels: [instance]
  regex: '([^:]+):\d+'
  target_label: host
- regex: label_(.+)
  action: labelmap
- source_labels: [__name__]
  regex: http_.*|node_.*|up
  action: keep
"#;

/// Prometheus's `model/relabel` BenchmarkRelabel "kubernetes" rules.
const KUBERNETES: &str = r#"
- source_labels: [__meta_kubernetes_pod_container_port_name]
  regex: .*-metrics
  action: keep
- source_labels: [__meta_kubernetes_pod_label_name]
  action: drop
  regex: ""
- source_labels: [__meta_kubernetes_pod_phase]
  regex: Succeeded|Failed
  action: drop
- source_labels: [__meta_kubernetes_pod_annotation_prometheus_io_scrape]
  regex: "false"
  action: drop
- source_labels: [__meta_kubernetes_pod_annotation_prometheus_io_scheme]
  target_label: __scheme__
  regex: (https?)
  replacement: $1
  action: replace
- source_labels: [__meta_kubernetes_pod_annotation_prometheus_io_path]
  target_label: __metrics_path__
  regex: (.+)
  replacement: $1
  action: replace
- source_labels: [__address__, __meta_kubernetes_pod_annotation_prometheus_io_port]
  target_label: __address__
  regex: (.+?)(\:\d+)?;(\d+)
  replacement: $1:$3
  action: replace
- regex: __meta_kubernetes_pod_annotation_prometheus_io_param_(.+)
  replacement: __param_$1
  action: labelmap
- regex: __meta_kubernetes_pod_label_prometheus_io_label_(.+)
  action: labelmap
- regex: __meta_kubernetes_pod_annotation_prometheus_io_label_(.+)
  action: labelmap
- source_labels: [__meta_kubernetes_namespace, __meta_kubernetes_pod_label_name]
  separator: /
  target_label: job
  replacement: $1
  action: replace
- source_labels: [__meta_kubernetes_namespace]
  target_label: namespace
  action: replace
- source_labels: [__meta_kubernetes_pod_name]
  target_label: pod
  action: replace
- source_labels: [__meta_kubernetes_pod_container_name]
  target_label: container
  action: replace
- source_labels: [__meta_kubernetes_pod_name, __meta_kubernetes_pod_container_name, __meta_kubernetes_pod_container_port_name]
  separator: ':'
  target_label: instance
  action: replace
- target_label: cluster
  replacement: dev-us-central-0
- source_labels: [__meta_kubernetes_namespace]
  regex: hosted-grafana
  action: drop
- source_labels: [__address__]
  target_label: __tmp_hash
  modulus: 3
  action: hashmod
- source_labels: [__tmp_hash]
  regex: ^0$
  action: keep
- regex: __tmp_hash
  action: labeldrop
"#;

const KUBERNETES_TARGET: &[(&str, &str)] = &[
    ("__address__", "10.132.183.40:80"),
    ("__meta_kubernetes_namespace", "loki-boltdb-shipper"),
    (
        "__meta_kubernetes_pod_annotation_promtail_loki_boltdb_shipper_hash",
        "50523b9759094a144adcec2eae0aa4ad",
    ),
    (
        "__meta_kubernetes_pod_annotationpresent_promtail_loki_boltdb_shipper_hash",
        "true",
    ),
    ("__meta_kubernetes_pod_container_init", "false"),
    ("__meta_kubernetes_pod_container_name", "promtail"),
    ("__meta_kubernetes_pod_container_port_name", "http-metrics"),
    ("__meta_kubernetes_pod_container_port_number", "80"),
    ("__meta_kubernetes_pod_container_port_protocol", "TCP"),
    ("__meta_kubernetes_pod_controller_kind", "DaemonSet"),
    (
        "__meta_kubernetes_pod_controller_name",
        "promtail-loki-boltdb-shipper",
    ),
    ("__meta_kubernetes_pod_host_ip", "10.128.0.178"),
    ("__meta_kubernetes_pod_ip", "10.132.183.40"),
    (
        "__meta_kubernetes_pod_label_controller_revision_hash",
        "555b77cd7d",
    ),
    (
        "__meta_kubernetes_pod_label_name",
        "promtail-loki-boltdb-shipper",
    ),
    ("__meta_kubernetes_pod_label_pod_template_generation", "45"),
    (
        "__meta_kubernetes_pod_labelpresent_controller_revision_hash",
        "true",
    ),
    ("__meta_kubernetes_pod_labelpresent_name", "true"),
    (
        "__meta_kubernetes_pod_labelpresent_pod_template_generation",
        "true",
    ),
    (
        "__meta_kubernetes_pod_name",
        "promtail-loki-boltdb-shipper-jgtr7",
    ),
    (
        "__meta_kubernetes_pod_node_name",
        "gke-dev-us-central-0-main-n2s8-2-14d53341-9hkr",
    ),
    ("__meta_kubernetes_pod_phase", "Running"),
    ("__meta_kubernetes_pod_ready", "true"),
    (
        "__meta_kubernetes_pod_uid",
        "4c586419-7f6c-448d-aeec-ca4fa5b05e60",
    ),
    ("__metrics_path__", "/metrics"),
    ("__scheme__", "http"),
    ("__scrape_interval__", "15s"),
    ("__scrape_timeout__", "10s"),
    ("job", "kubernetes-pods"),
];

fn rules(yaml: &str) -> Vec<RelabelConfig> {
    serde_yaml::from_str(yaml).expect("the bench rules are valid")
}

/// Scraped series as a node/app exporter exposes them, with the target
/// labels attached: one kept and rewritten, one dropped by the first rule,
/// one dropped by the last.
fn series() -> Vec<(&'static str, Labels, bool)> {
    let target = [("instance", "10.0.3.17:9100"), ("job", "node")];
    let set = |pairs: &[(&'static str, &'static str)]| {
        Labels::from_pairs(pairs.iter().chain(target.iter()).copied())
    };
    vec![
        (
            "kept",
            set(&[
                ("__name__", "http_requests_total"),
                ("code", "200"),
                ("handler", "/api/v1/query"),
                ("method", "get"),
                ("label_app", "checkout"),
                ("label_team", "payments"),
                ("pod_template_hash", "7d9f8b6c5"),
            ]),
            true,
        ),
        (
            "dropped_first",
            set(&[("__name__", "go_gc_duration_seconds"), ("quantile", "0.75")]),
            false,
        ),
        (
            "dropped_last",
            set(&[
                ("__name__", "grpc_server_handled_total"),
                ("grpc_code", "OK"),
                ("grpc_method", "Check"),
                ("grpc_service", "grpc.health.v1.Health"),
                ("grpc_type", "unary"),
            ]),
            false,
        ),
    ]
}

fn bench_metric_relabel(c: &mut Criterion) {
    let rules = rules(METRIC_RELABEL);
    let mut group = c.benchmark_group("metric_relabel_5_rules");
    for (name, labels, kept) in series() {
        assert_eq!(process(&labels, &rules).is_some(), kept, "{name}");
        group.bench_function(format!("process/{name}"), |b| {
            b.iter(|| process(black_box(&labels), black_box(&rules)))
        });
        let mut builder = LabelsBuilder::default();
        group.bench_function(format!("process_builder/{name}"), |b| {
            b.iter(|| {
                builder.reset(black_box(&labels));
                process_builder(&mut builder, black_box(&rules)) && !builder.is_empty()
            })
        });
    }
    group.finish();
}

fn bench_kubernetes(c: &mut Criterion) {
    let rules = rules(KUBERNETES);
    let labels = Labels::from_pairs(KUBERNETES_TARGET.iter().copied());
    let mut group = c.benchmark_group("prometheus_kubernetes_22_rules");
    group.bench_function("process", |b| {
        b.iter(|| process(black_box(&labels), black_box(&rules)))
    });
    group.finish();
}

criterion_group!(benches, bench_metric_relabel, bench_kubernetes);
criterion_main!(benches);
