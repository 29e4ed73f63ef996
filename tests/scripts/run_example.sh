#!/bin/sh
# SPDX-License-Identifier: MIT
# Run one README example with $TMPDIR set to a fresh directory: it passes if
# the program exits 0 and leaves nothing behind in that directory.
# usage: run_example.sh PROGRAM [ARGS...]
set -eu

[ $# -ge 1 ] || {
    echo "usage: $0 PROGRAM [ARGS...]" >&2
    exit 2
}
dir=$(mktemp -d "${TMPDIR:-/tmp}/ipc-example.XXXXXX")
trap 'rm -rf "$dir"' EXIT

status=0
TMPDIR=$dir "$@" || status=$?
left=$(ls -A "$dir")
if [ -n "$left" ]; then
    echo "run_example: $1 left behind in \$TMPDIR: $left" >&2
    [ $status -ne 0 ] || status=1
fi
exit $status
