#!/usr/bin/env bash
# Checks the deployment files against the build they deploy (ctest: deploy_files):
#   1. the Dockerfile's runtime packages are exactly the Debian packages of the libraries the
#      gateway binary links (plus ca-certificates), and its build packages are tools/install-deps';
#   2. the files the Dockerfile's build stage copies are enough to configure the build with its
#      flags (a missing COPY fails here, not in someone's docker build);
#   3. the container's and the Kubernetes example's gateway.yaml pass --check-config, and the
#      pod's probes ask /healthz on the gateway's port;
#   4. the systemd unit passes systemd-analyze verify.
# No Docker engine runs on the CI machines, so the image itself is not built here.
#   test/deploy/check.sh path/to/mcp-oauth-gateway
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
gateway="$(realpath "$1")"
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
failures=0
fail() {
  echo "FAIL: $*" >&2
  failures=$((failures + 1))
}

# The instruction of `stage` (0: build, 1: runtime) that contains `marker`, continuation lines
# joined.
dockerfile_run() {
  awk -v stage="$1" -v marker="$2" '
    /^FROM / { n++ }
    n - 1 == stage {
      line = line $0
      if (sub(/\\$/, "", line)) next
      if (index(line, marker)) print line
      line = ""
    }' "$root/Dockerfile"
}
# The packages an `apt-get install --no-install-recommends a b c && ...` line names.
packages_in() {
  sed -E 's/.*--no-install-recommends//; s/&&.*//' <<<"$1" | tr -s ' ' '\n' | grep . | sort -u
}

# 1. Runtime packages.
linked=$(ldd "$gateway" | awk '$3 ~ /^\// { print $3 }' | while read -r lib; do
  real=$(readlink -f "$lib")
  dpkg -S "$real" 2>/dev/null || dpkg -S "${real#/usr}" 2>/dev/null || echo "unknown: $lib"
done | cut -d: -f1 | sort -u | grep -v -E '^(libc6|libgcc-s1|libstdc\+\+6)$')  # in debian:12-slim
if grep -q unknown <<<"$linked"; then fail "libraries of no Debian package: $linked"; fi
runtime=$(packages_in "$(dockerfile_run 1 'ca-certificates')" | grep -v -x ca-certificates)
if [ "$linked" != "$runtime" ]; then
  fail "Dockerfile runtime packages differ from what the binary links:"
  diff <(echo "$runtime") <(echo "$linked") >&2 || true
fi
build_packages=$(packages_in "$(dockerfile_run 0 'libevent-dev')")
for package in $build_packages; do
  if ! grep -q -w -- "$package" "$root/tools/install-deps"; then
    fail "Dockerfile build package $package is not in tools/install-deps"
  fi
done

# 2. The build stage's COPY set configures with its flags.
mkdir "$scratch/src"
while read -r source; do
  cp -r "$root/$source" "$scratch/src/$source"
done < <(awk '/^FROM /{n++} n==1 && $1=="COPY" && $2 !~ /^--/ { print $2 }' "$root/Dockerfile")
flags=$(dockerfile_run 0 'cmake -S' | grep -o -- '-D[A-Z_]*=[A-Za-z]*' | tr '\n' ' ')
if [[ "$flags" != *"-DGATEWAY_BUILD_TESTS=OFF"* ]]; then fail "the image would build the tests"; fi
# shellcheck disable=SC2086
if ! cmake -S "$scratch/src" -B "$scratch/build" -G Ninja $flags >"$scratch/cmake.log" 2>&1; then
  fail "the Dockerfile's build stage does not configure from what it copies:"
  cat "$scratch/cmake.log" >&2
fi

# 3. The shipped configurations.
check_config() {
  if ! output=$(cd "$scratch" && env -u MCP_GATEWAY_PUBLIC_URL -u MCP_GATEWAY_UPSTREAM_RS \
    "$gateway" --config="$2" --check-config 2>&1); then
    fail "$1: $output"
  fi
}
check_config "deploy/container/gateway.yaml" "$root/deploy/container/gateway.yaml"
sidecar="$root/deploy/kubernetes/sidecar.yaml"
awk '/^  gateway.yaml: \|/ { inside = 1; next } inside && /^[^ ]/ { inside = 0 }
     inside { sub(/^    /, ""); print }' "$sidecar" >"$scratch/sidecar-gateway.yaml"
if [ ! -s "$scratch/sidecar-gateway.yaml" ]; then fail "no gateway.yaml in $sidecar"; fi
check_config "the ConfigMap of deploy/kubernetes/sidecar.yaml" "$scratch/sidecar-gateway.yaml"
port=$(awk '$1 == "port:" { print $2; exit }' "$scratch/sidecar-gateway.yaml")
if ! grep -q "containerPort: $port" "$sidecar"; then fail "the gateway container does not expose $port"; fi
if [ "$(grep -c 'httpGet: {path: /healthz, port: http}' "$sidecar")" -ne 2 ]; then
  fail "readiness and liveness probes must ask /healthz on the gateway's port"
fi

# 4. The systemd unit, pointed at this build's binary.
unit="$scratch/mcp-oauth-gateway.service"
sed "s|/usr/local/bin/mcp-oauth-gateway|$gateway|" \
  "$root/deploy/systemd/mcp-oauth-gateway.service" >"$unit"
if ! output=$(systemd-analyze verify "$unit" 2>&1) || [ -n "$output" ]; then
  fail "systemd-analyze verify: $output"
fi

if [ "$failures" -gt 0 ]; then
  echo "deploy files: $failures problem(s)" >&2
  exit 1
fi
echo "deploy files: Dockerfile, container and Kubernetes configs, systemd unit: OK" >&2
