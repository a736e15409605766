#!/usr/bin/env bash
# Install Debian's chromium for tests/test_report_browser.py, if it is missing (called by .ci/run).
# Never fails the build: where it cannot install (not root, no apt-get, no network), it says why
# and the browser test skips with that reason.
set -uo pipefail
if command -v chromium >/dev/null; then
    echo "install_chromium: $(chromium --version 2>/dev/null || echo chromium) is installed"
    exit 0
fi
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
    echo "install_chromium: chromium is missing and cannot be installed here (needs root and" \
        "apt-get); tests/test_report_browser.py will skip" >&2
    exit 0
fi
echo "install_chromium: apt-get install chromium"
export DEBIAN_FRONTEND=noninteractive
if ! { apt-get update -qq && apt-get install -y -qq --no-install-recommends chromium >/dev/null; }; then
    echo "install_chromium: apt-get install chromium failed; tests/test_report_browser.py will skip" >&2
fi
exit 0
