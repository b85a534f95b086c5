#!/usr/bin/env bash
# The dynamic-membership benchmarks, on one engine.
#
#   bench/dynamic.sh sqlite|postgres [USERS] [GROUPS] [CHANGES]
#
# Seeds USERS (default 100,000) users straight into the store, starts the release server, waits until its
# change processors have gone through the seeded change log, creates GROUPS
# (default 1,000) paused dynamic groups through Graph (job-title, department-and-city and given-name rules),
# then measures: resuming them all until every group's status reads Succeeded (a full re-evaluation of every
# rule); CHANGES (default 200) job-title changes, each timed from the PATCH's return until the user's
# memberOf shows the new title's group and not the old one; and in-process rule evaluations per second per
# core next to serializing a user, its same-run baseline. Prints one JSON line per measurement.
set -euo pipefail
cd "$(dirname "$0")/.."
engine=$1
users=${2:-100000}
groups=${3:-1000}
changes=${4:-200}
source bench/common.sh

"$bench" rules
database_for "$engine"
serve
kill "$server"; wait "$server" 2>/dev/null || true
"$bench" seed-store --database-url "$url" --count "$users"
if [ "$engine" = postgres ]; then psql -q -h 127.0.0.1 -p "$pgport" -U postgres -c "VACUUM ANALYZE" gatehouse; fi
serve
settle
"$bench" create-dynamic --base "$base" --token "$token" --count "$groups" --out "$work/groups"
"$bench" resume-dynamic --base "$base" --token "$token" --groups "$work/groups"
"$bench" dynamic-latency --base "$base" --token "$token" --groups "$work/groups" --users "$users" --changes "$changes"
echo "{\"name\": \"$engine server peak resident memory\", \"VmHWM\": \"$(grep VmHWM /proc/$server/status | awk '{print $2 " " $3}')\"}"
