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
# Where a run's console is kept.
readonly LOG=build/run.log
# The line the network stack prints once it has its address ("net: address 10.0.2.15/24").
readonly ADDRESS_LINE='net: address '
# Host ports QEMU forwards to the guest's HTTP server and echo service (make run sets them; empty:
# no forwarding, nothing to announce).
readonly HTTP_PORT="${WARD_HTTP_PORT:-}"
readonly ECHO_PORT="${WARD_ECHO_PORT:-}"

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

# announce: once the console shows the stack's address, say where to point a browser and nc.
announce() {
    [ -n "$HTTP_PORT" ] || return 0
    local line
    # tail ends with this script (--pid), so no watcher outlives the run.
    # (grep reads tail through a process substitution, so the first match
    # returns at once instead of waiting for tail's next write.)
    line="$(grep -m1 -F "$ADDRESS_LINE" < <(tail -n +1 -F --pid=$$ "$LOG" 2>/dev/null))" || return 0
    printf '\r\nrun: the network stack is up (%s)\r\n' "${line##*"$ADDRESS_LINE"}"
    printf 'run: open http://127.0.0.1:%s/ for the live status page (http://127.0.0.1:%s/stats.json: the same as JSON)\r\n' "$HTTP_PORT" "$HTTP_PORT"
    [ -n "$ECHO_PORT" ] && printf 'run: echo service: nc 127.0.0.1 %s (TCP) or nc -u 127.0.0.1 %s (UDP)\r\n' "$ECHO_PORT" "$ECHO_PORT"
    return 0
}

if [ -z "$seconds" ] && [ -t 0 ]; then
    echo "run: booting $image; quit QEMU with Ctrl-A then X"
    mkdir -p "$(dirname "$LOG")"
    : > "$LOG"
    announce &
    watcher=$!
    set +e
    "$here/qemu.sh" --console-log "$LOG" "${runner_opts[@]}" "$image"
    code=$?
    set -e
    kill "$watcher" 2>/dev/null || true
    echo "run: $(describe "$code")"
    # A guest's success status and a plain quit are both a good ending of an interactive session.
    [ "$code" -eq 0 ] || [ "$code" -eq 1 ]
    exit
fi

seconds="${seconds:-$DEFAULT_SECONDS}"
mkdir -p "$(dirname "$LOG")"
echo "run: booting $image for at most $seconds s (console also in $LOG)"
: > "$LOG"
announce &
watcher=$!
set +e
"$here/qemu.sh" --seconds "$seconds" "${runner_opts[@]}" "$image" | tee "$LOG"
code=${PIPESTATUS[0]}
set -e
kill "$watcher" 2>/dev/null || true
echo "run: $(describe "$code")"
if grep -qF "$READY_LINE" "$LOG"; then
    echo "run: the system reported '$READY_LINE'"
    exit 0
fi
echo "run: FAILED: the system never printed '$READY_LINE'"
exit 1
