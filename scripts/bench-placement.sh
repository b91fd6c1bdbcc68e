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
#
#   scripts/bench-placement.sh [ROUNDS]      (make bench-placement; needs `make build` first)
#
# Every loop is bounded: each download has a time limit, each boot waits at most BOOT_SECONDS.
set -euo pipefail

rounds="${1:-5}"
readonly BOOT_SECONDS=90
readonly DOWNLOAD_SECONDS=60
# What /bench/10MiB sends.
readonly DOWNLOAD_BYTES=$((10 * 1024 * 1024))
readonly QEMU_SECONDS=600
out=build/bench-placement
mkdir -p "$out"

# A free loopback port, picked by the kernel.
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

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
    local name="$1" port pid log
    make --no-print-directory image-only SYSTEM="$out/$name.toml" > "$out/$name.build.log"
    port="$(free_port)"
    log="$out/$name.log"
    scripts/qemu.sh --seconds "$QEMU_SECONDS" --machine q35,kernel-irqchip=split \
        --qemu-arg -device --qemu-arg intel-iommu,intremap=on,caching-mode=on \
        --qemu-arg -nic --qemu-arg none \
        --qemu-arg -netdev --qemu-arg "user,id=net0,hostfwd=tcp:127.0.0.1:$port-:80" \
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
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    printf '%s\n' "${speeds[@]}" > "$out/$name.speeds"
}

# One line per placement: the median rate, and per download the guest's busy time on each core
# and the IPIs sent (from the kernel's statistics in /stats.json before and after the downloads).
report() {  # report NAME DESCRIPTION
    python3 - "$out/$1" "$2" "$rounds" <<'PY'
import json, re, statistics, sys
base, description, rounds = sys.argv[1], sys.argv[2], int(sys.argv[3])
speeds = [float(v) for v in open(base + ".speeds").read().split()]
def per_core(path, what):
    text = open(path).read()
    return {int(c): int(v) for c, v in re.findall(r'"cpu(\d+)\.' + what + r'"\s*:\s*(\d+)', text)}
def delta(what):
    before, after = per_core(base + ".before.json", what), per_core(base + ".after.json", what)
    return {c: (after[c] - before.get(c, 0)) / rounds for c in sorted(after)}
busy, ipis = delta("busy_ms"), delta("ipis_sent")
cores = " + ".join(f"core {c} {ms:.0f}" for c, ms in busy.items())
print(f"bench: HTTP 10 MiB download, {description}: median {statistics.median(speeds) / 1e6:.2f} MB/s"
      f" ({rounds} rounds); per download, guest busy {sum(busy.values()):.0f} ms ({cores}),"
      f" {sum(ipis.values()):.0f} IPIs sent")
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
