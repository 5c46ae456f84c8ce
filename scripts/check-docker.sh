#!/usr/bin/env bash
# Checks the Dockerfile without a container engine (none runs on the build
# machines):
#   1. lint: dockerfile-utils (npm) for syntax, then this project's rules:
#      fully qualified base images, no :latest, a numeric non-root USER, a
#      HEALTHCHECK, a .dockerignore that keeps .git, .ort and bin out;
#   2. smoke: the build stage's two steps (fetch ONNX Runtime, go build) run
#      here, the runtime stage's files are laid out as its COPY lines say in a
#      temporary root file system with the shared libraries they need, and the
#      image's ENTRYPOINT/CMD run there under chroot as the image's USER with
#      its ENV; /healthz, /render.png and the HEALTHCHECK command must pass.
# Usage: scripts/check-docker.sh [lint|smoke|all]   (default all; smoke needs root)
set -euo pipefail
cd "$(dirname "$0")/.."
what="${1:-all}"
df=Dockerfile
fail() { echo "check-docker: $*" >&2; exit 1; }
tmp=""
pid=""

lint() {
	local tools=.tools/npm
	if [[ ! -x $tools/node_modules/.bin/dockerfile-utils ]]; then
		command -v npm >/dev/null || fail "npm is required (Debian: apt-get install npm)"
		npm install --silent --no-audit --no-fund --prefix "$tools" dockerfile-utils@0.16.3 >/dev/null
	fi
	"$tools/node_modules/.bin/dockerfile-utils" lint "$df" || fail "dockerfile-utils found problems"
	local from
	while read -r from; do
		# registry host (has a dot or a port) / path : tag
		[[ $from =~ ^[a-z0-9.-]+(\.[a-z]+|:[0-9]+)/[^:@]+[:@].+$ ]] || fail "base image '$from' is not fully qualified (host/path:tag)"
		[[ $from != *:latest ]] || fail "base image '$from' uses :latest"
	done < <(awk 'toupper($1)=="FROM" { for (i=2;i<=NF;i++) if ($i !~ /^--/) { print $i; break } }' "$df")
	local user
	user=$(awk 'toupper($1)=="FROM"{u=""} toupper($1)=="USER"{u=$2} END{print u}' "$df")
	[[ $user =~ ^[0-9]+(:[0-9]+)?$ ]] || fail "the final stage's USER '$user' is not numeric (runAsNonRoot cannot check a name)"
	[[ ${user%%:*} != 0 ]] || fail "the final stage runs as root"
	grep -qE '^HEALTHCHECK .*CMD' "$df" || fail "no HEALTHCHECK"
	for p in .git .ort bin; do
		grep -qxF "$p" .dockerignore || fail ".dockerignore does not exclude $p"
	done
	grep -q 'scripts/fetch-ort.sh' "$df" && grep -q 'go build -trimpath -o /out/ganpaint ./cmd/ganpaint' "$df" ||
		fail "the Dockerfile's build steps changed: update the smoke test in $0"
	echo "check-docker: lint ok"
}

smoke() {
	[[ $(id -u) == 0 ]] || fail "smoke needs root (chroot)"
	local root port
	tmp=$(mktemp -d -t ganpaint-docker.XXXXXX)
	root=$tmp/root
	pid=""
	trap 'if [[ -n $pid ]]; then kill $pid 2>/dev/null; wait $pid 2>/dev/null; fi; rm -rf "$tmp"' EXIT
	# Build stage (without -trimpath, which would only make the build miss
	# the local cache; .ort is reused when present).
	bash scripts/fetch-ort.sh >/dev/null
	CGO_ENABLED=1 go build -o "$tmp/out/ganpaint" ./cmd/ganpaint
	# Runtime stage: COPY --from=build SRC DST, with /out and /src mapped.
	local src dst
	while read -r src dst; do
		src=${src/#\/out/$tmp/out}
		src=${src/#\/src\//$PWD/}
		mkdir -p "$root$(dirname "$dst")"
		cp "$src" "$root$dst"
	done < <(awk 'toupper($1)=="COPY" && $2=="--from=build" {print $3, $4}' "$df")
	# The shared libraries the two files need, and the loader.
	local lib
	for f in "$root/usr/local/bin/ganpaint" "$root"/usr/local/lib/ganpaint/*.so*; do
		for lib in $(ldd "$f" | grep -oE '/[^ ]+'); do
			mkdir -p "$root$(dirname "$lib")"
			cp -L "$lib" "$root$lib"
		done
	done
	mkdir -p "$root/tmp" && chmod 1777 "$root/tmp"
	local user env=() entry cmd chroot
	chroot=$(command -v chroot)
	user=$(awk 'toupper($1)=="FROM"{u=""} toupper($1)=="USER"{u=$2} END{print u}' "$df")
	# ENV lines (one instruction, continued with backslashes).
	while read -r kv; do env+=("$kv"); done < <(awk '
		toupper($1)=="ENV" {on=1; $1=""}
		on { line=$0; cont=sub(/\\$/, "", line); n=split(line, a, " "); for (i=1;i<=n;i++) if (a[i] ~ /=/) print a[i]; if (!cont) on=0 }' "$df")
	port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
	env+=("GANPAINT_ADDR=127.0.0.1:$port")
	entry=$(sed -nE 's/^ENTRYPOINT \["([^"]+)"\]/\1/p' "$df")
	cmd=$(sed -nE 's/^CMD \["([^"]+)"\]/\1/p' "$df")
	env -i "${env[@]}" "$chroot" --userspec="$user" "$root" "$entry" $cmd >"$tmp/serve.log" 2>&1 &
	pid=$!
	local ok=""
	for _ in $(seq 100); do
		if curl -sf "http://127.0.0.1:$port/healthz" >/dev/null; then ok=1; break; fi
		kill -0 $pid 2>/dev/null || break
		sleep 0.2
	done
	[[ -n $ok ]] || { cat "$tmp/serve.log" >&2; fail "the image's command did not serve /healthz"; }
	curl -sf "http://127.0.0.1:$port/render.png" -o "$tmp/img.png" || fail "/render.png failed"
	[[ $(head -c 4 "$tmp/img.png" | od -An -tx1 | tr -d ' ') == 89504e47 ]] || fail "/render.png is not a PNG"
	local hc
	hc=$(sed -nE 's/^HEALTHCHECK .*CMD \[(.*)\]/\1/p' "$df" | tr -d '",')
	env -i "${env[@]}" "$chroot" --userspec="$user" "$root" $hc >/dev/null || fail "the HEALTHCHECK command failed"
	echo "check-docker: smoke ok (served /healthz and /render.png as user $user from a root fs of $(du -sh "$root" | cut -f1))"
}

case "$what" in
lint) lint ;;
smoke) smoke ;;
all) lint && smoke ;;
*) fail "usage: $0 [lint|smoke|all]" ;;
esac
