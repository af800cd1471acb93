#!/bin/sh
# Installs the x86_64 package with dpkg -i and runs it as its unit would:
#   scripts/dist-test-deb.sh PATH/edgescrape_VERSION_amd64.deb
#
# The unit's ExecStart line (with EDGESCRAPE_ARGS from /etc/default/edgescrape)
# runs under setpriv as an unprivileged user with no capabilities and no new
# privileges (DynamicUser=, CapabilityBoundingSet=, NoNewPrivileges=), with
# /var/lib/edgescrape made for that user (StateDirectory=), in a private
# network namespace so that the packaged config's 127.0.0.1:9099 is its own.
# It must scrape itself, reload on the unit's ExecReload signal and stop
# within TimeoutStopSec; then the package is removed (the conffile stays)
# and purged (config and WAL go).
set -eu
deb=$1
version=$(dpkg-deb -f "$deb" Version)
unit=/lib/systemd/system/edgescrape.service
state=/var/lib/edgescrape
uid=61999
log=$(mktemp)
pid=""
installed=""

cleanup() {
    [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null
    [ -n "$installed" ] && dpkg -P edgescrape >/dev/null 2>&1
    rm -f "$log"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# shellcheck source=scripts/dist-lib.sh
. "$(dirname "$0")/dist-lib.sh"

fail() {
    echo "dist-test-deb: FAILED: $*" >&2
    tail -n 20 "$log" >&2
    exit 1
}

# in_netns COMMAND...: runs COMMAND in the service's network namespace.
in_netns() {
    nsenter --net="/proc/$pid/ns/net" "$@"
}

# up_is JOB VALUE: the service's own query API says up{job=JOB} is VALUE.
up_is() {
    in_netns curl -sf --get http://127.0.0.1:9099/api/v1/query --data-urlencode "query=up{job=\"$1\"}" |
        grep -q "\"$2\"\]"
}

reloads() {
    grep -ci 'completed loading of configuration file' "$log" || true
}

reloaded_since() {
    [ "$(reloads)" -gt "$1" ]
}

[ -e "$state" ] && fail "$state exists already; this test makes and deletes it"
dpkg -i "$deb" >/dev/null
installed=1
[ "$(dpkg-query -W -f='${Status}' edgescrape)" = "install ok installed" ] || fail "dpkg -i"
/usr/bin/edgescrape --version | grep -qF "version $version" || fail "edgescrape --version"
systemd-analyze verify "$unit" || fail "systemd-analyze verify $unit"
# The man page names every flag --help lists.
for flag in $(/usr/bin/edgescrape --help | sed -n 's/^  \(--[a-z.-]*\).*/\1/p'); do
    MANWIDTH=200 man edgescrape 2>/dev/null | grep -q -- "^ *$flag\b" || fail "man edgescrape does not name $flag"
done
/usr/bin/edgescrape check-config /etc/edgescrape/prometheus.yml >/dev/null || fail "check-config"

install -d -o "$uid" -g "$uid" -m 0750 "$state"
exec_start=$(sed -n 's/^ExecStart=//p' "$unit")
# shellcheck disable=SC1091
. /etc/default/edgescrape
command=$(echo "$exec_start" | sed "s|\$EDGESCRAPE_ARGS|$EDGESCRAPE_ARGS|")
# shellcheck disable=SC2086
unshare --net sh -c 'ip link set lo up && exec "$@"' sh \
    setpriv --reuid="$uid" --regid="$uid" --clear-groups --no-new-privs \
    --inh-caps=-all --bounding-set=-all $command >"$log" 2>&1 &
pid=$!
wait_until 30 "/-/ready" in_netns curl -sf http://127.0.0.1:9099/-/ready
wait_until 60 "up{job=edgescrape} is 1" up_is edgescrape 1
wait_until 60 "up{job=node} is 0 (nothing listens on :9100 there)" up_is node 0
[ "$(stat -c %u "$state/wal")" = "$uid" ] || fail "the WAL in $state is not the service user's"

before=$(reloads)
kill -HUP "$pid"
wait_until 30 "a reload on SIGHUP" reloaded_since "$before"
in_netns curl -sf http://127.0.0.1:9099/-/ready >/dev/null || fail "not ready after the reload"

kill -TERM "$pid"
timeout 30 sh -c "while kill -0 $pid 2>/dev/null; do sleep 0.2; done" || fail "no exit within TimeoutStopSec"
wait "$pid" || fail "exit status $? after SIGTERM"
pid=""
echo "dist-test-deb: installed $deb, ran its unit's command unprivileged: scraped itself, reloaded on SIGHUP, stopped on SIGTERM"

dpkg -r edgescrape >/dev/null
[ ! -e /usr/bin/edgescrape ] || fail "dpkg -r left /usr/bin/edgescrape"
[ -f /etc/edgescrape/prometheus.yml ] || fail "dpkg -r removed the conffile"
dpkg -P edgescrape >/dev/null
installed=""
[ ! -e /etc/edgescrape/prometheus.yml ] || fail "dpkg -P left the conffile"
[ ! -e "$state" ] || fail "dpkg -P left $state"
echo "dist-test-deb: removed (conffile kept) and purged (config and WAL gone)"
