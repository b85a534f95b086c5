#!/usr/bin/env bash
# The admin center's users page at a million users, on one engine.
#
#   bench/admin_pages.sh sqlite|postgres [USERS] [SECONDS]
#
# Seeds USERS (default 1,000,000) users straight into the store (gatehouse-bench seed-store), starts the
# release server, signs the bootstrap Global Administrator in at /{tenant}/admin through the sign-in form
# (its CSRF token and cookie as a browser sends them), and measures with that session, each beside the
# trivial endpoint as its same-run baseline: the users page's first page (50 users by display name), search
# as you type (the page for a typed prefix of a display name, a different prefix each request), and a search
# by user name (a name typed up to its @).
# Prints one JSON line per measurement. With BENCH_KEEP=DIR (see common.sh), a database seeded there by an
# earlier run of the same engine is measured again without seeding.
set -euo pipefail
cd "$(dirname "$0")/.."
engine=$1
users=${2:-1000000}
seconds=${3:-10}
source bench/common.sh

seeded_users
tenant=$(json_field "$state/boot.json" tenantId)
session=$(python3 bench/admin_web.py session "$base" "$tenant" "$state/boot.json")
shown=$(curl -s -o /dev/null -w '%{http_code}' -H "Cookie: gatehouse_session=$session" "$base/$tenant/admin/users")
[ "$shown" = 200 ] || { echo "the signed-in users page answered $shown" >&2; exit 1; }

load() { "$bench" load --concurrency 8 --seconds "$seconds" "$@"; }
load --name "$engine trivial GET /healthz" --url "$base/healthz"
load --name "$engine admin center: the users page, first page" --url "$base/$tenant/admin/users" \
  --header "Cookie: gatehouse_session=$session"
load --name "$engine admin center: search as you type" --url "$base/$tenant/admin/users?search=User%20{id}" \
  --ids "$work/prefixes" --header "Cookie: gatehouse_session=$session"
load --name "$engine admin center: search by user name" --url "$base/$tenant/admin/users?search=user{id}%40" \
  --ids "$work/ids" --header "Cookie: gatehouse_session=$session"
echo "{\"name\": \"$engine server peak resident memory\", \"VmHWM\": \"$(grep VmHWM /proc/$server/status | awk '{print $2 " " $3}')\"}"
