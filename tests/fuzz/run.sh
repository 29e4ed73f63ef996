#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Run every libFuzzer target for a bounded time and report executions and
# crashes. Usage: tests/fuzz/run.sh <build-dir> [seconds per target]
# The build dir must be configured with clang (CC=clang cmake ...), so that
# tests/fuzz/CMakeLists.txt builds the ipc_fuzz_<target> binaries.
# New inputs go to <build-dir>/fuzz-work/<target>/ (not the committed
# corpus); a crash leaves <build-dir>/fuzz-work/crash-<target>-* and fails
# the run. To keep a crash as a regression seed, copy it into
# tests/fuzz/corpus/<target>/ once the library is fixed.
set -u
build=${1:?usage: run.sh <build-dir> [seconds]}
secs=${2:-60}
here=$(cd "$(dirname "$0")" && pwd)
work=$build/fuzz-work
mkdir -p "$work"
status=0
total=0
for bin in "$build"/tests/fuzz/ipc_fuzz_*; do
  [ -x "$bin" ] || continue
  case $bin in *replay*) continue ;; esac
  t=${bin##*/ipc_fuzz_}
  mkdir -p "$work/$t"
  log=$work/$t.log
  "$bin" -max_total_time="$secs" -print_final_stats=1 -timeout=10 \
    -rss_limit_mb=2048 -artifact_prefix="$work/crash-$t-" \
    "$work/$t" "$here/corpus/$t" >"$log" 2>&1
  rc=$?
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1)
  crashes=$(ls "$work"/crash-"$t"-* 2>/dev/null | wc -l)
  echo "FIGURE fuzz.$t: ${execs:-0} executions in $secs s, ${cov:-cov: ?}," \
       "corpus $(ls "$work/$t" | wc -l) new inputs, crashes: $crashes (exit $rc)"
  total=$((total + ${execs:-0}))
  if [ "$rc" -ne 0 ] || [ "$crashes" -ne 0 ]; then
    status=1
    echo "fuzz.$t FAILED: see $log" >&2
    tail -40 "$log" >&2
  fi
done
if [ "$total" -eq 0 ]; then
  echo "no libFuzzer target ran (configure $build with CC=clang)" >&2
  exit 1
fi
echo "fuzz: $total executions in all"
exit $status
