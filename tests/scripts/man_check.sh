#!/bin/sh
# SPDX-License-Identifier: MIT
# The man pages render without a warning (groff -ww, as man(1) would),
# have their sections, and every public function (IPC_API lines in
# include/ipc/*.h) is named on the NAME line of a section-3 page: the check
# fails for a function without one.
# usage: man_check.sh MAN_BUILD_DIR INCLUDE_DIR
set -eu

mandir=$1
incdir=$2
status=0
fail() {
    echo "man_check: $*" >&2
    status=1
}

pages=$(ls "$mandir"/*.[0-9] 2>/dev/null || true)
[ -n "$pages" ] || { echo "man_check: no pages in $mandir" >&2; exit 1; }
for page in $pages; do
    name=$(basename "$page")
    warn=$(groff -man -Tutf8 -ww -z "$page" 2>&1)
    [ -z "$warn" ] || fail "$name: groff warns: $warn"
    text=$(groff -man -Tutf8 -P-cbou "$page" 2>&1) || fail "$name: groff failed"
    case $name in *.7) want="NAME DESCRIPTION" ;; *) want="NAME SYNOPSIS DESCRIPTION" ;; esac
    for section in $want "SEE ALSO"; do
        printf '%s\n' "$text" | grep -q "^$section\$" || fail "$name: no $section section"
    done
done

# The NAME lines of section-3 pages: "ipc_open, ipc_close - ...".
named=$(for page in "$mandir"/*.3; do
    groff -man -Tutf8 -P-cbou -rLL=1000n "$page" 2>/dev/null |
        sed -n '/^NAME$/{n;p;}' | sed 's/ - .*//; s/,/ /g'
done | tr ' ' '\n' | sed '/^$/d' | sort -u)
for fn in $(sed -n 's/^IPC_API[^(]*[ *]\(ipc_[A-Za-z0-9_]*\)(.*/\1/p' "$incdir"/*.h | sort -u); do
    printf '%s\n' "$named" | grep -qx "$fn" || fail "$fn has no man page (add it to a NAME line in doc/man/)"
done
[ $status -eq 0 ] && echo "man_check: $(echo "$pages" | wc -l) pages ok, every public function has one"
exit $status
