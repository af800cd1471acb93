#!/bin/sh
# Builds the edgescrape .deb for one architecture with dpkg-deb:
#   scripts/dist-deb.sh BINARY TRIPLE VERSION OUTDIR
# The package holds the binary, the systemd unit, /etc/edgescrape/prometheus.yml
# and /etc/default/edgescrape as conffiles, the man page and a copyright file
# listing the licenses of every crate linked into the binary.
set -eu
cd "$(dirname "$0")/.."
binary=$1
triple=$2
version=$3
outdir=$4

case $triple in
x86_64-unknown-linux-gnu) arch=amd64 objdump=objdump ;;
aarch64-unknown-linux-gnu) arch=arm64 objdump=aarch64-linux-gnu-objdump ;;
armv7-unknown-linux-gnueabihf) arch=armhf objdump=arm-linux-gnueabihf-objdump ;;
*) echo "dist-deb: unknown target $triple" >&2 && exit 1 ;;
esac

# Depends: the shared libraries the binary needs, and the newest glibc
# symbol version it uses.
depends() {
    glibc=$($objdump -T "$binary" | grep -o 'GLIBC_[0-9.]*' | sed 's/GLIBC_//' | sort -V | tail -n 1)
    deps="libc6 (>= $glibc)"
    for lib in $($objdump -p "$binary" | sed -n 's/^ *NEEDED *//p'); do
        case $lib in
        libc.so.6 | libm.so.6 | libpthread.so.0 | libdl.so.2 | librt.so.1 | ld-linux*) ;;
        libgcc_s.so.1) deps="$deps, libgcc-s1" ;;
        *) echo "dist-deb: $binary needs $lib, which has no package name here" >&2 && exit 1 ;;
        esac
    done
    echo "$deps"
}

root="$outdir/deb-$arch"
rm -rf "$root"
install -d "$root/DEBIAN" "$root/usr/bin" "$root/lib/systemd/system" "$root/etc/edgescrape" \
    "$root/etc/default" "$root/usr/share/man/man1" "$root/usr/share/doc/edgescrape"
install -m 0755 "$binary" "$root/usr/bin/edgescrape"
install -m 0644 packaging/edgescrape.service "$root/lib/systemd/system/edgescrape.service"
install -m 0644 packaging/prometheus.yml "$root/etc/edgescrape/prometheus.yml"
install -m 0644 packaging/default "$root/etc/default/edgescrape"
gzip -9n <packaging/edgescrape.1 >"$root/usr/share/man/man1/edgescrape.1.gz"
python3 scripts/dist-copyright.py "$triple" >"$root/usr/share/doc/edgescrape/copyright"
for script in postinst prerm postrm; do
    install -m 0755 "packaging/deb/$script" "$root/DEBIAN/$script"
done
printf '/etc/edgescrape/prometheus.yml\n/etc/default/edgescrape\n' >"$root/DEBIAN/conffiles"
cat >"$root/DEBIAN/control" <<EOF
Package: edgescrape
Version: $version
Architecture: $arch
Maintainer: edgescrape developers <edgescrape@localhost>
Section: net
Priority: optional
Depends: $(depends)
Installed-Size: $(du -sk --exclude=DEBIAN "$root" | cut -f1)
Description: Prometheus-compatible scraper for edge and embedded boxes
 edgescrape reads a standard prometheus.yml, scrapes the targets in it on
 their intervals, keeps every sample in a durable write-ahead log on local
 disk, serves the data locally and ships it to a central time-series
 database with Prometheus remote_write. It runs as a hardened systemd
 service under a dynamic user, storing its WAL in /var/lib/edgescrape.
EOF
dpkg-deb --root-owner-group -Zxz --build "$root" "$outdir/edgescrape_${version}_$arch.deb" >/dev/null
rm -rf "$root"
