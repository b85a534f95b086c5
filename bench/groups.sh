#!/usr/bin/env bash
# The groups benchmarks, on one engine.
#
#   bench/groups.sh sqlite|postgres [GROUPS] [MEMBERS] [SECONDS] [CONCURRENCY]
#
# Seeds GROUPS (default 50,000) groups, one with MEMBERS (default 100,000) user members, a chain of 10
# nested groups whose bottom holds 1,000 users, and 20,000 users in no group, straight into the store
# (gatehouse-bench seed-groups: the same writes as the API, links and change log included). Then starts the
# release server, waits until its change processors have gone through the seeded change log, and measures, each next to the trivial endpoint as its same-run baseline: adding a member
# to the big group, the big group's first page of members, a chained user's transitiveMemberOf through 10
# levels, the first page of groups, and two group filters, with CONCURRENCY (default 8) clients. Prints one
# JSON line per measurement.
set -euo pipefail
cd "$(dirname "$0")/.."
engine=$1
groups=${2:-50000}
members=${3:-100000}
seconds=${4:-10}
concurrency=${5:-8}
source bench/common.sh

database_for "$engine"
serve
kill "$server"; wait "$server" 2>/dev/null || true
"$bench" seed-groups --database-url "$url" --groups "$groups" --members "$members" --out "$work/fixture"
if [ "$engine" = postgres ]; then psql -q -h 127.0.0.1 -p "$pgport" -U postgres -c "VACUUM ANALYZE" gatehouse; fi
serve
settle
big=$(cat "$work/fixture/big")
python3 -c "import random; random.seed(9); print('\n'.join(f'{random.randrange($groups // 10):04}' for _ in range(10000)))" > "$work/prefixes"

load() { "$bench" load --concurrency "$concurrency" --seconds "$seconds" "$@"; }
load --name "$engine trivial GET /healthz" --url "$base/healthz"
"$bench" load --concurrency "$concurrency" --requests 20000 --name "$engine add a member to the $members-member group" \
  --url "$base/v1.0/groups/$big/members/\$ref" --method POST --ids "$work/fixture/spare" --header "$auth" \
  --body "{\"@odata.id\":\"https://graph.microsoft.com/v1.0/directoryObjects/{id}\"}"
load --name "$engine first page of the big group's members" --url "$base/v1.0/groups/$big/members" --header "$auth"
load --name "$engine transitiveMemberOf through 10 levels" --url "$base/v1.0/users/{id}/transitiveMemberOf" \
  --ids "$work/fixture/chained" --header "$auth"
load --name "$engine first page of groups" --url "$base/v1.0/groups" --header "$auth"
load --name "$engine \$filter startsWith(displayName) on groups" \
  --url "$base/v1.0/groups?\$filter=startswith(displayName,'Group%200{id}')" --ids "$work/prefixes" --header "$auth"
load --name "$engine \$filter Microsoft 365 groups" \
  --url "$base/v1.0/groups?\$filter=groupTypes/any(c:c%20eq%20'Unified')&\$top=100" --header "$auth"
echo "{\"name\": \"$engine server peak resident memory\", \"VmHWM\": \"$(grep VmHWM /proc/$server/status | awk '{print $2 " " $3}')\"}"
