//! The stack's checks on its driver (`Nic::driver_fault`): a broken ring
//! protocol, and frames lent for sending that never come back, are what
//! make the stack ask the supervisor to restart the driver
//! (docs/reliability.md); a driver that returns its frames, or a stack
//! that did not run for a while, is not blamed.

mod common;

use common::*;
use smoltcp::time::Instant;
use ward_net::device::{DriverFault, TX_STALL_US};
use ward_ring::RawDescriptor;

/// An ARP request for node A's address, from node B: A answers it, which
/// lends one frame to the driver for sending.
fn arp_request() -> Vec<u8> {
    let mut frame = vec![0xff; 6];
    frame.extend_from_slice(&MAC_B);
    frame.extend_from_slice(&[0x08, 0x06, 0, 1, 0x08, 0, 6, 4, 0, 1]);
    frame.extend_from_slice(&MAC_B);
    frame.extend_from_slice(&IP_B);
    frame.extend_from_slice(&[0; 6]);
    frame.extend_from_slice(&IP_A);
    frame
}

/// A node whose stack has lent the driver one frame to send (at 1 ms).
fn node_with_a_frame_out() -> Node {
    let mut n = node(MAC_A, IP_A, Sizes::default());
    let _ = n.stack.poll(Instant::from_millis(0));
    assert!(n.driver.deliver(&arp_request()));
    let _ = n.stack.poll(Instant::from_millis(1));
    n
}

fn check(n: &mut Node, ms: u64) -> Option<DriverFault> {
    let _ = n.stack.poll(Instant::from_millis(ms as i64));
    n.stack.driver_fault(ms * 1000)
}

#[test]
fn frames_kept_past_the_stall_time_make_the_driver_stalled() {
    let mut n = node_with_a_frame_out();
    let stall_ms = TX_STALL_US / 1000;
    // Looked at every 50 ms, as the stack does at least every 100 ms.
    for ms in (1..=stall_ms).step_by(50) {
        assert_eq!(check(&mut n, ms), None, "at {ms} ms");
    }
    assert_eq!(check(&mut n, stall_ms + 51), Some(DriverFault::Stalled));
}

#[test]
fn a_driver_that_returns_its_frames_is_not_stalled() {
    let mut n = node_with_a_frame_out();
    assert_eq!(check(&mut n, 1), None);
    assert_eq!(n.driver.sent().len(), 1, "the ARP reply");
    for ms in (50..=1000).step_by(50) {
        assert_eq!(check(&mut n, ms), None, "at {ms} ms");
    }
}

#[test]
fn time_the_stack_did_not_run_is_not_held_against_the_driver() {
    let mut n = node_with_a_frame_out();
    assert_eq!(check(&mut n, 1), None);
    // Starved for 400 ms (a gap between checks): the clock starts again.
    assert_eq!(check(&mut n, 401), None);
    assert_eq!(check(&mut n, 451), None);
    assert_eq!(check(&mut n, 501), None);
    assert_eq!(check(&mut n, 551), None);
    assert_eq!(check(&mut n, 601), None);
    assert_eq!(check(&mut n, 651), Some(DriverFault::Stalled));
}

#[test]
fn a_garbage_descriptor_means_the_driver_broke_the_ring() {
    let mut n = node(MAC_A, IP_A, Sizes::default());
    assert_eq!(check(&mut n, 0), None);
    let garbage = RawDescriptor {
        offset: 0xdead_beef,
        len: 1 << 30,
        cookie: 0,
        flags: 0,
    };
    n.driver.rx.outgoing_ring().push_unchecked(garbage).unwrap();
    let _ = n.driver.rx.publish();
    assert_eq!(check(&mut n, 1), Some(DriverFault::Ring));
    // It stays reported until the driver restarts.
    assert_eq!(check(&mut n, 2), Some(DriverFault::Ring));
}
