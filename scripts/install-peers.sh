#!/bin/sh
# Installs the real programs the tests and benchmarks run against, from
# Debian's packages: prometheus 2.42, victoria-metrics (with vmagent),
# prometheus-node-exporter, nginx and chromium, plus procps (kill) and
# util-linux (prlimit) that tests call. Services are not started by
# the packages; each test starts what it needs on 127.0.0.1 and stops it.
set -eu

want="prometheus victoria-metrics prometheus-node-exporter nginx-light chromium procps util-linux strace"
missing=""
for p in $want; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0

SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
# Keep package scripts from starting daemons on this machine.
printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
$SUDO chmod +x /usr/sbin/policy-rc.d
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends $missing
$SUDO rm -f /usr/sbin/policy-rc.d
# Packages that start anyway (no policy-rc.d honoured) are stopped again.
for svc in prometheus prometheus-node-exporter victoria-metrics nginx; do
    pkill -x "$svc" 2>/dev/null || true
done
