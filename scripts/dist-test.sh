#!/bin/sh
# `make dist-test`: runs what `make dist` built.
#
# 1. Each ARM binary under Debian's qemu-user-static: it scrapes a target on
#    loopback (scripts/dist-target.py: a metrics text, plain and gzipped),
#    answers /-/ready and queries with the scraped values, is killed with
#    SIGKILL, starts again on the same WAL and answers a query at a time
#    before the kill from what it replayed, then stops cleanly on SIGTERM.
#    The aarch64 binary runs the same checks once more on a whole emulated
#    aarch64 machine (scripts/dist-vm-test.sh: qemu-system-aarch64 booting
#    Debian's arm64 kernel), where its system calls meet a real aarch64 kernel.
# 2. Each binary's regular expressions know Go's Unicode classes (general
#    categories, scripts, case folding) and refuse the ones Go lacks.
# 3. Each .deb: architecture, contents and conffiles checked; the binary's
#    ELF machine checked against the architecture.
# 4. The x86_64 .deb installed with dpkg -i, its unit checked by
#    `systemd-analyze verify`, its ExecStart run as the unit would run it
#    (unprivileged user, no capabilities, no new privileges, the state
#    directory made for that user, a private network namespace) until it
#    has scraped, reloaded on SIGHUP and stopped; then the package removed
#    and purged.
#
# Every process this starts is stopped by its PID; nothing else is touched.
set -eu
cd "$(dirname "$0")/.."
sh scripts/dist-toolchain.sh >/dev/null
out="$PWD/target/dist"
version=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n 1)
work=$(mktemp -d "$out/test.XXXXXX")
pids=""

cleanup() {
    for pid in $pids; do
        kill -9 "$pid" 2>/dev/null || true
    done
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# shellcheck source=scripts/dist-lib.sh
. scripts/dist-lib.sh

fail() {
    echo "dist-test: FAILED: $*" >&2
    for log in "$work"/*.log; do
        [ -e "$log" ] && { echo "--- $log" >&2; tail -n 20 "$log" >&2; }
    done
    exit 1
}

# query_value PORT QUERY [TIME]: the value and timestamp of the query's first sample.
query_value() {
    curl -sf --get "http://127.0.0.1:$1/api/v1/query" --data-urlencode "query=$2" \
        ${3:+--data-urlencode "time=$3"} |
        python3 -c 'import json, sys
r = json.load(sys.stdin)["data"]["result"]
print(r[0]["value"][1], r[0]["value"][0]) if r else sys.exit(1)'
}

# has_value PORT QUERY VALUE [TIME]
has_value() {
    [ "$(query_value "$1" "$2" ${4:+"$4"} | cut -d' ' -f1)" = "$3" ]
}

# The loopback target: a metrics text served plain and gzipped.
printf '# TYPE dist_test_value gauge\ndist_test_value{box="pi"} 42\n' >"$work/metrics.txt"
target_port=$(free_port)
python3 scripts/dist-target.py "$target_port" "$work/metrics.txt" >"$work/target.log" 2>&1 &
pids="$pids $!"
wait_until 10 "the metrics are served" curl -sf "http://127.0.0.1:$target_port/metrics"

# run_under_qemu TRIPLE QEMU GNU: the scrape, kill, replay and stop of one ARM binary.
run_under_qemu() {
    triple=$1 qemu=$2 gnu=$3
    binary="$out/edgescrape-$version-$triple"
    [ -x "$binary" ] || fail "$binary is missing: run make dist first"
    data="$work/$triple-data" log="$work/$triple.log"
    port=$(free_port)
    cat >"$work/$triple.yml" <<EOF
global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: loopback
    static_configs:
      - targets: ["127.0.0.1:$target_port"]
  - job_name: gzip
    metrics_path: /metrics.gz
    static_configs:
      - targets: ["127.0.0.1:$target_port"]
EOF
    start() {
        "$qemu" -L "/usr/$gnu" "$binary" --config.file="$work/$triple.yml" \
            --storage.path="$data" --web.listen-address="127.0.0.1:$port" >>"$log" 2>&1 &
        pid=$!
        pids="$pids $pid"
    }
    start
    wait_until 180 "$triple: /-/ready under $qemu" curl -sf "http://127.0.0.1:$port/-/ready"
    wait_until 60 "$triple: dist_test_value scraped" has_value "$port" 'dist_test_value{job="loopback"}' 42
    wait_until 30 "$triple: dist_test_value scraped gzipped" has_value "$port" 'dist_test_value{job="gzip"}' 42
    wait_until 30 "$triple: up is 1" has_value "$port" 'up{job="loopback"}' 1
    before=$(query_value "$port" 'dist_test_value{job="loopback"}' | cut -d' ' -f2)
    kill -9 "$pid"
    wait "$pid" 2>/dev/null || true
    start
    wait_until 180 "$triple: /-/ready after SIGKILL" curl -sf "http://127.0.0.1:$port/-/ready"
    has_value "$port" 'dist_test_value{job="loopback"}' 42 "$before" || fail "$triple: no replayed sample at $before"
    grep -q 'replayed_samples=[1-9]' "$log" || fail "$triple: the log shows no replayed samples"
    kill -TERM "$pid"
    wait "$pid" || fail "$triple: exit status $? after SIGTERM"
    echo "dist-test: $triple under $qemu: scraped (plain and gzip), answered /-/ready and queries, replayed its WAL after SIGKILL, stopped on SIGTERM"
}

run_under_qemu aarch64-unknown-linux-gnu qemu-aarch64-static aarch64-linux-gnu
run_under_qemu armv7-unknown-linux-gnueabihf qemu-arm-static arm-linux-gnueabihf
# The same checks for aarch64 on a whole emulated machine (scripts/dist-vm-test.sh).
sh scripts/dist-vm-test.sh || fail "aarch64 under qemu-system-aarch64"

# check_regex_classes TRIPLE [QEMU GNU]: check-config of a relabel regex
# with Go's Unicode classes passes; one with a class Go lacks fails clearly.
check_regex_classes() {
    binary="$out/edgescrape-$version-$1"
    set -- "$1" ${2:+"$2" -L "/usr/$3"}
    triple=$1
    shift
    rule() {
        printf 'scrape_configs:\n  - job_name: a\n    metric_relabel_configs:\n      - {source_labels: [x], regex: "%s", action: keep}\n' "$1" >"$work/regex.yml"
    }
    rule '\\pL+\\p{Greek}\\P{Lu}(?i)σ'
    "$@" "$binary" check-config "$work/regex.yml" >"$work/regex.log" 2>&1 ||
        fail "$triple: a regex with Go's Unicode classes was refused: $(cat "$work/regex.log")"
    rule '\\p{Alphabetic}'
    if "$@" "$binary" check-config "$work/regex.yml" >"$work/regex.log" 2>&1; then
        fail "$triple: \\p{Alphabetic}, which Go's regexp lacks, was accepted"
    fi
    grep -q 'Unicode property not found' "$work/regex.log" || fail "$triple: unclear refusal: $(cat "$work/regex.log")"
    echo "dist-test: $triple: regex Unicode classes as Go's (categories, scripts, folding; no boolean properties)"
}

check_regex_classes x86_64-unknown-linux-gnu
check_regex_classes aarch64-unknown-linux-gnu qemu-aarch64-static aarch64-linux-gnu
check_regex_classes armv7-unknown-linux-gnueabihf qemu-arm-static arm-linux-gnueabihf

# check_deb DEBARCH ELF_MACHINE: the package's fields, files and binary.
check_deb() {
    deb="$out/edgescrape_${version}_$1.deb"
    [ -f "$deb" ] || fail "$deb is missing: run make dist first"
    [ "$(dpkg-deb -f "$deb" Architecture)" = "$1" ] || fail "$deb: architecture is not $1"
    [ "$(dpkg-deb -f "$deb" Version)" = "$version" ] || fail "$deb: version is not $version"
    dpkg-deb -c "$deb" | awk '{print $6}' >"$work/contents"
    for path in ./usr/bin/edgescrape ./lib/systemd/system/edgescrape.service \
        ./etc/edgescrape/prometheus.yml ./etc/default/edgescrape \
        ./usr/share/man/man1/edgescrape.1.gz ./usr/share/doc/edgescrape/copyright; do
        grep -qx "$path" "$work/contents" || fail "$deb lacks $path"
    done
    rm -rf "$work/deb" && dpkg-deb -e "$deb" "$work/deb"
    grep -qx /etc/edgescrape/prometheus.yml "$work/deb/conffiles" || fail "$deb: prometheus.yml is not a conffile"
    rm -rf "$work/deb" && dpkg-deb -x "$deb" "$work/deb"
    readelf -h "$work/deb/usr/bin/edgescrape" | grep -q "Machine: *$2" || fail "$deb: the binary is not $2"
    grep -q '^License: Apache-2.0$' "$work/deb/usr/share/doc/edgescrape/copyright" || fail "$deb: copyright"
    echo "dist-test: $deb: $1, $2 binary, unit, conffiles, man page and copyright present"
}

check_deb amd64 'Advanced Micro Devices X86-64'
check_deb arm64 AArch64
check_deb armhf ARM

sh scripts/dist-test-deb.sh "$out/edgescrape_${version}_amd64.deb"
