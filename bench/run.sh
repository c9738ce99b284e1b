#!/usr/bin/env bash
# `npm run bench`: installs the peer servers the benchmarks compare against,
# builds gridlink, then runs every benchmark script in turn. Arguments (for
# example --quick) are passed to each script.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

# Debian packages the benchmarks need, each with a command or file that shows
# it is installed (python3-pyftpdlib lives in the system Python, which the
# benches call as /usr/bin/python3 because `python3` may be a pyenv shim).
declare -A PEER_PROBES=(
  [vsftpd]=/usr/sbin/vsftpd
  [python3-pyftpdlib]=/usr/lib/python3/dist-packages/pyftpdlib
  [curl]=/usr/bin/curl
)

install_missing_peers() {
  local missing=()
  local pkg
  for pkg in "${!PEER_PROBES[@]}"; do
    [[ -e "${PEER_PROBES[$pkg]}" ]] || missing+=("$pkg")
  done
  if ((${#missing[@]} > 0)); then
    echo "bench: installing ${missing[*]}" >&2
    apt-get update
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"
  fi
}

# Later benchmarks append their scripts here; each runs on its own so one
# bench's processes are gone before the next starts.
BENCHES=(
  bench/file-transfer.ts
)

install_missing_peers
npm run build
for bench in "${BENCHES[@]}"; do
  echo "bench: running ${bench}" >&2
  npx tsx "$bench" "$@"
done
