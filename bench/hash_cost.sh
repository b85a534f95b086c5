#!/usr/bin/env bash
# The password grant at two argon2id settings, alternating, each round beside a baseline at its setting:
#
#   bench/hash_cost.sh [sqlite|postgres] [SECONDS] [ROUNDS] [MEMORY_KIB ITERATIONS MEMORY_KIB ITERATIONS]
#
# (default: OWASP's 19 MiB, 2 iterations against its 7 MiB, 5 iterations). Settings of equal strength differ
# in how they share the machine: every core hashes at once under a flood of sign-ins, and the cores share
# their last-level cache.
set -euo pipefail
cd "$(dirname "$0")/.."
engine=${1:-sqlite}
seconds=${2:-10}
rounds=${3:-3}
settings=("${4:-19456} ${5:-2}" "${6:-7168} ${7:-5}")
source bench/common.sh

database_for "$engine"
declare -A bases tenants clients upns
for n in 0 1; do
  read -r memory iterations <<< "${settings[$n]}"
  start "cost$n" "$memory" "$iterations"
  bases[$n]=$base tenants[$n]=$tenant clients[$n]=$client upns[$n]=$upn
done
for round in $(seq "$rounds"); do
  for n in 0 1; do
    read -r memory iterations <<< "${settings[$n]}"
    base=${bases[$n]} tenant=${tenants[$n]} client=${clients[$n]} upn=${upns[$n]}
    "$bench" baseline --seconds 3 --memory-kib "$memory" --iterations "$iterations"
    grant_load "$engine password grant, m=$memory KiB t=$iterations (round $round)" "$seconds"
  done
done
