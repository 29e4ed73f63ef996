#!/bin/sh
# SPDX-License-Identifier: MIT
# The key-value example over every named backend: start kv-server, make
# calls with kv-client, check the replies, quit the server.
# Usage: kv_example.sh <kv-server> <kv-client> <backend>...
set -u
server=$1
client=$2
shift 2
dir=${TMPDIR:-/tmp}
status=0
for b in "$@"; do
  name=kv-$$-$b
  case $b in
    mq|shm) addr="$b:/$name" ;;
    sysv) addr="sysv:$dir/$name"; : >"$dir/$name" ;;
    tcp) # loopback, a port free just now
      port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
      addr="tcp:127.0.0.1:$port" ;;
    *) addr="$b:$dir/$name" ;;
  esac
  "$server" "$addr" >/dev/null &
  pid=$!
  i=0
  until "$client" "$addr" "GET nothing" >/dev/null 2>&1; do
    i=$((i + 1))
    if [ $i -gt 50 ]; then echo "$b: server did not start" >&2; break; fi
    sleep 0.1
  done
  got=$("$client" "$addr" "SET colour blue" "GET colour" "DEL colour" \
        "GET colour" "QUIT" 2>&1)
  want=$(printf 'OK\nblue\nOK\nMISSING\nOK')
  ok=1
  if [ "$got" != "$want" ]; then
    echo "$b: got [$got], want [$want]" >&2
    ok=0
    kill "$pid" 2>/dev/null
  fi
  wait "$pid" || { echo "$b: server exited $?" >&2; ok=0; }
  [ "$b" = sysv ] && rm -f "$dir/$name"
  if [ $ok = 1 ]; then echo "$b: ok"; else status=1; fi
done
exit $status
