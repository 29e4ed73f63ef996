# SPDX-License-Identifier: MIT
# What the ipcctl end-to-end scripts share. The script sets $ipcctl (the
# tool), $test_name (for messages) and may define cleanup_extra; this file
# makes $dir (a private directory) and removes on exit the processes in
# $pids, the objects in $made (rm --force) and $dir.
dir=$(mktemp -d "${TMPDIR:-/tmp}/ipcctl-$test_name.XXXXXX")
pids=
made=
cleanup() {
    for p in $pids; do kill -KILL "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    for a in $made; do "$ipcctl" rm --force "$a" >/dev/null 2>&1 || true; done
    if command -v cleanup_extra >/dev/null; then cleanup_extra; fi
    rm -rf "$dir"
}
trap cleanup EXIT

fail() {
    echo "$test_name: FAIL: $*" >&2
    exit 1
}

expect() { # expect WHAT GOT WANT
    [ "$2" = "$3" ] || fail "$1: got '$2', want '$3'"
}

# Field $2 of the object at address $1 from stat --json ("" if missing).
# sed, not python: a python start costs seconds on a loaded machine.
field() {
    "$ipcctl" stat --json "$1" 2>/dev/null |
        sed -n 's/.*"'"$2"'": \("[^"]*"\|[^,}]*\).*/\1/p' | tr -d '"'
}

# Exit code and one-line stderr of a command that must fail.
must_fail() { # must_fail CODE ERRNAME CMD...
    want=$1 name=$2
    shift 2
    set +e
    "$@" >/dev/null 2>"$dir/bad"
    rc=$?
    set -e
    expect "exit of $*" "$rc" "$want"
    expect "stderr lines of $*" "$(wc -l <"$dir/bad" | tr -d ' ')" 1
    grep -q "^ipcctl: .*$name" "$dir/bad" || fail "$*: stderr '$(cat "$dir/bad")' lacks $name"
}

# After starting in the background a process that makes object $1 and
# says $2 on its stderr file $3 once it exists: its pid in $holder, kept
# in $pids and $1 in $made; wait (5 s at most) for the word.
started() {
    holder=$!
    pids="$pids $holder"
    made="$made $1"
    i=0
    until grep -q "$2" "$3" 2>/dev/null; do
        i=$((i + 1))
        [ $i -le 500 ] || fail "the process making $1 did not start: $(cat "$3")"
        sleep 0.01
    done
}
