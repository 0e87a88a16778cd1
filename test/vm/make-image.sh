#!/bin/bash
# make-image.sh OUT.tar [TAG] — a real docker-save archive (one layer: Debian's static busybox) for the
# docker role's test: `kldload build --image OUT.tar`. No registry needed; only the Debian mirror.
set -euo pipefail
out="$(realpath -m "${1:?usage: make-image.sh OUT.tar [TAG]}")"
tag="${2:-kldload/hello:1}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
chmod 0755 "$work"
cd "$work"
apt-get download -q busybox-static >/dev/null
dpkg-deb -x busybox-static_*.deb deb
mkdir -p rootfs/bin
cp deb/bin/busybox rootfs/bin/busybox
ln -s busybox rootfs/bin/sh
ln -s busybox rootfs/bin/echo
tar --sort=name --owner=0 --group=0 --numeric-owner --mtime=@0 -C rootfs -cf layer.tar bin
diff="$(sha256sum layer.tar | cut -d' ' -f1)"
mkdir -p image/"$diff"
mv layer.tar image/"$diff"/layer.tar
cat >config.json <<JSON
{"architecture":"amd64","os":"linux","created":"1970-01-01T00:00:00Z","config":{"Cmd":["/bin/echo","kldload-image-ok"]},"rootfs":{"type":"layers","diff_ids":["sha256:${diff}"]}}
JSON
cfg="$(sha256sum config.json | cut -d' ' -f1)"
mv config.json image/"${cfg}.json"
printf '[{"Config":"%s.json","RepoTags":["%s"],"Layers":["%s/layer.tar"]}]\n' "$cfg" "$tag" "$diff" >image/manifest.json
tar --sort=name --owner=0 --group=0 --numeric-owner --mtime=@0 --format=ustar -C image -cf "$out" .
echo "$out"
