#!/usr/bin/env python3
"""Experiment `top-half`: how late a latency-sensitive component's wake-ups come while the e1000
driver serves a flood, with the driver as a bottom half (below the probe, with its poll budget)
or as a top half that does too much (above everything, draining the whole ring at once).

The probe (tests/components/src/bin/latency-probe.rs) prints a report every 500 wake-ups to the
console; this peer reads them from the console log ({log}) for a quiet spell and for the flood,
and compares. Prints `peer: ...` lines; exits 0 only when the run's claim holds (see --half).
"""
import argparse
import os
import re
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "e1000"))
import peer as e1000  # noqa: E402  (tests/e1000/peer.py)
from livelock import FRAME, drain  # noqa: E402
from verdict import Verdict, say  # noqa: E402

# The probe's lateness when nothing above it runs is the kernel tick's granularity (about
# 1,000 us: it asks for a wake-up 1 ms after a tick and is woken by the tick after that). Under
# -icount with sleep=off the guest's clock follows only its own instructions, so that floor is
# the same to the microsecond in every quiet report. The claims compare the flood's worst with
# the quiet worst: a thread above the probe that runs when a wake-up is due adds its run time.
# Measured: the bottom half adds 0 us; the top half 89-170 us (one long pass of the driver).
SAME_US = 20
LATER_US = 40
REPORT = re.compile(rb"probe: report \d+: wake-ups late by median (\d+) us, "
                    rb"99th percentile (\d+) us, worst (\d+) us")




def flood(peer, rate, seconds, burst):
    """Offers `rate` frames/s for `seconds` in bursts of `burst` frames (the way frames arrive
    from a fast sender: back to back, then a pause); returns the frames delivered back."""
    count = int(rate * seconds)
    sent = delivered = 0
    want = set()
    start = time.monotonic()
    while sent < count:
        for _ in range(min(burst, count - sent)):
            sent += 1
            peer.send(peer.data_frame(sent, FRAME))
            want.add(sent)
        pause = start + sent / rate - time.monotonic()
        delivered += drain(peer, want, max(0.0005, pause))
    return delivered + drain(peer, want, 0.5)


def reports(log, start, end):
    """(median, 99th, worst) of every probe report written between two offsets of the log."""
    with open(log, "rb") as f:
        f.seek(start)
        text = f.read(max(0, end - start))
    return [tuple(int(x) for x in m.groups()) for m in REPORT.finditer(text)]


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--listen", type=int, required=True)
    p.add_argument("--nic", type=int, required=True)
    p.add_argument("--log", required=True)
    p.add_argument("--half", choices=["bottom", "top"], required=True,
                   help="which system this is (the label, and which claim to check)")
    p.add_argument("--rate", type=int, default=48000, help="offered frames per second")
    p.add_argument("--seconds", type=float, default=3.0, help="length of the flood")
    p.add_argument("--burst", type=int, default=200,
                   help="frames sent back to back (less than the NIC's 256 descriptors)")
    a = p.parse_args()
    peer = e1000.Peer(a.listen, a.nic, bytes.fromhex("525400123456"))
    peer.wait_ready(60)

    quiet_start = os.path.getsize(a.log)
    time.sleep(1.2)
    quiet = reports(a.log, quiet_start, os.path.getsize(a.log))
    flood_start = os.path.getsize(a.log)
    delivered = flood(peer, a.rate, a.seconds, a.burst)
    time.sleep(0.6)  # the report that covers the flood's end
    in_flood = reports(a.log, flood_start, os.path.getsize(a.log))
    if not quiet or not in_flood:
        say(f"FAIL no probe reports in the console log ({len(quiet)} quiet, {len(in_flood)} in the flood)")
        return 1
    q_worst = max(r[2] for r in quiet)
    f_worst = max(r[2] for r in in_flood)
    f_p99 = max(r[1] for r in in_flood)
    f_median = max(r[0] for r in in_flood)
    say(f"driver as a {a.half} half: quiet: the probe's worst wake-up was {q_worst} us late")
    say(f"driver as a {a.half} half: flood of {a.rate} frames/s in bursts of {a.burst} for {a.seconds:g} s "
        f"({delivered / a.seconds:.0f} frames/s delivered): wake-ups late by median up to "
        f"{f_median} us, 99th percentile up to {f_p99} us, worst {f_worst} us")
    verdict = Verdict("top-half")
    check = verdict.check
    check("the driver delivered frames during the flood", delivered > 0)
    added = f_worst - q_worst
    say(f"figure: driver as a {a.half} half: the flood added {added} us to the probe's worst wake-up")
    if a.half == "bottom":
        check(f"with the driver as a bottom half the flood does not delay the probe "
              f"(worst {f_worst} us, quiet {q_worst} us: within {SAME_US} us)", added <= SAME_US)
    else:
        check(f"with the driver doing its work above the probe, the flood delays the probe's "
              f"wake-ups (worst {f_worst} us, quiet {q_worst} us: over {LATER_US} us later)",
              added > LATER_US)
    return verdict.exit_status()


if __name__ == "__main__":
    sys.exit(main())
