#!/usr/bin/env bash
# Build the CPU base rootfs for the e2e-runner image with no registry: a Debian bookworm
# minbase made by debootstrap, plus Python, trimmed, and written as a tarball for `docker import`.
# Usage: docker/mkrootfs.sh OUT.tar [MIRROR]   (needs root and debootstrap)
set -euo pipefail
out="$1"
mirror="${2:-http://deb.debian.org/debian}"
suite=bookworm
include=python3,python3-venv,bubblewrap
if [ "$(id -u)" != 0 ]; then
  echo "mkrootfs: debootstrap needs root" >&2
  exit 1
fi
command -v debootstrap >/dev/null || { echo "mkrootfs: install debootstrap (apt-get install debootstrap)" >&2; exit 1; }
work="$(mktemp -d "${TMPDIR:-/tmp}/e2e-rootfs.XXXXXX")"
trap 'rm -rf "$work"' EXIT
debootstrap --variant=minbase --include="$include" "$suite" "$work/root" "$mirror"
# Trim what a test container never reads: apt lists and caches, docs, man pages, locales.
rm -rf "$work"/root/var/lib/apt/lists/* "$work"/root/var/cache/apt/* \
  "$work"/root/usr/share/doc/* "$work"/root/usr/share/man/* "$work"/root/usr/share/info/* \
  "$work"/root/var/log/*.log "$work"/root/var/cache/debconf/*-old
find "$work/root/usr/share/locale" -mindepth 1 -maxdepth 1 ! -name 'C.*' -exec rm -rf {} + 2>/dev/null || true
# Reproducible-ish: fixed mtimes and numeric owners; the tag comes from the recipe, not the tar.
tar --numeric-owner --sort=name -C "$work/root" -cf "$out.part" .
mv "$out.part" "$out"
