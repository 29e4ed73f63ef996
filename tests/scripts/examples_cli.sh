#!/bin/sh
# SPDX-License-Identifier: MIT
# ipc-producer and ipc-consumer used by hand over a named unix: channel:
# several producers, Ctrl-C, and a stale socket replaced on request.
# usage: examples_cli.sh IPC-PRODUCER IPC-CONSUMER
set -eu

producer=$1
consumer=$2
dir=$(mktemp -d "${TMPDIR:-/tmp}/ipc-cli.XXXXXX")
sock=$dir/chan.sock
addr=unix:$sock
cpid=
cleanup() {
    [ -z "$cpid" ] || kill -KILL "$cpid" 2>/dev/null || true
    rm -rf "$dir"
}
trap cleanup EXIT

fail() {
    echo "examples_cli: FAIL: $*" >&2
    for f in "$dir"/*.out; do
        [ -e "$f" ] && sed "s|^|    $(basename "$f"): |" "$f" >&2
    done
    exit 1
}

# Wait (up to 5 s) until the consumer whose output is $1 has created its
# channel: it says so on stderr, unbuffered, once ipc_open() has returned.
wait_ready() {
    i=0
    while ! grep -q '^ipc-consumer: receiving on' "$1" 2>/dev/null; do
        i=$((i + 1))
        [ $i -le 500 ] || fail "the consumer did not create $sock"
        sleep 0.01
    done
}

echo "1. two producers into one consumer, every message checked"
"$consumer" "$addr" --count 2000 --size 1k --timeout 10000 \
    >"$dir/c1.out" 2>&1 &
cpid=$!
"$producer" "$addr" --count 1000 --size 1k >"$dir/p1.out" 2>&1 &
p1=$!
"$producer" "$addr" --count 1000 --size 1k >"$dir/p2.out" 2>&1 ||
    fail "producer 2 failed"
wait $p1 || fail "producer 1 failed"
wait $cpid || fail "consumer failed"
cpid=
grep -q '^ipc-consumer: 2000 messages, 2048000 bytes, .* 0 errors$' \
    "$dir/c1.out" || fail "consumer summary"
[ ! -e "$sock" ] || fail "the consumer left $sock behind"

echo "2. SIGINT: the consumer prints its summary and removes its socket"
"$consumer" "$addr" >"$dir/c2.out" 2>&1 &
cpid=$!
wait_ready "$dir/c2.out"
"$producer" "$addr" --count 100 >"$dir/p3.out" 2>&1 || fail "producer 3"
kill -INT $cpid
wait $cpid || fail "consumer exit status $? after SIGINT"
cpid=
grep -q '^ipc-consumer: 100 messages, .* 0 errors (interrupted)$' \
    "$dir/c2.out" || fail "consumer summary after SIGINT"
[ ! -e "$sock" ] || fail "the consumer left $sock behind after SIGINT"

echo "3. a stale socket: IPC_EEXIST, then --replace"
"$consumer" "$addr" >"$dir/c3.out" 2>&1 &
cpid=$!
wait_ready "$dir/c3.out"
kill -KILL $cpid
wait $cpid 2>/dev/null || true
cpid=
[ -S "$sock" ] || fail "SIGKILL should have left $sock behind"
if "$consumer" "$addr" --count 1 --timeout 100 >"$dir/c4.out" 2>&1; then
    fail "creating over a stale socket without --replace succeeded"
fi
grep -q IPC_EEXIST "$dir/c4.out" || fail "expected IPC_EEXIST"
"$consumer" "$addr" --replace --count 10 >"$dir/c5.out" 2>&1 &
cpid=$!
wait_ready "$dir/c5.out" # else the producer may find the stale socket
"$producer" "$addr" --count 10 >"$dir/p4.out" 2>&1 || fail "producer 4"
wait $cpid || fail "consumer with --replace failed"
cpid=
[ ! -e "$sock" ] || fail "the consumer left $sock behind"

echo "4. over tcp:, udp: and nng+ipc://: the consumer names the address it got"
# tcp and udp on port 0: the consumer prints the port the kernel chose,
# and the producers use it. udp may lose messages even on loopback (the
# consumer counts them, ends after 1 s of quiet); every one that arrives
# is checked. nng only where libipc was built with it.
n=0
for net in tcp:127.0.0.1:0 "udp:[::1]:0" "nng+ipc://$dir/nng.sock"; do
    n=$((n + 1))
    "$consumer" "$net" --count 400 --size 1k --timeout 10000 \
        >"$dir/n$n.out" 2>&1 &
    cpid=$!
    i=0 # the consumer is ready, or it ended (a scheme built out)
    while ! grep -q '^ipc-consumer: receiving on' "$dir/n$n.out" &&
        kill -0 $cpid 2>/dev/null; do
        i=$((i + 1))
        [ $i -le 500 ] || fail "$net: the consumer did not start"
        sleep 0.01
    done
    if ! grep -q '^ipc-consumer: receiving on' "$dir/n$n.out" &&
        grep -q 'IPC_ENOTSUP' "$dir/n$n.out"; then
        echo "   $net: not built ($(tail -n 1 "$dir/n$n.out"))"
        wait $cpid 2>/dev/null || true
        cpid=
        continue
    fi
    real=$(sed -n 's/^ipc-consumer: receiving on \([^ ]*\) .*/\1/p' \
        "$dir/n$n.out")
    case $real in *:0 | "") fail "$net: the consumer named '$real'" ;; esac
    "$producer" "$real" --count 200 --size 1k >"$dir/np$n.out" 2>&1 &
    p1=$!
    "$producer" "$real" --count 200 --size 1k >"$dir/nq$n.out" 2>&1 ||
        fail "$net: producer 2"
    wait $p1 || fail "$net: producer 1"
    wait $cpid || fail "$net: consumer"
    cpid=
    case $net in
    udp:*)
        got=$(sed -n 's/^ipc-consumer: \([0-9]*\) messages, .* 0 errors$/\1/p' \
            "$dir/n$n.out")
        lost=$(sed -n 's/^ipc-consumer: \([0-9]*\) lost .*/\1/p' "$dir/n$n.out")
        [ -n "$got" ] && [ "$got" -gt 0 ] && [ $((got + ${lost:-0})) -eq 400 ] ||
            fail "$net: $got arrived and $lost lost of 400"
        echo "   $net: $got of 400 arrived, $lost lost" ;;
    *)
        grep -q '^ipc-consumer: 400 messages, 409600 bytes, .* 0 errors$' \
            "$dir/n$n.out" || fail "$net: consumer summary" ;;
    esac
done
[ ! -e "$dir/nng.sock" ] || fail "nng left $dir/nng.sock behind"

echo "examples_cli: 4 passed, 0 failed"
