#!/usr/bin/env bash
# Builds the container images the stacks' pods run on the kind lab, offline,
# from binaries test/bin/build.sh built from the Go module proxy, each named
# exactly as the upstream chart lab pins references it, so the charts run
# with lab's own values unchanged:
#
#   quay.io/prometheus-operator/prometheus-operator:<op>        operator          (FROM scratch, static)
#   quay.io/prometheus-operator/prometheus-config-reloader:<op> config-reloader   (FROM scratch, static)
#   quay.io/prometheus/prometheus:v<3.x>-distroless             prometheus server (FROM scratch, static)
#   quay.io/prometheus/alertmanager:<am>                        alertmanager      (FROM scratch, static)
#   quay.io/prometheus/node-exporter:<ne>-distroless            node_exporter     (FROM scratch, static)
#   ollama/ollama:<chart appVersion>                            ollama <pinned>   (Debian base: cgo, glibc)
#   reg.kyverno.io/kyverno/{kyverno,kyvernopre,background-controller,cleanup-controller,reports-controller}:<v>
#   reg.kyverno.io/kyverno/kyverno-cli:<v>, ghcr.io/kyverno/readiness-checker:<v>  (the chart's hooks)
#                                                               Kyverno <v>       (FROM scratch, static)
#
# Where the source differs from the tag: Ollama's chart 1.77.0 runs
# ollama/ollama:0.32.15; the proxy serves github.com/ollama/ollama up to
# v0.17.4, which is what the image holds (its API is the one lab uses).
# Alertmanager's and Prometheus' web UIs are placeholders (their built
# assets are not in the module zips); their APIs are whole.
#
#   test/bin/stack-images.sh CACHE   build (or load from CACHE) the images
#
# Saved to CACHE/stack-images-<rev>/images.tar (rev: a hash of this script,
# the pins and the binaries), so a fresh Docker loads them instead of
# building them again.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
cache=${1:?usage: stack-images.sh CACHE}
pin() { sed -n "s/^  $1: *//p" "$root/manifests/versions.yaml" | head -1; }
OP=$(pin prometheusOperator) AM=$(pin stackAlertmanager) NE=$(pin stackNodeExporter) PROM=$(pin prometheus)
OLLAMA=$(pin ollama) DEBIAN=$(pin debian) OLLAMA_TAG=$(pin stackOllamaImage)
# Prometheus' module v0.314.0 is its release v3.14.0.
promtag=${PROM#v0.}; promtag="v3.${promtag#3}"
bin() { echo "$cache/$1-$2/$1"; }
declare -A src=(
  ["quay.io/prometheus-operator/prometheus-operator:$OP"]="$(bin operator "$OP")"
  ["quay.io/prometheus-operator/prometheus-config-reloader:$OP"]="$(bin prometheus-config-reloader "$OP")"
  ["quay.io/prometheus/prometheus:$promtag-distroless"]="$cache/prometheus" # build.sh's, its SD trimmed
  ["quay.io/prometheus/alertmanager:$AM"]="$(bin alertmanager "$AM")"
  ["quay.io/prometheus/node-exporter:$NE-distroless"]="$(bin node_exporter "$NE")"
  ["ollama/ollama:$OLLAMA_TAG"]="$(bin ollama "$OLLAMA")"
)
# Argo CD (opt-in: test/bin/build.sh argocd) and the Redis its chart runs,
# when built: Argo CD v3.2.11 under the chart's tag v3.4.4 (see build.sh),
# Redis from Debian (7.0) under the chart's redis:8.2.3-alpine; and the
# images of the demo app Argo CD syncs from the lab's GitOps repository
# (manifests/gitops/demo): nginx and Redis from Debian under its tags.
ARGOCD=$(pin argocd)
if [[ -x $(bin argocd "$ARGOCD") ]]; then
  src["quay.io/argoproj/argocd:v3.4.4"]="$(bin argocd "$ARGOCD")"
  src["ecr-public.aws.com/docker/library/redis:8.2.3-alpine"]=debian:redis-server
  src["redis:7.4"]=debian:redis-server
  src["nginx:1.27"]=debian:nginx-light
fi
# Kyverno's controllers (when built: test/bin/build.sh, unless
# LAB_SKIP_KYVERNO=1), at the chart's appVersion, laid out as upstream's
# ko-built images are (/ko-app/NAME, KO_DATA_PATH, user 65532).
KYVERNO=$(pin kyvernoModule)
if [[ -x $(bin kyverno "$KYVERNO") ]]; then
  for k in kyverno kyverno-init background-controller cleanup-controller reports-controller; do
    src["reg.kyverno.io/kyverno/${k/kyverno-init/kyvernopre}:$KYVERNO"]="$cache/kyverno-$KYVERNO/$k"
  done
  src["ghcr.io/kyverno/readiness-checker:$KYVERNO"]="$cache/kyverno-$KYVERNO/readiness-checker"
  src["reg.kyverno.io/kyverno/kyverno-cli:$KYVERNO"]="$cache/kyverno-$KYVERNO/kubectl-kyverno"
fi
# What a Debian package's image runs (the upstream image's command) and
# holds (the Argo CD chart's Redis probes call redis-cli).
declare -A debcmd=([redis-server]='["redis-server"]' [nginx-light]='["nginx", "-g", "daemon off;"]')
declare -A debpkgs=([redis-server]="redis-server redis-tools" [nginx-light]="nginx-light")
log() { printf '[stack-images] %s\n' "$*" >&2; }
for ref in "${!src[@]}"; do
  [[ ${src[$ref]} == debian:* || -x ${src[$ref]} ]] || { log "missing ${src[$ref]} for $ref: run test/bin/build.sh (stacks)"; exit 1; }
done
REV=$( (cat "$0" "$root/manifests/versions.yaml"; for ref in $(printf '%s\n' "${!src[@]}" | sort); do echo "$ref ${src[$ref]}"; [[ ${src[$ref]} == debian:* ]] || sha256sum < "${src[$ref]}"; done) | sha256sum | cut -c1-10)
out=$cache/stack-images-$REV
export DOCKER_BUILDKIT=0 # the classic builder: local bases only, no registry

present=1
for ref in "${!src[@]}"; do
  [[ $(docker image inspect -f '{{index .Config.Labels "dev.lab.stack-images.rev"}}' "$ref" 2>/dev/null) == "$REV" ]] || present=0
done
if ((present)); then log "${#src[@]} images ($REV): present"; exit 0; fi
if [[ -f $out/images.tar ]]; then
  log "loading ${#src[@]} images ($REV) from $out/images.tar"
  docker load -q -i "$out/images.tar" >/dev/null
  exit 0
fi
start=$SECONDS
work=$(mktemp -d) && trap 'rm -rf "$work"' EXIT
if ! docker image inspect "lab.dev/kind/base:$DEBIAN" >/dev/null 2>&1; then
  docker import "$cache/debian-min-$DEBIAN/debian-min.tar" "lab.dev/kind/base:$DEBIAN" >/dev/null
fi
# Docker gives a build no network by default; apt needs it (the images
# with Debian packages).
dbuild() { local o; o=$(docker build --network host "$@" 2>&1) || { printf '%s\n' "$o" >&2; return 1; }; }
for ref in $(printf '%s\n' "${!src[@]}" | sort); do
  b=${src[$ref]} name=$(basename "${src[$ref]}")
  if [[ $b == debian:* ]]; then
    # A Debian package on the Debian base (apt from the machine's mirror).
    name=${b#debian:} d="$work/$name" && mkdir -p "$d"
    printf '%s\n' "FROM lab.dev/kind/base:$DEBIAN" \
      "RUN apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends ${debpkgs[$name]} >/dev/null && rm -rf /var/lib/apt/lists/*" \
      "LABEL dev.lab.stack-images.rev=$REV" "ENTRYPOINT ${debcmd[$name]}" > "$d/Dockerfile"
    dbuild -q -t "$ref" "$d"
    continue
  fi
  d="$work/$name" && mkdir -p "$d" && cp "$b" "$d/$name"
  if [[ $ref == quay.io/argoproj/argocd:* ]]; then
    # Upstream's layout (its Dockerfile's argocd-base stage): /usr/local/bin/
    # argocd and a link per component (the chart's args name the
    # component's path), git, git-lfs, gpg, ssh and tini, upstream's wrapper
    # scripts (read from the module at build time, never copied into the
    # repository), /app/config's folders, user argocd (999). Helm and
    # kustomize are left out: lab's Applications are plain directories.
    # Bookworm's coreutils 9.1 lacks cp --update=none (9.3), which the
    # chart's copyutil init container passes: the image's cp maps it to its
    # older spelling, -n.
    mod=$(cd "$work" && go mod download -json "github.com/argoproj/argo-cd/v3@$ARGOCD" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
    cp "$mod/hack/gpg-wrapper.sh" "$mod/hack/git-verify-wrapper.sh" "$mod/entrypoint.sh" "$d/" && chmod 0755 "$d"/*.sh
    printf '%s\n' '#!/bin/sh' '# coreutils 9.1 has no --update=none (9.3+); -n is the same' \
      'for a; do shift; [ "$a" = --update=none ] && a=-n; set -- "$@" "$a"; done' 'exec /usr/bin/cp.coreutils "$@"' > "$d/cp"
    chmod 0755 "$d/cp"
    printf '%s\n' "FROM lab.dev/kind/base:$DEBIAN" \
      "RUN apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends git git-lfs gnupg openssh-client tini tzdata >/dev/null && rm -rf /var/lib/apt/lists/* && groupadd -g 999 argocd && useradd -r -u 999 -g argocd argocd && mkdir -p /home/argocd && chown argocd:0 /home/argocd && chmod g=u /home/argocd" \
      "COPY argocd gpg-wrapper.sh git-verify-wrapper.sh entrypoint.sh /usr/local/bin/" \
      "COPY cp /usr/local/bin/cp.wrapper" \
      "RUN mv /usr/bin/cp /usr/bin/cp.coreutils && mv /usr/local/bin/cp.wrapper /usr/bin/cp && cd /usr/local/bin && ln -s entrypoint.sh uid_entrypoint.sh && for c in server repo-server application-controller applicationset-controller cmp-server commit-server dex notifications k8s-auth git-ask-pass; do ln -s argocd argocd-\$c; done" \
      "RUN mkdir -p /app/config/ssh /app/config/tls /app/config/gpg/source /app/config/gpg/keys && touch /app/config/ssh/ssh_known_hosts && ln -sf /app/config/ssh/ssh_known_hosts /etc/ssh/ssh_known_hosts && chown argocd /app/config/gpg/keys && chmod 0700 /app/config/gpg/keys" \
      "ENV USER=argocd" "USER 999" "WORKDIR /home/argocd" "LABEL dev.lab.stack-images.rev=$REV" > "$d/Dockerfile"
  elif [[ $b == "$cache/kyverno-$KYVERNO/"* ]]; then
    # ko's layout on a static base: /ko-app/NAME, its data folder, a
    # world-writable /tmp (scratch has none), user 65532. One binary per
    # image, as upstream's.
    mkdir -p "$d/kodata" "$d/tmp" && chmod 1777 "$d/tmp"
    printf '%s\n' "FROM scratch" "COPY $name /ko-app/$name" "COPY kodata /var/run/ko" "COPY tmp /tmp" \
      "ENV KO_DATA_PATH=/var/run/ko" "USER 65532" \
      "LABEL dev.lab.stack-images.rev=$REV" "ENTRYPOINT [\"/ko-app/$name\"]" > "$d/Dockerfile"
  elif [[ $ref == ollama/* ]]; then
    # The upstream image's layout: /bin/ollama, serve by default, models under /root/.ollama.
    printf '%s\n' "FROM lab.dev/kind/base:$DEBIAN" "COPY $name /bin/$name" "ENV OLLAMA_HOST=0.0.0.0:11434" \
      "LABEL dev.lab.stack-images.rev=$REV" 'ENTRYPOINT ["/bin/ollama"]' 'CMD ["serve"]' > "$d/Dockerfile"
  else
    # The upstream images' layout: /bin/NAME as the entrypoint, run as nobody.
    printf '%s\n' "FROM scratch" "COPY $name /bin/$name" "USER 65534" \
      "LABEL dev.lab.stack-images.rev=$REV" "ENTRYPOINT [\"/bin/$name\"]" > "$d/Dockerfile"
  fi
  dbuild -q -t "$ref" "$d"
done
mkdir -p "$out.tmp"
docker save -o "$out.tmp/images.tar" "${!src[@]}"
rm -rf "$out" && mv "$out.tmp" "$out"
ln -sfn "$out" "$cache/stack-images"
# Earlier revisions' archives are no test's any more (each ≈ 1–2 GB).
for old in "$cache"/stack-images-*; do [[ $old == "$out" ]] || rm -rf "$old"; done
log "built and saved ${#src[@]} images in $((SECONDS - start))s: $(du -h "$out/images.tar" | cut -f1)"
