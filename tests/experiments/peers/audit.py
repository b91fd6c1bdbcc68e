#!/usr/bin/env python3
"""Experiment `audit`: the running system's capabilities against system.toml, then a deliberate
over-grant caught by `capctl lint` and `capctl diff` (and by the audit, which the running
system no longer matches).

Waits for the root task's capability dump in the console log (root argument `audit`), then runs
capctl on it and on an over-granting copy of system.toml made with `capctl edit` in a temporary
directory. Prints `peer: ...` lines (each capctl command and its output indented); exits 0 only
when every check passed.
"""
import argparse
import os
import subprocess
import sys
import tempfile
import time

from verdict import Verdict, say

CAPCTL = "target/release/capctl"
# The over-grant: the http app gets the stack's socket buffers (every connection's data), writable.
OVER_GRANT = ["grant", "http", "map", "net-sockets", "--rights", "rw"]




def capctl(*args):
    """Runs capctl, prints the command and its output; returns (exit status, output)."""
    r = subprocess.run([CAPCTL, *args], capture_output=True, text=True, timeout=60)
    out = (r.stdout + r.stderr).rstrip("\n")
    say("$ capctl " + " ".join(args) + f"    [exit {r.returncode}]")
    for line in out.splitlines():
        print(f"peer: |   {line}", flush=True)
    return r.returncode, out


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--log", required=True, help="the console log QEMU is writing")
    p.add_argument("--system", default="system.toml")
    p.add_argument("--wait-seconds", type=float, default=60)
    a = p.parse_args()

    deadline = time.monotonic() + a.wait_seconds
    while True:
        text = open(a.log, errors="replace").read() if os.path.exists(a.log) else ""
        if "capdump: end" in text:
            break
        if time.monotonic() > deadline:
            say(f"FAIL no capability dump in {a.log} within {a.wait_seconds:.0f} s")
            return 1
        time.sleep(0.2)

    verdict = Verdict("audit")
    check = verdict.check
    status, out = capctl("audit", a.system, a.log)
    check("the running system holds exactly what system.toml grants (0 differences)",
          status == 0 and " 0 difference" in out)

    with tempfile.TemporaryDirectory() as d:
        wide = os.path.join(d, "over-granted.toml")
        with open(a.system) as src, open(wide, "w") as dst:
            dst.write(src.read())
        status, _ = capctl("edit", wide, *OVER_GRANT)
        check("capctl edit makes the over-grant (it is legal, only unwise)", status == 0)
        status, out = capctl("lint", wide, "--deny-warnings")
        check("capctl lint catches it: net-sockets writable by net and http (shared-writable)",
              status != 0 and "shared-writable" in out and "net-sockets" in out)
        status, out = capctl("diff", a.system, wide)
        check("capctl diff names it: http gains map net-sockets rw",
              "http:" in out and "+ map `net-sockets`" in out)
        status, out = capctl("audit", wide, a.log)
        check("the audit catches it too: the running system does not match the over-granting file",
              status != 0 and "net-sockets" in out)
    return verdict.exit_status()


if __name__ == "__main__":
    sys.exit(main())
