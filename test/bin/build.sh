#!/usr/bin/env bash
# Builds the real components the integration tests and the kwok provider run:
# kube-apiserver, kube-controller-manager, kube-scheduler, etcd, kwok,
# terraform, prometheus and a CPU-only ollama, all from the Go module proxy, into one cache folder outside
# the work tree. A binary that already exists at the pinned version is skipped,
# so a warm run takes seconds.
#
#   test/bin/build.sh            build what is missing (everything the tests use)
#   test/bin/build.sh demo       only what `make demo` runs: the control plane, etcd, kwok
#   test/bin/build.sh kind       only the control plane and the offline kind node image
#   test/bin/build.sh stacks     the control plane, Ollama and the stacks' images (kube-prometheus-
#                                stack's operator, config-reloader, Prometheus, Alertmanager, node-
#                                exporter; Ollama), their binaries static from the Go module proxy at
#                                the charts' tags (test/bin/stack-images.sh; the images need the kind
#                                parts' Debian base and a Docker engine)
#                                and Argo CD (its image, Redis and the GitOps demo app's from Debian);
#                                LAB_SKIP_ARGOCD=1 leaves Argo CD out
#   test/bin/build.sh --print    print the cache folder and exit
#
# Versions come from manifests/versions.yaml (the one place they are pinned).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
cache=${LAB_TESTBIN:-${XDG_CACHE_HOME:-$HOME/.cache}/lab/testbin}
pin() { sed -n "s/^  $1: *//p" "$root/manifests/versions.yaml" | head -1; }
K8S=$(pin kubernetes) ETCD=$(pin etcd) KWOK=$(pin kwok) OLLAMA=$(pin ollama) TERRAFORM=$(pin terraform) PROMOP=$(pin prometheusOperator) PROM=$(pin prometheus) KYVERNO=$(pin kyvernoModule)
if [[ ${1:-} == --print ]]; then echo "$cache"; exit 0; fi
if [[ ${1:-} == demo ]]; then export LAB_SKIP_TERRAFORM=1 LAB_SKIP_OLLAMA=1 LAB_SKIP_KIND=1 LAB_SKIP_STACKS=1; fi
if [[ ${1:-} == kind ]]; then export LAB_SKIP_TERRAFORM=1 LAB_SKIP_OLLAMA=1 LAB_SKIP_STACKS=1; fi
if [[ ${1:-} == stacks ]]; then export LAB_SKIP_TERRAFORM=1 LAB_SKIP_KIND=1; fi

mkdir -p "$cache"
# -dwarf=false: no debug info compiled for what is linked with -s -w anyway
# (measured on Alertmanager, cold: 7 % less CPU, the same binary size).
export GOFLAGS="-buildvcs=false -modcacherw -gcflags=all=-dwarf=false"
log() { printf '[testbin] %s\n' "$*" >&2; }
timed() { local s=$SECONDS; "$@"; log "$(( SECONDS - s ))s: ${*: -1}"; }

# Cold build times measured on a 2-core machine with an empty Go module cache
# (the first build also downloads the modules); warm: seconds.
# Measured 2026-11-27: idle machine / while other builds ran beside it.
declare -A took=([kube-apiserver]="2-6 minutes" [kube-controller-manager]="1 minute" [kube-scheduler]="10 seconds"
  [etcd]="15-30 seconds" [kwok]="1-2 minutes" [terraform]="2 minutes" [ollama]="4 minutes" [monitoring-crds]="10 seconds"
  [kubeadm]="1-2 minutes" [kubelet]="1 minute" [kubectl]="1 minute" [kube-proxy]="30 seconds" [debian-min]="1 minute" [runc]="10 seconds" [prometheus]="4 minutes" [alertmanager]="1 minute" [otelcol]="1-2 minutes" [argocd]="6-11 minutes" [kyverno]="5-6 minutes")

# build_once NAME VERSION CMD...: runs CMD unless $cache/NAME-VERSION/NAME exists.
build_once() {
  local name=$1 ver=$2; shift 2
  local dir="$cache/$name-$ver"
  if [[ -x "$dir/$name" ]]; then
    log "$name $ver: cached"
  else
    log "building $name $ver from the Go module proxy: about ${took[$name]:-a minute} the first time, cached afterwards in $cache"
    rm -rf "$dir.tmp" && mkdir -p "$dir.tmp"
    timed "$@" "$dir.tmp"
    rm -rf "$dir" && mv "$dir.tmp" "$dir"
  fi
  ln -sfn "$dir/$name" "$cache/$name"
}

modcopy() { # MODULE@VERSION "PKG..." OUT [PLACEHOLDER-DIR]: builds each PKG
  # (static: these binaries also run FROM scratch in the stacks' images; with
  # the build tags $tags, when set) from
  # a writable copy of the module as the main module, so its replace
  # directives apply; PLACEHOLDER-DIR gets a one-page index.html where the
  # module expects built web assets its zip does not carry.
  local src w rc p pkgs=()
  src=$(cd "$3" && go mod download -json "$1" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
  [[ -n $src ]] || return 1
  w=$(mktemp -d) && cp -r "$src/." "$w" && chmod -R u+w "$w" || return 1
  if [[ -n ${4:-} ]]; then mkdir -p "$w/$4" &&
    printf '<!doctype html><title>%s</title><p>Web UI not built (lab builds it offline); the API is whole.\n' "${1%@*}" > "$w/$4/index.html"; fi
  for p in $2; do pkgs+=("./$p"); done
  (cd "$w" && rm -f go.work go.work.sum && CGO_ENABLED=0 GOWORK=off go build ${tags:+-tags "$tags"} -ldflags "-s -w" -o "$3/" "${pkgs[@]}"); rc=$?; rm -rf "$w"; return $rc
}
# Argo CD: the chart's appVersion is v3.4.4, whose go.mod requires its
# gitops-engine under a module path the proxy does not serve (and v3.3.x
# replace it with a folder the zip lacks, whose served twin lacks an API they
# call); v3.2.12 calls a function its own tree lacks. v3.2.11 builds: its
# go.mod requires a served gitops-engine pseudo-version. One binary, every
# component a symbolic link to it (as upstream's image does). Built beside
# the rest — its ≈ 6 minutes of compiling overlap the other builds' links,
# downloads, debootstrap and image builds — and joined before the stacks'
# images; LAB_SKIP_ARGOCD=1 leaves it out (the kind stacks test then runs
# without Argo CD and GitOps, and says so).
argocd() {
  modcopy "github.com/argoproj/argo-cd/v3@$(pin argocd)" cmd "$1" && mv "$1/cmd" "$1/argocd"
}
# Kyverno's controllers at the release the pinned chart installs, one go
# build (they share nearly every package; ≈ 130 MB each); the chart's
# pre-delete hooks run readiness-checker, its post-upgrade CRD migration
# the kyverno CLI. Its go.mod replaces a dependency: built as the main
# module (modcopy). Built beside the rest, after Argo CD; LAB_SKIP_KYVERNO=1 leaves it out (the kind stacks test then
# runs without Kyverno and the policies, and says so).
kyverno() { modcopy "github.com/kyverno/kyverno@$KYVERNO" "cmd/kyverno cmd/kyverno-init cmd/background-controller cmd/cleanup-controller cmd/reports-controller cmd/readiness-checker cmd/cli/kubectl-kyverno" "$1"; }
# Terraform, for the cluster.provisioner: terraform tests (pure Go, no cgo).
terraform() { CGO_ENABLED=0 GOBIN="$1" go install -ldflags "-s -w" "github.com/hashicorp/terraform@$TERRAFORM"; }
# Ollama CPU-only: needs Debian's nlohmann-json3-dev and libstb-dev, and our own
# stub for miniaudio.h (the module zip leaves out llama.cpp's vendor folder).
ollama() {
  for h in /usr/include/nlohmann/json.hpp /usr/include/stb/stb_image.h; do
    [[ -f $h ]] || { log "missing $h: apt-get install nlohmann-json3-dev libstb-dev"; return 1; }
  done
  # -g0: no debug info for llama.cpp's C and C++ (cgo's default is -O2 -g;
  # the binary is stripped anyway), which was a large part of its compiling.
  CGO_CPPFLAGS="-I$here/ollama-stub -I/usr/include/stb" CGO_CFLAGS="-O2 -g0" CGO_CXXFLAGS="-O2 -g0" GOBIN="$1" \
    go install -ldflags "-s -w" "github.com/ollama/ollama@$OLLAMA"
}
# later NAME VERSION SKIP...: NAME linked now when cached, else queued for
# the background chain — unless one of the SKIP variables is 1.
beside=()
later() {
  local name=$1 ver=$2 v; shift 2
  for v; do [[ ${!v:-} == 1 ]] && { log "$name: skipped ($v=1)"; return; }; done
  if [[ -x $cache/$name-$ver/$name ]]; then build_once "$name" "$ver" "$name"
  else beside+=("$name $ver $name"); fi
}
later argocd "$(pin argocd)" LAB_SKIP_STACKS LAB_SKIP_ARGOCD
later kyverno "$KYVERNO" LAB_SKIP_STACKS LAB_SKIP_KYVERNO
# Terraform and Ollama (cgo: llama.cpp's C++ compiles mostly one file at a
# time) are needed only by tests and the stacks' images: beside too.
later terraform "$TERRAFORM" LAB_SKIP_TERRAFORM
later ollama "$OLLAMA" LAB_SKIP_OLLAMA
beside_pid=
if ((${#beside[@]})); then
  log "building beside the rest: ${beside[*]} (log: $cache/beside-build.log)"
  (for b in "${beside[@]}"; do build_once $b || exit 1; done) >"$cache/beside-build.log" 2>&1 &
  beside_pid=$!
fi

# Kubernetes: a wrapper module whose go.mod replaces every k8s.io staging module
# with the release's v0.x twin (k8s.io/kubernetes requires them at v0.0.0).
k8s() { # $1 = binary, $2 = out dir
  local minor=${K8S#v1.}; minor=${minor%%.*}
  local ld="-s -w"
  for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ld+=" -X $p.gitVersion=$K8S -X $p.gitMajor=1 -X $p.gitMinor=$minor -X $p.gitTreeState=clean"
  done
  (cd "$here/kubernetes" && CGO_ENABLED=0 go build -ldflags "$ld" -o "$2/$1" "k8s.io/kubernetes/cmd/$1")
}
grep -q "k8s.io/kubernetes $K8S\$" "$here/kubernetes/go.mod" || { log "kubernetes/go.mod does not pin $K8S"; exit 1; }
grep -q "go.etcd.io/etcd/server/v3 $ETCD\$" "$here/etcd/go.mod" || { log "etcd/go.mod does not pin $ETCD"; exit 1; }
for b in kube-apiserver kube-controller-manager kube-scheduler; do
  build_once "$b" "$K8S" k8s "$b"
done

etcd() { (cd "$here/etcd" && go build -ldflags "-s -w" -o "$1/etcd" go.etcd.io/etcd/server/v3); }
build_once etcd "$ETCD" etcd

kwok() { GOBIN="$1" go install -ldflags "-s -w" "sigs.k8s.io/kwok/cmd/kwok@$KWOK"; }
build_once kwok "$KWOK" kwok


# The prometheus-operator CRDs the agent's serve manifests are validated
# against (read from the module, never copied into the repository); the
# folder's marker file is what build_once looks for.
monitoring_crds() {
  local mod
  mod=$(cd "$1" && go mod init crds >/dev/null 2>&1 && go mod download -json "github.com/prometheus-operator/prometheus-operator@$PROMOP" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
  [[ -n $mod ]] || { log "prometheus-operator $PROMOP not downloadable"; return 1; }
  cp "$mod"/example/prometheus-operator-crd/monitoring.coreos.com_{alertmanagerconfigs,servicemonitors}.yaml "$1"/
  chmod u+w "$1"/*.yaml && rm -f "$1"/go.mod && printf '#!/bin/sh\n' > "$1/monitoring-crds" && chmod +x "$1/monitoring-crds"
}
if [[ ${LAB_SKIP_TERRAFORM:-} == 1 ]]; then :; else build_once monitoring-crds "$PROMOP" monitoring_crds; fi

# Kyverno's CRDs (ClusterPolicy and the rest) from the module of the release
# lab pins (chart 3.9.1 = Kyverno v1.19.1), to validate lab's policy set
# against the real schemas; read from the module, never copied into the repo.
kyverno_crds() {
  local mod
  mod=$(cd "$1" && go mod init crds >/dev/null 2>&1 && go mod download -json "github.com/kyverno/kyverno@$KYVERNO" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
  [[ -n $mod ]] || { log "kyverno $KYVERNO not downloadable"; return 1; }
  cp "$mod"/config/crds/kyverno/*.yaml "$1"/
  chmod u+w "$1"/*.yaml && rm -f "$1"/go.mod && printf '#!/bin/sh\n' > "$1/kyverno-crds" && chmod +x "$1/kyverno-crds"
}
if [[ ${LAB_SKIP_TERRAFORM:-} == 1 ]]; then :; else build_once kyverno-crds "$KYVERNO" kyverno_crds; fi

# Kyverno's chart as its release packs it, for the tests that install it
# (TestUpstreamCharts, the kind stacks test): the module holds the chart
# (charts/kyverno, with its crds and grafana subcharts) but not its
# kyverno-api subchart, which holds only the policies.kyverno.io CRDs: those
# come from the same module (config/crds/policies.kyverno.io), as that
# subchart's crds. Written to CACHE/kyverno-chart-<v>/kyverno-<chart>.tgz,
# read from the module, never copied into the repository.
kyverno_chart() {
  local mod w
  mod=$(cd "$1" && go mod init chart >/dev/null 2>&1 && go mod download -json "github.com/kyverno/kyverno@$KYVERNO" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
  rm -f "$1/go.mod"
  [[ -n $mod ]] || { log "kyverno $KYVERNO not downloadable"; return 1; }
  w=$(mktemp -d) && cp -r "$mod/charts/kyverno" "$w/" && chmod -R u+w "$w" &&
    mkdir -p "$w/kyverno/charts/kyverno-api/crds" &&
    cp "$mod"/config/crds/policies.kyverno.io/*.yaml "$w/kyverno/charts/kyverno-api/crds/" &&
    printf '%s\n' 'apiVersion: v2' 'name: kyverno-api' 'version: 0.0.1-alpha.4' 'description: policies.kyverno.io CRDs (assembled by lab from the kyverno module)' > "$w/kyverno/charts/kyverno-api/Chart.yaml" &&
    chmod -R u+w "$w" && tar -C "$w" -czf "$1/kyverno-$(pin kyverno).tgz" kyverno; local rc=$?; rm -rf "$w"
  ((rc == 0)) && printf '#!/bin/sh\n' > "$1/kyverno-chart" && chmod +x "$1/kyverno-chart"
}
if [[ ${LAB_SKIP_TERRAFORM:-} == 1 ]]; then :; else build_once kyverno-chart "$KYVERNO" kyverno_chart; fi

# Prometheus and promtool, for `lab agent predict` against a real TSDB
# (history backfilled with promtool, rules evaluated by the server); the
# same server is the stack's image. Built as the main module: its go.mod
# pins a dependency by a replace directive.
# Only the Kubernetes service discovery is built in (Prometheus' own build
# tags; the Prometheus stack's scrape and Alertmanager targets are all
# Kubernetes SD, the tests' static): the cloud SDKs of the other 26
# (AWS, Azure, GCE, Oracle, …) were most of its compiling.
PROMSD=k8s-sd
prometheus() { tags=remove_all_sd,enable_kubernetes_sd modcopy "github.com/prometheus/prometheus@$PROM" "cmd/prometheus cmd/promtool" "$1"; }
if [[ ${LAB_SKIP_TERRAFORM:-} == 1 ]]; then :; else
  build_once prometheus "$PROM-$PROMSD" prometheus
  ln -sfn "$cache/prometheus-$PROM-$PROMSD/promtool" "$cache/promtool"
fi

# Alertmanager embeds its web UI's built assets (ui/app/dist), which its
# module zip does not carry: built from a copy of the module with a
# one-page placeholder there. The API (what the alert path uses) is whole;
# the web UI says it was left out. Static: it also runs FROM scratch in the
# stack's image.
am() { modcopy "github.com/prometheus/alertmanager@$(pin stackAlertmanager)" cmd/alertmanager "$1" ui/app/dist; }
# Alertmanager is the sender in the alert-path tests (and an image of the
# Prometheus stack): built by default.
if [[ ${LAB_SKIP_TERRAFORM:-} == 1 ]]; then :; else build_once alertmanager "$(pin stackAlertmanager)" am; fi

# An OpenTelemetry Collector (the OTLP receiver, contrib's file exporter)
# for the tracing tests: a wrapper module, test/bin/otelcol, at one
# collector release.
otelcol() { (cd "$here/otelcol" && CGO_ENABLED=0 go build -ldflags "-s -w" -o "$1/otelcol" .); }
grep -q "go.opentelemetry.io/collector/otelcol $(pin otelcol)\$" "$here/otelcol/go.mod" || { log "otelcol/go.mod does not pin $(pin otelcol)"; exit 1; }
if [[ ${LAB_SKIP_TERRAFORM:-} == 1 ]]; then :; else build_once otelcol "$(pin otelcol)" otelcol; fi

# The offline kind node image (test/bin/kind/node-image.sh) and its parts:
# the rest of Kubernetes, CoreDNS, the CNI plugins, crictl and
# local-path-provisioner from the Go module proxy, a Debian base from the
# Debian mirror. Needs a Docker engine; skipped without one (the kind tests
# then fail and say so).
kind_parts() {
  local COREDNS CNI LPP CRI DEBIAN b
  COREDNS=$(pin coredns) CNI=$(pin cniPlugins)
  LPP=$(pin localPathProvisioner) CRI=$(pin criTools) DEBIAN=$(pin debian)
  export CGO_ENABLED=0
  for b in kubeadm kubelet kubectl kube-proxy; do build_once "$b" "$K8S" k8s "$b"; done
  gobin() { local out=${*: -1}; GOBIN="$out" go install -ldflags "-s -w" "${@:1:$#-1}"; }
  build_once coredns "$COREDNS" gobin "github.com/coredns/coredns@$COREDNS"
  build_once local-path-provisioner "$LPP" gobin "github.com/rancher/local-path-provisioner@$LPP"
  build_once crictl "$CRI" gobin "sigs.k8s.io/cri-tools/cmd/crictl@$CRI"
  runc() { [[ -f /usr/include/seccomp.h ]] || { log "missing /usr/include/seccomp.h: apt-get install libseccomp-dev"; return 1; }
    CGO_ENABLED=1 gobin -tags seccomp "github.com/opencontainers/runc@$(pin runc)" "$1"; }
  build_once runc "$(pin runc)" runc
  cni() { local m=github.com/containernetworking/plugins/plugins
    gobin "$m/main/loopback@$CNI" "$m/main/ptp@$CNI" "$m/ipam/host-local@$CNI" "$m/meta/portmap@$CNI" "$1" &&
      printf '#!/bin/sh\n' > "$1/cni-plugins" && chmod +x "$1/cni-plugins"; }
  build_once cni-plugins "$CNI" cni
  debian_min() {
    command -v debootstrap >/dev/null || { log "debootstrap missing: apt-get install debootstrap"; return 1; }
    # The machine's own Debian mirror (what apt uses here), else Debian's CDN.
    local mirror=${LAB_DEBIAN_MIRROR:-}
    [[ -n $mirror ]] || mirror=$(sed -n 's|^URIs: *\(https\?://[^ ]*/debian\)/\?$|\1|p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -1)
    [[ -n $mirror ]] || mirror=$(awk '$1 == "deb" && $2 ~ /\/debian\/?$/ {print $2; exit}' /etc/apt/sources.list 2>/dev/null)
    debootstrap --variant=minbase --include=iptables,conntrack,iproute2,ca-certificates,procps \
      "$DEBIAN" "$1/rootfs" "${mirror:-http://deb.debian.org/debian}" >"$1/debootstrap.log" 2>&1 || { tail -5 "$1/debootstrap.log"; return 1; }
    tar -C "$1/rootfs" -cf "$1/debian-min.tar" . && rm -rf "$1/rootfs"
    printf '#!/bin/sh\n' > "$1/debian-min" && chmod +x "$1/debian-min"
  }
  build_once debian-min "$DEBIAN" debian_min
  unset CGO_ENABLED
  "$here/kind/node-image.sh" "$cache"
}
if [[ ${LAB_SKIP_KIND:-} == 1 ]]; then log "kind node image: skipped (LAB_SKIP_KIND=1)"
elif ! docker info >/dev/null 2>&1; then log "kind node image: skipped, no Docker engine answers (the kind tests will say so)"
else kind_parts; fi
# The binaries of kube-prometheus-stack's images, static (CGO off: they run
# FROM scratch), each at the tag the chart references; TestKindStacksForReal
# runs them on the kind lab.
stack_bins() {
  local m
  export CGO_ENABLED=0
  gobin() { local out=${*: -1}; GOBIN="$out" go install -ldflags "-s -w" "${@:1:$#-1}"; }
  # The operator's go.mod replaces its own API modules with folders its
  # module zip does not carry: built inside a throwaway wrapper module
  # that requires them at the same tag (the way kubernetes/ is built).
  m=github.com/prometheus-operator/prometheus-operator
  wrapped() { # OUT PKG MODULE@VERSION...
    local out=$1 pkg=$2 w; shift 2
    w=$(mktemp -d) && (cd "$w" && go mod init wrap >/dev/null 2>&1 && go get "$@" >/dev/null &&
      go build -ldflags "-s -w" -o "$out/$(basename "$pkg")" "$pkg"); local rc=$?; rm -rf "$w"; return $rc
  }
  local op=$PROMOP
  opbin() { wrapped "$2" "$m/cmd/$1" "$m/cmd/$1@$op" "$m/pkg/apis/monitoring@$op" "$m/pkg/client@$op"; }
  build_once operator "$op" opbin operator
  build_once prometheus-config-reloader "$op" opbin prometheus-config-reloader
  build_once alertmanager "$(pin stackAlertmanager)" am
  build_once node_exporter "$(pin stackNodeExporter)" gobin "github.com/prometheus/node_exporter@$(pin stackNodeExporter)"
  build_once prometheus "$PROM-$PROMSD" prometheus
  unset CGO_ENABLED
}
if [[ -n $beside_pid ]]; then
  wait "$beside_pid" || { log "${beside[*]}: did not build:"; tail -20 "$cache/beside-build.log" >&2; exit 1; }
  grep '^\[testbin\]' "$cache/beside-build.log" >&2 || true
fi
if [[ ${LAB_SKIP_STACKS:-} == 1 ]]; then log "stacks' images: skipped (LAB_SKIP_STACKS=1)"; else
  stack_bins
  # The images themselves (named as the charts reference them), once the
  # node image's Debian base exists; a fresh engine loads them from the cache.
  if ! docker info >/dev/null 2>&1; then log "stacks' images: skipped, no Docker engine answers (the kind stacks test will say so)"
  elif [[ ! -f $cache/debian-min-$(pin debian)/debian-min.tar || ! -x $cache/ollama ]]; then log "stacks' images: skipped, no Debian base or ollama built (test/bin/build.sh)"
  else "$here/stack-images.sh" "$cache"; fi
fi
log "ready in $cache"
