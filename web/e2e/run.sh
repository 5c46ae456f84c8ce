#!/usr/bin/env bash
# Runs the real-browser test against a freshly started `ganpaint serve`.
#
#   GANPAINT_BIN=bin/ganpaint [GANPAINT_MODEL=dir] [ARTIFACTS_DIR=dir] web/e2e/run.sh
#
# The server listens on a free 127.0.0.1 port, its log goes to
# $ARTIFACTS_DIR/server.log, and it is stopped when the test ends (pass or
# fail). Provisions chromium and playwright-core first when they are missing.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
bin="${GANPAINT_BIN:?set GANPAINT_BIN to the ganpaint binary}"
artifacts="${ARTIFACTS_DIR:-$here/artifacts}"
export ARTIFACTS_DIR="$artifacts"
startup_timeout="${GANPAINT_STARTUP_TIMEOUT:-120}"

if [[ ! -x "$bin" ]]; then
	echo "run.sh: $bin is not an executable" >&2
	exit 2
fi
if [[ ! -x "${CHROMIUM:-/usr/bin/chromium}" || ! -d "$here/node_modules/playwright-core" ]]; then
	"$here/install.sh"
fi
mkdir -p "$artifacts"

# free_port asks the kernel for an unused port. Another process could take it
# before the server binds; the start loop below retries on a fresh port.
free_port() {
	node -e 'const s = require("net").createServer(); s.listen(0, "127.0.0.1", () => { console.log(s.address().port); s.close(); });'
}

# healthy polls /healthz until it answers 200, the server dies, or time runs out.
healthy() {
	local url="$1" pid="$2" deadline=$((SECONDS + startup_timeout))
	while ((SECONDS < deadline)); do
		if ! kill -0 "$pid" 2>/dev/null; then
			return 1
		fi
		if node -e 'fetch(process.argv[1]).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))' "$url/healthz"; then
			return 0
		fi
		sleep 0.25
	done
	return 1
}

server_pid=""
stop_server() {
	if [[ -n "$server_pid" ]] && kill -0 "$server_pid" 2>/dev/null; then
		kill -TERM "$server_pid" 2>/dev/null || true
		# Give it time for a clean shutdown, then insist.
		for _ in $(seq 1 40); do
			kill -0 "$server_pid" 2>/dev/null || break
			sleep 0.25
		done
		kill -KILL "$server_pid" 2>/dev/null || true
		wait "$server_pid" 2>/dev/null || true
	fi
	server_pid=""
}
trap stop_server EXIT INT TERM

url=""
for attempt in 1 2 3; do
	port="$(free_port)"
	args=(serve --addr "127.0.0.1:$port")
	if [[ -n "${GANPAINT_MODEL:-}" ]]; then
		args+=(--model "$GANPAINT_MODEL")
	fi
	echo "run.sh: starting $bin ${args[*]} (attempt $attempt)"
	"$bin" "${args[@]}" >>"$artifacts/server.log" 2>&1 &
	server_pid=$!
	if healthy "http://127.0.0.1:$port" "$server_pid"; then
		url="http://127.0.0.1:$port/"
		break
	fi
	stop_server
done
if [[ -z "$url" ]]; then
	echo "run.sh: the server did not become healthy; last lines of $artifacts/server.log:" >&2
	tail -n 30 "$artifacts/server.log" >&2 || true
	exit 1
fi

echo "run.sh: testing $url (screenshots in $artifacts)"
status=0
GANPAINT_URL="$url" node --test --test-concurrency=1 "$here"/*.test.mjs || status=$?
stop_server
exit "$status"
