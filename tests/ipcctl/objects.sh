#!/bin/sh
# SPDX-License-Identifier: MIT
# ipcctl ls, stat, rm and gc on regions and sync objects: shm: regions (by
# their locks; a half-made one whose creator died is stale, a complete one
# nobody has open is unknown), shm: futex objects, sem: POSIX semaphores and
# SysV semaphore sets; file: regions are refused by stat.
# usage: objects.sh IPCCTL IPCCTL-HOLD
set -eu

ipcctl=$1
holdbin=$2
tag=ipcctl-obj-$$
test_name=ipcctl.objects
cleanup_extra() { rm -f "/dev/shm/$tag-half" "/dev/shm/$tag-foreign"; }
. "$(dirname "$0")/lib.sh"

listed() { # the ls --json line of ADDRESS
    "$ipcctl" ls --json --dir "$dir" | grep -F "\"address\": \"$1\","
}
# Make object $2 of kind $1 and hold it; the holder's pid in $holder. A
# file per holder (see e2e.sh's hold).
held=0
hold() {
    held=$((held + 1))
    "$holdbin" "$1" "$2" 2>"$dir/hold.$held.err" &
    started "$2" holding "$dir/hold.$held.err"
}
crash() { # kill -9 the holder
    kill -KILL "$holder"
    wait "$holder" 2>/dev/null || true
}
dead_pid() { # a pid that is gone
    sh -c 'echo $$' >"$dir/pid"
    cat "$dir/pid"
}
key=$(printf '0x%08x' $(((0x5b000000 | ($$ & 0xfffff) << 4) & 0x7fffffff)))

echo "1. a region: live while open, unknown once nobody has it, rm --force"
r=shm:/$tag-region
hold region "$r"
expect "kind" "$(field "$r" kind)" region
expect "state" "$(field "$r" state)" live
expect "creator" "$(field "$r" creator)" "$holder"
expect "creator alive" "$(field "$r" creator_alive)" true
expect "user" "$(field "$r" user)" "$holder"
expect "size" "$(field "$r" size)" $((4096 + 8192))
expect "mode" "$(field "$r" mode)" 0600
expect "uid" "$(field "$r" uid)" "$(id -u)"
listed "$r" | grep -q '"kind": "region"' || fail "ls lacks $r"
"$ipcctl" ls --dir "$dir" | grep -F " $r" | grep -q '^region  live' || fail "ls table: $r"
"$ipcctl" stat "$r" | grep -q '^kind: *region$' || fail "stat $r"
must_fail 3 IPC_EBUSY "$ipcctl" rm "$r"
crash
expect "state after kill -9" "$(field "$r" state)" unknown
expect "creator alive after kill -9" "$(field "$r" creator_alive)" false
"$ipcctl" gc --dir "$dir" "shm:/$tag-*" >"$dir/gc"
expect "gc of an unused region" "$(cat "$dir/gc")" ""
must_fail 3 IPC_EBUSY "$ipcctl" rm "$r"
"$ipcctl" rm --force "$r"
[ -z "$(field "$r" state)" ] || fail "$r left after rm --force"

echo "2. a half-made region whose creator died is stale; gc removes it"
# The region header (region_int.h): magic, version 1, a 4096-byte header,
# size 0, ready 0, then the creator's pid; nobody holds its lock.
pid=$(dead_pid)
{
    printf 'IPCREGN1\001\000\000\000\000\020\000\000'
    printf '\000\000\000\000\000\000\000\000\000\000\000\000'
    printf "$(printf '\\%03o\\%03o\\%03o\\%03o' $((pid & 255)) $((pid >> 8 & 255)) \
        $((pid >> 16 & 255)) $((pid >> 24 & 255)))"
    head -c 4064 /dev/zero
} >"/dev/shm/$tag-half"
h=shm:/$tag-half
expect "half-made kind" "$(field "$h" kind)" region
expect "half-made state" "$(field "$h" state)" stale
expect "half-made creator" "$(field "$h" creator)" "$pid"
head -c 8192 /dev/urandom >"/dev/shm/$tag-foreign"
must_fail 1 IPC_EPROTO "$ipcctl" stat "shm:/$tag-foreign"
"$ipcctl" gc --dry-run "shm:/$tag-*" >"$dir/gc.dry"
expect "gc --dry-run" "$(cut -d' ' -f1-3 "$dir/gc.dry")" "would remove $h"
"$ipcctl" gc "shm:/$tag-*" >"$dir/gc"
expect "gc" "$(cut -d' ' -f1-2 "$dir/gc")" "removed $h"
[ -f "/dev/shm/$tag-foreign" ] || fail "gc removed a file that is not a region"
rm -f "/dev/shm/$tag-foreign"

echo "3. shm: sync objects: a clean close removes them, kill -9 leaves them stale"
for kind in mutex sem barrier spin event; do
    a=shm:/$tag-$kind
    hold "$kind" "$a"
    want=$kind
    case $kind in sem) want=semaphore ;; spin) want=spinlock ;; esac
    expect "$kind kind" "$(field "$a" kind)" sync
    expect "$kind type" "$(field "$a" type)" "$want"
    expect "$kind state" "$(field "$a" state)" live
    expect "$kind creator" "$(field "$a" creator)" "$holder"
    listed "$a" | grep -q "\"type\": \"$want\"" || fail "ls lacks $a"
    kill -TERM "$holder"
    wait "$holder" || fail "holder of $a exited $?"
    [ -z "$(field "$a" state)" ] || fail "$a left after a clean close"
done
m1=shm:/$tag-m1 m2=shm:/$tag-m2
hold mutex "$m1"
live=$holder
hold mutex "$m2"
must_fail 3 IPC_EBUSY "$ipcctl" rm "$m2"
crash
expect "mutex after kill -9" "$(field "$m2" state)" stale
"$ipcctl" gc "shm:/$tag-*" >"$dir/gc"
expect "gc of sync objects" "$(cut -d' ' -f1-2 "$dir/gc")" "removed $m2"
[ -z "$(field "$m2" state)" ] || fail "gc left $m2"
expect "live mutex after gc" "$(field "$m1" state)" live
kill -TERM "$live"
wait "$live" || true

echo "4. sem: POSIX semaphores: live while mapped, stale after kill -9"
s=sem:/$tag-sem
hold sem "$s"
expect "sem kind" "$(field "$s" kind)" sync
expect "sem type" "$(field "$s" type)" semaphore
expect "sem state" "$(field "$s" state)" live
expect "sem user" "$(field "$s" user)" "$holder"
expect "sem mode" "$(field "$s" mode)" 0600
listed "$s" | grep -q '"scheme": "sem"' || fail "ls lacks $s"
must_fail 3 IPC_EBUSY "$ipcctl" rm "$s"
crash
expect "sem after kill -9" "$(field "$s" state)" stale
"$ipcctl" rm "$s"
[ -z "$(field "$s" state)" ] || fail "$s left after rm"
[ ! -e "/dev/shm/sem.$tag-sem" ] || fail "rm left /dev/shm/sem.$tag-sem"

echo "5. SysV semaphore sets: unknown, rm needs --force"
for kind in mutex sem; do
    a=sysv:$key
    hold "$kind" "$a"
    want=$kind
    [ "$kind" = sem ] && want=semaphore
    expect "sysv $kind kind" "$(field "$a" kind)" sync
    expect "sysv $kind type" "$(field "$a" type)" "$want"
    expect "sysv $kind state" "$(field "$a" state)" unknown
    expect "sysv $kind uid" "$(field "$a" uid)" "$(id -u)"
    listed "$a" | grep -q '"kind": "sync"' || fail "ls lacks $a"
    crash
    must_fail 3 IPC_EBUSY "$ipcctl" rm "$a"
    "$ipcctl" gc 'sysv:*' >"$dir/gc"
    expect "gc of a sysv set" "$(cat "$dir/gc")" ""
    "$ipcctl" rm --force "$a"
    [ -z "$(field "$a" state)" ] || fail "$a left after rm --force"
done

echo "6. file: regions cannot be told from files; --json parses"
: >"$dir/data"
must_fail 1 IPC_ENOTSUP "$ipcctl" stat "file:$dir/data"
# Network addresses name no local object (tcp: and udp: are always built).
must_fail 1 IPC_ENOTSUP "$ipcctl" stat "tcp:127.0.0.1:1"
must_fail 1 IPC_ENOTSUP "$ipcctl" stat "udp:[::1]:1"
must_fail 1 IPC_ENOENT "$ipcctl" stat "sem:/$tag-none"
must_fail 1 IPC_EINVAL "$ipcctl" stat "sem:"
hold region "shm:/$tag-json"
"$ipcctl" ls --json --dir "$dir" | python3 -m json.tool >/dev/null || fail "ls --json does not parse"
"$ipcctl" stat --json "shm:/$tag-json" | python3 -m json.tool >/dev/null || fail "stat --json"

echo "7. bash completion knows every subcommand --help lists, and call's options"
comp=$(dirname "$0")/../../src/tools/ipcctl/ipcctl.bash
if command -v bash >/dev/null; then
    for cmd in $("$ipcctl" --help | sed -n 's/^  \([a-z]*\) .*/\1/p'); do
        got=$(bash -c '. "$1"; COMP_WORDS=(ipcctl "$2"); COMP_CWORD=1; _ipcctl
            echo "${COMPREPLY[*]}"' sh "$comp" "$cmd")
        case " $got " in *" $cmd "*) ;; *) fail "completion of $cmd: '$got'" ;; esac
    done
    got=$(bash -c '. "$1"; COMP_WORDS=(ipcctl call --); COMP_CWORD=2; _ipcctl
        echo "${COMPREPLY[*]}"' sh "$comp")
    expect "call options" "$got" "--raw --timeout --hex --help"
fi
echo "ipcctl.objects: ok"
