#!/usr/bin/env bash
# The whole test suite: installs what it needs (scripts/setup.sh), then vets,
# checks the js/wasm builds and runs every test with the race detector.
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/setup.sh

echo "== go vet" >&2
go vet ./...

echo "== js/wasm builds" >&2
for pkg in ./signaling/... ./netcode/... ./demo-game/...; do
	if go list "$pkg" >/dev/null 2>&1; then
		GOOS=js GOARCH=wasm go build "$pkg"
	fi
done

echo "== go test -race" >&2
go test -race -count=1 -timeout 20m ./...
