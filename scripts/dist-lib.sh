# Shell helpers shared by the dist test scripts; sourced, not run.
# The sourcing script defines fail MESSAGE, which must not return.

# wait_until SECONDS WHAT COMMAND...: runs COMMAND every half second until it
# succeeds; fails with WHAT after SECONDS.
wait_until() {
    limit=$1 what=$2
    shift 2
    tries=$((limit * 2))
    while ! "$@" >/dev/null 2>&1; do
        tries=$((tries - 1))
        [ "$tries" -gt 0 ] || fail "$what (waited ${limit}s)"
        sleep 0.5
    done
}

# free_port: a TCP port on 127.0.0.1 that nothing listens on now.
free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
