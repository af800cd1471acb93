#!/bin/sh
# CPU per sample of a release binary, counted in instructions by callgrind
# (repeatable whatever else the machine does):
#   scripts/dist-measure.sh BINARY [SECONDS]
#
# Five jobs scrape one loopback target every second: Python's http.server
# serving the first node_exporter body of benches/fixtures (507 samples,
# 512 with the report series). After 15 s of warm-up the counters are
# dumped and zeroed; after SECONDS (default 40) more they are dumped again,
# and the instructions of that window are divided by the samples appended
# in it (prometheus_tsdb_head_samples_appended_total). Startup is left out.
set -eu
cd "$(dirname "$0")/.."
binary=$(realpath "$1")
seconds=${2:-40}
work=$(mktemp -d)
pids=""
cleanup() {
    for pid in $pids; do kill -9 "$pid" 2>/dev/null || true; done
    rm -rf "$work"
}
trap cleanup EXIT

# shellcheck source=scripts/dist-lib.sh
. scripts/dist-lib.sh
appended() {
    curl -sf "http://127.0.0.1:$port/metrics" |
        sed -n 's/^prometheus_tsdb_head_samples_appended_total \([0-9.e+]*\)$/\1/p'
}

zcat benches/fixtures/node_exporter_9x15s.prom.gz |
    awk '/^# edgescrape-fixture scrape/ { n++; next } n == 1' >"$work/metrics.txt"
target_port=$(free_port)
port=$(free_port)
python3 -m http.server --bind 127.0.0.1 --directory "$work" "$target_port" >/dev/null 2>&1 &
pids="$pids $!"
{
    printf 'global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n'
    for job in 1 2 3 4 5; do
        printf '  - job_name: node%s\n    metrics_path: /metrics.txt\n' "$job"
        printf '    static_configs:\n      - targets: ["127.0.0.1:%s"]\n' "$target_port"
    done
} >"$work/config.yml"
valgrind --tool=callgrind --callgrind-out-file="$work/callgrind.%p" "$binary" \
    --config.file="$work/config.yml" --storage.path="$work/data" \
    --web.listen-address="127.0.0.1:$port" >"$work/log" 2>&1 &
pid=$!
pids="$pids $pid"
sleep 15
callgrind_control -d "$pid" >/dev/null 2>&1
first=$(appended)
sleep "$seconds"
callgrind_control -d "$pid" >/dev/null 2>&1
last=$(appended)
kill -TERM "$pid"
wait "$pid" || true
dump=$(ls "$work"/callgrind.*.2 2>/dev/null || ls "$work"/callgrind.* | sort | sed -n 3p)
instructions=$(sed -n 's/^summary: *//p' "$dump")
python3 -c "
s = $last - $first
print(f'samples={s:.0f} instructions={$instructions} instructions_per_sample={$instructions / s:.0f}')"
