#!/usr/bin/env python3
"""Prints the last `cargo bench -p ward-ring --bench spsc` run as Markdown tables.

Reads criterion's saved estimates (<target dir>/criterion/*/*/new/*.json) and
gives, per benchmark, the median throughput in million items (or round trips)
per second and its ratio to rtrb measured in the same run.

usage: summarize.py [CRITERION_DIR]   (default: $CARGO_TARGET_DIR/criterion or target/criterion)
"""
import json
import os
import sys

GROUPS = [
    ("spsc_throughput", "Throughput between two threads (million items/s)"),
    ("round_trip", "Round trips between two threads (million round trips/s)"),
    ("single_thread_push_pop", "One thread, push then pop (million items/s; instruction cost, no cross-core traffic)"),
]


def load(root):
    rows = {}
    for dirpath, _, files in os.walk(root):
        if os.path.basename(dirpath) != "new" or "benchmark.json" not in files:
            continue
        with open(os.path.join(dirpath, "benchmark.json")) as f:
            bench = json.load(f)
        with open(os.path.join(dirpath, "estimates.json")) as f:
            estimates = json.load(f)
        with open(os.path.join(dirpath, "sample.json")) as f:
            sample = json.load(f)
        elements = bench.get("throughput", {}).get("Elements")
        if not elements:
            continue
        median_ns = estimates["median"]["point_estimate"]
        ci = estimates["median"]["confidence_interval"]
        name = bench["function_id"] + (f"/{bench['value_str']}" if bench.get("value_str") else "")
        rate = lambda ns: elements / ns * 1e3  # million elements per second
        # The fastest sample: on a shared machine, the one least disturbed by
        # other processes taking a core away from one of the two threads.
        best_ns = min(t / n for n, t in zip(sample["iters"], sample["times"]))
        rows.setdefault(bench["group_id"], {})[name] = (
            rate(median_ns), rate(ci["upper_bound"]), rate(ci["lower_bound"]), rate(best_ns))
    return rows


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.environ.get("CARGO_TARGET_DIR", "target"), "criterion")
    rows = load(root)
    if not rows:
        sys.exit(f"no criterion results under {root}")
    for group, title in GROUPS:
        results = rows.get(group)
        if not results:
            continue
        baseline = results.get("rtrb", (None,))[0]
        best_baseline = results.get("rtrb", (None, None, None, None))[3]
        latency = group == "round_trip"
        print(f"\n{title}\n")
        print("| benchmark | median | 95% interval | vs rtrb | best sample | best vs rtrb |"
              + (" ns per round trip (median, best) |" if latency else ""))
        print("|---|---:|---:|---:|---:|---:|" + ("---:|" if latency else ""))
        for name in sorted(results, key=lambda n: (not n.startswith("ward"), n.split("/")[0], int(n.split("/")[1]) if "/" in n else 0)):
            median, low, high, best = results[name]
            ratio = f"{median / baseline:.2f}x" if baseline else "-"
            best_ratio = f"{best / best_baseline:.2f}x" if best_baseline else "-"
            extra = f" {1e3 / median:.0f}, {1e3 / best:.0f} |" if latency else ""
            print(f"| {name} | {median:.2f} | {low:.2f}–{high:.2f} | {ratio} | {best:.2f} | {best_ratio} |{extra}")


if __name__ == "__main__":
    main()
