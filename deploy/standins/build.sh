#!/usr/bin/env bash
# Build one stand-in image from its recipe folder here, on the debootstrapped base:
#   deploy/standins/build.sh RECIPE BASE_IMAGE TAG      (RECIPE: python node mysql redis nginx adminer)
# The host's extra CA certificates (/usr/local/share/ca-certificates/*.crt) go
# into the images that download (pip, npm); node gets the host's Node 20.
set -euo pipefail
recipe=${1:?usage: build.sh RECIPE BASE_IMAGE TAG}
base=${2:?base image}
tag=${3:?tag}
here=$(cd "$(dirname "$0")" && pwd)
docker=${DOCKER:-docker}
ctx=$(mktemp -d /tmp/albru-standin-ctx.XXXXXX)
trap 'rm -rf "$ctx"' EXIT
cp -a "$here/$recipe/." "$ctx/"
mkdir -p "$ctx/certs"
cp /usr/local/share/ca-certificates/*.crt "$ctx/certs/" 2>/dev/null || true
if [ "$recipe" = node ]; then
  node=$(command -v node) || { echo "standins: node needs the host's Node 20+ (none found)" >&2; exit 1; }
  major=$("$node" -p 'process.versions.node.split(".")[0]')
  [ "$major" -ge 20 ] || { echo "standins: host Node $major is older than 20" >&2; exit 1; }
  cp "$(readlink -f "$node")" "$ctx/node"
  npm_dir=$(dirname "$(dirname "$(readlink -f "$(command -v npm)")")")
  cp -a "$npm_dir" "$ctx/npm"
fi
DOCKER_BUILDKIT=0 "$docker" build -q --build-arg "BASE=$base" -t "$tag" "$ctx" >/dev/null
echo "standins: built $tag"
