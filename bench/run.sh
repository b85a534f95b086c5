#!/usr/bin/env bash
# Gatehouse's benchmark suite: every figure next to its baseline, measured in the same run.
#
#   bench/run.sh [sqlite|postgres|all] [SECONDS]
#
# Builds release binaries, measures the raw baselines (RS256 signatures/s, argon2id hashes/s on one core),
# then for each engine starts the server on loopback and measures: the trivial endpoint (/healthz),
# GET /v1.0/users/{id} (once the change processors have gone through the seeded users), client-credentials
# tokens/s, user creation with cheap hashing (store-bound) and with production argon2id. Prints one JSON line per measurement; docs/benchmarks.md records them.
set -euo pipefail
cd "$(dirname "$0")/.."
engines=${1:-all}
seconds=${2:-10}
source bench/common.sh

# start NAME DATABASE_URL [HASH_MEMORY_KIB HASH_ITERATIONS] -> sets base, token, domain
start() {
  local name=$1 url=$2 memory=${3:-} iterations=${4:-}
  launch "$name" "$url" "$memory" "$iterations"
  local tenant client secret
  tenant=$(json_field "$work/$name/boot.json" tenantId)
  client=$(json_field "$work/$name/boot.json" clientId)
  secret=$(json_field "$work/$name/boot.json" clientSecret)
  domain=$(json_field "$work/$name/boot.json" tenantDomain)
  token_form="grant_type=client_credentials&client_id=$client&client_secret=$secret&scope=https%3A%2F%2Fgraph.microsoft.com%2F.default"
  token=$(curl -s "$base/$tenant/oauth2/v2.0/token" --data "$token_form" | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')
  token_url="$base/$tenant/oauth2/v2.0/token"
}

"$bench" baseline --seconds 5

run_engine() {
  local engine=$1 url_cheap=$2 url_prod=$3
  start "$engine-cheap" "$url_cheap" 8 1
  "$bench" load --name "$engine trivial GET /healthz" --url "$base/healthz" --concurrency 32 --seconds "$seconds"
  "$bench" seed --base "$base" --token "$token" --domain "$domain" --count 5000 --concurrency 16 --out "$work/ids" \
    | sed "s/\"seed\"/\"$engine create user, cheap hash (store-bound)\"/"
  # The reads are measured once the change processors have gone through the seeded users, not beside them.
  "$bench" settle --database-url "$url_cheap" >/dev/null
  "$bench" load --name "$engine GET /v1.0/users/{id}" --url "$base/v1.0/users/{id}" --ids "$work/ids" \
    --header "Authorization: Bearer $token" --concurrency 32 --seconds "$seconds"
  "$bench" load --name "$engine client-credentials token" --url "$token_url" --method POST \
    --content-type application/x-www-form-urlencoded --body "$token_form" --concurrency 8 --seconds "$seconds"
  start "$engine-production" "$url_prod"
  "$bench" load --name "$engine create user, production argon2id" --url "$base/v1.0/users" --method POST \
    --header "Authorization: Bearer $token" --concurrency 8 --seconds "$seconds" \
    --body "{\"accountEnabled\":true,\"displayName\":\"P {n}\",\"mailNickname\":\"p\",\"userPrincipalName\":\"p{n}@$domain\",\"passwordProfile\":{\"password\":\"Bench-Kestr3l!\"}}"
}

if [ "$engines" = all ] || [ "$engines" = sqlite ]; then
  run_engine sqlite "sqlite://$work/cheap.db" "sqlite://$work/production.db"
fi

if [ "$engines" = all ] || [ "$engines" = postgres ]; then
  start_postgres
  for db in cheap production; do psql -q -h 127.0.0.1 -p "$pgport" -U postgres -c "CREATE DATABASE $db" postgres; done
  run_engine postgres "postgres://postgres@127.0.0.1:$pgport/cheap" "postgres://postgres@127.0.0.1:$pgport/production"
fi
