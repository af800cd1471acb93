#!/bin/sh
# `make dist-vm-test`: the aarch64 binary on a whole emulated aarch64 machine,
# a second means beside dist-test's qemu-user runs. Under qemu-system-aarch64
# the binary's system calls, threads, futexes, signals and file I/O go to
# Debian's real arm64 kernel instead of qemu-user's translation of them to
# this machine's kernel.
#
# The guest boots Debian's arm64 kernel from an initramfs holding only
# busybox-static (arm64), the binary and its C libraries from the cross
# sysroot. Its init (below) serves a metrics file with busybox httpd on
# loopback, starts edgescrape on it, waits for /-/ready and the scraped
# value, reads how much CPU the idle process uses, kills it with SIGKILL,
# starts it again on the same WAL, asks for the value at a time before the
# kill (only a replayed sample can answer), stops it with SIGTERM and powers
# off. The verdict and the figures come back on the serial console.
#
# Needs `make dist` first (DIST_TARGETS=aarch64-unknown-linux-gnu is enough).
# DIST_VM_CPU picks the emulated CPU (default cortex-a72, as a Raspberry Pi 4;
# cortex-a53 is a Pi 3, max has every feature qemu knows, LSE atomics too).
set -eu
cd "$(dirname "$0")/.."
vm=$(sh scripts/dist-toolchain.sh vm)
out="$PWD/target/dist"
version=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n 1)
binary="$out/edgescrape-$version-aarch64-unknown-linux-gnu"
sysroot=/usr/aarch64-linux-gnu
[ -x "$binary" ] || { echo "dist-vm-test: $binary is missing: run make dist first" >&2; exit 1; }
work=$(mktemp -d "$out/vm-test.XXXXXX")
trap 'rm -rf "$work"' EXIT

# The initramfs: busybox, the binary, its interpreter and libraries.
root="$work/root"
mkdir -p "$root/bin" "$root/lib" "$root/etc" "$root/www"
cp "$vm/root/bin/busybox" "$root/bin/busybox"
cp "$binary" "$root/bin/edgescrape"
interpreter=$(readelf -l "$binary" | sed -n 's/.*Requesting program interpreter: \(.*\)]$/\1/p')
mkdir -p "$root$(dirname "$interpreter")"
cp -L "$sysroot/lib/$(basename "$interpreter")" "$root$interpreter"
for lib in $(readelf -d "$binary" | sed -n 's/.*Shared library: \[\(.*\)\]$/\1/p'); do
    cp -L "$sysroot/lib/$lib" "$root/lib/$lib"
done
printf '# TYPE dist_vm_value gauge\ndist_vm_value{box="vm"} 42\n' >"$root/www/metrics.txt"
cat >"$root/etc/edgescrape.yml" <<'EOF'
global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: loopback
    metrics_path: /metrics.txt
    static_configs:
      - targets: ["127.0.0.1:8080"]
EOF
cat >"$root/init" <<'EOF'
#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin
mkdir -p /proc /sys /dev /tmp /data
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
ip link set lo up
httpd -p 127.0.0.1:8080 -h /www

fail() {
    echo "DIST-VM-RESULT: FAILED: $*"
    tail -n 20 /tmp/edgescrape.log
    poweroff -f
}
get() { wget -q -O - "http://127.0.0.1:9099$1" 2>/dev/null; }
ready() { get /-/ready >/dev/null; }
scraped() { get "/api/v1/query?query=dist_vm_value" | grep -q '"42"\]'; }
# wait_for SECONDS WHAT COMMAND...
wait_for() {
    n=$1 what=$2
    shift 2
    while ! "$@"; do
        n=$((n - 1))
        [ "$n" -gt 0 ] || fail "$what"
        sleep 1
    done
}
start() {
    started=$(date +%s)
    /bin/edgescrape --config.file=/etc/edgescrape.yml --storage.path=/data \
        --web.listen-address=127.0.0.1:9099 >>/tmp/edgescrape.log 2>&1 &
    pid=$!
}
# cpu_ticks: user + system clock ticks the process has used.
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$pid/stat"; }

echo "dist-vm: $(uname -sm), kernel $(uname -r), $(nproc) CPUs"
start
wait_for 300 "/-/ready" ready
echo "dist-vm: ready $(($(date +%s) - started)) s after start"
wait_for 120 "the scraped value 42" scraped
ticks=$(cpu_ticks)
sleep 10
echo "dist-vm: idle CPU over 10 s: $(($(cpu_ticks) - ticks)) ticks of 100 per second"
before=$(get "/api/v1/query?query=dist_vm_value" | sed -n 's/.*"value":\[\([0-9.]*\),.*/\1/p')
kill -9 "$pid"
wait "$pid"
start
wait_for 300 "/-/ready after SIGKILL" ready
echo "dist-vm: ready $(($(date +%s) - started)) s after the restart on the WAL"
get "/api/v1/query?query=dist_vm_value&time=$before" | grep -q '"42"\]' ||
    fail "no replayed sample at $before"
grep -q 'replayed_samples=[1-9]' /tmp/edgescrape.log || fail "the log shows no replayed samples"
kill -TERM "$pid"
wait "$pid" || fail "exit status $? after SIGTERM"
echo "DIST-VM-RESULT: PASSED: scraped, answered /-/ready and a query, replayed its WAL after SIGKILL, stopped on SIGTERM"
poweroff -f
EOF
chmod +x "$root/init"
(cd "$root" && find . | cpio -o -H newc --quiet | gzip -1) >"$work/initrd.gz"

kernel=$(ls "$vm"/root/boot/vmlinuz-*)
start=$(date +%s)
timeout 900 qemu-system-aarch64 -M virt -cpu "${DIST_VM_CPU:-cortex-a72}" -smp 2 -m 1024 -nographic -no-reboot -nic none \
    -kernel "$kernel" -initrd "$work/initrd.gz" \
    -append "console=ttyAMA0 rdinit=/init panic=-1 quiet" >"$work/console.log" 2>&1 || true
grep '^dist-vm:' "$work/console.log" | tr -d '\r'
if ! grep -q '^DIST-VM-RESULT: PASSED' "$work/console.log"; then
    echo "dist-vm-test: FAILED; the guest's console:" >&2
    tail -n 40 "$work/console.log" >&2
    exit 1
fi
grep '^DIST-VM-RESULT' "$work/console.log" | tr -d '\r'
echo "dist-vm-test: $binary under qemu-system-aarch64: passed in $(($(date +%s) - start)) s"
