#!/usr/bin/env bash
# The million-user benchmarks of the query issue, on one engine.
#
#   bench/million.sh sqlite|postgres [USERS] [SECONDS]
#
# Seeds USERS (default 1,000,000) users straight into the store (gatehouse-bench seed-store: no password
# hashing, otherwise the same writes as the API), starts the release server on it and measures, each with
# the trivial endpoint as its same-run baseline: the first page of 100 with $count, an indexed eq filter,
# startsWith(displayName,…), $search, and a walk of every page; then reports the server's peak resident
# memory. Prints one JSON line per measurement. With BENCH_KEEP=DIR (see common.sh), a database seeded there
# by an earlier run of the same engine is measured again without seeding.
set -euo pipefail
cd "$(dirname "$0")/.."
engine=$1
users=${2:-1000000}
seconds=${3:-10}
source bench/common.sh

seeded_users

load() { "$bench" load --concurrency 8 --seconds "$seconds" "$@"; }
load --name "$engine trivial GET /healthz" --url "$base/healthz"
load --name "$engine first page of 100 with \$count" --url "$base/v1.0/users?\$top=100&\$count=true" \
  --header "$auth" --header "ConsistencyLevel: eventual"
load --name "$engine \$filter employeeId eq" --url "$base/v1.0/users?\$filter=employeeId%20eq%20'E{id}'" \
  --ids "$work/ids" --header "$auth"
load --name "$engine \$filter startsWith(displayName)" \
  --url "$base/v1.0/users?\$filter=startswith(displayName,'User%20{id}')" --ids "$work/prefixes" --header "$auth"
load --name "$engine \$search displayName" --url "$base/v1.0/users?\$search=%22displayName:{id}%22" \
  --ids "$work/prefixes" --header "$auth" --header "ConsistencyLevel: eventual"
"$bench" walk --url "$base/v1.0/users?\$top=999&\$select=id,displayName" --token "$token"
echo "{\"name\": \"$engine server peak resident memory\", \"VmHWM\": \"$(grep VmHWM /proc/$server/status | awk '{print $2 " " $3}')\"}"
