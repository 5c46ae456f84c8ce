#!/usr/bin/env bash
# Provision the ONNX Runtime shared library into .ort/ (git-ignored).
#
# The library is taken from the onnxruntime-node npm package because that is the
# one channel reachable from the build machines; only its prebuilt Linux shared
# object for this machine (x64 or arm64, the two the package ships) is kept. `npm pack` downloads the tarball without running any
# install scripts. Running the script again is a no-op once the file exists.
#
# Usage: scripts/fetch-ort.sh [DEST_DIR]     (default: <repo>/.ort)
set -euo pipefail

ORT_NPM_PACKAGE="onnxruntime-node"
ORT_VERSION="${ORT_VERSION:-1.30.0}"

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
dest_dir="${1:-$repo_root/.ort}"
dest="$dest_dir/libonnxruntime.so.1"

if [[ -s "$dest" ]]; then
	echo "fetch-ort: $dest already present, skipping"
	exit 0
fi

# ORT_ARCH overrides the machine's architecture (x64 or arm64).
case "${ORT_ARCH:-$(uname -s)/$(uname -m)}" in
x64 | Linux/x86_64) arch=x64 ;;
arm64 | Linux/aarch64 | Linux/arm64) arch=arm64 ;;
*)
	echo "fetch-ort: only linux x86_64 and aarch64 are provisioned automatically; set ONNXRUNTIME_LIB to your libonnxruntime" >&2
	exit 1
	;;
esac
LIB_IN_TARBALL="package/bin/napi-v6/linux/$arch/libonnxruntime.so.1"

if ! command -v npm >/dev/null 2>&1; then
	echo "fetch-ort: npm is required (Debian: apt-get install npm)" >&2
	exit 1
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

(cd "$work" && npm pack --silent --ignore-scripts "${ORT_NPM_PACKAGE}@${ORT_VERSION}" >/dev/null)
tarball="$(ls "$work"/*.tgz 2>/dev/null | head -n 1)"
if [[ -z "$tarball" ]]; then
	echo "fetch-ort: npm pack produced no tarball" >&2
	exit 1
fi
tar -xzf "$tarball" -C "$work" "$LIB_IN_TARBALL"

mkdir -p "$dest_dir"
# Copy then rename so an interrupted run never leaves a truncated library behind.
cp "$work/$LIB_IN_TARBALL" "$dest.tmp.$$"
chmod 0644 "$dest.tmp.$$"
mv -f "$dest.tmp.$$" "$dest"
echo "fetch-ort: installed $dest (onnxruntime ${ORT_VERSION})"
