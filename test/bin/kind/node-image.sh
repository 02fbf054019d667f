#!/usr/bin/env bash
# Builds lab's offline kind node image, lab.dev/kind/node:<kubernetes>, from
# parts made on this machine: a Debian base (debootstrap), Debian's containerd,
# runc, Kubernetes, etcd, CoreDNS, the CNI plugins, crictl and
# local-path-provisioner from the Go module proxy (test/bin/build.sh kind
# builds them first), lab's own pod network daemon (test/apps/podnet), and
# kind's own node files read from kind's module in the
# Go module cache at build time (entrypoint, systemd units, containerd config).
# The images kubeadm and kind's default manifests run are imported into the
# node's containerd unpacked-on-demand, the way `kind build node-image` does;
# that command itself needs registry access for kindnetd and friends.
#
#   test/bin/kind/node-image.sh CACHE   build (or load from CACHE) the image
#
# The image is saved to CACHE/kind-node-<k8s>-<rev>/kind-node.tar (rev: a hash
# of this script and the files it puts in the image; CACHE/kind-node-<k8s>
# links to the current one), so a fresh Docker loads it instead of building
# it again, and a change to any of those files builds a new one.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
cache=${1:?usage: node-image.sh CACHE}
pin() { sed -n "s/^  $1: *//p" "$root/manifests/versions.yaml" | head -1; }
K8S=$(pin kubernetes) ETCD=$(pin etcd) COREDNS=$(pin coredns)
LOCALPATH=$(pin localPathProvisioner) DEBIAN=$(pin debian) KIND=$(sed -n 's/^\s*sigs.k8s.io\/kind \(v[^ ]*\).*/\1/p' "$root/go.mod")
REV=$(cat "$0" "$here"/node/* "$root"/test/apps/podnet/*.go "$root/manifests/versions.yaml" | sha256sum | cut -c1-10)
IMAGE=lab.dev/kind/node:$K8S
out=$cache/kind-node-$K8S-$REV
log() { printf '[node-image] %s\n' "$*" >&2; }
export DOCKER_BUILDKIT=0 # the classic builder: local bases only, no registry
# docker build, with its output shown only when it fails.
dbuild() { local o; o=$(docker build "$@" 2>&1) || { printf '%s\n' "$o" >&2; return 1; }; }

if [[ $(docker image inspect -f '{{index .Config.Labels "dev.lab.node-image.rev"}}' "$IMAGE" 2>/dev/null) == "$REV" ]]; then
  log "$IMAGE ($REV): present"; exit 0
fi
if [[ -f $out/kind-node.tar ]]; then
  log "loading $IMAGE ($REV) from $out/kind-node.tar"
  docker load -q -i "$out/kind-node.tar" >/dev/null
  ln -sfn "$out" "$cache/kind-node-$K8S"
  exit 0
fi
start=$SECONDS
# The image this build replaces, removed at the end (it would linger untagged).
old_image=$(docker image inspect -f '{{.Id}}' "$IMAGE" 2>/dev/null || true)
bin() { echo "$cache/$1-$2/$1"; }
kindfiles=$(cd "$root" && go mod download -json "sigs.k8s.io/kind@$KIND" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')/images/base/files
[[ -d $kindfiles ]] || { log "kind $KIND's node files not found in the module cache"; exit 1; }
work=$(mktemp -d) && trap 'rm -rf "$work"; docker rm -f lab-node-build >/dev/null 2>&1 || true' EXIT

# 1. The Debian base every Debian-based image here starts from.
if ! docker image inspect "lab.dev/kind/base:$DEBIAN" >/dev/null 2>&1; then
  docker import "$cache/debian-min-$DEBIAN/debian-min.tar" "lab.dev/kind/base:$DEBIAN" >/dev/null
fi

# 2. The images kubeadm and the default manifests run, named as kubeadm
# expects them (kubeadm config images list; pause is containerd's sandbox).
image() { # NAME DIR [DOCKERFILE LINES...]
  local name=$1 dir=$2; shift 2
  printf '%s\n' "$@" > "$dir/Dockerfile"
  dbuild -q -t "$name" "$dir"
  images+=("$name")
}
plain() { # NAME BINARY [ENTRYPOINT]: a binary on the Debian base (the control
  # plane's binaries are the harness's, linked against glibc)
  local d="$work/$(basename "$2")"; mkdir -p "$d" && cp "$2" "$d/"
  image "$1" "$d" "FROM lab.dev/kind/base:$DEBIAN" "COPY $(basename "$2") /usr/local/bin/" \
    ${3:+"ENTRYPOINT [\"/usr/local/bin/$(basename "$2")\"]"}
}
debian() { # NAME BINARY: a binary on the Debian base, iptables picking the node's backend
  local d="$work/$(basename "$2")"; mkdir -p "$d" && cp "$2" "$here/node/iptables-wrapper" "$d/"
  image "$1" "$d" "FROM lab.dev/kind/base:$DEBIAN" "COPY $(basename "$2") iptables-wrapper /usr/local/bin/" \
    "RUN for f in iptables iptables-save iptables-restore ip6tables ip6tables-save ip6tables-restore; do ln -sf /usr/local/bin/iptables-wrapper /etc/alternatives/\$f; done"
}
images=("lab.dev/kind/base:$DEBIAN")
want=$("$(bin kubeadm "$K8S")" config images list --kubernetes-version "$K8S")
ref() { grep "/$1:" <<<"$want"; }
for c in kube-apiserver kube-controller-manager kube-scheduler; do plain "$(ref "$c")" "$(bin "$c" "$K8S")"; done
plain "$(ref etcd)" "$(bin etcd "$ETCD")"
plain "$(ref coredns)" "$(bin coredns "$COREDNS")" entrypoint
mkdir -p "$work/pause" && gcc -static -O2 -o "$work/pause/pause" "$here/node/pause.c"
sandbox=$(sed -n 's/^\s*sandbox_image = "\(.*\)"/\1/p' "$kindfiles/etc/containerd/config.toml")
image "$sandbox" "$work/pause" "FROM scratch" "COPY pause /pause" 'ENTRYPOINT ["/pause"]'
debian "$(ref kube-proxy)" "$(bin kube-proxy "$K8S")"
(cd "$root" && CGO_ENABLED=0 go build -ldflags "-s -w" -o "$work/podnet-bin/podnet" ./test/apps/podnet)
debian "lab.dev/kind/podnet:$REV" "$work/podnet-bin/podnet"
plain "lab.dev/kind/local-path-provisioner:$LOCALPATH" "$(bin local-path-provisioner "$LOCALPATH")"
log "built ${#images[@]} images: ${images[*]}"
docker save -o "$work/images.tar" "${images[@]}"
# They live on inside the node image; only the Debian base stays in the engine.
docker rmi "${images[@]:1}" >/dev/null

# 3. The node: Debian's systemd and containerd, runc from the module proxy
# (the release kind's base image ships, not Debian's 1.1.5), the Kubernetes
# binaries, the CNI plugins and kind's node files.
d=$work/node && mkdir -p "$d/bin" "$d/cni" "$d/manifests"
for b in kubelet kubeadm kubectl; do cp "$(bin $b "$K8S")" "$d/bin/"; done
cp "$(bin crictl "$(pin criTools)")" "$d/bin/"
mkdir -p "$d/sbin" && cp "$(bin runc "$(pin runc)")" "$d/sbin/"
cp "$cache/cni-plugins-$(pin cniPlugins)"/{host-local,loopback,portmap,ptp} "$d/cni/"
for m in default-cni default-storage; do
  sed -e "s/{{REV}}/$REV/g; s/{{LOCALPATH}}/$LOCALPATH/g; s/{{DEBIAN}}/$DEBIAN/g" "$here/node/$m.yaml" > "$d/manifests/$m.yaml"
done
cp -r "$kindfiles" "$d/kindfiles" && chmod -R u+w "$d/kindfiles"
echo "$K8S" > "$d/version"
cat > "$d/Dockerfile" <<EOF
FROM lab.dev/kind/base:$DEBIAN
RUN apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      systemd systemd-sysv dbus containerd runc mount util-linux kmod ethtool socat jq ebtables \
      libseccomp2 e2fsprogs nftables >/dev/null && apt-get clean && rm -rf /var/lib/apt/lists/* \
 && find /lib/systemd/system/sysinit.target.wants/ -name systemd-tmpfiles-setup.service -delete \
 && rm -f /lib/systemd/system/multi-user.target.wants/* /etc/systemd/system/*.wants/* \
      /lib/systemd/system/local-fs.target.wants/* /lib/systemd/system/sockets.target.wants/*udev* \
      /lib/systemd/system/sockets.target.wants/*initctl* /lib/systemd/system/basic.target.wants/* \
 && echo ReadKMsg=no >> /etc/systemd/journald.conf && ln -sf /usr/lib/systemd/systemd /sbin/init
COPY kindfiles/usr/local/bin/ /usr/local/bin/
COPY kindfiles/kind/ /kind/
COPY kindfiles/etc/ /etc/
COPY bin/ /usr/bin/
COPY sbin/runc /usr/sbin/runc
COPY cni/ /opt/cni/bin/
COPY manifests/ /kind/manifests/
COPY version /kind/version
RUN chmod 0755 /usr/local/bin/* /kind/bin/* && ln -sf /usr/bin/containerd /usr/local/bin/containerd \
 && ctr oci spec | jq '.hooks.createContainer[.hooks.createContainer| length] |= . + {"path": "/kind/bin/mount-product-files.sh"}' \
      | jq 'del(.process.rlimits)' > /etc/containerd/cri-base.json \
 && systemctl enable kubelet.service containerd.service undo-mount-hacks.service && systemctl mask systemd-binfmt.service \
 && mkdir -p /etc/kubernetes/manifests /var/lib/containerd
EOF
# Docker (podman too) gives the build no network by default; apt needs it.
dbuild -q --network host -t lab.dev/kind/node-base:"$K8S" "$d"
log "node base built ($((SECONDS - start))s)"

# 4. Import the images into the node's containerd without unpacking (kind's
# way: unpacked on first use), then commit with kind's entrypoint.
docker run -d --name lab-node-build --privileged --entrypoint sleep lab.dev/kind/node-base:"$K8S" infinity >/dev/null
docker cp "$work/images.tar" lab-node-build:/images.tar
docker exec lab-node-build sh -c '
  (containerd >/tmp/containerd.log 2>&1 &)
  for i in $(seq 1 30); do ctr version >/dev/null 2>&1 && break; sleep 1; done
  ctr --namespace=k8s.io images import --label=io.cri-containerd.pinned=pinned --all-platforms --no-unpack --digests /images.tar >/dev/null
  ctr --namespace=k8s.io images list -q | grep -v "^sha256:\|^import-"
  pkill containerd; for i in $(seq 1 30); do pgrep containerd >/dev/null || break; sleep 1; done
  rm -f /images.tar /tmp/containerd.log' | sed 's/^/[node-image] imported /' >&2
docker commit --change 'ENTRYPOINT ["/usr/local/bin/entrypoint", "/sbin/init"]' --change 'ENV container=docker' \
  --change 'CMD []' lab-node-build lab.dev/kind/node-commit:"$K8S" >/dev/null
docker rm -f lab-node-build >/dev/null
# STOPSIGNAL is not among docker commit's --change instructions: one more build step.
mkdir -p "$work/final" && printf 'FROM lab.dev/kind/node-commit:%s\nSTOPSIGNAL SIGRTMIN+3\nLABEL dev.lab.node-image.rev=%s\n' "$K8S" "$REV" > "$work/final/Dockerfile"
dbuild -q -t "$IMAGE" "$work/final"
docker rmi -f lab.dev/kind/node-commit:"$K8S" lab.dev/kind/node-base:"$K8S" >/dev/null 2>&1 || true
mkdir -p "$out" && docker save -o "$out/kind-node.tar.tmp" "$IMAGE" && mv "$out/kind-node.tar.tmp" "$out/kind-node.tar"
ln -sfn "$out" "$cache/kind-node-$K8S"
for old in "$cache/kind-node-$K8S"-*; do [[ $old == "$out" ]] || rm -rf "$old"; done
[[ -z $old_image ]] || docker rmi "$old_image" >/dev/null 2>&1 || true
log "$IMAGE: $(docker image inspect -f '{{.Size}}' "$IMAGE" | awk '{printf "%.0f MB", $1/1e6}'), built in $((SECONDS - start))s, saved to $out/kind-node.tar"
