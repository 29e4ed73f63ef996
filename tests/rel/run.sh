#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The reliability and security suite's driver, for people and for CI.
#
#   tests/rel/run.sh short [build]       ctest -L reliability|security|fuzz
#                                        (the CI size: a few minutes on 2 cores)
#   tests/rel/run.sh long [build]        the same, long forms (IPC_REL_LONG=1:
#                                        5000 kill -9 rounds per direction,
#                                        8 x 1e6 stress messages, 30 s storms)
#   tests/rel/run.sh fuzz [seconds]      clang build in build-fuzz, each libFuzzer
#                                        target for <seconds> (default 60)
#   tests/rel/run.sh tsan                clang -fsanitize=thread build in
#                                        build-tsan, runs ctest -L threads
#   tests/rel/run.sh valgrind [build]    the contract suite under valgrind
#
# Counts can be set one by one: IPC_REL_ROUNDS, IPC_REL_STRESS_MSGS,
# IPC_REL_STRESS_PRODUCERS, IPC_REL_STRESS_CONSUMERS, IPC_REL_SIGNAL_MS,
# IPC_REL_THREAD_MSGS; IPC_TEST_SEED repeats a run. Lines starting with
# "FIGURE" are the figures to report.
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
cmd=${1:-short}
jobs=${IPC_REL_JOBS:-2}

configure() { # dir, then cmake options
  local dir=$1
  shift
  cmake -S "$root" -B "$dir" -G Ninja -DIPC_BUILD_EXAMPLES=OFF "$@" >/dev/null
}

case $cmd in
short | long)
  build=${2:-$root/build}
  [ -f "$build/CMakeCache.txt" ] || configure "$build" -DIPC_WERROR=ON
  ninja -C "$build"
  if [ "$cmd" = long ]; then
    export IPC_REL_LONG=1
    timeout=${IPC_REL_LONG_TIMEOUT:-86400}
  else
    timeout=600
  fi
  cd "$build"
  log=$build/rel-$cmd.log
  rc=0
  ctest -L 'reliability|security|fuzz' -j"$jobs" --timeout "$timeout" \
    --output-on-failure -V >"$log" 2>&1 || rc=$?
  # The figures, then ctest's own summary (and failures, if any).
  grep -E '^[0-9]+: (FIGURE|  [0-9]+ links|replayed)' "$log" | sed 's/^[0-9]*: //' || true
  sed -n '/tests passed\|tests failed/,$p' "$log"
  [ "$rc" -eq 0 ] || grep -E 'ERROR|FAILED|LEFT BEHIND|LEAK' "$log" | head -50
  exit "$rc"
  ;;
fuzz)
  secs=${2:-60}
  build=$root/build-fuzz
  CC=${FUZZ_CC:-clang} configure "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo
  ninja -C "$build" $(cd "$root/tests/fuzz" && ls fuzz_*.c |
    sed 's/^fuzz_\(.*\)\.c$/ipc_fuzz_\1/')
  "$root/tests/fuzz/run.sh" "$build" "$secs"
  ;;
tsan)
  build=$root/build-tsan
  CC=${TSAN_CC:-clang} configure "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    "-DCMAKE_C_FLAGS=-fsanitize=thread -fno-omit-frame-pointer" \
    -DCMAKE_EXE_LINKER_FLAGS=-fsanitize=thread \
    -DCMAKE_SHARED_LINKER_FLAGS=-fsanitize=thread
  ninja -C "$build" ipc_rel_threads ipc_rel_leaks
  cd "$build"
  TSAN_OPTIONS="halt_on_error=1 exitcode=66 ${TSAN_OPTIONS:-}" \
    ctest -L threads -j"$jobs" --output-on-failure
  ;;
valgrind)
  build=${2:-$root/build}
  [ -f "$build/CMakeCache.txt" ] || configure "$build" -DIPC_WERROR=ON
  ninja -C "$build" ipc_contract
  for backend in $("$build/tests/ipc_contract" 2>&1 | sed -n 's/^backends://p'); do
    echo "== valgrind contract.$backend"
    valgrind --error-exitcode=1 --leak-check=full --errors-for-leak-kinds=definite \
      --trace-children=no -q "$build/tests/ipc_contract" "$backend"
  done
  ;;
*)
  sed -n '3,22p' "$0"
  exit 2
  ;;
esac
