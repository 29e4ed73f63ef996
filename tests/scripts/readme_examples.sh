#!/bin/sh
# SPDX-License-Identifier: MIT
# README.md shows only compiled code: every ```c block must sit right after a
# line "<!-- example: FILE [REGION] -->" and equal, line for line, the part
# of FILE (relative to ROOT) between "/* README:begin [REGION] */" and
# "/* README:end [REGION] */". A drift fails with the diff.
# usage: readme_examples.sh README ROOT
#        readme_examples.sh --self-test README ROOT   (proves the check fails)
set -eu

usage() {
    echo "usage: $0 [--self-test] README ROOT" >&2
    exit 2
}

# Split README ($1) into $2/block.N (the body of the Nth ```c block) and
# $2/manifest ("N LINE FILE REGION", "-" for what the marker lacks). A
# fence opened by any other language is skipped whole.
readme_split() {
    awk -v dir="$2" '
        function marker(line,    f) {
            if (line !~ /^<!-- example: [^ ]+( [A-Za-z0-9_-]+)? -->$/)
                return "- -"
            split(line, f, " ")
            return f[3] " " (f[5] == "" ? "-" : f[4])
        }
        fence && /^```[ \t]*$/ { fence = 0; if (file != "") close(file); next }
        fence { if (file != "") print > file; next }
        /^```/ {
            fence = NR; file = ""
            if ($0 ~ /^```[cC][ \t]*$/) {
                n++; file = dir "/block." n
                printf "" > file
                print n, NR, marker(prev) > (dir "/manifest")
            }
            next
        }
        { prev = $0 }
        END {
            if (fence) { print "unclosed fence at line " fence > "/dev/stderr"; exit 1 }
            if (n == 0) printf "" > (dir "/manifest")
        }' "$1"
}

# Print the region of file $1 named $2 ("-": unnamed); fail unless it has
# exactly one begin marker and an end marker after it.
region() {
    tag=${2#-}
    awk -v begin="/* README:begin${tag:+ $tag} */" \
        -v end="/* README:end${tag:+ $tag} */" '
        $0 == end && on { on = 0; ended = 1; next }
        on { print }
        $0 == begin { begins++; on = 1 }
        END { exit !(begins == 1 && ended) }' "$1"
}

check() {
    readme=$1
    root=$2
    tmp=$(mktemp -d "${TMPDIR:-/tmp}/ipc-readme.XXXXXX")
    trap 'rm -rf "$tmp"' EXIT
    readme_split "$readme" "$tmp" || return 1
    if [ ! -s "$tmp/manifest" ]; then
        echo "$readme: no \`\`\`c block found" >&2
        return 1
    fi
    bad=0
    count=0
    while read -r n line file tag; do
        count=$((count + 1))
        where="$readme:$((line + 1))"
        if [ "$file" = - ]; then
            echo "$where: a \`\`\`c block without \"<!-- example: FILE [REGION] -->\" on the line before it" >&2
            bad=1
            continue
        fi
        if [ ! -f "$root/$file" ]; then
            echo "$where: the block names $file, which does not exist" >&2
            bad=1
            continue
        fi
        if ! region "$root/$file" "$tag" >"$tmp/region.$n"; then
            label=${tag#-}
            label=${label:+ $label}
            echo "$where: $file has no single \"/* README:begin$label */\" ... \"/* README:end$label */\" region" >&2
            bad=1
            continue
        fi
        if ! diff -u --label "$file" --label "$where" "$tmp/region.$n" \
            "$tmp/block.$n" >&2; then
            echo "$where: the block differs from $file (above: - the file, + the README)" >&2
            bad=1
        fi
    done <"$tmp/manifest"
    rm -rf "$tmp"
    trap - EXIT
    [ $bad -eq 0 ] || return 1
    echo "readme_examples: $count \`\`\`c blocks of $readme match their examples"
}

# The check passes on README, and fails, naming the cause, on copies of it
# with a changed line, with the markers gone, and with a region renamed.
self_test() {
    readme=$1
    root=$2
    work=$(mktemp -d "${TMPDIR:-/tmp}/ipc-readme-self.XXXXXX")
    trap 'rm -rf "$work"' EXIT
    fails=0
    expect_fail() { # NAME WHAT-THE-ERROR-SAYS
        if sh "$0" "$work/$1.md" "$root" >"$work/$1.out" 2>&1; then
            echo "self-test: $1: the check passed" >&2
            fails=1
        elif ! grep -q -e "$2" "$work/$1.out"; then
            echo "self-test: $1: failed without \"$2\":" >&2
            cat "$work/$1.out" >&2
            fails=1
        fi
    }
    sh "$0" "$readme" "$root" >/dev/null || {
        echo "self-test: the check fails on $readme itself" >&2
        exit 1
    }
    # The first line inside the first ```c block gets a word more.
    awk '!done && on { $0 = $0 " /* drift */"; done = 1 }
         /^```[cC]$/ { on = 1 } { print }' "$readme" >"$work/drift.md"
    expect_fail drift '^+.*/\* drift \*/'
    grep -v '^<!-- example: ' "$readme" >"$work/unmarked.md"
    expect_fail unmarked 'without "<!-- example'
    sed 's/^<!-- example: \([^ ]*\) -->$/<!-- example: \1 nosuchregion -->/' \
        "$readme" >"$work/region.md"
    expect_fail region 'README:begin nosuchregion'
    sed 's/^<!-- example: [^ ]* /<!-- example: examples\/nosuch.c /' \
        "$readme" >"$work/file.md"
    expect_fail file 'nosuch.c, which does not exist'
    [ $fails -eq 0 ] || exit 1
    echo "readme_examples self-test: drift, missing markers, regions and files all fail"
}

if [ "${1:-}" = --self-test ]; then
    [ $# -eq 3 ] || usage
    self_test "$2" "$3"
else
    [ $# -eq 2 ] || usage
    check "$1" "$2"
fi
