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

run_placement() {  # run_placement NAME: prints the median MB/s of NAME's downloads
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
    local speeds=()
    for _ in $(seq 1 "$rounds"); do
        speeds+=("$(curl -s -o /dev/null --max-time "$DOWNLOAD_SECONDS" -w '%{speed_download}' \
            "http://127.0.0.1:$port/bench/10MiB")")
    done
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    printf '%s\n' "${speeds[@]}" | sort -n | awk '{ v[NR] = $1 } END { printf "%.2f\n", v[int((NR + 1) / 2)] / 1e6 }'
}

one="$(run_placement one-core)"
together="$(run_placement together)"
split="$(run_placement split)"
echo "bench: HTTP 10 MiB download, one core (driver, stack and applications on core 0 of a one-core machine): median $one MB/s ($rounds rounds)"
echo "bench: HTTP 10 MiB download, two cores, the whole packet path on core 1: median $together MB/s ($rounds rounds)"
echo "bench: HTTP 10 MiB download, two cores, driver on core 0, stack on core 1 (system.toml): median $split MB/s ($rounds rounds)"
awk -v one="$one" -v together="$together" -v split="$split" 'BEGIN {
    if (one > 0) printf "bench: against one core: together on core 1 %.2fx, split %.2fx\n", together / one, split / one
}'
