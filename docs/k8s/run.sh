#!/bin/sh
# Shards as a Kubernetes Indexed Job, then the merge (see simcal-shards.yaml).
set -eu
cd "$(dirname "$0")"
kubectl delete job simcal-score simcal-merge --ignore-not-found
kubectl apply -f simcal-shards.yaml
kubectl wait --for=condition=complete --timeout=24h job/simcal-score
kubectl apply -f simcal-merge.yaml
kubectl wait --for=condition=complete --timeout=1h job/simcal-merge
