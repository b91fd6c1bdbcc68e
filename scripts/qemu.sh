#!/usr/bin/env bash
# The QEMU runner: the one place that knows how a Ward boot image is started.
#
#   scripts/qemu.sh [options] IMAGE_DIR
#
# IMAGE_DIR is what `capctl build` writes: kernel.elf, the module files, a `modules` file (one module
# file name per line, in boot order, the root task first) and a `cmdline` file (kernel command line,
# may be empty or absent). QEMU runs with IMAGE_DIR as its working directory and loads the kernel by
# Multiboot1; each module goes into `-initrd` as "file args", comma separated.
#
# Options:
#   --seconds N        batch mode: serial console and QEMU's own messages on stdout, stdin closed,
#                      QEMU stopped after N seconds (exit 124 then, as timeout(1) reports it).
#                      Without it: interactive, serial and monitor muxed on the terminal
#                      (Ctrl-A X quits, Ctrl-A H lists the other keys).
#   --root-args STR    arguments of the root-task module (e.g. "test=boot")
#   --kernel-args STR  appended to the kernel command line from the `cmdline` file
#   --machine STR      replaces the -machine value (default: q35)
#   --smp N            cores of the machine (default: the count in IMAGE_DIR/cpus, which `capctl
#                      build` writes from system.toml's `[kernel] cpus`; 1 without that file)
#   --qemu-arg ARG     one extra QEMU argument, repeatable; they come before Ward's own -device
#                      arguments, so an intel-iommu device given here is created first as VT-d needs
#   --console-log F    interactive mode: also write the serial console to file F (so that a
#                      watcher can react to what the system prints)
#   --gdb              start halted with a gdb server on 127.0.0.1:1234
#   --icount           count guest work exactly: -icount shift=0,align=off makes the guest TSC
#                      advance one tick per guest instruction (for `make bench`'s instruction counts);
#                      -rtc clock=vm puts the RTC on the same clock
#   --dry-run          print the command instead of running it
#
# Exit status: QEMU's. The guest ends a run by writing a status byte v to port 0xf4 (isa-debug-exit),
# which makes QEMU exit with (v << 1) | 1: an odd exit code c means guest status c >> 1. 0 means
# QEMU quit normally; 124 means the time limit of --seconds was reached. This script itself exits
# with 2 on a usage error or a malformed image, so that its own failures are never odd.
set -euo pipefail

usage() { sed -n '2,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//' >&2; exit 2; }
die() { printf 'qemu.sh: error: %s\n' "$*" >&2; exit 2; }

# The firmware: qboot boots in ~0.05 s (SeaBIOS takes 0.1-0.15 s) and still provides ACPI tables.
readonly BIOS=/usr/share/qemu/qboot.rom
# Port and width of the debug-exit device the guest writes its verdict to (the kernel's
# DEBUG_EXIT_PORT in kernel-config must match).
readonly DEBUG_EXIT=isa-debug-exit,iobase=0xf4,iosize=0x04
# Guest RAM: room for the kernel, modules and untyped memory, small enough for parallel test runs.
readonly MEMORY=512M
# Where --gdb listens: loopback only, never an outside interface.
readonly GDB_ADDRESS=tcp:127.0.0.1:1234
# Grace between the SIGTERM at the time limit and a SIGKILL, should QEMU not stop on SIGTERM.
readonly KILL_AFTER=5

seconds=""
root_args=""
kernel_args=""
machine="q35"
smp=""
extra=()
gdb=0
icount=0
console_log=""
dry_run=0
image=""

while [ $# -gt 0 ]; do
    case "$1" in
        --seconds) [ $# -ge 2 ] || usage; seconds="$2"; shift 2 ;;
        --root-args) [ $# -ge 2 ] || usage; root_args="$2"; shift 2 ;;
        --kernel-args) [ $# -ge 2 ] || usage; kernel_args="$2"; shift 2 ;;
        --machine) [ $# -ge 2 ] || usage; machine="$2"; shift 2 ;;
        --smp) [ $# -ge 2 ] || usage; smp="$2"; shift 2 ;;
        --qemu-arg) [ $# -ge 2 ] || usage; extra+=("$2"); shift 2 ;;
        --console-log) [ $# -ge 2 ] || usage; console_log="$(realpath -m "$2")"; shift 2 ;;
        --gdb) gdb=1; shift ;;
        --icount) icount=1; shift ;;
        --dry-run) dry_run=1; shift ;;
        -h|--help) usage ;;
        -*) die "unknown option '$1' (see --help)" ;;
        *) [ -z "$image" ] || die "more than one image directory given"; image="$1"; shift ;;
    esac
done

[ -n "$image" ] || usage
[ -d "$image" ] || die "image directory '$image' does not exist (build it with 'make image')"
[ -f "$image/kernel.elf" ] || die "'$image' has no kernel.elf"
[ -f "$image/modules" ] || die "'$image' has no modules file"
if [ -n "$seconds" ] && ! [[ "$seconds" =~ ^[1-9][0-9]*$ ]]; then
    die "--seconds wants a positive whole number, not '$seconds'"
fi
# Multiboot module strings are separated by commas in -initrd: a comma would split a module.
case "$root_args" in *,*) die "--root-args must not contain a comma: '$root_args'" ;; esac
command -v qemu-system-x86_64 >/dev/null 2>&1 || die "qemu-system-x86_64 not found (run scripts/ensure-prereqs.sh)"
[ -e "$BIOS" ] || die "$BIOS not found (run scripts/ensure-prereqs.sh)"

if [ -z "$smp" ]; then
    smp=1
    if [ -f "$image/cpus" ]; then smp="$(tr -d '[:space:]' < "$image/cpus")"; fi
fi
if ! [[ "$smp" =~ ^[1-9][0-9]*$ ]] || [ "$smp" -gt 16 ]; then
    die "the machine's core count must be 1 to 16 (Ward's limit), not '$smp'"
fi

cd "$image"

# Modules in boot order; the first (the root task) gets the root-task arguments.
initrd=""
first=1
while IFS= read -r module || [ -n "$module" ]; do
    [ -n "$module" ] || continue
    case "$module" in *,*) die "module file name '$module' contains a comma" ;; esac
    # A line is a file name, possibly followed by that module's own arguments.
    [ -e "${module%% *}" ] || die "module '${module%% *}' listed in $image/modules does not exist"
    if [ "$first" -eq 1 ] && [ -n "$root_args" ]; then
        module="$module $root_args"
    fi
    first=0
    initrd="${initrd:+$initrd,}$module"
done < modules

cmdline=""
[ -f cmdline ] && cmdline="$(tr '\n' ' ' < cmdline)"
append="$cmdline${kernel_args:+ $kernel_args}"
append="${append#"${append%%[![:space:]]*}"}"   # trim leading blanks
append="${append%"${append##*[![:space:]]}"}"   # trim trailing blanks

cmd=(qemu-system-x86_64
    -machine "$machine" -accel tcg -cpu max -smp "$smp" -m "$MEMORY"
    -bios "$BIOS"
    -no-reboot)
# One guest TSC tick per guest instruction, identical from run to run (see docs/benchmarks.md).
# The RTC (the supervisor's tick) on the same virtual clock as the TSC (components' time): else a
# busy guest, slower than one instruction per host nanosecond, sees heartbeats arrive late.
[ "$icount" -eq 1 ] && cmd+=(-icount shift=0,align=off -rtc clock=vm)
if [ -n "$seconds" ]; then
    # Batch: serial alone on stdout, no monitor to read keys from.
    cmd+=(-nographic -serial stdio -monitor none)
elif [ -n "$console_log" ]; then
    # Interactive with a copy of the console: serial and monitor muxed on the terminal as with
    # -nographic (Ctrl-A X still quits), the serial output also appended to the log.
    cmd+=(-display none -chardev "stdio,id=console,mux=on,signal=off,logfile=$console_log"
          -serial chardev:console -mon chardev=console)
else
    cmd+=(-nographic)
fi
cmd+=("${extra[@]}" -device "$DEBUG_EXIT" -kernel kernel.elf)
[ -n "$initrd" ] && cmd+=(-initrd "$initrd")
cmd+=(-append "$append")
[ "$gdb" -eq 1 ] && cmd+=(-gdb "$GDB_ADDRESS" -S)

if [ "$dry_run" -eq 1 ]; then
    printf '(cd %q &&' "$PWD"
    printf ' %q' "${cmd[@]}"
    printf ')\n'
    exit 0
fi

if [ -z "$seconds" ]; then
    exec "${cmd[@]}"
fi
# --foreground keeps QEMU in the caller's process group, so Ctrl-C reaches it directly; the time
# limit still holds if whoever started us dies, so no QEMU outlives its run.
exec </dev/null 2>&1
exec timeout --foreground --kill-after="$KILL_AFTER" "$seconds" "${cmd[@]}"
