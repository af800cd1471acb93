#!/bin/sh
# Installs the real programs the tests and benchmarks run against, from
# Debian's packages: prometheus 2.42, victoria-metrics (with vmagent),
# prometheus-node-exporter, nginx, chromium, tinyproxy (proxy tests) and
# dnsmasq (DNS SD tests), nginx's stream module (a TLS front for an https
# proxy in tests), plus procps (kill) and
# util-linux (prlimit) that tests call. Services are not started by
# the packages; each test starts what it needs on 127.0.0.1 and stops it.
set -eu

want="prometheus victoria-metrics prometheus-node-exporter nginx-light chromium procps util-linux strace tinyproxy dnsmasq libnginx-mod-stream"
missing=""
for p in $want; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0

SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
# Keep package scripts from starting daemons on this machine. A
# policy-rc.d the machine already has is left as it is; the one written
# here is removed again, even when the install fails.
if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
    $SUDO chmod +x /usr/sbin/policy-rc.d
    trap '$SUDO rm -f /usr/sbin/policy-rc.d' EXIT
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends $missing
# Nothing is stopped afterwards: policy-rc.d kept the packages from
# starting anything, and a process found by name may be one this script
# never started (an operator's own prometheus or nginx).
