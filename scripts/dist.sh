#!/bin/sh
# `make dist`: release binaries and .deb packages for x86_64, aarch64 and
# armv7 (hard-float) Linux, in target/dist/:
#
#   edgescrape-VERSION-TRIPLE        the stripped binary
#   edgescrape_VERSION_DEBARCH.deb   binary, systemd unit, config, man page
#
# x86_64 is built by the project's own toolchain; the ARM targets by
# Debian's rustc-web and its standard library for them, which
# scripts/dist-toolchain.sh installs. That rustc is newer than the
# crate's rust-version, so the ARM builds use the main Cargo.lock unchanged
# (`--locked`: a build that would need to change it fails instead).
# Each target builds in a target folder of its own, target/dist/TRIPLE.
#
# DIST_TARGETS (default: all three triples) picks the targets.
set -eu
cd "$(dirname "$0")/.."
out="$PWD/target/dist"
targets=${DIST_TARGETS:-"x86_64-unknown-linux-gnu aarch64-unknown-linux-gnu armv7-unknown-linux-gnueabihf"}
version=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n 1)
sysroot=$(sh scripts/dist-toolchain.sh)

# The gcc triple that links and compiles C for a Rust target.
gcc_triple() {
    case $1 in
    x86_64-unknown-linux-gnu) echo x86_64-linux-gnu ;;
    aarch64-unknown-linux-gnu) echo aarch64-linux-gnu ;;
    armv7-unknown-linux-gnueabihf) echo arm-linux-gnueabihf ;;
    *) echo "dist: unknown target $1" >&2 && exit 1 ;;
    esac
}

build() {
    triple=$1
    dir="$out/$triple"
    if [ "$triple" = x86_64-unknown-linux-gnu ]; then
        CARGO_TARGET_DIR="$dir" cargo build --release --locked --target "$triple"
    else
        gnu=$(gcc_triple "$triple")
        env_triple=$(echo "$triple" | tr 'a-z-' 'A-Z_')
        under=$(echo "$triple" | tr '-' '_')
        env CARGO_TARGET_DIR="$dir" \
            RUSTC="$sysroot/usr/bin/rustc" RUSTDOC="$sysroot/usr/bin/rustdoc" \
            LD_LIBRARY_PATH="$sysroot/usr/lib/x86_64-linux-gnu" \
            "CARGO_TARGET_${env_triple}_LINKER=$gnu-gcc" \
            "CC_$under=$gnu-gcc" "AR_$under=$gnu-ar" \
            cargo build --release --locked --target "$triple"
    fi
    cp "$dir/$triple/release/edgescrape" "$out/edgescrape-$version-$triple"
}

for triple in $targets; do
    build "$triple"
    sh scripts/dist-deb.sh "$out/edgescrape-$version-$triple" "$triple" "$version" "$out"
done
ls -l "$out"/edgescrape-"$version"-* "$out"/edgescrape_"$version"_*.deb
