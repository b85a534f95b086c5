#!/usr/bin/env bash
# Conditional Access beside its baselines, measured in the same run:
#
#   bench/conditional_access.sh [sqlite|postgres] [SECONDS]
#
# - password sign-ins (production argon2id) per second with no policy, then with 195 enabled policies the
#   signing-in user is judged against at every sign-in (a third name groups, a third platforms, a third a
#   named location; none applies to this sign-in, so all are judged to the end), in three alternating rounds;
# - the What If API's latency with the 195 policies, answering with all of them (each judged) and with only
#   those that apply.
set -euo pipefail
cd "$(dirname "$0")/.."
engine=${1:-sqlite}
seconds=${2:-10}
source bench/common.sh

"$bench" baseline --seconds 5
database_for "$engine"
start policies

# policies on|off: makes the 195 policies, or deletes every policy.
policies() {
  python3 - "$base" "$token" "$user" "$1" <<'PY'
import json, sys, urllib.request
base, token, user, mode = sys.argv[1:]
def call(method, path, body=None):
    request = urllib.request.Request(base + path, data=json.dumps(body).encode() if body is not None else None, method=method)
    request.add_header("Content-Type", "application/json")
    request.add_header("Authorization", "Bearer " + token)
    request.add_header("Prefer", "lockout-confirmed")
    with urllib.request.urlopen(request) as response:
        text = response.read()
        return json.loads(text) if text else None
path = "/v1.0/identity/conditionalAccess"
for policy in call("GET", f"{path}/policies")["value"]:
    call("DELETE", f"{path}/policies/{policy['id']}")
if mode == "on":
    groups = [p["id"] for p in call("GET", "/v1.0/groups?$filter=startswith(displayName,'ca-')")["value"]]
    if not groups:
        for n in range(5):
            groups.append(call("POST", "/v1.0/groups", {"displayName": f"ca-{n}", "mailEnabled": False, "mailNickname": f"ca-{n}", "securityEnabled": True})["id"])
        call("POST", f"/v1.0/groups/{groups[0]}/members/$ref", {"@odata.id": f"{base}/v1.0/directoryObjects/{user}"})
    locations = call("GET", f"{path}/namedLocations")["value"]
    location = locations[0]["id"] if locations else call("POST", f"{path}/namedLocations", {
        "@odata.type": "#microsoft.graph.ipNamedLocation", "displayName": "Elsewhere", "isTrusted": False,
        "ipRanges": [{"@odata.type": "#microsoft.graph.iPv4CidrRange", "cidrAddress": "10.0.0.0/8"}]})["id"]
    for n in range(195):
        users = {"includeGroups": [groups[1 + n % 4]]} if n % 3 == 0 else {"includeUsers": ["All"]}
        conditions = {"users": users, "applications": {"includeApplications": ["All"]}}
        if n % 3 == 1:
            conditions["platforms"] = {"includePlatforms": ["iOS"]}
        if n % 3 == 2:
            conditions["locations"] = {"includeLocations": [location]}
        grant = ["block"] if n % 3 == 1 else ["mfa"]
        call("POST", f"{path}/policies", {"displayName": f"policy {n}", "state": "enabled", "conditions": conditions,
                                          "grantControls": {"operator": "OR", "builtInControls": grant}})
PY
}

for round in 1 2 3; do
  for mode in off on; do
    policies "$mode"
    label=$([ "$mode" = on ] && echo "195 policies" || echo "no policy")
    "$bench" load --name "$engine password grant, $label (round $round)" --url "$base/$tenant/oauth2/v2.0/token" \
      --method POST --content-type application/x-www-form-urlencoded --body "$(password_form User.Read)" \
      --concurrency 16 --seconds "$seconds"
  done
done
client_id=$client
what_if="{\"signInIdentity\": {\"@odata.type\": \"#microsoft.graph.userSignIn\", \"userId\": \"$user\"}, \"signInContext\": {\"@odata.type\": \"#microsoft.graph.applicationContext\", \"includeApplications\": [\"$client_id\"]}, \"signInConditions\": {\"clientAppType\": \"browser\", \"devicePlatform\": \"windows\", \"ipAddress\": \"192.0.2.7\"}}"
for only in false true; do
  "$bench" load --name "$engine What If with 195 policies, appliedPoliciesOnly $only" \
    --url "$base/v1.0/identity/conditionalAccess/evaluate" --method POST --content-type application/json \
    --body "${what_if%\}}, \"appliedPoliciesOnly\": $only}" --header "Authorization: Bearer $token" \
    --concurrency 4 --seconds "$seconds"
done
"$bench" baseline --seconds 5
