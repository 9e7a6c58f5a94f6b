#!/usr/bin/env bash
# Installs what test/conformance/client-matrix.test.ts runs, outside the repository, and prints where:
#   franz=<the franz-go program>   python=<the venv's python with kafka-python and confluent-kafka>
#   legacy=<a venv's python with an older confluent-kafka (librdkafka 2.6.1, python/requirements-legacy.txt)>
# Go modules come through `go mod download` (go.mod/go.sum pin them; GOMODCACHE as Go configures it); the
# binary goes to $SLUICE_CACHE/go-clients, the venv to $SLUICE_CACHE/py-clients (default ~/.cache/sluice).
# Both are rebuilt only when their pinned inputs change, so a warm run takes well under a second.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
cache=${SLUICE_CACHE:-$HOME/.cache/sluice}
mkdir -p "$cache"

fail() {
  echo "client-matrix setup: $*" >&2
  exit 1
}

# franz-go v1.22 needs Go 1.26; an older go (1.21+) fetches that toolchain itself (GOTOOLCHAIN=auto).
command -v go >/dev/null || fail "needs Go (1.26, or 1.21+ that can fetch it) on PATH to build the franz-go client"
command -v python3 >/dev/null || fail "needs python3 (3.9 or newer, with the venv module) on PATH"
python3 -c 'import sys, venv; sys.exit(0 if sys.version_info >= (3, 9) else 1)' 2>/dev/null ||
  fail "python3 must be 3.9 or newer and have the venv module (Debian: apt-get install python3-venv)"

# One setup at a time (two test runs may start together).
exec 9>"$cache/.client-matrix.lock"
flock 9

stamp_of() { cat "$@" | sha256sum | cut -d' ' -f1; }

go_dir="$here/go"
go_out="$cache/go-clients"
franz="$go_out/franz-client"
go_stamp=$(stamp_of "$go_dir/go.mod" "$go_dir/go.sum" "$go_dir/main.go" "$go_dir/failover.go"; go version)
if [[ ! -x "$franz" || "$(cat "$go_out/stamp" 2>/dev/null)" != "$go_stamp" ]]; then
  mkdir -p "$go_out"
  (cd "$go_dir" && go mod download && go build -mod=readonly -o "$franz.tmp" .) >&2 ||
    fail "building the franz-go client failed (is the Go module proxy reachable?)"
  mv "$franz.tmp" "$franz"
  echo "$go_stamp" >"$go_out/stamp"
fi

# venv <dir> <requirements file>: (re)creates the venv when the pinned requirements changed.
venv() {
  local dir=$1 requirements=$2 stamp
  stamp=$(stamp_of "$requirements"; python3 --version 2>&1)
  if [[ ! -x "$dir/bin/python" || "$(cat "$dir/stamp" 2>/dev/null)" != "$stamp" ]]; then
    rm -rf "$dir"
    python3 -m venv "$dir" >&2 || fail "python3 -m venv $dir failed"
    "$dir/bin/python" -m pip install --quiet --disable-pip-version-check -r "$requirements" >&2 ||
      fail "pip install -r $requirements failed (is PyPI reachable?)"
    echo "$stamp" >"$dir/stamp"
  fi
}
venv "$cache/py-clients" "$here/python/requirements.txt"
venv "$cache/py-clients-legacy" "$here/python/requirements-legacy.txt"

echo "franz=$franz"
echo "python=$cache/py-clients/bin/python"
echo "legacy=$cache/py-clients-legacy/bin/python"
