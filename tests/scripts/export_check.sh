#!/bin/sh
# SPDX-License-Identifier: MIT
# The shared library exports exactly the ipc_ functions that the public
# headers (include/ipc/*.h) declare: nothing internal (ipc__*, backend
# statics, helpers), nothing missing.
# usage: export_check.sh LIBRARY INCLUDE_DIR [NM]
set -eu

if [ $# -lt 2 ] || [ $# -gt 3 ]; then
    echo "usage: $0 LIBRARY INCLUDE_DIR [NM]" >&2
    exit 2
fi
lib=$1
incdir=$2
nm=${3:-nm}

tmp=$(mktemp -d "${TMPDIR:-/tmp}/ipc-exports.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

# nm prints "ADDRESS TYPE NAME"; the name is the last field. Should the
# library ever get a version script, skip its version nodes (absolute
# symbols, type A) and strip versions from names ("ipc_open@@LIBIPC_0").
# _init and _fini are the C runtime's (musl's crti.o makes them global),
# not the library's.
"$nm" -D --defined-only "$lib" |
    awk 'NF >= 3 && $2 != "A" { sub(/@.*/, "", $3); print $3 }' |
    grep -vxE '_init|_fini' |
    sort -u >"$tmp/exported"
# Every public function is declared on a line that starts with IPC_API and
# has its name right before the opening parenthesis.
sed -n 's/^IPC_API[^(]*[ *]\(ipc_[A-Za-z0-9_]*\)(.*/\1/p' "$incdir"/*.h |
    sort -u >"$tmp/declared"

if [ ! -s "$tmp/declared" ]; then
    echo "export check: no IPC_API declaration found in $incdir/*.h" >&2
    exit 1
fi
comm -23 "$tmp/exported" "$tmp/declared" >"$tmp/extra"
comm -13 "$tmp/exported" "$tmp/declared" >"$tmp/missing"

status=0
if [ -s "$tmp/extra" ]; then
    echo "export check: $lib exports symbols that no public header declares" \
        "(mark internal functions static, or keep them hidden):" >&2
    sed 's/^/    /' "$tmp/extra" >&2
    status=1
fi
if [ -s "$tmp/missing" ]; then
    echo "export check: the headers declare functions that $lib does not" \
        "export (define them, with IPC_API on the declaration):" >&2
    sed 's/^/    /' "$tmp/missing" >&2
    status=1
fi
if [ $status -eq 0 ]; then
    echo "export check: $(wc -l <"$tmp/exported") symbols, all ipc_ and" \
        "all declared in $incdir"
fi
exit $status
