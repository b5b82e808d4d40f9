#!/usr/bin/env bash
# Start what the tests need, unless it already runs:
#   - the Docker engine (no bridge, no iptables: this machine's network is closed)
#   - a registry (Debian's docker-registry) on 127.0.0.1:5000, no auth
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
state=${IMGOPT_STATE:-/var/lib/imgopt-test}

docker_up() { docker info >/dev/null 2>&1; }
if ! docker_up; then
  if [ "$(id -u)" = 0 ] && command -v dockerd >/dev/null; then
    echo "start-services: starting dockerd" >&2
    mkdir -p /var/log
    nohup dockerd --bridge=none --iptables=false --ip-forward=false --ip-masq=false \
      >/var/log/imgopt-dockerd.log 2>&1 &
    for _ in $(seq 60); do docker_up && break; sleep 1; done
    docker_up || { echo "start-services: dockerd did not start; see /var/log/imgopt-dockerd.log" >&2; tail -20 /var/log/imgopt-dockerd.log >&2; exit 1; }
  else
    echo "start-services: no Docker engine and cannot start one (need root and docker.io)" >&2
  fi
fi

registry_up() { curl -fsS -o /dev/null http://127.0.0.1:5000/v2/ 2>/dev/null; }
if ! registry_up; then
  if command -v docker-registry >/dev/null; then
    echo "start-services: starting docker-registry on 127.0.0.1:5000" >&2
    mkdir -p "$state/registry"
    sed "s#@ROOT@#$state/registry#" "$here/tests/registry/config.yml" >"$state/registry.yml"
    nohup docker-registry serve "$state/registry.yml" >"$state/registry.log" 2>&1 &
    for _ in $(seq 30); do registry_up && break; sleep 0.5; done
    registry_up || { echo "start-services: registry did not start; see $state/registry.log" >&2; exit 1; }
  else
    echo "start-services: docker-registry is not installed" >&2
  fi
fi
