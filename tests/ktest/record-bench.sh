#!/usr/bin/env bash
# Records the kernel benchmark's figures in the benchmarks document.
#
#   tests/ktest/record-bench.sh LOG DOC
#
# LOG is the console output of `ktest test=bench` (its `bench:` lines); DOC is docs/benchmarks.md.
# If DOC's section "## Kernel (make bench)" has the markers below, only the text between them is
# replaced (notes written by hand around them stay); a section without them is replaced up to the
# next "## " heading; no section at all is appended. The rest of DOC is left as it is.
set -euo pipefail

[ $# -eq 2 ] || { echo "usage: $0 LOG DOC" >&2; exit 2; }
log="$1"
doc="$2"
heading="## Kernel (make bench)"
begin="<!-- figures recorded by make bench-kernel: begin -->"
end="<!-- figures recorded by make bench-kernel: end -->"

grep -q '^bench: null syscall' "$log" || { echo "$0: no benchmark figures in $log" >&2; exit 1; }

figures="$(mktemp)"
section="$(mktemp)"
trap 'rm -f "$figures" "$section"' EXIT
{
    echo "$begin"
    echo "\`make bench-kernel\` (part of \`make bench\`, see \`mk/ktest.mk\`) boots the kernel test program"
    echo "\`tests/ktest\` with \`test=bench\` as the root task. Each figure is the median of single"
    echo "measurements read with \`rdtsc\` around one operation, with the 10th and 90th percentiles as its"
    echo "spread, and the ratio of its median to the null syscall's, measured in the same run."
    echo
    echo "**These are guest TSC cycles under QEMU's TCG emulation, not hardware cycles.** They say how"
    echo "much emulated work one operation costs relative to another on the same host; compare the"
    echo "ratios, and absolute figures only between runs on the same machine."
    echo
    echo "Recorded $(date -u '+%Y-%m-%d %H:%M UTC') on $(uname -m), $(nproc) host CPU(s):"
    echo
    echo "| operation | median (cycles) | p10 | p90 | min | max | runs | ratio to null syscall |"
    echo "|---|---|---|---|---|---|---|---|"
    sed -n -E 's/^bench: (.*): median ([0-9]+) cycles \(p10 ([0-9]+), p90 ([0-9]+), min ([0-9]+), max ([0-9]+); ([0-9]+) runs\)(; ([0-9.]+)x null)?.*$/| \1 | \2 | \3 | \4 | \5 | \6 | \7 | \9 |/p' "$log" \
        | sed -E 's/\|  \|$/| 1x (baseline) |/; s/\| ([0-9.]+) \|$/| \1x |/'
    echo
    notes="$(sed -n -E 's/^bench: NOTE: (.*)$/- \1/p' "$log")"
    if [ -n "$notes" ]; then
        echo "Notes from the run:"
        echo
        echo "$notes"
        echo
    fi
    echo "Reading the figures:"
    echo
    echo "- The round trip between address spaces loads CR3 twice (there and back). Under TCG a CR3"
    echo "  load empties QEMU's software TLB, so every page touched afterwards is walked again; that is"
    echo "  most of the difference to the round trip within one address space, and far larger than on"
    echo "  hardware. The echo servers run at the client's priority, so both halves of each round trip"
    echo "  can take the kernel's IPC fast path (\`kernel/src/fastpath.rs\`)."
    echo "- The wake-up is measured from just before the signal to the first instruction of the woken,"
    echo "  higher-priority thread, which preempts the signaller at once."
    echo "- The maximum includes the odd timer interrupt or QEMU translation stall landing inside one"
    echo "  measurement; the percentiles are the figures to compare."
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
