#!/usr/bin/env python3
"""Fault campaigns against Ward's network: `make faults` (long) and `make test-faults` (short).

Boots tests/systems/faults.toml (the default system with the e1000 driver's fault-injection
build) in QEMU with VT-d and an e1000 on QEMU's user network, the guest's echo service (TCP and
UDP port 7) forwarded to free loopback ports. The root task runs a seeded fault campaign
(root-task/src/inject.rs) into the components named; meanwhile this script

  - sends UDP echo datagrams (a sequence number, then pseudo-random bytes of varied length) and
    checks every reply byte for byte against what was sent;
  - keeps TCP connections to the echo service streaming pseudo-random bytes and checks every
    byte echoed against the generator (SHA-256 of each connection's stream is compared too);
  - follows the guest console and joins the campaign's lines: each fault's kind, target, who
    detected it and when, and when the network stack saw service restored (a frame received
    and one sent by the restarted driver), all in guest time (microseconds since boot).

A corrupted byte anywhere fails the campaign (TCP checksums cannot be trusted to catch a driver
that lies: the check is end to end). A TCP connection that breaks (reset, or no progress for
CONNECTION_PATIENCE seconds) is counted, against the driver if no network-server or echo restart
happened in between. Prints a progress line, a table per kind and, last, the results line:

  faults: N injected over K kinds, R recovered, H held, C kernel crashes, S stack crashes,
  B bytes corrupted, T connections broken by driver restarts

Exits non-zero when a --require'd goal is missed. --report FILE writes the results table (with
the seed and the command that repeats the run) between markers in FILE (docs/reliability.md).
Every port is chosen free at run time on 127.0.0.1; every loop is bounded in count and time.
"""

import argparse
import hashlib
import os
import random
import re
import signal
import socket
import statistics
import struct
import subprocess
import sys
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tests", "net"))
from net_tests import free_port, stop_qemu  # noqa: E402  (the end-to-end tests' helpers)
# Boot, link-up and DHCP under TCG on a busy machine.
READY_SECONDS = 120
# A TCP connection that moves no byte for this long is broken. A driver restart takes tens of
# milliseconds, but faults come several times a second, and each loss doubles TCP's
# retransmission timeout: a connection may wait tens of seconds and still be whole.
CONNECTION_PATIENCE = 45.0
# The UDP sender's pace, and how long a reply may take before the datagram counts as lost.
UDP_INTERVAL = 0.005
UDP_TIMEOUT = 2.0
# Bytes each TCP connection keeps in flight at most (well under the stack's 3 KiB windows
# would stall; the echo service answers as it reads).
TCP_CHUNK = 2048
TCP_CONNECTIONS = 2
REPORT_BEGIN = "<!-- campaign results: begin (written by tests/faults/campaign.py) -->"
REPORT_END = "<!-- campaign results: end -->"


def stream_bytes(seed, offset, count):
    """`count` bytes of connection `seed`'s stream from `offset` (blocks of SHA-256)."""
    out = bytearray()
    block = offset // 32
    skip = offset % 32
    while len(out) < count + skip:
        out += hashlib.sha256(struct.pack("<QQ", seed, block)).digest()
        block += 1
    return bytes(out[skip:skip + count])


class Tally:
    """What the traffic saw, shared between the traffic threads."""

    def __init__(self):
        self.lock = threading.Lock()
        self.udp_sent = 0
        self.udp_answered = 0
        self.udp_corrupt_bytes = 0
        self.udp_duplicates = 0
        self.tcp_bytes = 0
        self.tcp_corrupt_bytes = 0
        self.tcp_connections = 0
        # Streams that ended with every byte back and the SHA-256 of the whole stream equal.
        self.tcp_completed = 0
        self.tcp_incomplete = 0
        self.broken = []  # (host time, reason)
        self.broken_at_fault = []  # the last fault injected when each broke
        self.last_answer = 0.0
        self.answers = []  # host times of UDP answers (for gaps)


class Traffic:
    """UDP echoes and TCP streams through the guest, checked byte for byte."""

    def __init__(self, udp_port, tcp_port, tally, stop):
        self.udp_port = udp_port
        self.tcp_port = tcp_port
        self.tally = tally
        self.stop = stop
        self.threads = [threading.Thread(target=self.udp, daemon=True)]
        for n in range(TCP_CONNECTIONS):
            self.threads.append(threading.Thread(target=self.tcp, args=(n,), daemon=True))

    def start(self):
        for t in self.threads:
            t.start()

    def join(self):
        for t in self.threads:
            t.join(timeout=CONNECTION_PATIENCE + 5)

    def udp(self):
        rng = random.Random(1)
        sent = {}
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.settimeout(UDP_INTERVAL)
            seq = 0
            while not self.stop.is_set():
                seq += 1
                payload = struct.pack("<Q", seq) + rng.randbytes(rng.randint(8, 1200))
                sent[seq] = (payload, time.monotonic())
                try:
                    s.sendto(payload, ("127.0.0.1", self.udp_port))
                except OSError:
                    pass
                with self.tally.lock:
                    self.tally.udp_sent += 1
                deadline = time.monotonic() + UDP_INTERVAL
                while time.monotonic() < deadline:
                    try:
                        reply = s.recv(65536)
                    except OSError:
                        break
                    self.check_udp(reply, sent)
                # Forget what can no longer be answered.
                if seq % 256 == 0:
                    old = time.monotonic() - UDP_TIMEOUT
                    for k in [k for k, (_, t) in sent.items() if t < old]:
                        del sent[k]

    def check_udp(self, reply, sent):
        now = time.monotonic()
        with self.tally.lock:
            if len(reply) < 8:
                self.tally.udp_corrupt_bytes += len(reply)
                return
            (seq,) = struct.unpack("<Q", reply[:8])
            entry = sent.get(seq)
            if entry is None:
                # Answered after we forgot it, a duplicate, or a corrupted number.
                if seq > 0 and seq <= self.tally.udp_sent:
                    self.tally.udp_duplicates += 1
                else:
                    self.tally.udp_corrupt_bytes += len(reply)
                return
            payload, _ = entry
            if reply != payload:
                wrong = sum(a != b for a, b in zip(reply, payload)) + abs(len(reply) - len(payload))
                self.tally.udp_corrupt_bytes += wrong
                return
            del sent[seq]
            self.tally.udp_answered += 1
            self.tally.last_answer = now
            self.tally.answers.append(now)

    def tcp(self, number):
        generation = 0
        while not self.stop.is_set():
            generation += 1
            seed = number * 1_000_000 + generation
            reason = self.tcp_connection(seed)
            if reason is not None and not self.stop.is_set():
                with self.tally.lock:
                    self.tally.broken.append((time.monotonic(), reason))
                time.sleep(0.5)

    def tcp_connection(self, seed):
        """One connection until stop; the reason it broke, or None."""
        try:
            s = socket.create_connection(("127.0.0.1", self.tcp_port), timeout=10)
        except OSError as e:
            return f"connect: {e}"
        with self.tally.lock:
            self.tally.tcp_connections += 1
        s.settimeout(0.2)
        sent = received = 0
        sent_hash = hashlib.sha256()
        received_hash = hashlib.sha256()
        last_progress = time.monotonic()
        try:
            while not self.stop.is_set():
                if sent - received < TCP_CHUNK:
                    chunk = stream_bytes(seed, sent, TCP_CHUNK)
                    s.sendall(chunk)
                    sent_hash.update(chunk)
                    sent += len(chunk)
                try:
                    data = s.recv(65536)
                except socket.timeout:
                    data = None
                if data == b"":
                    return "closed by the guest"
                if data:
                    want = stream_bytes(seed, received, len(data))
                    if data != want:
                        wrong = sum(a != b for a, b in zip(data, want))
                        with self.tally.lock:
                            self.tally.tcp_corrupt_bytes += wrong
                    received_hash.update(data)
                    received += len(data)
                    last_progress = time.monotonic()
                    with self.tally.lock:
                        self.tally.tcp_bytes += len(data)
                elif time.monotonic() - last_progress > CONNECTION_PATIENCE:
                    return f"no progress for {CONNECTION_PATIENCE:.0f} s"
            # Drain what is still in flight, then compare the whole streams' hashes.
            s.shutdown(socket.SHUT_WR)
            s.settimeout(CONNECTION_PATIENCE)
            while received < sent:
                data = s.recv(65536)
                if not data:
                    break
                want = stream_bytes(seed, received, len(data))
                if data != want:
                    with self.tally.lock:
                        self.tally.tcp_corrupt_bytes += sum(a != b for a, b in zip(data, want))
                received_hash.update(data)
                received += len(data)
            with self.tally.lock:
                if received != sent:
                    self.tally.tcp_incomplete += 1
                elif received_hash.digest() != sent_hash.digest():
                    self.tally.tcp_corrupt_bytes += 1
                else:
                    self.tally.tcp_completed += 1
            return None
        except OSError as e:
            return f"{type(e).__name__}: {e}"
        finally:
            s.close()


class Fault:
    def __init__(self, number, kind, target, at):
        self.number, self.kind, self.target, self.at = number, kind, target, at
        self.detector = None
        self.detected_at = None
        self.outcome = None  # detected, no effect, cleared, held
        self.restored_at = None
        self.attached_at = None
        self.collateral = []


LINE_INJECT = re.compile(r"inject: #(\d+) (\S+) into (\S+) at (\d+) us: (.*)")
LINE_DETECTED = re.compile(r"inject: #(\d+) \((\S+)\) detected by (\S+) after (\d+) us at (\d+) us")
LINE_NO_EFFECT = re.compile(r"inject: #(\d+) \((\S+)\) had no effect")
LINE_CLEARED = re.compile(r"inject: #(\d+) \((\S+)\) not detected within")
LINE_COLLATERAL = re.compile(r"inject: #(\d+) \((\S+) into (\S+)\): (\S+) failed too, detected by (\S+)")
LINE_RESTORED = re.compile(r"net: driver generation (\d+): service restored at (\d+) us")
LINE_ATTACHED = re.compile(r"e1000: attached to the stack's rings \(stack generation \d+\) at (\d+) us")
LINE_ECHO_SERVING = re.compile(r"echo: serving .* at (\d+) us")
LINE_SUMMARY = re.compile(r"inject: (\d+) injected over (\d+) kinds")
LINE_HELD = re.compile(r"^(\S+): .*holding it")
LINE_RESTARTED = re.compile(r"^(\S+): restarted, generation (\d+)")


class Console:
    """The guest console, followed as QEMU writes it."""

    def __init__(self, path):
        self.path = path
        self.offset = 0
        self.partial = b""
        self.faults = {}
        self.order = []
        self.summary = None
        self.kernel_crash = None
        self.held = []
        self.restarts = []  # (component, host time)
        self.last_detected = None

    def follow(self):
        try:
            with open(self.path, "rb") as f:
                f.seek(self.offset)
                data = f.read()
        except OSError:
            return
        self.offset += len(data)
        data = self.partial + data
        lines = data.split(b"\n")
        self.partial = lines.pop()
        for raw in lines:
            self.line(raw.decode(errors="replace").rstrip("\r"))

    def line(self, text):
        if "kernel panic" in text or "[FATAL]" in text:
            self.kernel_crash = text
        m = LINE_INJECT.search(text)
        if m:
            if "not injected" in m.group(5):
                return
            f = Fault(int(m.group(1)), m.group(2), m.group(3), int(m.group(4)))
            self.faults[f.number] = f
            self.order.append(f.number)
            return
        m = LINE_DETECTED.search(text)
        if m and int(m.group(1)) in self.faults:
            f = self.faults[int(m.group(1))]
            f.detector, f.detected_at, f.outcome = m.group(3), int(m.group(5)), "detected"
            self.last_detected = f
            return
        m = LINE_NO_EFFECT.search(text)
        if m and int(m.group(1)) in self.faults:
            self.faults[int(m.group(1))].outcome = "no effect"
            return
        m = LINE_CLEARED.search(text)
        if m and int(m.group(1)) in self.faults:
            self.faults[int(m.group(1))].outcome = "cleared"
            return
        m = LINE_COLLATERAL.search(text)
        if m and int(m.group(1)) in self.faults:
            self.faults[int(m.group(1))].collateral.append((m.group(4), m.group(5)))
            return
        # Lines that stamp the last detected fault: (pattern, the targets it is about, field).
        for pattern, targets, field in (
            (LINE_RESTORED, ("e1000",), "restored_at"),
            (LINE_ECHO_SERVING, ("net", "echo"), "restored_at"),
            (LINE_ATTACHED, ("e1000",), "attached_at"),
        ):
            m = pattern.search(text)
            if m:
                f = self.last_detected
                if f is not None and f.target in targets and getattr(f, field) is None:
                    setattr(f, field, int(m.group(m.lastindex)))
                return
        m = LINE_SUMMARY.search(text)
        if m:
            self.summary = text
            return
        m = LINE_RESTARTED.search(text)
        if m:
            self.restarts.append((m.group(1), time.monotonic()))
            return
        m = LINE_HELD.search(text)
        if m:
            self.held.append(m.group(1))
            if self.order:
                f = self.faults[self.order[-1]]
                if f.target == m.group(1):
                    f.outcome = "held"


def percentile(values, p):
    if not values:
        return None
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * p / 100))]


def ms(us):
    return "-" if us is None else f"{us / 1000:.1f}"


class Guest:
    """One QEMU run of the faults image with the campaign's root-task arguments."""

    def __init__(self, image, root_args, seconds, log_path):
        self.tcp_echo = free_port()
        self.udp_echo = free_port(socket.SOCK_DGRAM)
        self.http = free_port()
        forwards = (f"hostfwd=tcp:127.0.0.1:{self.tcp_echo}-:7,"
                    f"hostfwd=udp:127.0.0.1:{self.udp_echo}-:7,"
                    f"hostfwd=tcp:127.0.0.1:{self.http}-:80")
        qemu = ["-device", "intel-iommu,intremap=on,caching-mode=on", "-nic", "none",
                "-netdev", f"user,id=net0,{forwards}", "-device", "e1000,netdev=net0"]
        args = [os.path.join(ROOT, "scripts/qemu.sh"), "--seconds", str(seconds),
                "--machine", "q35,kernel-irqchip=split", "--root-args", root_args]
        for a in qemu:
            args += ["--qemu-arg", a]
        args.append(image)
        self.log_path = log_path
        self.log = open(log_path, "wb")
        self.started = time.monotonic()
        self.process = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT,
                                        stdin=subprocess.DEVNULL)

    def wait_ready(self, console):
        deadline = self.started + READY_SECONDS
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.settimeout(0.5)
            while time.monotonic() < deadline:
                console.follow()
                if self.process.poll() is not None:
                    raise RuntimeError("QEMU ended before the guest answered; see " + self.log_path)
                try:
                    s.sendto(b"\0" * 8 + b"ready?", ("127.0.0.1", self.udp_echo))
                    if s.recv(65536) == b"\0" * 8 + b"ready?":
                        return time.monotonic() - self.started
                except OSError:
                    time.sleep(0.2)
        raise RuntimeError(f"no UDP echo within {READY_SECONDS} s; see {self.log_path}")

    def stop(self):
        stop_qemu(self.process, self.log)


def table(console):
    """Rows per (target, kind): injected, detected by, outcomes, times."""
    rows = {}
    for n in console.order:
        f = console.faults[n]
        key = (f.target, f.kind)
        r = rows.setdefault(key, {"n": 0, "by": {}, "no effect": 0, "cleared": 0, "held": 0,
                                  "open": 0, "detect": [], "restore": [], "back": [], "collateral": 0})
        r["n"] += 1
        if f.outcome == "detected":
            r["by"][f.detector] = r["by"].get(f.detector, 0) + 1
            r["detect"].append(f.detected_at - f.at)
            if f.restored_at is not None:
                r["restore"].append(f.restored_at - f.detected_at)
            if f.attached_at is not None:
                r["back"].append(f.attached_at - f.detected_at)
        elif f.outcome in ("no effect", "cleared", "held"):
            r[f.outcome] += 1
        else:
            r["open"] += 1
        r["collateral"] += len(f.collateral)
    return rows


def render(rows, corrupted):
    out = ["| target | kind | injected | detected by | no effect | recovered | cleared by the campaign | held | detection, median / p99 (ms) | driver serving again, median (ms) | service restored, median / p99 (ms) | corrupted bytes |",
           "|---|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for (target, kind), r in sorted(rows.items()):
        by = ", ".join(f"{d} {c}" for d, c in sorted(r["by"].items(), key=lambda x: -x[1])) or "-"
        recovered = sum(r["by"].values()) + r["no effect"]
        out.append(
            f"| {target} | {kind} | {r['n']} | {by} | {r['no effect']} | {recovered} | {r['cleared']} | {r['held']} "
            f"| {ms(percentile(r['detect'], 50))} / {ms(percentile(r['detect'], 99))} "
            f"| {ms(percentile(r['back'], 50))} "
            f"| {ms(percentile(r['restore'], 50))} / {ms(percentile(r['restore'], 99))} | {corrupted} |")
    return "\n".join(out)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--image", default=os.path.join(ROOT, "build/images/faults"))
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--count", type=int, default=1000)
    p.add_argument("--kinds", default="all")
    p.add_argument("--targets", default="e1000")
    p.add_argument("--every", type=int, default=20, help="ms between a fault's end and the next")
    p.add_argument("--quiet", type=int, default=150, help="ms after which a fault had no effect")
    p.add_argument("--seconds", type=int,
                   help="QEMU's time limit (default: two minutes, and a second per fault)")
    p.add_argument("--minutes", type=float,
                   help="stop after this many minutes and report the faults done so far")
    p.add_argument("--report", help="write the results table into this file (between markers)")
    p.add_argument("--require", action="store_true",
                   help="fail unless: no kernel crash, no corrupted byte, no stack crash caused by the "
                        "driver, the campaign finished and traffic got through. Connections broken by "
                        "driver restarts are counted in the results line and judged against the goal "
                        "in docs/reliability.md, not failed: at two restarts a second, the stack's "
                        "20 s TCP timeout can expire on a connection whose retransmissions keep "
                        "landing in outages")
    args = p.parse_args()

    if args.seconds is None:
        args.seconds = 120 + args.count
    root_args = (f"inject={args.kinds} inject-target={args.targets} inject-seed={args.seed} "
                 f"inject-count={args.count} inject-every={args.every} inject-quiet={args.quiet} "
                 f"inject-start=4000 inject-linger=3000")
    os.makedirs(os.path.join(ROOT, "build"), exist_ok=True)
    log_path = os.path.join(ROOT, "build", f"faults-{os.getpid()}.log")
    print(f"faults: booting {args.image} (console: {log_path})")
    print(f"faults: root-task arguments: {root_args}")
    guest = Guest(args.image, root_args, args.seconds, log_path)
    console = Console(log_path)
    tally = Tally()
    stop = threading.Event()
    started = time.monotonic()
    stopped_early = False
    try:
        ready = guest.wait_ready(console)
        print(f"faults: the guest answered after {ready:.1f} s; traffic starts")
        traffic = Traffic(guest.udp_echo, guest.tcp_echo, tally, stop)
        traffic.start()
        last_progress = 0.0
        budget_end = started + args.minutes * 60 if args.minutes else None
        # SIGTERM (or SIGINT) ends the campaign early, with a report of what was done.
        interrupted = threading.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: interrupted.set())
        while guest.process.poll() is None and console.summary is None:
            if interrupted.is_set() or (budget_end is not None and time.monotonic() >= budget_end):
                stopped_early = True
                args.minutes = (time.monotonic() - started) / 60
                print(f"faults: stopping after {args.minutes:.0f} minutes", flush=True)
                break
            time.sleep(0.2)
            console.follow()
            with tally.lock:
                for i in range(len(tally.broken_at_fault), len(tally.broken)):
                    tally.broken_at_fault.append(console.order[-1] if console.order else 0)
            if time.monotonic() - last_progress >= 5:
                last_progress = time.monotonic()
                done = len(console.order)
                elapsed = time.monotonic() - started - ready
                rate = done / elapsed if elapsed > 0 else 0
                recovered = sum(1 for n in console.order
                                if console.faults[n].outcome in ("detected", "no effect"))
                left = (args.count - done) / rate if rate > 0 else 0
                print(f"faults: {done}/{args.count} done, {rate:.1f}/s, {recovered} recovered, "
                      f"ETA {int(left // 60)}m{int(left % 60):02d}s; "
                      f"UDP {tally.udp_answered}/{tally.udp_sent} answered, TCP {tally.tcp_bytes} bytes echoed",
                      flush=True)
        # Let the last fault's traffic settle, then stop and drain the streams.
        time.sleep(1.0)
        stop.set()
        traffic.join()
    finally:
        stop.set()
        time.sleep(0.5)
        console.follow()
        guest.stop()
        console.follow()

    rows = table(console)
    faults = [console.faults[n] for n in console.order]
    n = len(faults)
    kinds = len({f.kind for f in faults})
    held = sum(1 for f in faults if f.outcome == "held")
    recovered = sum(1 for f in faults if f.outcome in ("detected", "no effect"))
    cleared = sum(1 for f in faults if f.outcome == "cleared")
    kernel_crashes = 1 if console.kernel_crash or (console.summary is None and guest.process.returncode not in (0, None) and n < args.count) else 0
    # A network-server failure while a fault in the driver was pending.
    stack_crashes = sum(1 for f in faults if f.target == "e1000"
                        for who, _ in f.collateral if who == "net")
    corrupted = tally.udp_corrupt_bytes + tally.tcp_corrupt_bytes
    # A broken connection is the driver's unless the stack or echo restarted since.
    by_driver = 0
    for at, reason in tally.broken:
        others = [c for c, t in console.restarts if c in ("net", "echo") and at - CONNECTION_PATIENCE - 5 <= t <= at]
        if not others:
            by_driver += 1
    print()
    print(render(rows, "-"))
    print()
    restores = [f.restored_at - f.detected_at for f in faults
                if f.target == "e1000" and f.outcome == "detected" and f.restored_at]
    backs = [f.attached_at - f.detected_at for f in faults
             if f.target == "e1000" and f.outcome == "detected" and f.attached_at]
    print(f"faults: e1000 serving again (attached to the stack's rings) after detection: median {ms(percentile(backs, 50))} ms, "
          f"p99 {ms(percentile(backs, 99))} ms ({len(backs)} measured)")
    print(f"faults: e1000 detected faults: {sum(1 for f in faults if f.target == 'e1000' and f.outcome == 'detected')}; "
          f"service restored after detection: median {ms(percentile(restores, 50))} ms, p99 {ms(percentile(restores, 99))} ms (guest time, {len(restores)} measured)")
    print(f"faults: traffic: UDP {tally.udp_answered} of {tally.udp_sent} answered ({tally.udp_duplicates} duplicates), "
          f"{tally.udp_corrupt_bytes} bytes corrupted; TCP {tally.tcp_bytes} bytes echoed over {tally.tcp_connections} connections, "
          f"{tally.tcp_corrupt_bytes} bytes corrupted, {len(tally.broken)} broken ({by_driver} by driver restarts); "
          f"{tally.tcp_completed} streams completed byte-exact (SHA-256 of the whole stream), {tally.tcp_incomplete} cut short at the end")
    for (at, reason), number in list(zip(tally.broken, tally.broken_at_fault))[:10]:
        f = console.faults.get(number)
        what = f"after fault #{number} ({f.kind} into {f.target})" if f else "before the first fault"
        print(f"faults:   connection broken at {at - started:.1f} s, {what}: {reason}")
    if console.kernel_crash:
        print(f"faults: kernel crash: {console.kernel_crash}")
    if console.summary:
        print(f"faults: guest summary: {console.summary}")
    elif stopped_early:
        print(f"faults: stopped after {args.minutes:.0f} minutes, {n} of {args.count} faults done")
    else:
        print(f"faults: the campaign did not finish ({n} of {args.count} faults); see {log_path}")
    print(f"faults: {cleared} cleared by the campaign (persistent faults nobody detected)")
    if args.report:
        write_report(args, rows, n, kinds, recovered, held, kernel_crashes, stack_crashes,
                     corrupted, by_driver, restores, tally, stopped_early)
    failed = []
    if args.require:
        if kernel_crashes:
            failed.append("a kernel crash")
        if corrupted:
            failed.append(f"{corrupted} bytes corrupted")
        if stack_crashes:
            failed.append(f"{stack_crashes} network-server crashes caused by driver faults")
        if console.summary is None and not stopped_early:
            failed.append("the campaign did not finish")
        if tally.udp_answered == 0 or tally.tcp_bytes == 0:
            failed.append("no traffic got through")
    if failed:
        print("faults: FAIL: " + "; ".join(failed))
    print(f"faults: {n} injected over {kinds} kinds, {recovered} recovered, {held} held, "
          f"{kernel_crashes} kernel crashes, {stack_crashes} stack crashes, {corrupted} bytes corrupted, "
          f"{by_driver} connections broken by driver restarts")
    return 1 if failed else 0


def write_report(args, rows, n, kinds, recovered, held, kernel_crashes, stack_crashes,
                 corrupted, by_driver, restores, tally, stopped_early):
    text = open(args.report).read() if os.path.exists(args.report) else ""
    command = (f"make faults SEED={args.seed} COUNT={args.count} KINDS={args.kinds} "
               f"TARGETS={args.targets}")
    body = "\n".join([
        REPORT_BEGIN,
        f"Seed {args.seed}, {n} faults (`{command}`"
        + (f", stopped after {args.minutes:.0f} minutes" if stopped_early else "")
        + f"), {time.strftime('%Y-%m-%d', time.gmtime())}.",
        "",
        render(rows, 0 if corrupted == 0 else "see below"),
        "",
        f"Service restored after a detected e1000 fault (a frame received and one sent by the new "
        f"instance, guest time): median {ms(percentile(restores, 50))} ms, p99 {ms(percentile(restores, 99))} ms "
        f"over {len(restores)} restarts.",
        f"Traffic: UDP {tally.udp_answered} of {tally.udp_sent} echoes answered, "
        f"TCP {tally.tcp_bytes} bytes echoed over {tally.tcp_connections} connections, "
        f"{len(tally.broken)} connections broken ({by_driver} by driver restarts), "
        f"{tally.tcp_completed} streams completed byte-exact at the end (SHA-256 of the whole stream).",
        "",
        "```text",
        f"faults: {n} injected over {kinds} kinds, {recovered} recovered, {held} held, "
        f"{kernel_crashes} kernel crashes, {stack_crashes} stack crashes, {corrupted} bytes corrupted, "
        f"{by_driver} connections broken by driver restarts",
        "```",
        REPORT_END,
    ])
    if REPORT_BEGIN in text and REPORT_END in text:
        before = text.split(REPORT_BEGIN)[0]
        after = text.split(REPORT_END, 1)[1]
        text = before + body + after
    else:
        text = text + "\n" + body + "\n"
    with open(args.report, "w") as f:
        f.write(text)
    print(f"faults: results written to {args.report}")


if __name__ == "__main__":
    sys.exit(main())
