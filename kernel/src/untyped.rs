//! Untyped invocations: `untyped_retype`, planned and checked by the object
//! model (`ward_kernel_objects::untyped`), with the zeroing of the new
//! objects' memory done here in preemptible steps.
use crate::invocation::{done, Message, Outcome};
use crate::kobj::{bookkeeping, objects};
use core::sync::atomic::{AtomicU64, Ordering};
use ward_abi::invocation::{args, InvocationLabel as Label};
use ward_kernel_objects::untyped::RetypePlan;
use ward_kernel_objects::{InvocationError, Slot, Tcb};

/// Runs Untyped invocation `label` on the untyped in `slot`.
pub fn invoke(message: &Message, label: Label, slot: Slot) -> Result<Outcome, InvocationError> {
    if label != Label::UntypedRetype {
        return Err(InvocationError::illegal("not an untyped invocation"));
    }
    let a: args::UntypedRetype<_> = message.decode()?;
    let objects = objects();
    let plan = objects.untyped_retype_plan(
        slot,
        a.object_type,
        a.size_bits,
        a.root.1,
        a.node_index,
        a.node_depth,
        a.node_offset,
        a.num_objects,
    )?;
    if !zero_preemptibly(message.caller, &plan) {
        return Ok(Outcome::Restart);
    }
    objects.retype_commit(plan, true);
    done()
}

/// Zeroing done per step of a retype before checking for a pending
/// interrupt: small enough that a timer tick waits for at most one step,
/// large enough that the check (one APIC register read) costs little.
const ZERO_STEP: u64 = 64 * 1024;

/// Retypes of large objects restarted at a preemption point (a statistic;
/// global, and fine shared by every CPU).
pub static RETYPE_PREEMPTIONS: AtomicU64 = AtomicU64::new(0);

/// Zeroes the memory of a planned retype in steps, stopping at a
/// preemption point when an interrupt is pending. Progress is kept in the
/// caller's TCB and picked up when the same retype is restarted (the same
/// untyped and the same memory); memory above an untyped's watermark belongs
/// to no object, so a half-zeroed range is harmless. Returns true when done.
fn zero_preemptibly(caller: Tcb, plan: &RetypePlan) -> bool {
    let (start, length, needs_zeroing) = plan.memory();
    if !needs_zeroing {
        return true;
    }
    let record = bookkeeping(caller);
    let key = [plan.untyped().0, start, length];
    let mut zeroed = if record.retype_key() == key {
        record.retype_done()
    } else {
        0
    };
    let window = objects().window();
    while zeroed < length {
        let step = ZERO_STEP.min(length - zeroed);
        window.zero(start + zeroed, step);
        zeroed += step;
        if zeroed < length && crate::arch::x86_64::apic::timer_interrupt_pending() {
            record.set_retype_key(key);
            record.set_retype_done(zeroed);
            let count = RETYPE_PREEMPTIONS.fetch_add(1, Ordering::Relaxed) + 1;
            log::trace!(
                "retype: preempted after zeroing {zeroed} of {length} bytes ({count} so far)"
            );
            return false;
        }
    }
    record.set_retype_key([0; 3]);
    record.set_retype_done(0);
    true
}
