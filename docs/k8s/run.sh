#!/usr/bin/env bash
# Shards as a Kubernetes Indexed Job, then the merge (see simcal-shards.yaml), in the image you
# built from the repository's Dockerfile and pushed where the cluster pulls from:
#   docs/k8s/run.sh registry.example.com/you/simcal:0.1.0     # or SIMCAL_IMAGE=… docs/k8s/run.sh
#   docs/k8s/run.sh --print IMAGE     # the manifests as they would be applied; applies nothing
# The manifests name the placeholder SIMCAL_IMAGE, which this script replaces with the image:
# plain `kubectl apply` has no templating, and one literal token replaced by sed needs nothing
# on the machine but kubectl and works on any kubectl version (kustomize's `images:` would need
# a kustomization beside the files). scripts/check-deploy validates the output of --print, so what
# is checked is what is applied.
set -euo pipefail
cd "$(dirname "$0")"
print=false
if [ "${1:-}" = --print ]; then print=true; shift; fi
image=${1:-${SIMCAL_IMAGE:-}}
if [ -z "$image" ] || [ "$image" = SIMCAL_IMAGE ]; then
  echo "usage: $0 [--print] IMAGE (or SIMCAL_IMAGE=IMAGE $0): the simcal image to run, e.g. registry.example.com/you/simcal:0.1.0" >&2
  exit 2
fi
# An image reference has only these characters (name, :tag, @sha256:digest); refusing others
# also keeps sed's replacement literal.
case $image in
  -* | *[!A-Za-z0-9._/:@-]*) echo "$0: not an image reference: $image" >&2; exit 2 ;;
esac
render() { sed "s|image: SIMCAL_IMAGE.*|image: $image|" "$1"; }
if $print; then
  render simcal-shards.yaml
  echo ---
  render simcal-merge.yaml
  exit 0
fi
kubectl delete job simcal-score simcal-merge --ignore-not-found
render simcal-shards.yaml | kubectl apply -f -
kubectl wait --for=condition=complete --timeout=24h job/simcal-score
render simcal-merge.yaml | kubectl apply -f -
kubectl wait --for=condition=complete --timeout=1h job/simcal-merge
