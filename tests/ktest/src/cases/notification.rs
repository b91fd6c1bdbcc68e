//! Notifications: signal, wait and poll with badges ORed together, rights,
//! bound notifications waking a thread blocked on its endpoint, and
//! destruction waking waiters.

use ward_userlib::cap::{self, Cap};
use ward_userlib::{syscall, CapRights, Error};

use super::cnode::ABOVE_ROOT;
use super::{get, new_endpoint, new_notification, set};
use crate::ensure;
use crate::env::Env;
use crate::framework::{Case, Check, Outcome};
use crate::threads::{self, pack, unpack};

pub static CASES: &[Case] = &[
    Case {
        name: "signal_then_poll",
        run: signal_then_poll,
    },
    Case {
        name: "poll_with_nothing_signalled",
        run: poll_with_nothing_signalled,
    },
    Case {
        name: "badges_are_ored",
        run: badges_are_ored,
    },
    Case {
        name: "wait_blocks_until_signal",
        run: wait_blocks_until_signal,
    },
    Case {
        name: "signal_wakes_higher_priority_waiter_at_once",
        run: signal_wakes_higher_priority_waiter_at_once,
    },
    Case {
        name: "signal_needs_write_right",
        run: signal_needs_write_right,
    },
    Case {
        name: "wait_needs_read_right",
        run: wait_needs_read_right,
    },
    Case {
        name: "bound_notification_wakes_endpoint_receiver",
        run: bound_notification_wakes_endpoint_receiver,
    },
    Case {
        name: "bind_twice_fails",
        run: bind_twice_fails,
    },
    Case {
        name: "unbind_twice_fails",
        run: unbind_twice_fails,
    },
    Case {
        name: "bind_non_notification_fails",
        run: bind_non_notification_fails,
    },
    Case {
        name: "wait_on_notification_bound_elsewhere",
        run: wait_on_notification_bound_elsewhere,
    },
    Case {
        name: "delete_notification_wakes_waiter",
        run: delete_notification_wakes_waiter,
    },
];

/// Helper: waits on notification `unpack(0)`, records the word (or the
/// error code | 0x1000) in shared word 0, then signals `unpack(1)` if non-zero.
fn waiter(argument: u64) {
    set(3, 1);
    match syscall::wait(unpack(argument, 0)) {
        Ok(word) => set(0, word),
        Err(e) => set(0, e.error as u64 | 0x1000),
    }
    if unpack(argument, 1) != 0 {
        let _ = syscall::signal(unpack(argument, 1));
    }
}

fn signal_then_poll(env: &mut Env) -> Outcome {
    let n = new_notification(env);
    let badged = env.mint(n.cptr(), CapRights::ALL, 0x4).ctx("mint")?;
    Cap::<cap::cap_type::Notification>::from_cptr(badged)
        .signal()
        .ctx("signal")?;
    ensure!(
        n.poll().ctx("poll")? == 0x4,
        "poll did not return the badge 0x4"
    );
    ensure!(
        n.poll().ctx("poll again")? == 0,
        "polling did not clear the word"
    );
    Ok(())
}

fn poll_with_nothing_signalled(env: &mut Env) -> Outcome {
    let n = new_notification(env);
    ensure!(
        n.poll().ctx("poll")? == 0,
        "a fresh notification has a signal"
    );
    Ok(())
}

fn badges_are_ored(env: &mut Env) -> Outcome {
    let n = new_notification(env);
    let a = env.mint(n.cptr(), CapRights::ALL, 0b01).ctx("mint a")?;
    let b = env.mint(n.cptr(), CapRights::ALL, 0b10).ctx("mint b")?;
    Cap::<cap::cap_type::Notification>::from_cptr(a)
        .signal()
        .ctx("signal a")?;
    Cap::<cap::cap_type::Notification>::from_cptr(b)
        .signal()
        .ctx("signal b")?;
    Cap::<cap::cap_type::Notification>::from_cptr(a)
        .signal()
        .ctx("signal a again")?;
    let word = n.wait().ctx("wait")?;
    ensure!(word == 0b11, "word {word:#b}, expected 0b11");
    Ok(())
}

fn wait_blocks_until_signal(env: &mut Env) -> Outcome {
    let n = new_notification(env);
    let done = new_notification(env);
    let badged = env.mint(n.cptr(), CapRights::ALL, 0x8).ctx("mint")?;
    threads::spawn(env, waiter, pack(&[n.cptr(), done.cptr()]), 100).ctx("spawn")?;
    Cap::<cap::cap_type::Notification>::from_cptr(badged)
        .signal()
        .ctx("signal")?;
    done.wait().ctx("wait for the helper")?;
    ensure!(get(0) == 0x8, "the waiter got {:#x}, expected 0x8", get(0));
    Ok(())
}

fn signal_wakes_higher_priority_waiter_at_once(env: &mut Env) -> Outcome {
    let n = new_notification(env);
    let badged = env.mint(n.cptr(), CapRights::ALL, 0x2).ctx("mint")?;
    threads::spawn(env, waiter, pack(&[n.cptr(), 0]), ABOVE_ROOT).ctx("spawn")?;
    ensure!(get(3) == 1 && get(0) == 0, "the waiter did not block");
    Cap::<cap::cap_type::Notification>::from_cptr(badged)
        .signal()
        .ctx("signal")?;
    ensure!(
        get(0) == 0x2,
        "the higher-priority waiter did not run before signal returned (word {:#x})",
        get(0)
    );
    Ok(())
}

fn signal_needs_write_right(env: &mut Env) -> Outcome {
    let n = new_notification(env);
    let read_only = env.copy(n.cptr(), CapRights::READ).ctx("copy")?;
    Cap::<cap::cap_type::Notification>::from_cptr(read_only)
        .signal()
        .want_err(Error::InvalidCapability, "signal")?;
    Ok(())
}

fn wait_needs_read_right(env: &mut Env) -> Outcome {
    let n = new_notification(env);
    let write_only = env.copy(n.cptr(), CapRights::WRITE).ctx("copy")?;
    Cap::<cap::cap_type::Notification>::from_cptr(write_only)
        .poll()
        .want_err(Error::InvalidCapability, "poll")?;
    Ok(())
}

fn bound_notification_wakes_endpoint_receiver(env: &mut Env) -> Outcome {
    let ep = new_endpoint(env);
    let n = new_notification(env);
    let done = new_notification(env);
    let badged = env.mint(n.cptr(), CapRights::ALL, 0x10).ctx("mint")?;
    let helper = threads::create(env, 0, ABOVE_ROOT).ctx("create")?;
    helper.tcb.tcb_bind_notification(n).ctx("bind")?;
    threads::prepare(&helper, bound_receiver, pack(&[ep.cptr(), done.cptr()])).ctx("prepare")?;
    helper.tcb.tcb_resume().ctx("resume")?;
    ensure!(get(3) == 1, "the helper did not block on its endpoint");
    Cap::<cap::cap_type::Notification>::from_cptr(badged)
        .signal()
        .ctx("signal")?;
    ensure!(
        get(0) == 0x10,
        "the helper woke with badge {:#x}, expected 0x10",
        get(0)
    );
    Ok(())
}

/// Helper: receives on endpoint `unpack(0)` and records the badge it woke with.
fn bound_receiver(argument: u64) {
    set(3, 1);
    match syscall::recv(unpack(argument, 0)) {
        Ok(r) => set(0, r.badge),
        Err(e) => set(0, e.error as u64 | 0x1000),
    }
}

fn bind_twice_fails(env: &mut Env) -> Outcome {
    let tcb: cap::Tcb = env.alloc();
    let a = new_notification(env);
    let b = new_notification(env);
    tcb.tcb_bind_notification(a).ctx("first bind")?;
    tcb.tcb_bind_notification(b)
        .want_err(Error::IllegalOperation, "second bind")?;
    Ok(())
}

fn unbind_twice_fails(env: &mut Env) -> Outcome {
    let tcb: cap::Tcb = env.alloc();
    let n = new_notification(env);
    tcb.tcb_bind_notification(n).ctx("bind")?;
    tcb.tcb_unbind_notification().ctx("unbind")?;
    tcb.tcb_unbind_notification()
        .want_err(Error::IllegalOperation, "unbind with nothing bound")?;
    Ok(())
}

fn bind_non_notification_fails(env: &mut Env) -> Outcome {
    let tcb: cap::Tcb = env.alloc();
    let ep = new_endpoint(env);
    tcb.tcb_bind_notification(ep.cast())
        .want_err(Error::InvalidCapability, "bind an endpoint")?;
    Ok(())
}

fn wait_on_notification_bound_elsewhere(env: &mut Env) -> Outcome {
    let tcb: cap::Tcb = env.alloc();
    let n = new_notification(env);
    tcb.tcb_bind_notification(n).ctx("bind")?;
    n.poll().want_err(
        Error::IllegalOperation,
        "poll on a notification bound to another thread",
    )?;
    Ok(())
}

fn delete_notification_wakes_waiter(env: &mut Env) -> Outcome {
    let n = new_notification(env);
    let done = new_notification(env);
    threads::spawn(env, waiter, pack(&[n.cptr(), done.cptr()]), ABOVE_ROOT).ctx("spawn")?;
    ensure!(get(3) == 1 && get(0) == 0, "the waiter did not block");
    env.abs(n.cptr()).delete().ctx("delete the notification")?;
    done.wait().ctx("wait for the helper")?;
    ensure!(
        get(0) & 0x1000 != 0,
        "the waiter woke without an error (word {:#x})",
        get(0)
    );
    Ok(())
}
