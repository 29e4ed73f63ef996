#!/bin/sh
# SPDX-License-Identifier: MIT
# The README's benchmark table and plots from one command:
#
#   report.sh IPC_BENCH OUTDIR [RUNS [ipc-bench options...]]
#
# runs `IPC_BENCH --tsv` RUNS times (default 5; 0 only remakes the table
# and plots from the runs already in OUTDIR; each run already
# interleaves libipc and raw repetitions), keeps every run's TSV in OUTDIR,
# and writes from the medians across runs:
#   OUTDIR/summary.tsv   backend, size, test, libipc, raw, ratio (medians)
#   OUTDIR/bench.md      the table the README shows
#   OUTDIR/msgs.png      one-way msgs/s by size, libipc beside its raw loop
#   OUTDIR/rtt.png       round trip by size, the same
# The plots need gnuplot (Debian: gnuplot-nox); without it the table is
# still written and the script says so and exits 3.
set -eu

if [ $# -lt 2 ]; then
    echo "usage: $0 IPC_BENCH OUTDIR [RUNS [ipc-bench options...]]" >&2
    exit 2
fi
bench=$1
out=$2
runs=${3:-5}
[ $# -ge 3 ] && shift 3 || shift $#
mkdir -p "$out"

i=1
while [ "$i" -le "$runs" ]; do # RUNS 0: only remake from OUTDIR's runs
    echo "report: run $i of $runs: $bench --tsv $*" >&2
    "$bench" --tsv "$@" >"$out/run-$i.tsv"
    i=$((i + 1))
done

runs=$(find "$out" -maxdepth 1 -name 'run-*.tsv' | wc -l)
[ "$runs" -gt 0 ] || { echo "report: no runs in $out" >&2; exit 2; }

# Medians across runs of each row's libipc and raw medians and ratio.
awk -F '\t' '
function median(list,    n, a, i, j, t) {
    n = split(list, a, " ")
    for (i = 2; i <= n; i++)        # insertion sort: a handful of runs
        for (j = i; j > 1 && a[j - 1] + 0 > a[j] + 0; j--) {
            t = a[j]; a[j] = a[j - 1]; a[j - 1] = t
        }
    return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
}
FNR == 1 { for (c = 1; c <= NF; c++) col[$c] = c; next }
$col["status"] != "ok" { next }
{
    k = $1 SUBSEP $2 SUBSEP $3
    if (!(k in seen)) { seen[k] = 1; order[++n] = k }
    lib[k] = lib[k] " " $col["libipc_median"]
    raw[k] = raw[k] " " $col["raw_median"]
    rat[k] = rat[k] " " $col["ratio"]
}
END {
    print "backend\tsize\ttest\tlibipc\traw\tratio"
    for (i = 1; i <= n; i++) {
        split(order[i], f, SUBSEP)
        printf "%s\t%s\t%s\t%.6g\t%.6g\t%.3f\n", f[1], f[2], f[3],
               median(lib[order[i]]), median(raw[order[i]]),
               median(rat[order[i]])
    }
}' "$out"/run-*.tsv >"$out/summary.tsv"

# The table: one line per backend and size, one-way and round trip.
awk -F '\t' -v runs="$runs" '
function size(b) {
    return b >= 1048576 ? b / 1048576 " MiB" : b >= 1024 ? b / 1024 " KiB" \
                                                         : b " B"
}
NR == 1 { next }
{
    k = $1 SUBSEP $2
    if (!(k in seen)) { seen[k] = 1; order[++n] = k; name[k] = $1; sz[k] = $2 }
    # memcpy: the raw limit alone
    if ($3 == "one-way" && $4 == "nan")
        ow[k] = sprintf("- / %.3g M / -", $5 / 1e6)
    else if ($3 == "one-way") ow[k] = sprintf("%.3g M / %.3g M / **%.2f**",
                                              $4 / 1e6, $5 / 1e6, $6)
    if ($3 == "rtt") rt[k] = sprintf("%.2f / %.2f / **%.2f**",
                                     $4 / 1e3, $5 / 1e3, $6)
}
END {
    printf "Medians of %d runs of `ipc-bench --tsv`; each cell is libipc / raw / ratio.\n\n", runs
    print "| backend | size | one-way msgs/s | round trip us |"
    print "|---|---|---|---|"
    for (i = 1; i <= n; i++) {
        k = order[i]
        printf "| %s | %s | %s | %s |\n", name[k], size(sz[k]),
               (k in ow) ? ow[k] : "-", (k in rt) ? rt[k] : "-"
    }
}' "$out/summary.tsv" >"$out/bench.md"
echo "report: $out/summary.tsv, $out/bench.md" >&2

if ! command -v gnuplot >/dev/null 2>&1; then
    echo "report: no gnuplot (Debian: gnuplot-nox): plots not made" >&2
    exit 3
fi

# One panel per backend that has the test: libipc (solid) beside its raw
# loop (dashed). Data for gnuplot: per test, one block per backend, blocks
# two blank lines apart, so that `index` picks a backend.
cols=4
plot() { # plot TEST YLABEL SCALE FILE
    names=$(awk -F '\t' -v t="$1" 'NR > 1 && $3 == t && !s[$1]++ {
        printf "%s ", $1 }' "$out/summary.tsv")
    awk -F '\t' -v t="$1" -v order="$names" '
    NR > 1 && $3 == t { rows[$1] = rows[$1] $2 "\t" $4 "\t" $5 "\n" }
    END {
        n = split(order, b, " ")
        for (i = 1; i <= n; i++) printf "%s\n\n", rows[b[i]]
    }' "$out/summary.tsv" >"$out/$1.dat"
    rows=$((($(echo "$names" | wc -w) + cols - 1) / cols))
    gnuplot <<EOF
set terminal png size 1200,$((rows * 260 + 40))
set output "$4"
set datafile separator "\t"
set logscale xy 2
set xtics ("64" 64, "1K" 1024, "16K" 16384, "256K" 262144, "1M" 1048576)
set format y "%.0s%c"
set xlabel "message size"
set ylabel "$2"
set key bottom left font ",8"
set multiplot layout $rows,$cols title "ipc-bench: $1, medians of $runs runs"
names = "$names"
do for [i = 1:words(names)] {
    set title word(names, i)
    plot "$out/$1.dat" index (i - 1) using 1:(\$2 / $3) \
             with linespoints lw 2 pt 7 title "libipc", \
         "" index (i - 1) using 1:(\$3 / $3) \
             with linespoints lw 2 dt 2 pt 6 title "raw"
}
unset multiplot
EOF
}
plot one-way "msgs/s" 1 "$out/msgs.png"
plot rtt "round trip, us" 1000 "$out/rtt.png"
echo "report: $out/msgs.png, $out/rtt.png" >&2
