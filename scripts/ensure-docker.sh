#!/usr/bin/env bash
# Make sure a Docker engine answers `docker info`. When it does not: install Debian's docker.io
# (and busybox-static, which tests build tiny images from) if root and missing, start dockerd in
# the background (detached: it outlives `make`), and wait until `docker info` works.
set -euo pipefail

# A redeploy hands the old container's address to the new one; clients hitting the port meanwhile
# leave a failed ARP entry the kernel retries only after 1 s. 100 ms keeps the swap gap short.
tune_bridge() {
    local knob=/proc/sys/net/ipv4/neigh/docker0/retrans_time_ms
    if [ -w "$knob" ]; then echo 100 >"$knob"; fi
}

if docker info >/dev/null 2>&1; then
    tune_bridge
    exit 0
fi

is_root() { [ "$(id -u)" = 0 ]; }

if ! command -v dockerd >/dev/null 2>&1 || ! command -v docker >/dev/null 2>&1 || ! command -v busybox >/dev/null 2>&1; then
    if ! is_root; then
        echo "ensure-docker: no Docker engine and not root: install docker.io and start dockerd" >&2
        exit 1
    fi
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker.io busybox-static >/dev/null
fi

if ! pgrep -x dockerd >/dev/null 2>&1; then
    if ! is_root; then
        echo "ensure-docker: dockerd is not running and only root can start it here" >&2
        exit 1
    fi
    echo "ensure-docker: starting dockerd (log: /tmp/dockerd.log)"
    setsid nohup dockerd >/tmp/dockerd.log 2>&1 </dev/null &
fi

for _ in $(seq 1 120); do
    if docker info >/dev/null 2>&1; then
        tune_bridge
        exit 0
    fi
    sleep 0.5
done
echo "ensure-docker: dockerd did not come up within 60 s; see /tmp/dockerd.log" >&2
exit 1
