#!/usr/bin/env bash
# Checks, in seconds and before any long build, what `make demo` or
# `make test` needs from the system. Each missing Debian/Ubuntu package is
# installed when we are root and apt-get is there (as CI is); otherwise one
# message names them all with the exact command, and we stop.
#
#   test/bin/prereqs.sh demo   lab + the control plane (kwok lab, rules-only diagnosis)
#   test/bin/prereqs.sh test   + Ollama's C++ headers, openssl, git, and what the
#                              offline kind node image is built with (debootstrap,
#                              libseccomp-dev); Docker is optional
set -euo pipefail
what=${1:-test}
log() { printf '[prereqs] %s\n' "$*" >&2; }

# Go: go.mod says which version; the machine's own Go must be at least that.
want=$(sed -n 's/^go \([0-9.]*\)$/\1/p' "$(dirname "$0")/../../go.mod")
if ! command -v go >/dev/null; then
  log "Go is not installed: lab needs Go >= $want (https://go.dev/doc/install, or your distribution's golang package if it is that new)"
  exit 1
fi
have=$(go env GOVERSION | sed 's/^go//')
if [[ $(printf '%s\n%s\n' "$want" "$have" | sort -V | head -1) != "$want" ]]; then
  log "Go $have is older than go.mod's $want: install Go >= $want"
  exit 1
fi

# command → Debian package
declare -A pkg=([gcc]=gcc [make]=make [git]=git)
files=()
if [[ $what == test ]]; then
  pkg[openssl]=openssl
  # Ollama's cgo build (the integration tests' real model server).
  files+=("/usr/include/nlohmann/json.hpp:nlohmann-json3-dev" "/usr/include/stb/stb_image.h:libstb-dev")
  # The offline kind node image: its Debian base and runc (cgo, seccomp).
  pkg[debootstrap]=debootstrap
  files+=("/usr/include/seccomp.h:libseccomp-dev")
fi
missing=()
for c in "${!pkg[@]}"; do command -v "$c" >/dev/null || missing+=("${pkg[$c]}"); done
for f in "${files[@]}"; do [[ -e ${f%%:*} ]] || missing+=("${f##*:}"); done

if ((${#missing[@]})); then
  if [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null; then
    log "installing ${missing[*]} (apt-get, as root)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq && apt-get install -y -qq "${missing[@]}" >/dev/null
  else
    log "missing: ${missing[*]}"
    log "install them with:  sudo apt-get install -y ${missing[*]}"
    exit 1
  fi
fi
if [[ $what == test ]] && ! command -v docker >/dev/null; then
  log "no docker: the container-engine tests will skip (apt-get install docker.io to run them)"
fi
log "ok: Go $have and the packages $what needs are here"
