#!/usr/bin/env bash
# Network throughput against component placement (issue 17). Three placements of the default
# system, same build:
#   one-core   a one-core machine (`[kernel] cpus = 1`): every component and interrupt on core 0;
#   together   a two-core machine with the whole packet path (the e1000 driver and its interrupt,
#              the stack, the applications) on core 1, as the stack's core in system.toml;
#   split      system.toml as it is: the driver and its interrupt on core 0, the stack and the
#              applications on core 1, so every batch of frames crosses cores.
# Each placement boots once; a host client (curl, through QEMU's user network on a free loopback
# port) downloads /bench/10MiB from the HTTP app ROUNDS times; the medians are printed with their
# ratios against one-core, all measured in the same run.
# Then the cost at low load, which is where a multicore kernel pays most (sDDF measured about 50%
# more CPU at low load on seL4's multicore kernel): the guest's busy time over LOW_SECONDS with no
# traffic, then over LOW_SECONDS of UDP echoes at LOW_RATE a second from a host client; the
# difference divided by the echoes answered is the guest CPU time one echo costs.
#
#   scripts/bench-placement.sh [ROUNDS] [LOW_SECONDS]
#                                            (make bench-placement; needs `make build` first)
#
# Every loop is bounded: each download has a time limit, each boot waits at most BOOT_SECONDS.
set -euo pipefail

rounds="${1:-5}"
low_seconds="${2:-10}"
# Echoes a second in the low-load phase: one every 10 ms, far below the thousands a second the
# path carries, so every echo finds the path idle and its cores asleep.
readonly LOW_RATE=100
readonly BOOT_SECONDS=90
readonly DOWNLOAD_SECONDS=60
# What /bench/10MiB sends.
readonly DOWNLOAD_BYTES=$((10 * 1024 * 1024))
readonly QEMU_SECONDS=600
out=build/bench-placement
mkdir -p "$out"

# A free loopback port (TCP, or UDP with `udp`), picked by the kernel.
free_port() {
    python3 -c 'import socket, sys
kind = socket.SOCK_DGRAM if sys.argv[1:] == ["udp"] else socket.SOCK_STREAM
s = socket.socket(socket.AF_INET, kind); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])' "$@"
}

# Sends COUNT UDP echoes to 127.0.0.1:PORT at LOW_RATE a second, each waited for at most a
# second; prints how many came back byte-exact.
paced_echoes() {  # paced_echoes PORT COUNT
    python3 - "$1" "$2" "$LOW_RATE" <<'PY'
import socket, sys, time
port, count, rate = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
answered = 0
start = time.monotonic()
for i in range(count):
    delay = start + i / rate - time.monotonic()
    if delay > 0:
        time.sleep(delay)
    payload = b"placement low load %d" % i
    s.sendto(payload, ("127.0.0.1", port))
    deadline = time.monotonic() + 1.0
    while (left := deadline - time.monotonic()) > 0:
        s.settimeout(left)
        try:
            if s.recv(2048) == payload:
                answered += 1
                break
        except socket.timeout:
            break
print(answered)
PY
}

# The variants, written from system.toml by changing only `cpus` and components' `core` keys.
python3 - system.toml "$out" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
out = sys.argv[2]
def block(name):
    start = text.index(f"[component.{name}]")
    return start, text.find("\n[", start + 1)
def with_core(source, name, core):
    start, end = block(name)
    changed = re.sub(r"(?m)^core = \d+", f"core = {core}", source[start:end])
    return source[:start] + changed + source[end:]
net_start, net_end = block("net")
net_core = re.search(r"(?m)^core = (\d+)", text[net_start:net_end]).group(1)
open(f"{out}/together.toml", "w").write(with_core(text, "e1000", net_core))
one = re.sub(r"(?m)^cpus = \d+", "cpus = 1", text)
one = re.sub(r"(?m)^core = \d+", "core = 0", one)
open(f"{out}/one-core.toml", "w").write(one)
open(f"{out}/split.toml", "w").write(text)
PY

run_placement() {  # run_placement NAME: boots NAME, downloads ROUNDS times, keeps the figures
    local name="$1" port udp_port pid log
    make --no-print-directory image-only SYSTEM="$out/$name.toml" > "$out/$name.build.log"
    port="$(free_port)"
    udp_port="$(free_port udp)"
    log="$out/$name.log"
    scripts/qemu.sh --seconds "$QEMU_SECONDS" --machine q35,kernel-irqchip=split \
        --qemu-arg -device --qemu-arg intel-iommu,intremap=on,caching-mode=on \
        --qemu-arg -nic --qemu-arg none \
        --qemu-arg -netdev --qemu-arg "user,id=net0,hostfwd=tcp:127.0.0.1:$port-:80,hostfwd=udp:127.0.0.1:$udp_port-:7" \
        --qemu-arg -device --qemu-arg e1000,netdev=net0 \
        "build/images/$name" > "$log" 2>&1 &
    pid=$!
    # Ready when the HTTP app answers (a connect alone proves nothing: QEMU accepts it early).
    local waited=0
    until curl -s -o /dev/null --max-time 2 "http://127.0.0.1:$port/"; do
        sleep 1; waited=$((waited + 1))
        if [ "$waited" -ge "$BOOT_SECONDS" ]; then
            kill "$pid" 2>/dev/null || true
            echo "bench-placement: $name did not answer HTTP within ${BOOT_SECONDS}s; log: $log" >&2
            return 1
        fi
    done
    curl -s --max-time 10 "http://127.0.0.1:$port/stats.json" > "$out/$name.before.json"
    local speeds=()
    local result code size speed
    for _ in $(seq 1 "$rounds"); do
        result="$(curl -s -o /dev/null --max-time "$DOWNLOAD_SECONDS" \
            -w '%{http_code} %{size_download} %{speed_download}' \
            "http://127.0.0.1:$port/bench/10MiB" || true)"
        read -r code size speed <<< "$result"
        if [ "$code" != 200 ] || [ "$size" != "$DOWNLOAD_BYTES" ]; then
            kill "$pid" 2>/dev/null || true
            echo "bench-placement: $name: a download ended with HTTP ${code:-none} after ${size:-0} of $DOWNLOAD_BYTES bytes; log: $log" >&2
            return 1
        fi
        speeds+=("$speed")
    done
    curl -s --max-time 10 "http://127.0.0.1:$port/stats.json" > "$out/$name.after.json"
    # Low load: quiet, then paced echoes, each phase between two readings of the statistics (a
    # reading's own cost falls into both phases alike and cancels in their difference).
    sleep 1
    curl -s --max-time 10 "http://127.0.0.1:$port/stats.json" > "$out/$name.quiet-before.json"
    sleep "$low_seconds"
    curl -s --max-time 10 "http://127.0.0.1:$port/stats.json" > "$out/$name.quiet-after.json"
    local sent=$((low_seconds * LOW_RATE)) answered
    answered="$(paced_echoes "$udp_port" "$sent")"
    curl -s --max-time 10 "http://127.0.0.1:$port/stats.json" > "$out/$name.echo-after.json"
    kill "$pid" 2>/dev/null || true
    if [ "$answered" -lt $((sent / 2)) ]; then
        echo "bench-placement: $name: only $answered of $sent UDP echoes answered at $LOW_RATE/s; log: $log" >&2
        return 1
    fi
    echo "$sent $answered" > "$out/$name.echoes"
    wait "$pid" 2>/dev/null || true
    printf '%s\n' "${speeds[@]}" > "$out/$name.speeds"
}

# Two lines per placement: the median rate with, per download, the guest's busy time on each core,
# the IPIs sent and the waits for the kernel lock (from the kernel's statistics in /stats.json
# before and after the downloads);
# and the low-load phase's busy rates, quiet and echoing, with the guest CPU time per echo.
report() {  # report NAME DESCRIPTION
    python3 - "$out/$1" "$2" "$rounds" <<'PY'
import json, re, statistics, sys
base, description, rounds = sys.argv[1], sys.argv[2], int(sys.argv[3])
speeds = [float(v) for v in open(base + ".speeds").read().split()]
def per_core(path, what):
    text = open(path).read()
    return {int(c): int(v) for c, v in re.findall(r'"cpu(\d+)\.' + what + r'"\s*:\s*(\d+)', text)}
def deltas(start, end, what):
    """Per core, how much `what` grew between the readings base+start and base+end."""
    before, after = per_core(base + start, what), per_core(base + end, what)
    return {c: after[c] - before.get(c, 0) for c in sorted(after)}
def per_download(what):
    return {c: v / rounds for c, v in deltas(".before.json", ".after.json", what).items()}
busy, ipis, waits = per_download("busy_ms"), per_download("ipis_sent"), per_download("lock_waits")
cores = " + ".join(f"core {c} {ms:.0f}" for c, ms in busy.items())
print(f"bench: HTTP 10 MiB download, {description}: median {statistics.median(speeds) / 1e6:.2f} MB/s"
      f" ({rounds} rounds); per download, guest busy {sum(busy.values()):.0f} ms ({cores}),"
      f" {sum(ipis.values()):.0f} IPIs sent, {sum(waits.values()):.0f} waits for the kernel lock")
def uptime(start, end):
    read = lambda path: int(re.search(r'"uptime_ms"\s*:\s*(\d+)', open(base + path).read()).group(1))
    return max(read(end) - read(start), 1)
sent, answered = (int(v) for v in open(base + ".echoes").read().split())
quiet = deltas(".quiet-before.json", ".quiet-after.json", "busy_ms")
quiet_ms, quiet_span = sum(quiet.values()), uptime(".quiet-before.json", ".quiet-after.json")
echo = deltas(".quiet-after.json", ".echo-after.json", "busy_ms")
echo_ms, echo_span = sum(echo.values()), uptime(".quiet-after.json", ".echo-after.json")
echo_ipis = sum(deltas(".quiet-after.json", ".echo-after.json", "ipis_sent").values())
echo_waits = sum(deltas(".quiet-after.json", ".echo-after.json", "lock_waits").values())
# The background (timer ticks, heartbeats, the supervisor) at its quiet rate over the echo phase.
background_ms = quiet_ms * echo_span / quiet_span
per_echo_us = max(echo_ms - background_ms, 0) * 1000 / max(answered, 1)
def rates(busy_ms, span):
    return " + ".join(f"core {c} {ms * 1000 / span:.1f}" for c, ms in busy_ms.items())
quiet_cores, echo_cores = rates(quiet, quiet_span), rates(echo, echo_span)
open(base + ".per-echo", "w").write(f"{per_echo_us}\n")
print(f"bench: low load, {description}: {answered} of {sent} UDP echoes answered at {sent * 1000 // echo_span}/s;"
      f" guest busy {quiet_ms * 1000 / quiet_span:.1f} ms/s quiet ({quiet_cores}),"
      f" {echo_ms * 1000 / echo_span:.1f} ms/s echoing ({echo_cores}):"
      f" {per_echo_us:.0f} us per echo, {echo_ipis / max(answered, 1):.1f} IPIs and"
      f" {echo_waits / max(answered, 1):.1f} waits for the kernel lock per echo")
PY
}

median() { sort -n "$out/$1.speeds" | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }


run_placement one-core
run_placement together
run_placement split
report one-core "one core (driver, stack and applications on core 0 of a one-core machine)"
report together "two cores, the whole packet path on core 1"
report split "two cores, driver on core 0, stack and applications on core 1 (system.toml)"
awk -v one="$(median one-core)" -v together="$(median together)" -v apart="$(median split)" 'BEGIN {
    if (one > 0) printf "bench: rate against one core: the whole path on core 1 %.2fx, split %.2fx\n", together / one, apart / one
}'
awk -v one="$(cat "$out/one-core.per-echo")" -v together="$(cat "$out/together.per-echo")" \
    -v apart="$(cat "$out/split.per-echo")" 'BEGIN {
    if (one > 0) printf "bench: guest CPU per echo at low load against one core: the whole path on core 1 %.2fx, split %.2fx\n", together / one, apart / one
}'
