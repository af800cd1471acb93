#!/bin/sh
# Installs what `make dist` and `make dist-test` need, from Debian's packages
# only, and prints the folder of the cross rustc. Idempotent: a second run
# installs nothing and downloads nothing.
#
# - apt: the gcc cross linkers and C libraries for aarch64 and armhf (ring
#   builds C and assembly), qemu-user-static to run the ARM binaries,
#   dpkg-dev, man-db and systemd's tools for packaging and
#   `systemd-analyze verify`, and the LLVM library Debian's rustc links.
# - The cross compiler: Debian's rustc-web with its standard library for
#   x86_64, aarch64 and armv7 (libstd-rust-web-dev:<arch>), downloaded as
#   .debs and unpacked with `dpkg -x` into target/dist/toolchain. The foreign
#   architectures' package lists go to a private apt state under that folder,
#   so the machine's dpkg architectures and apt lists are left as they were
#   (multiarch could not install the armhf std beside newer amd64 libraries).
#   rustc finds its sysroot from where it lies, so no flag points at it.
#
# `scripts/dist-toolchain.sh vm` instead installs what `make dist-vm-test`
# needs and prints its folder: qemu-system-aarch64 and cpio from apt, and
# Debian's arm64 kernel image and busybox-static:arm64, downloaded and
# unpacked with `dpkg -x` into target/dist/toolchain/vm.
set -eu
cd "$(dirname "$0")/.."
root="$PWD/target/dist/toolchain"

SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive

apt_install() {
    missing=""
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
    done
    [ -z "$missing" ] && return 0
    # Keep package scripts from starting daemons on this machine.
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
    $SUDO chmod +x /usr/sbin/policy-rc.d
    $SUDO apt-get update -qq
    # shellcheck disable=SC2086
    $SUDO apt-get install -y -qq --no-install-recommends $missing >&2
    $SUDO rm -f /usr/sbin/policy-rc.d
}

apt_install gcc-aarch64-linux-gnu libc6-dev-arm64-cross \
    gcc-arm-linux-gnueabihf libc6-dev-armhf-cross \
    qemu-user-static dpkg-dev man-db systemd curl util-linux
command -v python3 >/dev/null || apt_install python3

# A private apt state that knows the three architectures' package lists.
state="$root/apt"
mkdir -p "$state/lists/partial" "$state/cache/archives/partial"
private_apt() {
    cmd=$1
    shift
    $cmd -o Dir::State::Lists="$state/lists" -o Dir::Cache="$state/cache" \
        -o APT::Architectures::=amd64 -o APT::Architectures::=arm64 \
        -o APT::Architectures::=armhf -o Debug::NoLocking=1 "$@"
}
[ -n "$(ls "$state/lists"/*_Packages* 2>/dev/null)" ] || private_apt apt-get update -qq

# vm_parts: the arm64 kernel and busybox for dist-vm-test, in $root/vm.
vm_parts() {
    apt_install qemu-system-arm cpio
    vm="$root/vm"
    kernel=$(private_apt apt-cache depends linux-image-arm64:arm64 |
        sed -n 's/^ *Depends: \(linux-image-[0-9].*-arm64\):arm64$/\1/p' | head -n 1)
    [ -n "$kernel" ] || { echo "dist-toolchain: no arm64 kernel in Debian's lists" >&2; exit 1; }
    if [ ! -e "$vm/$kernel.complete" ]; then
        rm -rf "$vm" && mkdir -p "$vm/debs"
        (cd "$vm/debs" && private_apt apt-get download -qq "$kernel:arm64" busybox-static:arm64)
        for deb in "$vm/debs"/*.deb; do
            dpkg -x "$deb" "$vm/root"
        done
        # Only the kernel image is booted; its modules are not needed.
        rm -rf "$vm/debs" "$vm/root/lib/modules"
        touch "$vm/$kernel.complete"
    fi
    echo "$vm"
}
if [ "${1:-}" = vm ]; then
    vm_parts
    exit 0
fi
version=$(private_apt apt-cache policy rustc-web | sed -n 's/^ *Candidate: //p')
[ -n "$version" ] || { echo "dist-toolchain: no rustc-web in Debian's lists" >&2; exit 1; }
series=$(echo "$version" | sed 's/^\([0-9]*\.[0-9]*\).*/\1/')
sysroot="$root/rustc-$version"

if [ ! -e "$sysroot/.complete" ]; then
    debs="$root/debs-$version"
    mkdir -p "$debs"
    (cd "$debs" && private_apt apt-get download -qq \
        "rustc-web=$version" \
        "libstd-rust-web-$series:amd64=$version" "libstd-rust-web-dev:amd64=$version" \
        "libstd-rust-web-$series:arm64=$version" "libstd-rust-web-dev:arm64=$version" \
        "libstd-rust-web-$series:armhf=$version" "libstd-rust-web-dev:armhf=$version")
    rm -rf "$sysroot"
    for deb in "$debs"/*.deb; do
        dpkg -x "$deb" "$sysroot"
    done
    rm -rf "$debs"
    touch "$sysroot/.complete"
fi

# The LLVM library rustc-web links is an ordinary amd64 library package.
llvm=$(private_apt apt-cache depends "libstd-rust-web-$series:amd64=$version" |
    sed -n 's/^ *Depends: \(libllvm[0-9.]*\)$/\1/p' | head -n 1)
[ -n "$llvm" ] && apt_install "$llvm"

echo "$sysroot"
