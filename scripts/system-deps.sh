#!/usr/bin/env bash
# Debian packages the test suite talks to as independent peers:
#   python3-pymodbus  a Modbus TCP server and client gridlink did not write
#                     (+ python3-serial-asyncio, a Recommends it imports at load)
#   chromium          the real browser for the web HMI's end-to-end tests
#   lftp, curl        FTP clients gridlink did not write, for the FTP front's
#                     tests (tests/ftp/: mirror, reget/reput, -C -, FTPS)
#   nats-server       the NATS JetStream system the cluster tests run gridlink
#                     nodes on (tests/cluster/, docs/cluster.md)
# Idempotent: installs only what is missing. Run by `npm test` (pretest).
set -euo pipefail
need=()
/usr/bin/python3 -c 'import pymodbus, serial' 2>/dev/null || need+=(python3-pymodbus python3-serial-asyncio)
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v lftp >/dev/null 2>&1 || need+=(lftp)
command -v curl >/dev/null 2>&1 || need+=(curl)
command -v nats-server >/dev/null 2>&1 || need+=(nats-server)
# A CJK font, so the zh-CN page the browser tests render shows characters, not boxes.
[ -e /usr/share/fonts/truetype/wqy/wqy-microhei.ttc ] || need+=(fonts-wqy-microhei)
if [ ${#need[@]} -eq 0 ]; then exit 0; fi
echo "system-deps: installing ${need[*]}" >&2
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q >/dev/null || true
$SUDO apt-get install -y -q --no-install-recommends "${need[@]}" >/dev/null
