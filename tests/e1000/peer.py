#!/usr/bin/env python3
"""The host side of the e1000 driver's tests: raw Ethernet frames through QEMU's dgram
network backend, to and from the frame reflector that stands in for the network stack
(tests/systems/e1000-reflector.toml, tests/components/src/bin/frame-reflector.rs).

QEMU runs the NIC with `-netdev dgram,local.port=NIC,remote.port=PEER` on 127.0.0.1: every
frame the guest sends arrives here as one UDP datagram, and every datagram sent to NIC's port
arrives at the NIC as one frame. The reflector sends each data frame back unchanged and
answers command frames (EtherType 0x88b5, payload `WARDTEST <command> <nonce> ...`).

Modes (one per scenario; `--help` lists the options):

  reflect     frames of every length 60..1514 (and broadcast ones) must come back byte-exact;
              frames for another station must not; then received = reflected + dropped by
              reason, and the pools' accounting balances
  hostile     runts, oversize frames and a flood from the wire, garbage descriptors from the
              reflector: each counted by the driver under its reason, and traffic flows after
  mitigation  interrupts per 1,000 frames at low load (one frame in flight) and at saturating
              load (a full window): the second must be lower
  restart     a flood during which the fault-injection driver is made to crash: the supervisor
              restarts it, traffic resumes, no buffer is lost
  stray-dma   the fault-injection driver points a descriptor outside its DMA windows: VT-d
              blocks it, the driver is restarted, traffic resumes
  bench       frames per second, interrupts per 1,000 frames and the driver's CPU time per
              frame (guest instructions under -icount shift=0) at 64 and 1514 bytes

Exit status 0 when every check of the mode held; each check prints one `peer:` line.
"""

import argparse
import json
import os
import socket
import sys
import time

TEST_ETHERTYPE = b"\x88\xb5"   # commands and answers (IEEE 802 local experimental 1)
DATA_ETHERTYPE = b"\x88\xb6"   # data frames (local experimental 2)
MAGIC = b"WARDTEST"
BROADCAST = b"\xff" * 6
# A locally administered address for this peer, and one for a station that does not exist.
PEER_MAC = bytes.fromhex("020000e10001")
STRANGER_MAC = bytes.fromhex("020000e1dead")
MIN_FRAME = 60        # without FCS; the NIC pads shorter frames
MAX_FRAME = 1514      # without FCS and VLAN tag
HEADER = 14
DATA_HEADER = HEADER + 8 + 2   # Ethernet header, sequence number, length
# Seconds without a reflected frame after which the frames in flight count as lost: long where
# no loss is expected (a busy host may stall QEMU for a moment), short where the test makes
# frames get lost (a driver restart).
STALL_SECONDS = 10.0
STALL_SECONDS_WITH_LOSS = 3.0
# Seconds to wait for the driver's counter page to catch up: it reads the NIC's statistics
# registers every 250 ms.
SETTLE_SECONDS = 0.8
# The one frame the NIC's counters may or may not include: the report command itself. The
# counter page is refreshed every 250 ms, so a refresh can land between that frame's arrival and
# the reflector's reading of the page (more often on a loaded host); the reflector counts the
# command at once. A difference of two reports is therefore exact to within this many frames.
REPORT_FRAME_SLACK = 1


def say(*words):
    print("peer:", *words, flush=True)


class Failed(Exception):
    pass


def check(condition, text):
    say(("PASS " if condition else "FAIL ") + text)
    if not condition:
        raise Failed(text)


class Peer:
    """One UDP socket facing QEMU's NIC backend."""

    def __init__(self, listen_port, nic_port, nic_mac):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        # Large buffers: a window of full frames must never overflow them.
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 8 << 20)
        self.sock.bind(("127.0.0.1", listen_port))
        self.nic = ("127.0.0.1", nic_port)
        self.nic_mac = nic_mac
        self.nonce = int.from_bytes(os.urandom(2), "big")
        self.pattern = os.urandom(4096)
        # Frames that arrived while waiting for something else (data frames during a command),
        # handed out again by receive() before anything new.
        self.backlog = []

    def send(self, frame):
        self.sock.sendto(frame, self.nic)

    def receive(self, timeout):
        if self.backlog:
            return self.backlog.pop(0)
        self.sock.settimeout(timeout)
        try:
            frame, _ = self.sock.recvfrom(65536)
            return frame
        except socket.timeout:
            return None

    # --- commands --------------------------------------------------------------------------

    def command(self, words, timeout=5.0, tries=3):
        """Sends `WARDTEST words[0] NONCE words[1:]` and returns the answer's text. Other
        frames that arrive meanwhile are kept for receive()."""
        for _ in range(tries):
            self.nonce += 1
            nonce = str(self.nonce)
            text = " ".join([words[0], nonce] + words[1:]).encode()
            frame = self.nic_mac + PEER_MAC + TEST_ETHERTYPE + MAGIC + b" " + text
            self.send(frame.ljust(MIN_FRAME, b"\0"))
            parts = {}
            kept = []
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                self.sock.settimeout(max(0.01, deadline - time.monotonic()))
                try:
                    got, _ = self.sock.recvfrom(65536)
                except socket.timeout:
                    continue
                head, _, body = got[HEADER:].partition(b"\n")
                fields = head.split()
                if (got[12:14] != TEST_ETHERTYPE or len(fields) != 4 or fields[1] != b"answer"
                        or fields[2].decode() != nonce):
                    kept.append(got)
                    continue
                part, count = (int(x) for x in fields[3].split(b"/"))
                parts[part] = body.rstrip(b"\0")
                if len(parts) == count:
                    self.backlog.extend(kept)
                    return b"".join(parts[i] for i in range(1, count + 1)).decode()
            self.backlog.extend(kept)
        raise Failed(f"no answer to '{words[0]}' from the reflector")

    def report(self):
        """The reflector's report as a dict of integers."""
        text = self.command(["report"])
        return {k: int(v) for k, v in (f.split("=") for f in text.split())}

    def wait_ready(self, seconds):
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            try:
                if self.command(["ping"], timeout=0.5, tries=1) == "pong":
                    return
            except Failed:
                pass
        raise Failed(f"the reflector did not answer within {seconds} s")

    # --- data ------------------------------------------------------------------------------

    def data_frame(self, seq, length, dst=None):
        offset = seq % 1024
        payload = self.pattern[offset:offset + length - DATA_HEADER]
        return ((dst or self.nic_mac) + PEER_MAC + DATA_ETHERTYPE
                + seq.to_bytes(8, "big") + length.to_bytes(2, "big") + payload)

    def traffic(self, count, window, length_of, first_seq=0, dst_of=None, on_sent=None,
                deadline=None, stall=STALL_SECONDS):
        """Sends `count` data frames with at most `window` in flight; returns
        (sent, back_exact, corrupt, lost, seconds). `length_of(i)` gives frame i's length,
        `dst_of(i)` its destination; `on_sent(i)` runs after frame i is sent."""
        outstanding = {}
        sent = exact = corrupt = lost = 0
        seq = first_seq
        started = last_progress = time.monotonic()
        while sent < count or outstanding:
            while len(outstanding) < window and sent < count:
                frame = self.data_frame(seq, length_of(sent), dst_of(sent) if dst_of else None)
                outstanding[seq] = frame
                self.send(frame)
                if on_sent:
                    on_sent(sent)
                sent += 1
                seq += 1
            got = self.receive(0.2)
            now = time.monotonic()
            if got is not None and got[12:14] == DATA_ETHERTYPE and len(got) >= DATA_HEADER:
                back_seq = int.from_bytes(got[HEADER:HEADER + 8], "big")
                frame = outstanding.pop(back_seq, None)
                if frame is not None:
                    last_progress = now
                    if got == frame:
                        exact += 1
                    else:
                        corrupt += 1
            if now - last_progress > stall and outstanding:
                lost += len(outstanding)
                outstanding.clear()
                last_progress = now
            if deadline and now > deadline:
                lost += len(outstanding) + (count - sent)
                break
        return sent, exact, corrupt, lost, time.monotonic() - started

    def wait_for_generation(self, generation, seconds):
        """Reports until the driver serves at `generation` or later; the last report."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            try:
                report = self.report()
                if report["driver_generation"] >= generation and report["rx_buffers_held"]:
                    return report
            except Failed:
                pass
            time.sleep(0.5)
        raise Failed(f"the driver did not come back at generation {generation} in {seconds} s")

    def drain(self, seconds):
        """Reads whatever arrives for `seconds`; returns the data frames."""
        frames = []
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            got = self.receive(max(0.01, deadline - time.monotonic()))
            if got is not None and got[12:14] == DATA_ETHERTYPE:
                frames.append(got)
        return frames


class Qmp:
    """QEMU's machine protocol (QMP) on a loopback TCP port: to pull the NIC's cable."""

    def __init__(self, port, seconds=30):
        deadline = time.monotonic() + seconds
        while True:
            try:
                self.sock = socket.create_connection(("127.0.0.1", port), timeout=5)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise Failed(f"no QMP on port {port}")
                time.sleep(0.2)
        self.file = self.sock.makefile("rw")
        json.loads(self.file.readline())            # the greeting
        self.execute("qmp_capabilities")

    def execute(self, command, **arguments):
        self.file.write(json.dumps({"execute": command, "arguments": arguments}) + "\n")
        self.file.flush()
        while True:
            reply = json.loads(self.file.readline())
            if "return" in reply:
                return reply["return"]
            if "error" in reply:
                raise Failed(f"QMP {command}: {reply['error']}")


def every_length(i):
    return MIN_FRAME + i % (MAX_FRAME - MIN_FRAME + 1)


def delta(after, before, key):
    return after.get(key, 0) - before.get(key, 0)


def drops_by_reason(report):
    """Every frame the NIC or the driver dropped after it reached the NIC, by reason."""
    keys = ["nic_missed", "nic_rx_oversize", "nic_rx_undersize", "rx_drop_nic_error",
            "rx_drop_fragment", "rx_drop_runt", "rx_drop_too_long", "dropped_no_tx_buffer"]
    return {k: report.get(k, 0) for k in keys}


def check_pools(report):
    """Every buffer of each pool is in exactly one place: held by the reflector, lent and
    waiting on a lend ring, or held by the driver."""
    for pool in ("rx", "tx"):
        held = report[f"{pool}_held"]
        on_ring = report[f"{pool}_on_lend_ring"]
        driver = report[f"{pool}_buffers_held"]
        slots = report[f"{pool}_slots"]
        check(held + on_ring + driver == slots,
              f"{pool} pool accounting: reflector holds {held} + on the lend ring {on_ring} "
              f"+ driver holds {driver} = {held + on_ring + driver} of {slots} buffers")


def settle_report(peer):
    time.sleep(SETTLE_SECONDS)
    return peer.report()


# --- modes ------------------------------------------------------------------------------------

def mode_reflect(peer, args):
    # Settled, so that the NIC's statistics include every frame before this report's own.
    before = settle_report(peer)
    strangers = 200
    # Every tenth frame goes to the broadcast address, which the NIC accepts too.
    dst = lambda i: BROADCAST if i % 10 == 7 else None
    sent, exact, corrupt, lost, seconds = peer.traffic(args.frames, args.window, every_length,
                                                       dst_of=dst)
    say(f"{sent} frames of every length {MIN_FRAME}..{MAX_FRAME} bytes ({sent // 10} broadcast) "
        f"in {seconds:.1f} s ({sent / seconds:.0f} frames/s): {exact} back byte-exact, "
        f"{corrupt} corrupt, {lost} lost")
    check(corrupt == 0 and lost == 0 and exact == sent,
          f"byte-exact: all {sent} frames came back unchanged")
    # Frames for a station that is not this NIC are filtered by the NIC (RAL0 and the zeroed
    # multicast table) and never reach the driver.
    for i in range(strangers):
        peer.send(peer.data_frame(10**9 + i, every_length(i * 7), STRANGER_MAC))
    stray_back = peer.drain(1.0)
    check(not stray_back, f"frames for another station are not received ({strangers} sent, "
                          f"{len(stray_back)} came back)")
    after = settle_report(peer)
    frames = delta(after, before, "frames") - delta(after, before, "commands")
    reflected = delta(after, before, "reflected")
    drops = {k: v - before.get(k, 0) for k, v in drops_by_reason(after).items()}
    dropped = sum(drops.values())
    good = delta(after, before, "nic_good_rx") - delta(after, before, "commands")
    say(f"host sent {sent} data frames; the NIC took {good} (its good-frame count, less "
        f"commands); the driver handed {frames} to the reflector, which reflected {reflected}; "
        f"dropped by reason: {dropped} {drops}")
    check(sent == reflected + dropped and reflected == exact,
          f"received = reflected + dropped by reason: {sent} = {reflected} + {dropped}, "
          f"nothing unaccounted")
    check(abs(good - frames) <= REPORT_FRAME_SLACK and after["rx_frames"] == after["frames"],
          f"the NIC's good frames ({good}) all reached the reflector ({frames})")
    check(after["protocol_errors"] == 0, "the driver kept to the ring protocol")
    check_pools(after)


def mode_hostile(peer, args):
    before = peer.report()
    # Runts with a whole Ethernet header: the NIC pads them to the 60-byte minimum; they
    # come back padded. Scraps too short to hold a destination address are padded into a
    # frame for no one, which the NIC's address filter drops.
    runts = 0
    for length in range(HEADER, MIN_FRAME):
        frame = peer.nic_mac + PEER_MAC + DATA_ETHERTYPE + bytes(range(length - HEADER))
        peer.send(frame)
        runts += 1
    scraps = 5
    for length in range(1, scraps + 1):
        peer.send(peer.nic_mac[:length])
    runts_back = peer.drain(1.5)
    check(len(runts_back) == runts and all(len(f) == MIN_FRAME for f in runts_back),
          f"{runts} runts with a whole header came back padded to {MIN_FRAME} bytes "
          f"({len(runts_back)} back); {scraps} scraps of 1..{scraps} bytes went nowhere")
    # Oversize: longer than a VLAN-tagged frame (1522 bytes), refused by the NIC (RCTL.LPE
    # clear) and counted in its oversize register; never handed to the driver.
    # Paced: QEMU's socket for the NIC holds about 200 KB, and frames lost before the NIC
    # would not be counted by it.
    oversize = [1523, 1600, 2048, 4000, 9000, 16000]
    for length in oversize * 10:
        frame = peer.nic_mac + PEER_MAC + DATA_ETHERTYPE + bytes(length - HEADER)
        peer.send(frame)
        time.sleep(0.005)
    big_back = [f for f in peer.drain(1.5) if len(f) > 1522]
    after_oversize = settle_report(peer)
    refused = delta(after_oversize, before, "nic_rx_oversize")
    check(not big_back and refused == 10 * len(oversize),
          f"{10 * len(oversize)} oversize frames (1523..16000 bytes) refused by the NIC and "
          f"counted (nic_rx_oversize +{refused}), none reached the driver")
    # A flood: frames as fast as this host sends them, no window. What the NIC cannot take
    # is lost before it (QEMU stops reading its socket) or counted (missed, no buffer).
    flood = args.flood
    flood_before = after_oversize
    started = time.monotonic()
    for i in range(flood):
        peer.send(peer.data_frame(2 * 10**9 + i, every_length(i)))
    seconds = time.monotonic() - started
    flood_back = peer.drain(3.0)
    garbage_before = settle_report(peer)
    took = (delta(garbage_before, flood_before, "nic_good_rx")
            - delta(garbage_before, flood_before, "commands"))
    reflected = delta(garbage_before, flood_before, "reflected")
    drops = {k: v - flood_before.get(k, 0) for k, v in drops_by_reason(garbage_before).items()}
    say(f"flood: {flood} frames sent in {seconds:.2f} s; the NIC took {took} (the rest were "
        f"lost in the host's socket before QEMU read them); {reflected} reflected, "
        f"{len(flood_back)} back here; dropped by reason {drops}")
    check(abs(took - (reflected + sum(drops.values()))) <= REPORT_FRAME_SLACK and took > 0,
          f"every flood frame the NIC took is accounted for: {took} = {reflected} reflected "
          f"+ {sum(drops.values())} dropped by reason")
    # Garbage from the stack's side: bad descriptors on the lend rings.
    rounds = 3
    answer = peer.command(["garbage", str(rounds)])
    pushed = {k: int(v) for k, v in (f.split("=") for f in answer.split())}
    say(f"the reflector pushed garbage: {pushed}")
    # Traffic must still flow, and it makes the driver take the garbage off its rings.
    sent, exact, corrupt, lost, _ = peer.traffic(2000, 32, every_length, first_seq=3 * 10**9)
    check(exact == sent, f"after runts, oversize frames, a flood and garbage descriptors, "
                         f"{exact} of {sent} frames came back byte-exact")
    after = settle_report(peer)
    for key, count in pushed.items():
        got = delta(after, garbage_before, key)
        check(got == count, f"garbage counted by reason: {key} +{got} (pushed {count})")
    # The cable pulled and plugged back (QMP set_link): the NIC raises LSC each time, the
    # driver reports each change to the stack, and traffic flows once the link is back.
    if args.qmp:
        qmp = Qmp(args.qmp)
        link_before = after
        qmp.execute("set_link", name="net0", up=False)
        time.sleep(1.0)
        for i in range(20):
            peer.send(peer.data_frame(4 * 10**9 + i, every_length(i)))
        down_back = peer.drain(1.0)
        qmp.execute("set_link", name="net0", up=True)
        # QEMU completes auto-negotiation 500 ms of guest time after the cable is back.
        time.sleep(1.5)
        back, back_exact, _, _, _ = peer.traffic(500, 16, every_length, first_seq=5 * 10**9)
        after = settle_report(peer)
        changes = delta(after, link_before, "link_changes")
        say(f"link flap: {len(down_back)} of 20 frames came back with the cable out; "
            f"{changes} link changes counted; link_up={after['link_up']}")
        check(not down_back and changes >= 2 and after["link_up"] == 1,
              "link down and up again: both changes seen (LSC), nothing passes while down")
        check(back_exact == back, f"traffic flows once the link is back ({back_exact} of {back})")
    check(after["driver_generation"] == before["driver_generation"]
          and after["driver_restarts"] == before["driver_restarts"],
          "the driver kept running through it all (same generation, no restart)")
    check_pools(after)


def mode_mitigation(peer, args):
    def interrupts_per_thousand(count, window):
        before = settle_report(peer)
        sent, exact, _, lost, seconds = peer.traffic(count, window, lambda i: 1514 if i % 2 else 60)
        after = settle_report(peer)
        frames = delta(after, before, "rx_frames")
        interrupts = delta(after, before, "interrupts")
        polls = delta(after, before, "polls")
        exhausted = delta(after, before, "budget_exhausted")
        per_thousand = 1000.0 * interrupts / max(frames, 1)
        say(f"window {window}: {sent} frames in {seconds:.1f} s ({sent / seconds:.0f} frames/s), "
            f"{exact} back, {lost} lost; {interrupts} interrupts, {polls} polls, "
            f"{exhausted} budgets used up: {per_thousand:.0f} interrupts per 1,000 frames")
        return per_thousand, exact == sent
    low, low_ok = interrupts_per_thousand(args.low_frames, 1)
    high, high_ok = interrupts_per_thousand(args.frames, args.window)
    say(f"interrupts per 1,000 frames: low load {low:.0f}, saturating load {high:.0f} "
        f"({low / max(high, 1e-9):.1f}x fewer under load)")
    check(low_ok and high_ok, "every frame came back at both loads")
    check(high < low, "the interrupt rate per frame falls as the load rises")


def mode_restart(peer, args):
    before = peer.report()
    crash_at = args.frames // 3
    crashed = []

    def crash(i):
        if i == crash_at:
            # One try only: the driver may die before the answer is out, and a second
            # request would crash its next generation too.
            try:
                crashed.append(peer.command(["crash"], timeout=2.0, tries=1))
            except Failed:
                crashed.append("no answer")

    sent, exact, corrupt, lost, seconds = peer.traffic(args.frames, args.window, every_length,
                                                       on_sent=crash,
                                                       stall=STALL_SECONDS_WITH_LOSS)
    say(f"{sent} frames, a crash asked for after {crash_at}: {exact} back, {corrupt} corrupt, "
        f"{lost} lost in the restart, {seconds:.1f} s")
    say(f"the reflector's answer to the crash request: {crashed[0] if crashed else 'none'}")
    peer.wait_for_generation(before["driver_generation"] + 1, 30)
    # Traffic after the restart: every frame must come back again.
    more, more_exact, _, more_lost, _ = peer.traffic(2000, args.window, every_length,
                                                     first_seq=10**9)
    check(more_exact == more, f"traffic resumed: {more_exact} of {more} frames came back after "
                              "the restart")
    after = settle_report(peer)
    check(after["driver_generation"] == before["driver_generation"] + 1
          and after["reattached"] == before["reattached"] + 1,
          f"the driver was restarted (generation {before['driver_generation']} -> "
          f"{after['driver_generation']}) and the reflector set the rings up again")
    say(f"the reflector took back {after['reclaimed_rx']} receive and {after['reclaimed_tx']} "
        f"transmit buffers from the dead instance")
    check(corrupt == 0, "no frame came back corrupt, before, during or after the restart")
    check(lost <= 2 * args.window, f"frames lost in the restart ({lost}) are at most the two "
                                   f"windows in flight ({2 * args.window})")
    check_pools(after)
    # Now the other side: the stack (the reflector) crashes. The supervisor restarts it; it sets
    # the rings up afresh; the driver sees the stack's new generation, resets the NIC (its
    # descriptors point at buffers the new stack owns) and attaches again.
    try:
        peer.command(["crash-self"], timeout=1.0, tries=1)
    except Failed:
        pass
    peer.wait_ready(30)
    again, again_exact, _, _, _ = peer.traffic(2000, args.window, every_length,
                                               first_seq=2 * 10**9)
    check(again_exact == again, f"traffic flows after the stack's restart ({again_exact} of "
                                f"{again})")
    final = settle_report(peer)
    check(final["driver_generation"] == after["driver_generation"],
          "the driver was not restarted by the stack's crash (same generation)")
    check_pools(final)


def mode_stray_dma(peer, args):
    before = peer.report()
    sent, exact, _, _, _ = peer.traffic(500, 16, every_length)
    check(exact == sent, f"traffic flows before the fault ({exact} of {sent})")
    check(peer.command(["stray-dma"], tries=1) == "stray-dma sent",
          "the reflector asked the driver for a stray DMA")
    # The supervisor restarts the driver after the IOMMU's report; wait for the new
    # generation to serve, then traffic must flow again.
    peer.wait_for_generation(before["driver_generation"] + 1, 30)
    more, more_exact, _, _, _ = peer.traffic(500, 16, every_length, first_seq=10**9)
    check(more_exact == more, f"traffic flows after the restart ({more_exact} of {more})")
    after = settle_report(peer)
    check(after["driver_generation"] == before["driver_generation"] + 1,
          f"the driver was restarted once (generation {after['driver_generation']})")
    check_pools(after)


def mode_bench(peer, args):
    for length in (60, 1514):
        peer.traffic(2000, args.window, lambda i: length)   # warm up
        before = settle_report(peer)
        sent, exact, _, lost, seconds = peer.traffic(args.frames, args.window, lambda i: length)
        after = settle_report(peer)
        frames = delta(after, before, "rx_frames")
        interrupts = delta(after, before, "interrupts")
        ticks = delta(after, before, "driver_cpu_ticks")
        # The driver's share of the guest's time over the run (idle time included).
        share = 100.0 * ticks / max(delta(after, before, "tsc"), 1)
        size = f"{length + 4}-byte frames (FCS included)"
        if args.icount:
            # Under -icount shift=0 the TSC counts guest instructions, and so does the
            # driver's CPU time (its thread's, kernel work on its behalf included).
            print(f"bench: e1000 {size}, icount: {ticks / max(sent, 1):.0f} guest instructions "
                  f"per frame in the driver (it ran {share:.1f}% of the time); "
                  f"{1000.0 * interrupts / max(frames, 1):.1f} interrupts per 1,000 frames "
                  f"({sent} frames)", flush=True)
        else:
            print(f"bench: e1000 {size}: {sent / seconds:.0f} frames/s through the reflector, "
                  f"{1000.0 * interrupts / max(frames, 1):.1f} interrupts per 1,000 frames "
                  f"({sent} frames, window {args.window}, {lost} lost)", flush=True)
        if exact != sent:
            raise Failed(f"{sent - exact} frames did not come back at {length} bytes")


MODES = {
    "reflect": mode_reflect,
    "hostile": mode_hostile,
    "mitigation": mode_mitigation,
    "restart": mode_restart,
    "stray-dma": mode_stray_dma,
    "bench": mode_bench,
}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("mode", choices=sorted(MODES))
    parser.add_argument("--listen", type=int, required=True, help="this peer's UDP port")
    parser.add_argument("--nic", type=int, required=True, help="QEMU's UDP port for the NIC")
    parser.add_argument("--nic-mac", default="52:54:00:12:34:56", help="the NIC's MAC address")
    parser.add_argument("--frames", type=int, default=100_000, help="data frames to send")
    # QEMU's socket for the NIC holds about 200 KB (the host's default receive buffer); 64
    # frames of up to 1514 bytes stay well inside it, so none is lost before the NIC.
    parser.add_argument("--window", type=int, default=64, help="most frames in flight")
    parser.add_argument("--low-frames", type=int, default=1000,
                        help="frames at low load (mitigation)")
    parser.add_argument("--flood", type=int, default=20_000, help="frames in the flood (hostile)")
    parser.add_argument("--icount", action="store_true",
                        help="QEMU counts instructions (bench): report the driver's CPU time as such")
    parser.add_argument("--qmp", type=int, default=0,
                        help="QEMU's QMP port, to pull the NIC's cable (hostile)")
    parser.add_argument("--ready-seconds", type=float, default=60,
                        help="how long to wait for the reflector to answer")
    args = parser.parse_args()
    nic_mac = bytes.fromhex(args.nic_mac.replace(":", ""))
    peer = Peer(args.listen, args.nic, nic_mac)
    try:
        started = time.monotonic()
        peer.wait_ready(args.ready_seconds)
        say(f"the reflector answered after {time.monotonic() - started:.1f} s")
        MODES[args.mode](peer, args)
    except Failed as e:
        say(f"FAILED: {e}")
        return 1
    say(f"{args.mode}: all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
