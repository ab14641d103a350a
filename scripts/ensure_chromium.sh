#!/usr/bin/env bash
# Print the path of a headless-capable Chromium, installing Debian's `chromium` package when none is
# on the machine (idempotent: a second call only prints the path). churn_assets_tests/test_ui_browser.py
# calls it; CHURN_CHROMIUM=/path/to/chrome skips the search and the install.
# Exit 0 with the path on stdout, or exit 1 with the reason on stderr (the test then skips with it).
set -euo pipefail

found() {
  if [ -n "${CHURN_CHROMIUM:-}" ] && [ -x "${CHURN_CHROMIUM}" ]; then echo "${CHURN_CHROMIUM}"; return 0; fi
  for name in chromium chromium-browser google-chrome google-chrome-stable chrome; do
    if command -v "$name" >/dev/null 2>&1; then command -v "$name"; return 0; fi
  done
  return 1
}

if found; then
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "no Chromium on the PATH and no apt-get to install one: install Chromium or set CHURN_CHROMIUM" >&2
  exit 1
fi
if [ "$(id -u)" != "0" ]; then
  if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    SUDO="sudo -n"
  else
    echo "no Chromium on the PATH and not root (no password-less sudo): run 'apt-get install -y chromium' as root" >&2
    exit 1
  fi
else
  SUDO=""
fi
echo "installing Chromium (apt-get install -y chromium)" >&2
export DEBIAN_FRONTEND=noninteractive
# apt's lock is waited for (another install may be running), bounded.
if ! timeout 600 $SUDO apt-get -o DPkg::Lock::Timeout=120 install -y --no-install-recommends chromium >&2; then
  timeout 300 $SUDO apt-get -o DPkg::Lock::Timeout=120 update >&2 || true
  if ! timeout 600 $SUDO apt-get -o DPkg::Lock::Timeout=120 install -y --no-install-recommends chromium >&2; then
    echo "apt-get install chromium failed (see above)" >&2
    exit 1
  fi
fi
if found; then
  exit 0
fi
echo "chromium was installed but is not on the PATH" >&2
exit 1
