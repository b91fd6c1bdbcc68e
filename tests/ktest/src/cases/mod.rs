//! The conformance cases, grouped by object, and what they share: a few
//! words of memory that helper threads in the root task's address space
//! report through, and small helpers.

use core::sync::atomic::{AtomicU64, Ordering};

use ward_userlib::cap::{self, cap_type};
use ward_userlib::syscall;

use crate::env::Env;
use crate::framework::Case;

mod cnode;
mod errors;
mod fault;
mod ipc;
mod notification;
mod privilege;
mod sched;
pub mod smp;
mod tcb;
mod timeouts;
mod untyped;
mod vspace;

/// Every group of cases, in the order they run.
pub static ALL: &[&[Case]] = &[
    untyped::CASES,
    cnode::CASES,
    vspace::CASES,
    tcb::CASES,
    privilege::CASES,
    ipc::CASES,
    notification::CASES,
    timeouts::CASES,
    fault::CASES,
    sched::CASES,
    smp::CASES,
    errors::CASES,
];

/// Words helper threads write and the root task reads (reset before each case).
pub static SHARED: [AtomicU64; 16] = [const { AtomicU64::new(0) }; 16];

pub fn reset_shared() {
    for word in &SHARED {
        word.store(0, Ordering::SeqCst);
    }
}

pub fn get(index: usize) -> u64 {
    SHARED[index].load(Ordering::SeqCst)
}

pub fn set(index: usize, value: u64) {
    SHARED[index].store(value, Ordering::SeqCst)
}

pub fn add(index: usize, value: u64) {
    SHARED[index].fetch_add(value, Ordering::SeqCst);
}

/// A fresh endpoint's slot.
pub fn new_endpoint(env: &mut Env) -> cap::Endpoint {
    env.alloc::<cap_type::Endpoint>()
}

/// A fresh notification's slot.
pub fn new_notification(env: &mut Env) -> cap::Notification {
    env.alloc::<cap_type::Notification>()
}

/// Yields `times` times (lets equal-priority threads run).
pub fn yield_times(times: u32) {
    for _ in 0..times {
        syscall::yield_now();
    }
}

/// The CPU's time-stamp counter.
pub fn rdtsc() -> u64 {
    let (low, high): (u32, u32);
    // SAFETY: `rdtsc` only reads the time-stamp counter into edx:eax.
    unsafe {
        core::arch::asm!("rdtsc", out("eax") low, out("edx") high, options(nomem, nostack, preserves_flags))
    };
    (u64::from(high) << 32) | u64::from(low)
}
