#!/usr/bin/env bash
# The Debian base every stand-in image starts from, made without any image
# registry: debootstrap a minimal bookworm and `docker import` it.
#   deploy/standins/base.sh IMAGE_NAME
# Needs root, debootstrap and a reachable Debian mirror (MIRROR, default deb.debian.org).
set -euo pipefail
name=${1:?usage: base.sh IMAGE_NAME}
mirror=${MIRROR:-http://deb.debian.org/debian}
docker=${DOCKER:-docker}
root=$(mktemp -d /tmp/albru-standin-base.XXXXXX)
trap 'rm -rf "$root"' EXIT
debootstrap --variant=minbase bookworm "$root" "$mirror" >"$root.log" 2>&1 \
  || { tail -30 "$root.log" >&2; rm -f "$root.log"; exit 1; }
rm -f "$root.log"
# The security and updates suites too, as an official Debian image has them.
cat >"$root/etc/apt/sources.list" <<SOURCES
deb $mirror bookworm main
deb $mirror bookworm-updates main
deb http://deb.debian.org/debian-security bookworm-security main
SOURCES
rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
# mktemp made the root 0700: as the image's / it would lock every non-root user out.
chmod 755 "$root"
tar -C "$root" -c . | "$docker" import \
  -c 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  -c 'CMD ["bash"]' - "$name" >/dev/null
echo "standins: base image $name imported"
