#!/usr/bin/env python3
"""Experiment `crash-download`: downloads the http app's 10 MiB file while the supervisor crashes
the e1000 driver, and checks that every download completes with the right checksum.

The root task injects a crash into the driver every few seconds (root-task/src/inject.rs,
`inject=crash`). This peer waits for the system to answer, then downloads /bench/10MiB again and
again, reading the driver's generation from /stats.json before and after each, until it has seen
a download that spans a restart (the generation changed while it ran) and one that did not (the
baseline its time is compared with). Every download's SHA-256 must match the file's (byte i is
i % 251).

Prints `peer: ...` lines; exits 0 only when every check passed.
"""
import argparse
import hashlib
import json
import socket
import sys
import time
import urllib.request

from verdict import Verdict, say

SIZE = 10 * 1024 * 1024
# The http app's /bench/10MiB: byte i is i % 251 (apps/http).
EXPECTED = hashlib.sha256(bytes(i % 251 for i in range(251)) * (SIZE // 251) +
                          bytes(i % 251 for i in range(SIZE % 251))).hexdigest()




def wait_ready(echo_port, limit):
    """Seconds until the UDP echo answers (QEMU accepts TCP before the guest is up, so a
    connect proves nothing)."""
    start = time.monotonic()
    while time.monotonic() - start < limit:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.settimeout(0.5)
            try:
                s.sendto(b"ready?", ("127.0.0.1", echo_port))
                if s.recv(64) == b"ready?":
                    return time.monotonic() - start
            except OSError:
                time.sleep(0.2)
    return None


def driver_generation(http_port):
    with urllib.request.urlopen(f"http://127.0.0.1:{http_port}/stats.json", timeout=20) as r:
        stats = json.loads(r.read())
    for c in stats["components"]:
        if c["name"] == "e1000":
            return c["generation"]
    raise RuntimeError("no e1000 in /stats.json")


def download(http_port):
    """(bytes, sha256, seconds) of one GET /bench/10MiB."""
    start = time.monotonic()
    digest = hashlib.sha256()
    got = 0
    with urllib.request.urlopen(f"http://127.0.0.1:{http_port}/bench/10MiB", timeout=30) as r:
        while True:
            chunk = r.read(65536)
            if not chunk:
                break
            digest.update(chunk)
            got += len(chunk)
    return got, digest.hexdigest(), time.monotonic() - start


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--http", type=int, required=True, help="host port forwarded to the guest's 80")
    p.add_argument("--echo", type=int, required=True, help="host UDP port forwarded to the guest's 7")
    p.add_argument("--seconds", type=float, default=50,
                   help="stop starting downloads after this long")
    p.add_argument("--no-baseline", action="store_true",
                   help="stop at the first download a crash hit (no undisturbed one to compare)")
    p.add_argument("--ready-seconds", type=float, default=60)
    a = p.parse_args()

    ready = wait_ready(a.echo, a.ready_seconds)
    if ready is None:
        say(f"FAIL the system did not answer within {a.ready_seconds:.0f} s")
        return 1
    say(f"the system answers after {ready:.1f} s; downloading /bench/10MiB until the driver crashes during one")
    all_good = True
    spanned = None     # seconds of the first download a crash hit
    undisturbed = []   # seconds of each download no crash hit
    deadline = time.monotonic() + a.seconds
    n = 0
    while ((spanned is None or not (undisturbed or a.no_baseline))
           and time.monotonic() < deadline):
        n += 1
        before = driver_generation(a.http)
        try:
            got, digest, seconds = download(a.http)
        except OSError as e:
            say(f"FAIL download {n}: {e}")
            return 1
        after = driver_generation(a.http)
        good = got == SIZE and digest == EXPECTED
        all_good &= good
        crashed = "" if after == before else f"; the driver crashed and came back meanwhile (generation {before} -> {after})"
        say(f"download {n}: {got} bytes in {seconds:.1f} s ({got / seconds / 1e6:.1f} MB/s), "
            f"SHA-256 {digest[:16]}... {'matches' if good else 'DIFFERS'}{crashed}")
        if after != before:
            spanned = spanned or seconds
        else:
            undisturbed.append(seconds)
    if spanned is not None and undisturbed:
        best = min(undisturbed)
        cost = spanned - best
        # Downloads through QEMU's user network vary by some 10% from one to the next.
        within = abs(cost) < 0.1 * best
        say(f"figure: a download the crash hit took {spanned:.1f} s, an undisturbed one {best:.1f} s: "
            + ("the crash cost no more than downloads vary by" if within
               else f"the crash and restart cost {cost:.1f} s")
            + ", and no byte")
    verdict = Verdict("crash-download")
    check = verdict.check
    check("the driver crashed and was restarted during a download", spanned is not None)
    check("every download completed, all 10,485,760 bytes, with the file's SHA-256", all_good)
    return verdict.exit_status()


if __name__ == "__main__":
    sys.exit(main())
