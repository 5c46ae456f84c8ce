#!/usr/bin/env bash
# Installs what `make test` needs and the machine lacks; each step is skipped when
# its result is already there, so a second run costs a few seconds.
#   python   Debian's torch stack for the training tests (there is no PyPI here)
#   browser  Debian's Chromium and npm's playwright-core for the real-browser test
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
want() { dpkg -s "$1" >/dev/null 2>&1 || need_apt+=("$1"); }

for part in "$@"; do
	case "$part" in
	python)
		for p in python3 python3-torch python3-torchvision python3-onnx python3-numpy python3-pil; do want "$p"; done
		;;
	browser)
		want chromium
		command -v npm >/dev/null 2>&1 || need_apt+=(npm)
		;;
	*)
		echo "install-deps: unknown part $part (want python or browser)" >&2
		exit 2
		;;
	esac
done

if [ ${#need_apt[@]} -gt 0 ]; then
	echo "install-deps: installing ${need_apt[*]}"
	SUDO=""
	[ "$(id -u)" = 0 ] || SUDO="sudo"
	$SUDO apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi
