#!/usr/bin/env python3
"""Host peer of the net-restart scenario: the applications come back after the network stack does.

The supervisor crashes the network server (`net`) once, a few seconds after boot. A restarted
stack has no sockets, so each application must see its new generation, attach again and reopen
its sockets. This peer checks, through QEMU's port forwards on 127.0.0.1:
  1. the status page (http) and the UDP echo (echo) answer before the crash;
  2. within the time limit, the status page answers again and reports net at generation 2 or
     later (http re-attached: before that the page cannot be served at all);
  3. the UDP echo answers again, byte-exact (echo re-attached).
Every loop is bounded in count and time.
"""
import argparse
import json
import socket
import sys
import time
import urllib.request

# How long the system may take to come up, and to come back after the crash.
BOOT_SECONDS = 60
RESTORE_SECONDS = 60
POLL_SECONDS = 0.25


def status(port):
    """/stats.json as a dict, or None if the page does not answer."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/stats.json", timeout=2) as r:
            return json.loads(r.read())
    except (OSError, ValueError):
        return None


def net_generation(page):
    for component in page.get("components", []):
        if component.get("name") == "net":
            return component.get("generation", 0)
    return 0


def echo_answers(port, payload):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(1)
        try:
            s.sendto(payload, ("127.0.0.1", port))
            return s.recvfrom(2048)[0] == payload
        except OSError:
            return False


def wait_for(what, seconds, probe):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        result = probe()
        if result:
            return result
        time.sleep(POLL_SECONDS)
    print(f"peer: FAIL {what} within {seconds} s", flush=True)
    sys.exit(1)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--http", type=int, required=True)
    parser.add_argument("--echo", type=int, required=True)
    args = parser.parse_args()

    first = wait_for("the status page answered", BOOT_SECONDS, lambda: status(args.http))
    wait_for("the UDP echo answered", BOOT_SECONDS, lambda: echo_answers(args.echo, b"before"))
    before = net_generation(first)
    print(f"peer: PASS the status page and the echo answer (net generation {before})", flush=True)

    page = wait_for("the status page answered with net restarted", RESTORE_SECONDS,
                    lambda: (lambda p: p if p and net_generation(p) > before else None)(status(args.http)))
    print(f"peer: PASS the status page answers after the stack's restart "
          f"(net generation {before} -> {net_generation(page)})", flush=True)
    wait_for("the UDP echo answered after the stack's restart", RESTORE_SECONDS,
             lambda: echo_answers(args.echo, b"after the restart"))
    print("peer: PASS the UDP echo answers after the stack's restart, byte-exact", flush=True)
    print("peer: net-restart: all checks passed", flush=True)


if __name__ == "__main__":
    main()
