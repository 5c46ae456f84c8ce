#!/usr/bin/env bash
# Schema check of the Kubernetes manifests in deploy/k8s: the checker (its own
# Go module, so the server does not depend on the Kubernetes API packages) is
# fetched through the Go module proxy and built on first use.
set -euo pipefail
cd "$(dirname "$0")/../deploy/k8s/check"
go run . ../*.yaml
