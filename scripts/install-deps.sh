#!/bin/sh
# Install what r2k needs to build and test, on Debian; elsewhere say what is missing.
set -eu

PKGS="cmake make gcc pkg-config libuv1-dev libcurl4-openssl-dev libcjson-dev
libarchive-dev libssl-dev node-llhttp clang libclang-rt-14-dev python3 python3-pytest
python3-jwt python3-cryptography docker-registry apache2-utils buildah busybox-static
systemd iproute2 procps openssl curl strace python3-traitlets python3-pip python3-setuptools
python3-wheel"

if ! command -v dpkg-query >/dev/null 2>&1; then
  echo "r2k: not a Debian system; install the equivalents of: $PKGS" >&2
  exit 0
fi

missing=""
for p in $PKGS; do
  st=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
  [ "$st" = "installed" ] || missing="$missing $p"
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
  echo "r2k: missing Debian packages:$missing" >&2
  echo "r2k: run as root: apt-get install$missing" >&2
  exit 1
fi
echo "r2k: installing:$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null
# The registry package starts a system service on install; r2k's tests start their own.
printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
trap 'rm -f /usr/sbin/policy-rc.d' EXIT
apt-get install -y -qq $missing >/dev/null
