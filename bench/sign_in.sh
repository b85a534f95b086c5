#!/usr/bin/env bash
# Sign-in benchmarks, each beside its baseline measured in the same run:
#
#   bench/sign_in.sh [sqlite|postgres] [SECONDS]
#
# - password sign-ins (the password grant, and the pages' code flow, production argon2id) per second, against
#   cores × argon2id hashes/s on one core (and, beside it, the hashes/s of every core hashing at once, below
#   cores × one core's rate where the hashes' memory outgrows the cache the cores share);
# - refresh-token grants per second, against cores × RS256 signatures/s on one core (each grant signs one
#   access token; with `openid` it also signs an id token);
# - GET /v1.0/users/{id} p99 while password sign-ins saturate the hash pool, against its p99 when idle.
set -euo pipefail
cd "$(dirname "$0")/.."
engine=${1:-sqlite}
seconds=${2:-10}
source bench/common.sh

database_for "$engine"

# Password sign-ins and reads beside them, with production argon2id. Three rounds, each beside a baseline
# measured just before it (a shared machine's speed drifts between rounds; docs/benchmarks.md gives each
# round's ratio and their median).
start production
echo "$user" > "$work/ids"
for round in 1 2 3; do
  "$bench" baseline --seconds 3
  grant_load "$engine password grant (ROPC), production argon2id (round $round)" "$seconds"
done
# Password sign-ins through the pages, three rounds likewise: a browser without a session GETs the authorize
# URL (code flow with PKCE) and POSTs the sign-in form, landing on the redirect URI with a code.
for round in 1 2 3; do
  "$bench" baseline --seconds 3
  "$bench" sign-in-pages --name "$engine password sign-in through the pages (round $round)" --url "$(pages_url)" \
    --login "$upn" --password "$password" --concurrency 16 --seconds "$seconds"
done
# What the authorization of a signed-in user adds: the same GET with the user's own token (their roles read
# at every request, the role table, the token's scopes) against the administration app's, alternating in six
# rounds (one round's pair differs by as much as the target on this shared machine; the median ratio does not).
user_token=$(curl -s "$base/$tenant/oauth2/v2.0/token" --data "$(password_form User.Read)" |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')
for round in 1 2 3 4 5 6; do
  for who in app user; do
    bearer=$token
    if [ "$who" = user ]; then bearer=$user_token; fi
    "$bench" load --name "$engine GET /v1.0/users/{id} with the $who's token (round $round)" --url "$base/v1.0/users/{id}" \
      --ids "$work/ids" --header "Authorization: Bearer $bearer" --concurrency 8 --seconds "$seconds"
  done
done
# The reads' p99, idle and with the hash pool saturated, in three alternating rounds (a shared machine's
# drift then reaches both sides alike; docs/benchmarks.md gives each round's ratio and their median).
for round in 1 2 3; do
  "$bench" load --name "$engine GET /v1.0/users/{id}, idle (round $round)" --url "$base/v1.0/users/{id}" \
    --ids "$work/ids" --header "Authorization: Bearer $token" --concurrency 8 --seconds "$seconds"
  grant_load "$engine password grant beside the reads (round $round)" "$((seconds + 2))" > "$work/saturating" &
  saturating=$!
  sleep 1
  "$bench" load --name "$engine GET /v1.0/users/{id}, hash pool saturated (round $round)" --url "$base/v1.0/users/{id}" \
    --ids "$work/ids" --header "Authorization: Bearer $token" --concurrency 8 --seconds "$seconds"
  wait "$saturating"
  cat "$work/saturating"
done

# Refresh-token grants: every token is used once (a reused one revokes its family), so they are made first
# by password sign-ins with cheap hashing. Each grant commits its rotation durably (an fsync, shared by the
# grants that commit together), so 64 clients keep the CPU rather than the disk busy.
start cheap 8 1
refreshes=$((seconds * 3000))
# The signing baseline again, next to the grants it is the measure of (a shared machine's speed drifts).
"$bench" baseline --seconds 5
for scope in "User.Read+offline_access" "User.Read+offline_access+openid"; do
  "$bench" collect --url "$base/$tenant/oauth2/v2.0/token" --body "$(password_form "$scope")" --field refresh_token \
    --count "$refreshes" --concurrency 8 --out "$work/refresh"
  "$bench" load --name "$engine refresh-token grant, scope $scope" --url "$base/$tenant/oauth2/v2.0/token" --ids "$work/refresh" \
    --method POST --content-type application/x-www-form-urlencoded \
    --body "grant_type=refresh_token&client_id=$client&refresh_token={id}" --concurrency 64 --requests "$refreshes"
done
