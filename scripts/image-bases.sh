#!/usr/bin/env bash
# Makes stand-ins for the two base images the Dockerfile names (debian:bookworm-slim, node:20-bookworm) in local
# buildah storage, from Debian's packages, for a machine with no Docker engine and no access to Docker Hub.
# scripts/image-check.ts runs it when a base is missing; on a machine that can pull them, it is not needed.
#
# Needs first: Debian or Ubuntu, root, `apt-get install -y --no-install-recommends buildah debootstrap`, Node 20
# on PATH (copied into the node stand-in), a Debian mirror (the one apt uses here), about 1 GB in
# /var/lib/containers and 2-3 minutes. Usage: scripts/image-bases.sh [--force]   (--force: make them again)
#
# What differs from the real images: the debian stand-in is a debootstrap minbase trimmed the way the official slim
# image is (no docs but copyright files, no man pages or locales); the node stand-in is that plus this machine's
# node and npm, not the full buildpack-deps image, and it alone carries this machine's CA bundle and
# NODE_EXTRA_CA_CERTS, so that npm in the build stage trusts what the host trusts (a TLS-inspecting proxy, say).
# The runtime stage starts from the debian stand-in, so the image gets Debian's own CA bundle only.
set -euo pipefail
storage=${BUILDAH_STORAGE_DRIVER:-vfs}
B=(buildah --storage-driver "$storage")
debian=docker.io/library/debian:bookworm-slim
node=docker.io/library/node:20-bookworm

has() { "${B[@]}" inspect --type image "$1" >/dev/null 2>&1; }
if [ "${1:-}" != --force ] && has "$debian" && has "$node"; then
  echo "image-bases: $debian and $node already in local storage ($storage)" >&2
  exit 0
fi
if [ "${1:-}" = --force ]; then "${B[@]}" rmi -f "$node" "$debian" >/dev/null 2>&1 || true; fi
for tool in buildah debootstrap node npm; do
  command -v "$tool" >/dev/null || { echo "image-bases: $tool not found (see this script's header)" >&2; exit 2; }
done
[ "$(id -u)" = 0 ] || { echo "image-bases: run as root (debootstrap and buildah's vfs storage)" >&2; exit 2; }

mirror=$(awk '/^URIs:/{print $2; exit}' /etc/apt/sources.list.d/*.sources 2>/dev/null || true)
mirror=${mirror:-$(awk '/^deb /{print $2; exit}' /etc/apt/sources.list 2>/dev/null || true)}
mirror=${mirror:-http://deb.debian.org/debian}
security=${mirror%/debian}/debian-security

root=$(mktemp -d /var/tmp/image-bases.XXXXXX)
containers=()
cleanup() {
  for c in "${containers[@]}"; do "${B[@]}" rm "$c" >/dev/null 2>&1 || true; done
  rm -rf "$root"
}
trap cleanup EXIT

echo "image-bases: debootstrap --variant=minbase bookworm from $mirror" >&2
debootstrap --variant=minbase bookworm "$root" "$mirror" >/dev/null
# The official image's apt sources and its slim trimming (kept for later installs too), then the CA bundle.
rm -f "$root/etc/apt/sources.list"
cat >"$root/etc/apt/sources.list.d/debian.sources" <<EOF
Types: deb
URIs: $mirror
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: $security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
cat >"$root/etc/dpkg/dpkg.cfg.d/docker" <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/groff/*
path-exclude /usr/share/info/*
path-exclude /usr/share/linda/*
path-exclude /usr/share/lintian/overrides/*
path-exclude /usr/share/locale/*
path-exclude /usr/share/man/*
EOF
find "$root/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete
find "$root/usr/share/doc" -mindepth 1 -type d -empty -delete
rm -rf "$root"/usr/share/{groff,info,linda,lintian/overrides,locale,man}/* "$root"/var/cache/apt/*.bin \
  "$root"/var/cache/apt/archives/*.deb \
  "$root"/var/lib/apt/lists/* "$root"/var/cache/debconf/*-old "$root"/var/log/*.log
# The official image's apt settings: no package caches or downloaded .debs left in a layer, no translations.
clean='"rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true";'
printf '%s\n' "DPkg::Post-Invoke { $clean };" "APT::Update::Post-Invoke { $clean };" \
  'Dir::Cache::pkgcache "";' 'Dir::Cache::srcpkgcache "";' >"$root/etc/apt/apt.conf.d/docker-clean"
echo 'Acquire::Languages "none";' >"$root/etc/apt/apt.conf.d/docker-no-languages"
echo 'Acquire::GzipIndexes "true";' >"$root/etc/apt/apt.conf.d/docker-gzip-indexes"

c=$("${B[@]}" from scratch); containers+=("$c")
m=$("${B[@]}" mount "$c"); cp -a "$root/." "$m/"; "${B[@]}" umount "$c" >/dev/null
"${B[@]}" config --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin --cmd bash \
  --label stand-in="made by scripts/image-bases.sh from Debian packages" "$c"
"${B[@]}" commit -q "$c" "$debian" >/dev/null

c=$("${B[@]}" from "$debian"); containers+=("$c")
m=$("${B[@]}" mount "$c")
mkdir -p "$m/etc/ssl/certs"
cp /etc/ssl/certs/ca-certificates.crt "$m/etc/ssl/certs/ca-certificates.crt"
npm_dir=$(dirname "$(dirname "$(readlink -f "$(command -v npm)")")")
cp -L "$(command -v node)" "$m/usr/local/bin/node"
mkdir -p "$m/usr/local/lib/node_modules"
cp -a "$npm_dir" "$m/usr/local/lib/node_modules/npm"
ln -sf ../lib/node_modules/npm/bin/npm-cli.js "$m/usr/local/bin/npm"
ln -sf ../lib/node_modules/npm/bin/npx-cli.js "$m/usr/local/bin/npx"
"${B[@]}" umount "$c" >/dev/null
"${B[@]}" config --env NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt --cmd node \
  --label stand-in="made by scripts/image-bases.sh from Debian packages and this machine's node $(node --version)" "$c"
"${B[@]}" commit -q "$c" "$node" >/dev/null
"${B[@]}" images >&2
