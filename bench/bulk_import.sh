#!/usr/bin/env bash
# Bulk import through SCIM's /Bulk, on one engine.
#
#   bench/bulk_import.sh sqlite|postgres [USERS]
#
# Starts the release server on an empty database. Baseline, same run: users without passwords created one
# request each (SCIM POST /Users, 16 connections, 10 s). Then USERS (default 100,000) users without
# passwords imported through /Bulk, 1,000 operations a request, one request after another. Then, beside
# the raw argon2id rate of one core (production parameters, `gatehouse-bench baseline`), PASSWORDS
# (default 4,000) users with initial passwords through /Bulk. Then the same two imports through the admin
# center: the template uploaded by the signed-in Global Administrator, its progress page followed to the end
# (bench/admin_web.py). Prints one JSON line each.
set -euo pipefail
cd "$(dirname "$0")/.."
engine=$1
users=${2:-100000}
passwords=${3:-4000}
source bench/common.sh

database_for "$engine"
serve
user='{"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "single{n}", "active": true,
  "name": {"givenName": "Single", "familyName": "{n}"}}'
"$bench" load --url "$base/scim/v2/Users" --method POST --header "$auth" --content-type application/scim+json \
  --body "$user" --concurrency 16 --seconds 10 --name "SCIM POST /Users, one user a request"
"$bench" scim-bulk --base "$base" --token "$token" --count "$users" --per-request 1000
"$bench" baseline --seconds 5
"$bench" scim-bulk --base "$base" --token "$token" --count "$passwords" --per-request 1000 --passwords
tenant=$(json_field "$state/boot.json" tenantId)
python3 bench/admin_web.py import "$base" "$tenant" "$state/boot.json" "$users" web
"$bench" baseline --seconds 5
python3 bench/admin_web.py import "$base" "$tenant" "$state/boot.json" "$passwords" webpw --passwords
