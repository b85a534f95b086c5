#!/usr/bin/env bash
# Password sign-ins with two builds, alternating, each round beside its own baseline:
#
#   bench/builds.sh [sqlite|postgres] [SECONDS] [ROUNDS] DIR_A DIR_B
#
# DIR_A and DIR_B hold the release binaries of the two builds (`gatehouse`; DIR_B's `gatehouse-bench` runs
# the loads). Each round starts each build on a database of its own and measures the password grant and the
# pages' sign-in (production argon2id, 16 clients), and prints what one sign-in cost the server's process
# and, on PostgreSQL, the database's processes, in milliseconds of CPU (from /proc).
set -euo pipefail
cd "$(dirname "$0")/.."
engine=${1:-sqlite}
seconds=${2:-10}
rounds=${3:-3}
declare -A builds=([A]="${4:?DIR_A}" [B]="${5:?DIR_B}")
BENCH_BIN_DIR=${builds[B]}
source bench/common.sh

# cpu_ms PID...: the CPU time the processes have used, in milliseconds.
cpu_ms() {
  local total=0 pid fields
  for pid in "$@"; do
    read -ra fields < <(sed 's/.*) //' "/proc/$pid/stat" 2>/dev/null || true)
    if [ "${#fields[@]}" -gt 12 ]; then total=$((total + fields[11] + fields[12])); fi
  done
  echo $((total * 1000 / $(getconf CLK_TCK)))
}
database_pids() {
  if [ -n "${pgdata:-}" ]; then
    local postmaster
    postmaster=$(head -n 1 "$pgdata/postmaster.pid")
    echo "$postmaster" $(pgrep -P "$postmaster")
  fi
}
# measure NAME COMMAND...: runs the load, then prints the CPU per sign-in.
measure() {
  local name=$1 server_before database_before server_after database_after requests
  shift
  server_before=$(cpu_ms "$server") database_before=$(cpu_ms $(database_pids))
  "$@" | tee "$work/out"
  server_after=$(cpu_ms "$server") database_after=$(cpu_ms $(database_pids))
  requests=$(json_field "$work/out" requests)
  python3 -c 'import sys; n, s, d = map(int, sys.argv[2:5]); print(f"{sys.argv[1]}: per sign-in, server {s / n:.3f} ms of CPU, database {d / n:.3f} ms")' \
    "$name" "$requests" "$((server_after - server_before))" "$((database_after - database_before))"
}

database_for "$engine"
for round in $(seq "$rounds"); do
  for build in A B; do
    bin=${builds[$build]}/gatehouse
    start "build$build$round"
    server=${pids[-1]}
    "$bench" baseline --seconds 3
    measure "build $build, password grant" grant_load "$engine password grant, build $build (round $round)" "$seconds"
    "$bench" baseline --seconds 3
    measure "build $build, pages" "$bench" sign-in-pages --name "$engine pages' sign-in, build $build (round $round)" \
      --url "$(pages_url)" --login "$upn" --password "$password" --concurrency 16 --seconds "$seconds"
    kill "$server"
  done
done
