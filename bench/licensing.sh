#!/usr/bin/env bash
# The licensing benchmarks, on one engine.
#
#   bench/licensing.sh sqlite|postgres [MEMBERS]
#
# Seeds a group of MEMBERS (default 100,000) users plus 20,000 users in no group straight into the store
# (gatehouse-bench seed-groups), starts the release server, waits until its change processors have gone
# through the seeded change log, subscribes to Entra ID P1 and assigns it to the
# big group, timing until its license processing completes for every member; then times 100 membership
# changes each way until the user holds (or no longer holds) a group's license. Prints one JSON line each.
set -euo pipefail
cd "$(dirname "$0")/.."
engine=$1
members=${2:-100000}
source bench/common.sh

database_for "$engine"
serve
kill "$server"; wait "$server" 2>/dev/null || true
"$bench" seed-groups --database-url "$url" --groups 1000 --members "$members" --chained 0 --out "$work/fixture"
if [ "$engine" = postgres ]; then psql -q -h 127.0.0.1 -p "$pgport" -U postgres -c "VACUUM ANALYZE" gatehouse; fi
serve
settle
"$bench" license-group --base "$base" --token "$token" --group "$(cat "$work/fixture/big")" --members "$members"
"$bench" license-latency --base "$base" --token "$token" --users "$work/fixture/spare"
echo "{\"name\": \"$engine server peak resident memory\", \"VmHWM\": \"$(grep VmHWM /proc/$server/status | awk '{print $2 " " $3}')\"}"
