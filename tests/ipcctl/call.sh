#!/bin/sh
# SPDX-License-Identifier: MIT
# ipcctl call end to end on one backend, against the kv example server: a
# call round-trips (argument, stdin lines, --raw, --hex), a dead server
# gives a one-line error and a non-zero exit within the timeout, bad usage
# exits 2.
# usage: call.sh IPCCTL KV-SERVER BACKEND     (BACKEND: shm mq sysv fifo unix)
set -eu

ipcctl=$1
server=$2
backend=$3
tag=ipcctl-call-$$
test_name=call.$backend
. "$(dirname "$0")/lib.sh"

addr() { # a unique address, numbered $1
    case $backend in
    shm | mq) echo "$backend:/$tag-$1" ;;
    sysv) : >"$dir/k-$1"; echo "sysv:$dir/k-$1" ;;
    *) echo "$backend:$dir/s-$1" ;;
    esac
}

# Start the kv server at $1 and wait until a call goes through.
serve() {
    "$server" "$1" >"$dir/server.out" 2>&1 &
    spid=$!
    pids="$pids $spid"
    made="$made $1"
    i=0
    until "$ipcctl" call --timeout 1000 "$1" "GET nothing" >/dev/null 2>&1; do
        i=$((i + 1))
        [ $i -le 100 ] || fail "server at $1 did not answer: $(cat "$dir/server.out")"
        kill -0 "$spid" 2>/dev/null || fail "server at $1 exited: $(cat "$dir/server.out")"
        sleep 0.05
    done
}

echo "1. a call round-trips: argument, stdin lines, --raw, --hex"
a=$(addr 1)
serve "$a"
expect "SET" "$("$ipcctl" call "$a" 'SET colour blue')" OK
expect "GET" "$("$ipcctl" call --timeout 2000 "$a" 'GET colour')" blue
expect "stdin lines" "$(printf 'SET a 1\nGET a\nDEL a\nGET a\n' | "$ipcctl" call "$a" -)" \
    "$(printf 'OK\n1\nOK\nMISSING')"
expect "--raw" "$(printf 'GET colour' | "$ipcctl" call --raw "$a")" blue
expect "--hex" "$("$ipcctl" call --hex "$a" 'GET colour')" 626c7565

echo "2. a dead server: one line on stderr, exit non-zero, within the timeout"
kill -KILL "$spid"
wait "$spid" 2>/dev/null || true
start=$(date +%s)
set +e
"$ipcctl" call --timeout 1000 "$a" 'GET colour' >"$dir/out" 2>"$dir/err"
rc=$?
set -e
took=$(($(date +%s) - start))
[ "$rc" -eq 1 ] || [ "$rc" -eq 4 ] || fail "dead server: exit $rc ($(cat "$dir/err"))"
expect "stderr lines" "$(wc -l <"$dir/err" | tr -d ' ')" 1
grep -q "^ipcctl: $a: IPC_E" "$dir/err" || fail "stderr: $(cat "$dir/err")"
[ "$took" -le 4 ] || fail "dead server: took ${took}s for a 1000 ms timeout"
[ -s "$dir/out" ] && fail "dead server: printed $(cat "$dir/out")"
"$ipcctl" rm --force "$a" >/dev/null 2>&1 || true

echo "3. the server dies during a session: the next call fails at once"
a=$(addr 2)
serve "$a"
mkfifo "$dir/in"
"$ipcctl" call --timeout 3000 "$a" - <"$dir/in" >"$dir/out2" 2>"$dir/err2" &
cpid=$!
exec 9>"$dir/in"
echo 'SET k v' >&9
i=0
until [ -s "$dir/out2" ]; do
    i=$((i + 1)); [ $i -le 200 ] || fail "first call of the session"; sleep 0.02
done
kill -KILL "$spid"
wait "$spid" 2>/dev/null || true
echo 'GET k' >&9
exec 9>&-
set +e
wait "$cpid"
rc=$?
set -e
[ "$rc" -eq 1 ] || fail "session after server death: exit $rc ($(cat "$dir/err2"))"
expect "session output" "$(cat "$dir/out2")" OK
grep -q "^ipcctl: $a: IPC_ECLOSED" "$dir/err2" || fail "session stderr: $(cat "$dir/err2")"
"$ipcctl" rm --force "$a" >/dev/null 2>&1 || true

echo "4. no server and bad usage"
set +e
"$ipcctl" call --timeout 500 "$(addr 9)" x >/dev/null 2>"$dir/err3"
rc=$?
"$ipcctl" call >/dev/null 2>&1
usage=$?
"$ipcctl" call --timeout x "$a" y >/dev/null 2>&1
badnum=$?
set -e
[ "$rc" -eq 1 ] || [ "$rc" -eq 4 ] || fail "no server: exit $rc"
expect "no server stderr lines" "$(wc -l <"$dir/err3" | tr -d ' ')" 1
expect "no arguments" "$usage" 2
expect "bad --timeout" "$badnum" 2
"$ipcctl" call --help | grep -q "^usage: ipcctl call" || fail "call --help"
echo "call.$backend: ok"
