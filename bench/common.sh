# Shared by the benchmark scripts: release binaries, a scratch directory removed on exit with every
# process the script started, and helpers for the throwaway PostgreSQL cluster. With BENCH_KEEP=DIR, the
# database, the server's data directory and (for PostgreSQL) the cluster live in DIR instead and outlive
# the run, so a script can reuse what an earlier run seeded there. With BENCH_BIN_DIR=DIR, the binaries in DIR
# are measured instead of building this tree's (to compare two builds in alternating runs).
if [ -z "${BENCH_BIN_DIR:-}" ]; then
  cargo build --release -q -p gatehouse -p gatehouse-bench
fi
bin=${BENCH_BIN_DIR:-$PWD/target/release}/gatehouse
bench=${BENCH_BIN_DIR:-$PWD/target/release}/gatehouse-bench
work=$(mktemp -d)
chmod 755 "$work"
state=${BENCH_KEEP:-$work}
mkdir -p "$state"
chmod 755 "$state"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  if [ -n "${pgdata:-}" ]; then as_postgres "$pgbin/pg_ctl" -D "$pgdata" -m immediate stop >/dev/null 2>&1 || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
as_postgres() {
  if [ "$(id -u)" = 0 ]; then setpriv --reuid=postgres --regid=postgres --init-groups -- "$@"; else "$@"; fi
}
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
json_field() { python3 -c "import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])" "$1" "$2"; }
# start_postgres: initdb and start a cluster in $work/pg; sets pgbin, pgdata, pgport.
start_postgres() {
  pgbin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
  mkdir -p "$state/pg"
  if [ "$(id -u)" = 0 ]; then chown postgres "$state/pg"; fi
  pgdata="$state/pg/data"
  pgport=$(free_port)
  if [ ! -d "$pgdata" ]; then
    as_postgres "$pgbin/initdb" -D "$pgdata" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >/dev/null
  fi
  as_postgres "$pgbin/pg_ctl" -D "$pgdata" -w -o "-p $pgport -c listen_addresses=127.0.0.1 -k $state/pg $*" start >/dev/null
}
# database_for sqlite|postgres: an empty database for one engine (a fresh cluster for PostgreSQL); sets url.
database_for() {
  case "$1" in
    sqlite) url="sqlite://$state/gatehouse.db" ;;
    postgres)
      start_postgres -c shared_buffers=1GB
      if [ -z "$(psql -tA -h 127.0.0.1 -p "$pgport" -U postgres -c "SELECT 1 FROM pg_database WHERE datname = 'gatehouse'" postgres)" ]; then
        psql -q -h 127.0.0.1 -p "$pgport" -U postgres -c "CREATE DATABASE gatehouse" postgres
      fi
      url="postgres://postgres@127.0.0.1:$pgport/gatehouse" ;;
    *) echo "unknown engine '$1': sqlite or postgres" >&2; exit 2 ;;
  esac
}
# serve: starts the release server on $url (bootstrapping its tenant on first start) and waits until it is
# ready; sets server, base, token and auth (the admin app's bearer header).
serve() {
  port=${port:-$(free_port)}
  GATEHOUSE_LOG=warn "$bin" serve --listen "127.0.0.1:$port" --data-dir "$state/data" --database-url "$url" \
    --bootstrap-output "$state/boot.json" >/dev/null 2>>"$work/log" &
  pids+=($!)
  server=$!
  until curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && [ -s "$state/boot.json" ]; do
    kill -0 "$server" || { cat "$work/log" >&2; exit 1; }
    sleep 0.2
  done
  base="http://127.0.0.1:$port"
  local tenant form
  tenant=$(json_field "$state/boot.json" tenantId)
  form="grant_type=client_credentials&client_id=$(json_field "$state/boot.json" clientId)&client_secret=$(json_field "$state/boot.json" clientSecret)&scope=https%3A%2F%2Fgraph.microsoft.com%2F.default"
  token=$(curl -s "$base/$tenant/oauth2/v2.0/token" --data "$form" | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')
  auth="Authorization: Bearer $token"
}
# launch NAME DATABASE_URL [HASH_MEMORY_KIB HASH_ITERATIONS]: starts a release server with its own data
# directory ($work/NAME) and those hashing costs (without them, the server's own: production, as the
# baseline's by default), and waits for its bootstrap output ($work/NAME/boot.json); sets base.
launch() {
  local name=$1 url=$2 memory=${3:-} iterations=${4:-} port
  local costs=()
  if [ -n "$memory" ]; then
    costs=(GATEHOUSE_PASSWORD_HASH_MEMORY_KIB="$memory" GATEHOUSE_PASSWORD_HASH_ITERATIONS="$iterations")
  fi
  port=$(free_port)
  mkdir -p "$work/$name"
  env GATEHOUSE_LOG=warn "${costs[@]}" \
    "$bin" serve --listen "127.0.0.1:$port" --data-dir "$work/$name" --database-url "$url" \
    --bootstrap-output "$work/$name/boot.json" >/dev/null 2>"$work/$name/log" &
  pids+=($!)
  until [ -s "$work/$name/boot.json" ]; do sleep 0.1; done
  base="http://127.0.0.1:$port"
}
# settle: waits until the server's change processors have gone through the change log (a seeded store starts
# with them behind every record the seeding wrote), has PostgreSQL write out what the seeding left in its
# buffers and the kernel what it left in the page cache, so that no measurement shares the machine with that
# catch-up or with writing the seeded data out; prints how long the catch-up took.
settle() {
  "$bench" settle --database-url "$url"
  if [ -n "${pgport:-}" ]; then psql -q -h 127.0.0.1 -p "$pgport" -U postgres -c "CHECKPOINT" gatehouse; fi
  sync
}
# start NAME [HASH_MEMORY_KIB HASH_ITERATIONS] -> sets base, tenant, token, client (a public client with
# consent for User.Read and the redirect URI http://localhost:7777/callback), user (its object id); the user
# signs in as $upn with $password.
start() {
  local name=$1 memory=${2:-} iterations=${3:-}
  if [ "$engine" = sqlite ]; then url="sqlite://$work/$name.db"; fi
  if [ "$engine" = postgres ]; then
    psql -q -h 127.0.0.1 -p "$pgport" -U postgres -c "CREATE DATABASE \"$name\"" postgres
    url="postgres://postgres@127.0.0.1:$pgport/$name"
  fi
  launch "$name" "$url" "$memory" "$iterations"
  read -r tenant token client user < <(python3 - "$base" "$work/$name/boot.json" <<'PY'
import json, sys, urllib.parse, urllib.request
base, boot = sys.argv[1], json.load(open(sys.argv[2]))
def call(method, path, body=None, token=None, form=False):
    data = urllib.parse.urlencode(body).encode() if form else (json.dumps(body).encode() if body is not None else None)
    request = urllib.request.Request(base + path, data=data, method=method)
    request.add_header("Content-Type", "application/x-www-form-urlencoded" if form else "application/json")
    if token:
        request.add_header("Authorization", "Bearer " + token)
    with urllib.request.urlopen(request) as response:
        text = response.read()
        return json.loads(text) if text else None
tenant = boot["tenantId"]
token = call("POST", f"/{tenant}/oauth2/v2.0/token", {"grant_type": "client_credentials", "client_id": boot["clientId"],
             "client_secret": boot["clientSecret"], "scope": "https://graph.microsoft.com/.default"}, form=True)["access_token"]
app = call("POST", "/v1.0/applications", {"displayName": "bench", "isFallbackPublicClient": True,
           "publicClient": {"redirectUris": ["http://localhost:7777/callback"]}}, token)
sp = call("POST", "/v1.0/servicePrincipals", {"appId": app["appId"]}, token)
graph = next(p for p in call("GET", "/v1.0/servicePrincipals", token=token)["value"] if p["appId"].startswith("00000003"))
call("POST", "/v1.0/oauth2PermissionGrants", {"clientId": sp["id"], "consentType": "AllPrincipals", "resourceId": graph["id"], "scope": "User.Read"}, token)
user = call("POST", "/v1.0/users", {"accountEnabled": True, "displayName": "Bench", "mailNickname": "bench",
            "userPrincipalName": "bench@" + boot["tenantDomain"], "passwordProfile": {"forceChangePasswordNextSignIn": False, "password": "Bench-Kestr3l!"}}, token)
print(tenant, token, app["appId"], user["id"])
PY
)
  upn="bench@$(json_field "$work/$name/boot.json" tenantDomain)"
  password="Bench-Kestr3l!"
}

password_form() { echo "grant_type=password&client_id=$client&username=$upn&password=$password&scope=$1"; }
# grant_load NAME SECONDS: the password grant (scope User.Read) by 16 clients for SECONDS.
grant_load() {
  "$bench" load --name "$1" --url "$base/$tenant/oauth2/v2.0/token" --method POST \
    --content-type application/x-www-form-urlencoded --body "$(password_form User.Read)" --concurrency 16 --seconds "$2"
}
# pages_url: the authorize URL of a browser without a session signing in to $client (code flow with PKCE).
pages_url() {
  echo "$base/$tenant/oauth2/v2.0/authorize?client_id=$client&response_type=code&scope=User.Read&state=bench&redirect_uri=http%3A%2F%2Flocalhost%3A7777%2Fcallback&code_challenge_method=S256&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
}
# seeded_users: the server on a store of $users seeded users ($engine's database; seeded once per BENCH_KEEP
# directory), settled; writes $work/ids (random user numbers) and $work/prefixes (random five-digit prefixes
# of them).
seeded_users() {
  database_for "$engine"
  serve
  if [ ! -e "$state/seeded-$users" ]; then
    kill "$server"; wait "$server" 2>/dev/null || true
    "$bench" seed-store --database-url "$url" --count "$users"
    if [ "$engine" = postgres ]; then psql -q -h 127.0.0.1 -p "$pgport" -U postgres -c "VACUUM ANALYZE" gatehouse; fi
    touch "$state/seeded-$users"
    serve
  fi
  settle
  python3 -c "import random; random.seed(7); print('\n'.join(f'{random.randrange($users):07}' for _ in range(10000)))" > "$work/ids"
  python3 -c "import random; random.seed(8); print('\n'.join(f'{random.randrange($users // 100):05}' for _ in range(10000)))" > "$work/prefixes"
}
