#!/bin/sh
# Installs the Debian packages the tests need (lists in tests/packages.txt and
# tests/compat/packages.txt), only those missing.  Run as root on Debian 12.
set -e
cd "$(dirname "$0")/.."
pkgs=$(cat tests/packages.txt tests/compat/packages.txt 2>/dev/null | sed 's/#.*//' | tr -s ' \n' '\n' | sort -u)
missing=""
for p in $pkgs build-essential; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "installing:$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends $missing >/dev/null
