#!/usr/bin/env bash
# The provisioning benchmarks, on one engine.
#
#   bench/provisioning.sh sqlite|postgres [USERS]
#
# Seeds a group of USERS (default 100,000) users straight into the store, starts the release server and
# a SCIM server on loopback as the app (scim2-server from PyPI, in a virtual environment of its own). First
# the baseline: the SCIM server's own write rate, alone — one client creating USERS users one at a time in
# a fresh instance. Then Gatehouse: a job for an app the group is assigned to, timed from its start until
# every member is in a second fresh instance (objects/s); then 100 changes of a user's department, each
# timed from Graph's answer until the app shows it. Prints one JSON line each.
set -euo pipefail
cd "$(dirname "$0")/.."
engine=$1
users=${2:-100000}
source bench/common.sh

python3 -m venv "$work/venv"
"$work/venv/bin/pip" install --quiet --disable-pip-version-check scim2-server==0.8.3
# scim_app PORT: a fresh SCIM server on PORT, its resources in memory; sets app.
scim_app() {
  "$work/venv/bin/scim2-server" --bearer-token bench-token --port "$1" >/dev/null 2>&1 &
  pids+=($!)
  app=$!
  until curl -sf -H "Authorization: Bearer bench-token" "http://127.0.0.1:$1/v2/ServiceProviderConfig" >/dev/null; do
    sleep 0.2
  done
}

database_for "$engine"
serve
kill "$server"; wait "$server" 2>/dev/null || true
"$bench" seed-groups --database-url "$url" --groups 12 --members "$users" --chained 0 --spare 0 --out "$work/fixture"
if [ "$engine" = postgres ]; then psql -q -h 127.0.0.1 -p "$pgport" -U postgres -c "VACUUM ANALYZE" gatehouse; fi
serve
settle

alone=$(free_port)
scim_app "$alone"
user='{"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "user{n}@bench.test", "active": true,
  "displayName": "User {n}", "name": {"givenName": "User", "familyName": "{n}"},
  "emails": [{"type": "work", "value": "user{n}@bench.test"}]}'
"$bench" load --url "http://127.0.0.1:$alone/v2/Users" --method POST --header "Authorization: Bearer bench-token" \
  --content-type application/scim+json --body "$user" --concurrency 1 --requests "$users" \
  --name "SCIM app alone: users created one at a time"
kill "$app"

target=$(free_port)
scim_app "$target"
"$bench" provision-cycle --base "$base" --token "$token" --group "$(cat "$work/fixture/big")" \
  --target "http://127.0.0.1:$target/v2" --target-token bench-token --members "$users"
"$bench" provision-latency --base "$base" --token "$token" --target "http://127.0.0.1:$target/v2" \
  --target-token bench-token --users "$work/fixture/members" --changes 100
