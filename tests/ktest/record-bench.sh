#!/usr/bin/env bash
# Records the kernel benchmark's figures in the benchmarks document.
#
#   tests/ktest/record-bench.sh TCG_LOG ICOUNT_LOG DOC
#
# TCG_LOG and ICOUNT_LOG are the console output of `ktest test=bench` (its `bench:` lines) under
# plain TCG and under `-icount shift=0,align=off`; DOC is docs/benchmarks.md. Under icount the
# guest TSC advances one tick per guest instruction, so the second run's "cycles" are exact
# instruction counts. If DOC's section "## Kernel (make bench)" has the markers below, only the
# text between them is replaced (notes written by hand around them stay); a section without them
# is replaced up to the next "## " heading; no section at all is appended. The rest of DOC is left
# as it is.
set -euo pipefail

[ $# -eq 3 ] || { echo "usage: $0 TCG_LOG ICOUNT_LOG DOC" >&2; exit 2; }
tcg_log="$1"
icount_log="$2"
doc="$3"
heading="## Kernel (make bench)"
begin="<!-- figures recorded by make bench-kernel: begin -->"
end="<!-- figures recorded by make bench-kernel: end -->"

for log in "$tcg_log" "$icount_log"; do
    grep -q '^bench: null syscall' "$log" || { echo "$0: no benchmark figures in $log" >&2; exit 1; }
done

# "name<TAB>median<TAB>p10<TAB>p90<TAB>runs<TAB>ratio" for each figure of a log.
figures_of() {
    sed -n -E 's/^bench: (.*): median ([0-9]+) cycles \(p10 ([0-9]+), p90 ([0-9]+), min [0-9]+, max [0-9]+; ([0-9]+) runs\)(; ([0-9.]+)x null)?.*$/\1\t\2\t\3\t\4\t\5\t\7/p' "$1"
}

figures="$(mktemp)"
section="$(mktemp)"
tcg="$(mktemp)"
icount="$(mktemp)"
trap 'rm -f "$figures" "$section" "$tcg" "$icount"' EXIT
figures_of "$tcg_log" > "$tcg"
figures_of "$icount_log" > "$icount"
{
    echo "$begin"
    echo "\`make bench-kernel\` (part of \`make bench\`, see \`mk/ktest.mk\`) boots the kernel test program"
    echo "\`tests/ktest\` with \`test=bench\` as the root task twice: under QEMU's"
    echo "\`-icount shift=0,align=off\`, where the guest TSC advances one tick per guest instruction, and"
    echo "under plain TCG. Each figure is the median of single measurements read with \`rdtsc\` around"
    echo "one operation (the rdtsc pair and the user-side call included), with the 10th and 90th"
    echo "percentiles as its spread, and the ratio of its median to the null syscall's in the same run."
    echo
    echo "**Instructions** (icount) are exact and identical from run to run: they are the figures to"
    echo "compare, with earlier runs and with other kernels on the same QEMU. **TCG cycles** are guest TSC"
    echo "cycles of emulated work, not hardware cycles; they vary between runs on this machine and"
    echo "over-weight address-space switches (each CR3 write empties QEMU's software TLB)."
    echo
    echo "Recorded $(date -u '+%Y-%m-%d %H:%M UTC') on $(uname -m), $(nproc) host CPU(s):"
    echo
    echo "| operation | instructions (icount) | ratio to null | TCG cycles: median | p10 | p90 | runs |"
    echo "|---|---|---|---|---|---|---|"
    awk -F'\t' '
        NR == FNR { median[$1] = $2; p10[$1] = $3; p90[$1] = $4; next }
        {
            ratio = ($6 == "") ? "1x (baseline)" : $6 "x"
            cycles = ($1 in median) ? median[$1] " | " p10[$1] " | " p90[$1] : "– | – | –"
            printf "| %s | %s | %s | %s | %s |\n", $1, $2, ratio, cycles, $5
        }
    ' "$tcg" "$icount"
    echo
    notes="$(sed -n -E 's/^bench: NOTE: (.*)$/- \1/p' "$icount_log" "$tcg_log" | sort -u)"
    if [ -n "$notes" ]; then
        echo "Notes from the runs:"
        echo
        echo "$notes"
        echo
    fi
    echo "Reading the figures:"
    echo
    echo "- Under icount the round trip costs the same between two address spaces as within one: the"
    echo "  CR3 write is one instruction. Under TCG it is not, because each CR3 write empties QEMU's"
    echo "  software TLB and every page touched afterwards is walked again. The echo servers run at the"
    echo "  client's priority, so both halves of each round trip take the kernel's IPC fast path"
    echo "  (\`kernel/src/fastpath.rs\`)."
    echo "- The wake-up is measured from just before the signal to the first instruction of the woken,"
    echo "  higher-priority thread, which preempts the signaller at once."
    echo "- \`make profile-kernel KEY=remote\` shows where one figure's instructions go, function by"
    echo "  function (see \"Where the instructions go\" below)."
    echo "$end"
} > "$figures"
{ echo "$heading"; echo; cat "$figures"; } > "$section"

out="$(mktemp)"
if [ -f "$doc" ] && grep -qxF "$begin" "$doc" && grep -qxF "$end" "$doc"; then
    awk -v begin="$begin" -v end="$end" -v file="$figures" '
        $0 == begin { while ((getline line < file) > 0) print line; skipping = 1; next }
        skipping && $0 == end { skipping = 0; next }
        !skipping { print }
    ' "$doc" > "$out"
    mv "$out" "$doc"
elif [ -f "$doc" ] && grep -qxF "$heading" "$doc"; then
    awk -v heading="$heading" -v file="$section" '
        $0 == heading { while ((getline line < file) > 0) print line; skipping = 1; next }
        skipping && /^## / { skipping = 0; print "" }
        !skipping { print }
    ' "$doc" > "$out"
    mv "$out" "$doc"
else
    rm -f "$out"
    { [ -s "$doc" ] && echo; cat "$section"; } >> "$doc"
fi
sed -n -E '/^\| operation/,/^$/p' "$figures"
echo "recorded in $doc"
