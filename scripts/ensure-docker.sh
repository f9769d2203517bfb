#!/usr/bin/env bash
# Make sure a Docker engine answers and the static busybox (for FROM-scratch test images) is present.
# When run as root, installs what is missing (docker.io, busybox-static) and starts dockerd in the
# background (log: /tmp/dockerd.log), then waits for it. Idempotent: does nothing when all is there.
set -euo pipefail

WAIT_SECONDS="${ENSURE_DOCKER_WAIT:-60}"
missing=()
command -v dockerd >/dev/null 2>&1 || missing+=(docker.io)
if ! { [ -x /bin/busybox ] && file -L /bin/busybox 2>/dev/null | grep -q "statically linked"; }; then
  dpkg -s busybox-static >/dev/null 2>&1 || missing+=(busybox-static)
fi

if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "ensure-docker: missing ${missing[*]} and not root; install them (apt-get install ${missing[*]})" >&2
    exit 1
  fi
  echo "ensure-docker: installing ${missing[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}" >/dev/null \
    || { apt-get update >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}" >/dev/null; }
fi

tune_bridge() {
  # A redeploy hands the old container's address to the new one; clients hitting the port meanwhile
  # leave a failed ARP entry that the kernel retries only after 1 s. 100 ms keeps the swap gap short.
  local knob=/proc/sys/net/ipv4/neigh/docker0/retrans_time_ms
  if [ -w "$knob" ]; then echo 100 >"$knob"; fi
}

if docker info >/dev/null 2>&1; then
  tune_bridge
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
  echo "ensure-docker: the Docker engine does not answer and starting dockerd needs root" >&2
  exit 1
fi
if ! pgrep -x dockerd >/dev/null 2>&1; then
  echo "ensure-docker: starting dockerd (log: /tmp/dockerd.log)"
  nohup dockerd >/tmp/dockerd.log 2>&1 &
fi
for _ in $(seq 1 "$((WAIT_SECONDS * 5))"); do
  if docker info >/dev/null 2>&1; then
    echo "ensure-docker: engine ready ($(docker version --format '{{.Server.Version}}'))"
    tune_bridge
    exit 0
  fi
  sleep 0.2
done
echo "ensure-docker: dockerd did not answer within ${WAIT_SECONDS}s; see /tmp/dockerd.log" >&2
exit 1
