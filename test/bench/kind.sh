#!/usr/bin/env bash
# Measures a real kind lab (1 control plane + 2 workers, the offline node
# image test/bin/build.sh builds) against kind itself, N times each,
# alternating, and prints a markdown table (stdout):
#   - `lab up` from nothing to healthy (every node Ready, the agent's RBAC and
#     APF objects applied), a no-op `lab up`, `lab down`;
#   - `kind create cluster` with the very config lab hands kind (`lab cluster
#     config`), until kind returns (its --wait covers the control plane) and
#     until every node is Ready, then `kind delete cluster`.
# Usage: test/bench/kind.sh [path/to/lab] [N]
set -euo pipefail
lab=${1:-bin/lab}; n=${2:-3}
root=$(cd "$(dirname "$0")/../.." && pwd)
k8s=$(sed -n 's/^  kubernetes: *//p' "$root/manifests/versions.yaml")
cache=$("$root/test/bin/build.sh" --print)
image=lab.dev/kind/node:$k8s
work=$(mktemp -d)
export LAB_HOME=$work/home NO_COLOR=1
cfg=$work/lab.yaml
cat > "$cfg" <<EOF
apiVersion: lab.dev/v1alpha1
kind: Lab
metadata: {name: kindbench}
cluster: {provider: kind, workers: 2, nodeImage: "$image"}
stacks: {argocd: {enabled: false}, linkerd: {enabled: false}, prometheus: {enabled: false}, ollama: {enabled: false}}
EOF
kind=$work/kind kubectl=$cache/kubectl-$k8s/kubectl
trap '"$lab" down -q -c "$cfg" >/dev/null 2>&1 || true; "$kind" delete cluster --name kindbench >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
(cd "$root" && go build -o "$kind" sigs.k8s.io/kind) # the kind CLI of the version lab links
"$lab" cluster config -c "$cfg" > "$work/kind.yaml"
ms() { echo $(( $(date +%s%N) / 1000000 )); }
stats() { sort -n | awk '{a[NR]=$1} END {printf "%d | %d | %d", a[int((NR+1)/2)], a[1], a[NR]}'; }
lup=(); lnoop=(); ldown=(); kret=(); kready=(); kdel=()
for i in $(seq "$n"); do
  s=$(ms); "$lab" up -q -c "$cfg" >/dev/null; e=$(ms); lup+=($((e - s)))
  s=$(ms); "$lab" up -q -c "$cfg" >/dev/null; e=$(ms); lnoop+=($((e - s)))
  s=$(ms); "$lab" down -q -c "$cfg" >/dev/null; e=$(ms); ldown+=($((e - s)))
  s=$(ms); "$kind" create cluster -q --config "$work/kind.yaml" --kubeconfig "$work/kc" --wait 3m; e=$(ms); kret+=($((e - s)))
  "$kubectl" --kubeconfig "$work/kc" wait --for=condition=Ready nodes --all --timeout=3m >/dev/null; e=$(ms); kready+=($((e - s)))
  s=$(ms); "$kind" delete cluster -q --name kindbench --kubeconfig "$work/kc"; e=$(ms); kdel+=($((e - s)))
done
med() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
echo "| measure | median ms | min ms | max ms | runs |"
echo "|---|---|---|---|---|"
echo "| \`lab up\` kind lab (3 nodes) from nothing to healthy: all nodes Ready, agent RBAC + APF | $(printf '%s\n' "${lup[@]}" | stats) | $n |"
echo "| \`kind create cluster --wait 3m\`, same config and image, until it returns (control plane Ready) | $(printf '%s\n' "${kret[@]}" | stats) | $n |"
echo "| \`kind create cluster\` until every node is Ready (\`kubectl wait\`) | $(printf '%s\n' "${kready[@]}" | stats) | $n |"
echo "| no-op \`lab up\` on the healthy lab | $(printf '%s\n' "${lnoop[@]}" | stats) | $n |"
echo "| \`lab down\` (nodes, volumes, kind's network) | $(printf '%s\n' "${ldown[@]}" | stats) | $n |"
echo "| \`kind delete cluster\` | $(printf '%s\n' "${kdel[@]}" | stats) | $n |"
echo
awk -v l="$(med "${lup[@]}")" -v k="$(med "${kready[@]}")" 'BEGIN {printf "lab'"'"'s overhead: median `lab up` / median kind create to all nodes Ready = %.2f.\n", l / k}'
