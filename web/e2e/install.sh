#!/usr/bin/env bash
# Provisions what the real-browser test needs: Debian's chromium (the browser
# that runs the page) and npm's playwright-core (the driver, no bundled
# browsers). Safe to run repeatedly: each step is skipped when already done.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

if [[ ! -x /usr/bin/chromium ]]; then
	sudo_cmd=()
	if [[ "$(id -u)" != 0 ]]; then
		sudo_cmd=(sudo)
	fi
	# A lock timeout instead of failing when another apt run (e.g. an
	# unattended upgrade) holds the dpkg lock.
	"${sudo_cmd[@]}" apt-get -o DPkg::Lock::Timeout=900 update
	"${sudo_cmd[@]}" env DEBIAN_FRONTEND=noninteractive \
		apt-get -o DPkg::Lock::Timeout=900 install -y --no-install-recommends chromium
fi

cd "$here"
want="$(node -p 'require("./package.json").dependencies["playwright-core"]')"
have="$(node -p 'try { require("./node_modules/playwright-core/package.json").version } catch { "" }')"
if [[ "$have" != "$want" ]]; then
	# npm ci installs exactly what package-lock.json pins; the lock file is
	# committed so CI and developers run the same driver.
	if [[ -f package-lock.json ]]; then
		npm ci --no-audit --no-fund
	else
		npm install --no-audit --no-fund
	fi
fi
echo "e2e ready: $(/usr/bin/chromium --version 2>/dev/null || echo 'chromium ?'), playwright-core $want"
