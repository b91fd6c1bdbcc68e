#!/usr/bin/env bash
# `make run`: boots a built image in QEMU, interactively or for a bounded time.
#
#   scripts/run.sh IMAGE_DIR [SECONDS] [-- RUNNER_OPTIONS...]
#
# Interactive when stdin is a terminal and SECONDS is empty: the serial console is on the terminal
# and Ctrl-A X quits QEMU. Otherwise (SECONDS given, or stdin not a terminal, e.g. `</dev/null`)
# the console streams to stdout and to build/run.log, QEMU is stopped after SECONDS (default
# below) or when the guest ends the run, and the exit status is 0 only if the system printed its
# ready line. RUNNER_OPTIONS go to scripts/qemu.sh (--root-args, --kernel-args, --qemu-arg, ...).
set -euo pipefail

# Seconds a non-interactive run lasts when none were asked for: booting takes ~1 s; this leaves
# room for a busy machine and for watching the system settle.
readonly DEFAULT_SECONDS=30
# The line the system prints once it is up (see README.md).
readonly READY_LINE='ward: system ready'
# Where a non-interactive run's console is kept.
readonly LOG=build/run.log

here="$(cd "$(dirname "$0")" && pwd)"
[ $# -ge 1 ] || { echo "usage: $0 IMAGE_DIR [SECONDS] [-- RUNNER_OPTIONS...]" >&2; exit 2; }
image="$1"; shift
seconds=""
if [ $# -ge 1 ] && [ "$1" != "--" ]; then seconds="$1"; shift; fi
[ $# -ge 1 ] && [ "$1" = "--" ] && shift
runner_opts=("$@")

describe() {  # describe EXIT_CODE: what QEMU's exit status means (see scripts/qemu.sh)
    local c=$1
    case "$c" in
        0) echo "QEMU quit" ;;
        124) echo "stopped after the time limit" ;;
        *) if [ $((c % 2)) -eq 1 ]; then
               printf 'guest ended the run with status 0x%02x' $((c >> 1))
               case $((c >> 1)) in
                   0) echo " (success)" ;; 32) echo " (all threads stopped, kernel alive)" ;;
                   49) echo " (kernel boot error)" ;; 50) echo " (kernel panic)" ;; *) echo ;;
               esac
           else
               echo "runner failed with exit status $c"
           fi ;;
    esac
}

if [ -z "$seconds" ] && [ -t 0 ]; then
    echo "run: booting $image; quit QEMU with Ctrl-A then X"
    set +e
    "$here/qemu.sh" "${runner_opts[@]}" "$image"
    code=$?
    set -e
    echo "run: $(describe "$code")"
    # A guest's success status and a plain quit are both a good ending of an interactive session.
    [ "$code" -eq 0 ] || [ "$code" -eq 1 ]
    exit
fi

seconds="${seconds:-$DEFAULT_SECONDS}"
mkdir -p "$(dirname "$LOG")"
echo "run: booting $image for at most $seconds s (console also in $LOG)"
set +e
"$here/qemu.sh" --seconds "$seconds" "${runner_opts[@]}" "$image" | tee "$LOG"
code=${PIPESTATUS[0]}
set -e
echo "run: $(describe "$code")"
if grep -qF "$READY_LINE" "$LOG"; then
    echo "run: the system reported '$READY_LINE'"
    exit 0
fi
echo "run: FAILED: the system never printed '$READY_LINE'"
exit 1
