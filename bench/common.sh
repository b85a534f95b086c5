# Shared by the benchmark scripts: release binaries, a scratch directory removed on exit with every
# process the script started, and helpers for the throwaway PostgreSQL cluster.
cargo build --release -q -p gatehouse -p gatehouse-bench
bin=$PWD/target/release/gatehouse
bench=$PWD/target/release/gatehouse-bench
work=$(mktemp -d)
chmod 755 "$work"
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
  mkdir -p "$work/pg"
  if [ "$(id -u)" = 0 ]; then chown postgres "$work/pg"; fi
  pgdata="$work/pg/data"
  pgport=$(free_port)
  as_postgres "$pgbin/initdb" -D "$pgdata" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >/dev/null
  as_postgres "$pgbin/pg_ctl" -D "$pgdata" -w -o "-p $pgport -c listen_addresses=127.0.0.1 -k $work/pg $*" start >/dev/null
}
