#!/bin/sh
# SPDX-License-Identifier: MIT
# ipcctl end to end on one backend: ls shows what a receiver made, send and
# recv round-trip binary messages, rm refuses a live object and removes a
# stale one, gc removes exactly what kill -9 left, --json parses.
# usage: e2e.sh IPCCTL BACKEND     (BACKEND: shm mq sysv fifo unix)
set -eu

ipcctl=$1
backend=$2
# POSIX queues are listed where the mqueue filesystem is mounted. Without a
# mount, a root run mounts one in a private mount namespace (the machine
# sees nothing of it); otherwise ls and gc are not checked for mq.
if [ "$backend" = mq ] && ! grep -q ' mqueue ' /proc/self/mounts &&
    [ -z "${IPCCTL_E2E_NS:-}" ] && [ "$(id -u)" -eq 0 ] &&
    unshare -m true 2>/dev/null; then
    mnt=$(mktemp -d "${TMPDIR:-/tmp}/ipcctl-mqueue.XXXXXX")
    IPCCTL_E2E_NS=1 unshare -m sh -c 'mount -t mqueue none "$1" && exec sh "$2" "$3" mq' \
        sh "$mnt" "$0" "$ipcctl" && rc=0 || rc=$?
    rmdir "$mnt"
    exit $rc
fi
tag=ipcctl-e2e-$$
test_name=e2e.$backend
cleanup_extra() { rm -f "/dev/shm/$tag-foreign"; }
. "$(dirname "$0")/lib.sh"

# A unique address for the backend, numbered $1.
addr() {
    case $backend in
    shm | mq) echo "$backend:/$tag-$1" ;;
    sysv) printf 'sysv:0x%08x\n' $(((0x5a000000 | ($$ & 0xfffff) << 4 | $1) & 0x7fffffff)) ;;
    fifo) echo "fifo:$dir/f-$1" ;;
    unix) echo "unix:$dir/s-$1" ;;
    esac
}

# Start a receiver that creates $1 and holds it; its pid in $holder, its
# output in $dir/out.$held. Files of their own: a holder's shell truncates
# its file after the fork, so a shared one could still show the previous
# holder's word and let the script go on before this one made $1.
held=0
hold() {
    held=$((held + 1))
    "$ipcctl" recv --create --hex "$@" >"$dir/out.$held" 2>"$dir/err.$held" &
    started "$1" receiving "$dir/err.$held"
}

# Is address $1 in ls --json? (POSIX queues are listed only where the
# mqueue filesystem is mounted at /dev/mqueue.)
listed() {
    "$ipcctl" ls --json --dir "$dir" | grep -qF "\"address\": \"$1\","
}
can_list=yes
if [ "$backend" = mq ] && ! grep -q ' mqueue ' /proc/self/mounts; then
    can_list=no
    echo "   (no mqueue filesystem is mounted: mq queues are checked by stat, not ls)"
fi

snapshot() {
    for n in 1 2 3 4 9; do echo "$n $(field "$(addr $n)" state)"; done
    ls "$dir" | grep -v -e '^out' -e '^err' -e '^ls' -e '^bad' -e '^stat' || true
}

live_state=live
[ "$backend" = sysv ] && live_state=unknown
stale_state=stale
[ "$backend" = sysv ] && stale_state=unknown

echo "1. ls shows a receiver's object with its fields; --json parses"
a1=$(addr 1)
hold "$a1" --count 2
out1=$dir/out.$held
"$ipcctl" ls --json --dir "$dir" | python3 -m json.tool >/dev/null || fail "ls --json does not parse"
"$ipcctl" stat --json "$a1" | python3 -m json.tool >/dev/null || fail "stat --json does not parse"
expect "state" "$(field "$a1" state)" "$live_state"
expect "scheme" "$(field "$a1" scheme)" "$backend"
expect "uid" "$(field "$a1" uid)" "$(id -u)"
expect "mode" "$(field "$a1" mode)" 0600
case $backend in
shm) expect "creator" "$(field "$a1" creator)" "$holder"
     expect "creator alive" "$(field "$a1" creator_alive)" true
     expect "capacity" "$(field "$a1" capacity)" 64 ;;
mq) expect "user" "$(field "$a1" user)" "$holder"
    expect "messages" "$(field "$a1" messages)" 0 ;;
sysv) expect "messages" "$(field "$a1" messages)" 0 ;;
fifo) expect "user" "$(field "$a1" user)" "$holder" ;;
unix) expect "creator" "$(field "$a1" creator)" "$holder" ;;
esac
if [ $can_list = yes ]; then
    listed "$a1" || fail "ls --json lacks $a1"
    "$ipcctl" ls --dir "$dir" | grep -F " $a1" | grep -q "$live_state" || fail "ls table lacks $a1"
fi
"$ipcctl" stat "$a1" | grep -q "^state: *$live_state" || fail "stat $a1"

echo "2. send and recv round-trip binary-safe messages"
"$ipcctl" send --timeout 5000 "$a1" 'hello world'
printf 'a\000b\377\n\001' | "$ipcctl" send --raw --timeout 5000 "$a1"
wait "$holder" || fail "receiver exited $?"
printf '68656c6c6f20776f726c64\n610062ff0a01\n' >"$dir/want"
cmp -s "$out1" "$dir/want" || fail "received $(cat "$out1")"
[ -z "$(field "$a1" state)" ] || fail "$a1 left after its receiver closed"

echo "3. rm refuses a live object and removes a stale one"
a2=$(addr 2)
hold "$a2"
before=$(snapshot)
must_fail 3 IPC_EBUSY "$ipcctl" rm "$a2"
expect "after refused rm" "$(snapshot)" "$before"
kill -KILL "$holder"
wait "$holder" 2>/dev/null || true
expect "state after kill -9" "$(field "$a2" state)" "$stale_state"
if [ "$backend" = sysv ]; then
    must_fail 3 IPC_EBUSY "$ipcctl" rm "$a2"
    "$ipcctl" rm --force "$a2"
else
    "$ipcctl" rm "$a2"
fi
[ -z "$(field "$a2" state)" ] || fail "$a2 still listed after rm"

echo "4. gc removes exactly what kill -9 left"
a3=$(addr 3) a4=$(addr 4)
hold "$a3"
live=$holder
hold "$a4"
kill -KILL "$holder"
wait "$holder" 2>/dev/null || true
if [ "$backend" = shm ]; then # a file that is not a ring, named alike
    head -c 20000 /dev/zero >"/dev/shm/$tag-foreign"
fi
pattern="$backend:*$tag*"
case $backend in fifo | unix) pattern="$backend:$dir/*" ;; sysv) pattern='sysv:*' ;; esac
"$ipcctl" gc --dry-run --dir "$dir" "$pattern" >"$dir/gc.dry"
[ -n "$(field "$a4" state)" ] || fail "gc --dry-run removed $a4"
"$ipcctl" gc --dir "$dir" "$pattern" >"$dir/gc.out"
expect "live after gc" "$(field "$a3" state)" "$live_state"
if [ "$backend" = sysv ] || [ $can_list = no ]; then
    # sysv cannot be judged; unlisted queues cannot be found: gc leaves them
    expect "gc output" "$(cat "$dir/gc.out")" ""
    expect "state after gc" "$(field "$a4" state)" "$stale_state"
    "$ipcctl" rm --force "$a4"
else
    expect "gc --dry-run" "$(cut -d' ' -f1-3 "$dir/gc.dry")" "would remove $a4"
    expect "gc" "$(cut -d' ' -f1-2 "$dir/gc.out")" "removed $a4"
    [ -z "$(field "$a4" state)" ] || fail "gc left $a4"
fi
if [ "$backend" = shm ]; then
    [ -f "/dev/shm/$tag-foreign" ] || fail "gc removed a file that is not a ring"
    must_fail 1 IPC_EPROTO "$ipcctl" stat "shm:/$tag-foreign"
    # A ring's magic and "ready" over random bytes: judged without a crash
    # (pids from the file are range-checked before any kill(pid, 0)).
    { printf 'IPCRING1\001\000\000\000REDY'; head -c 12276 /dev/urandom; } \
        >"/dev/shm/$tag-foreign"
    set +e
    "$ipcctl" stat "shm:/$tag-foreign" >/dev/null 2>&1
    rc=$?
    set -e
    [ $rc -le 1 ] || fail "stat of a hostile ring exited $rc"
    rm -f "/dev/shm/$tag-foreign"
fi

echo "5. bad input: one line, non-zero exit, nothing changed"
before=$(snapshot)
must_fail 2 "unknown subcommand" "$ipcctl" frobnicate "$a3"
must_fail 2 "bad option" "$ipcctl" rm --frob "$a3"
must_fail 1 IPC_EINVAL "$ipcctl" rm "nosuchscheme:/x"
must_fail 1 IPC_EINVAL "$ipcctl" stat "$backend:"
must_fail 1 IPC_ENOENT "$ipcctl" rm "$(addr 9)"
must_fail 1 IPC_ENOENT "$ipcctl" send --timeout 0 "$(addr 9)" x
if [ "$backend" = unix ]; then # a unix: receiver creates its channel
    must_fail 1 IPC_EINVAL "$ipcctl" recv --timeout 0 "$(addr 9)"
else
    must_fail 1 IPC_ENOENT "$ipcctl" recv --timeout 0 "$(addr 9)"
fi
if [ "$(id -u)" -eq 0 ] && command -v setpriv >/dev/null &&
    [ "$backend" != unix ] && [ "$backend" != fifo ]; then
    # Another user may not touch a 0600 object (dir-based kinds: the
    # directory is private to this test, so the path itself is refused).
    must_fail 1 IPC_EACCES setpriv --reuid=65534 --regid=65534 --clear-groups \
        "$ipcctl" rm --force "$a3"
elif [ "$(id -u)" -eq 0 ] && command -v setpriv >/dev/null; then
    chmod 0700 "$dir"
    must_fail 1 IPC_EACCES setpriv --reuid=65534 --regid=65534 --clear-groups \
        "$ipcctl" rm --force "$a3"
else
    echo "   (permission test skipped: needs root and setpriv)"
fi
expect "after bad input" "$(snapshot)" "$before"
for cmd in ls stat rm gc send recv bench; do
    "$ipcctl" "$cmd" --help | grep -q "^usage: ipcctl $cmd" || fail "$cmd --help"
done

echo "6. bench runs on the scheme"
"$ipcctl" bench --sizes 64,1000 --count 500 --rounds 50 "$backend" >"$dir/bench" ||
    fail "bench: $(cat "$dir/bench")"
[ "$(grep -c '^ *[0-9]' "$dir/bench")" -eq 2 ] || fail "bench rows: $(cat "$dir/bench")"

kill -TERM "$live" 2>/dev/null || true
wait "$live" 2>/dev/null || true
[ -z "$(field "$a3" state)" ] || fail "$a3 left after its receiver ended"
echo "e2e.$backend: ok"
