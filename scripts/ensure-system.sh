#!/usr/bin/env bash
# Install the Debian packages the tests need, when missing and running as root.
# Not root: list what is missing and stop (tests that need it will fail, not skip).
set -euo pipefail
# /dev/null must be the null device: the native sandbox binds it over the masked /proc files and refuses a
# host where it is not (seen on machines of this kind after a restart: a regular file some process left).
if [ "$(stat -c '%F %t:%T' /dev/null 2>&1)" != "character special file 1:3" ]; then
  if [ "$(id -u)" = 0 ]; then
    echo "ensure-system: /dev/null is not the null device; recreating it" >&2
    rm -f /dev/null && mknod -m 666 /dev/null c 1 3
  else
    echo "ensure-system: /dev/null is not the null device; as root: rm /dev/null && mknod -m 666 /dev/null c 1 3" >&2
  fi
fi
need=()
have() { command -v "$1" >/dev/null 2>&1; }
have dockerd || need+=(docker.io)
have docker-registry || need+=(docker-registry)
have skopeo || need+=(skopeo)
have umoci || need+=(umoci)
have strace || need+=(strace)
have debootstrap || need+=(debootstrap)
have unshare || need+=(util-linux)
have ip || need+=(iproute2)
have tc || need+=(iproute2)
have curl || need+=(curl)
have bwrap || need+=(bubblewrap)  # benchmarks/sandbox_engines.py
compgen -G "/usr/lib/python3/dist-packages/seccomp*.so" >/dev/null || need+=(python3-seccomp)  # imgopt.trace.seccomp
have zstd || need+=(zstd)
have dpkg-deb || need+=(dpkg)
have npm || need+=(npm)
have shellcheck || need+=(shellcheck)
# the report's browser test (tests/test_report_browser.py): headless Chromium driven by Playwright
[ -x /usr/bin/chromium ] || need+=(chromium)
[ -e /usr/share/keyrings/debian-archive-keyring.gpg ] || need+=(debian-archive-keyring)
if [ ${#need[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" != 0 ]; then
  echo "ensure-system: missing ${need[*]}; run 'make test' as root or install them with apt" >&2
  exit 0
fi
echo "ensure-system: installing ${need[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -q >/dev/null
apt-get install -y -q --no-install-recommends "${need[@]}" >/dev/null
