#!/usr/bin/env bash
# `npm run bench`: installs the peer servers the benchmarks compare against,
# builds gridlink, then runs every benchmark script in turn. Arguments (for
# example --quick) are passed to each script.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

# Debian packages the benchmarks need, each with a command or file that shows
# it is installed (python3-pyftpdlib lives in the system Python, which the
# benches call as /usr/bin/python3 because `python3` may be a pyenv shim).
# mosquitto is the MQTT broker bench/chat-fanout.ts compares with (it runs
# its own instance on a free loopback port); mosquitto-clients
# (mosquitto_sub/mosquitto_pub) is there to poke at such a broker by hand.
# nginx is the static-file server bench/http-static.ts compares with (run as
# its own foreground process with a generated config), wrk the load generator.
# python3-pymodbus is the reference poller of bench/scada-poll.ts. nats-server
# carries bench/cluster.ts's three gridlink nodes.
declare -A PEER_PROBES=(
  [vsftpd]=/usr/sbin/vsftpd
  [python3-pyftpdlib]=/usr/lib/python3/dist-packages/pyftpdlib
  [curl]=/usr/bin/curl
  [mosquitto]=/usr/sbin/mosquitto
  [mosquitto-clients]=/usr/bin/mosquitto_sub
  [nginx]=/usr/sbin/nginx
  [wrk]=/usr/bin/wrk
  [python3-pymodbus]=/usr/lib/python3/dist-packages/pymodbus
  [python3-serial-asyncio]=/usr/lib/python3/dist-packages/serial_asyncio
  [nats-server]=/usr/sbin/nats-server
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

# The local account that bench/auth-transfers.ts logs in to vsftpd with (its
# login goes through PAM like a real user's). Created if missing; its password
# is random, kept root-only in GLBENCH_PASSWORD_FILE, which the bench reads
# (keep both names in sync with bench/lib/peers.ts). The shell must be listed
# in /etc/shells (Debian's /etc/pam.d/vsftpd requires pam_shells) and the
# home must exist (vsftpd enters it before local_root).
GLBENCH_USER=glbench
GLBENCH_PASSWORD_FILE=/var/lib/gridlink-bench/glbench.password

ensure_ftp_user() {
  if ! id "$GLBENCH_USER" >/dev/null 2>&1; then
    echo "bench: creating local user ${GLBENCH_USER} for vsftpd" >&2
    useradd --create-home --shell /bin/sh "$GLBENCH_USER"
  fi
  if [[ ! -s "$GLBENCH_PASSWORD_FILE" ]]; then
    install -d -m 0700 "$(dirname "$GLBENCH_PASSWORD_FILE")"
    (umask 077 && head -c 18 /dev/urandom | base64 | tr '+/' '-_' >"$GLBENCH_PASSWORD_FILE")
  fi
  # Always (re)set: the account then matches the file even if either was changed.
  printf '%s:%s\n' "$GLBENCH_USER" "$(cat "$GLBENCH_PASSWORD_FILE")" | chpasswd
}

# Later benchmarks append their scripts here; each runs on its own so one
# bench's processes are gone before the next starts.
BENCHES=(
  bench/file-transfer.ts
  bench/auth-transfers.ts
  bench/ftp-front.ts
  bench/chat-fanout.ts
  bench/cluster.ts
  bench/http-static.ts
  bench/scada-poll.ts
  bench/iec104-master.ts
  bench/iec104-station.ts
  bench/history-store.ts
  bench/trend.ts
)

install_missing_peers
ensure_ftp_user
# Bench-only npm dependencies (the MQTT client of bench/chat-fanout.ts), kept
# out of gridlink's package.json: bench/package.json and its lock file.
npm ci --prefix bench
npm run build
for bench in "${BENCHES[@]}"; do
  echo "bench: running ${bench}" >&2
  npx tsx "$bench" "$@"
done
if [[ "${SOAK:-0}" == 1 ]]; then echo "bench: running bench/soak.ts" >&2; npx tsx bench/soak.ts "$@"; fi
