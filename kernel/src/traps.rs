//! What the kernel does on each trap: user faults, interrupts, and traps
//! taken inside the kernel itself.
//!
//! A fault in user mode never takes the kernel down: it goes to the thread's
//! fault handler as a message, or — when the thread has none — is reported
//! on the console (thread, vector, address, error code) and the thread is
//! suspended.
use crate::arch::x86_64::apic::{self, SPURIOUS_VECTOR, TIMER_VECTOR};
use crate::arch::x86_64::cpu;
use crate::arch::x86_64::pic::PIC_VECTOR_BASE;
use crate::arch::x86_64::trap::{exception_name, KernelTrapFrame, UserContext};
use crate::kobj::{self, registers};
use crate::smp::{CALL_VECTOR, RESCHEDULE_VECTOR};
use crate::{fault, sched};
use core::sync::atomic::{AtomicU64, Ordering};
use ward_abi::fault::{USER_EXCEPTION, VM_FAULT};

/// Interrupts that arrived on a vector no one owns (counted, never fatal).
pub static UNOWNED_INTERRUPTS: AtomicU64 = AtomicU64::new(0);
/// Spurious interrupts from the local APIC or the (masked) legacy PIC.
pub static SPURIOUS_INTERRUPTS: AtomicU64 = AtomicU64::new(0);

/// Handles an interrupt (not an exception). Returns after acknowledging it.
fn handle_interrupt(vector: u64) {
    crate::stats::count_interrupt(vector);
    match vector {
        v if v == u64::from(TIMER_VECTOR) => {
            sched::tick();
            apic::end_of_interrupt();
        }
        v if v == u64::from(RESCHEDULE_VECTOR) => crate::smp::reschedule_received(),
        v if v == u64::from(CALL_VECTOR) => crate::smp::call_received(),
        v if v == u64::from(SPURIOUS_VECTOR) => {
            // The APIC wants no EOI for its spurious vector.
            SPURIOUS_INTERRUPTS.fetch_add(1, Ordering::Relaxed);
        }
        v if v == u64::from(crate::arch::x86_64::vtd::FAULT_VECTOR) => {
            crate::iospace::handle_fault_interrupt()
        }
        v if (u64::from(PIC_VECTOR_BASE)..u64::from(PIC_VECTOR_BASE) + 16).contains(&v) => {
            // The PICs are fully masked; only their spurious IRQ 7/15 get here.
            SPURIOUS_INTERRUPTS.fetch_add(1, Ordering::Relaxed);
        }
        v => match crate::irq::irq_of(v) {
            Some(irq) => crate::irq::handle(irq),
            None => {
                UNOWNED_INTERRUPTS.fetch_add(1, Ordering::Relaxed);
                apic::end_of_interrupt();
            }
        },
    }
}

/// Entry from `trap_common` for traps from user mode. `saved` is where the
/// registers were pushed: the current thread's context, unless the vector
/// uses an interrupt stack (NMI, double fault, machine check).
///
/// A cross-core call is answered before the big kernel lock is taken (its
/// sender holds the lock and waits for the answer); if it left the thread
/// running, the thread goes straight back to user mode. Everything else
/// takes the lock first.
#[no_mangle]
extern "C" fn handle_user_trap(saved: *const UserContext) {
    let here = crate::cpu_local::this();
    if saved as u64 != here.current_context.load(Ordering::Relaxed) {
        // SAFETY: the stub passed a pointer to the registers it just pushed.
        let frame = unsafe { &*saved };
        crate::kernel_fatal(format_args!(
            "{} while in user mode at rip={:#x}: the machine is not in a state to continue",
            exception_name(frame.vector),
            frame.rip
        ));
    }
    let Some(tcb) = kobj::current() else {
        crate::kernel_fatal(format_args!("trap from user mode with no current thread"));
    };
    let ctx = registers(tcb).read();
    if ctx.vector == u64::from(CALL_VECTOR) {
        crate::smp::call_received();
        crate::stats::count_interrupt(ctx.vector);
        if kobj::current().is_some() {
            return;
        }
        crate::bkl::acquire();
    } else {
        crate::bkl::acquire();
        if ctx.vector >= 32 {
            // Interrupts are handled even if the thread was stalled on the
            // way in: the source is masked until its top half runs.
            handle_interrupt(ctx.vector);
        } else if kobj::current() == Some(tcb) {
            // (A stalled thread takes the exception again when it runs.)
            if ctx.vector == 14 {
                let address = cpu::read_cr2();
                let fetch = (ctx.error_code & 0x10 != 0) as u64;
                fault::raise(tcb, VM_FAULT, &[ctx.rip, address, fetch, ctx.error_code]);
            } else {
                fault::raise(
                    tcb,
                    USER_EXCEPTION,
                    &[ctx.rip, ctx.rsp, ctx.rflags, ctx.vector, ctx.error_code],
                );
            }
        }
    }
    sched::schedule();
    crate::bkl::release();
}

/// Entry from `trap_common` for traps taken in kernel mode: interrupts in
/// an idle loop (which does not hold the big kernel lock), or a kernel bug.
#[no_mangle]
extern "C" fn handle_kernel_trap(frame: &KernelTrapFrame) {
    if frame.vector >= 32 {
        if frame.vector == u64::from(CALL_VECTOR) {
            crate::stats::count_interrupt(frame.vector);
            crate::smp::call_received();
        } else if frame.vector == u64::from(TIMER_VECTOR) && crate::cpu_local::index() != 0 {
            // An idle application processor's tick has nothing to do
            // (no thread's slice to end; timeouts are the bootstrap
            // processor's): no lock.
            crate::stats::count_interrupt(frame.vector);
            crate::stats::count_timer_tick(false);
            apic::end_of_interrupt();
        } else if frame.vector == u64::from(RESCHEDULE_VECTOR) {
            // The idle loop takes the lock and looks at its queues.
            crate::stats::count_interrupt(frame.vector);
            crate::smp::reschedule_received();
        } else {
            crate::bkl::acquire();
            handle_interrupt(frame.vector);
            crate::bkl::release();
            // A device interrupt steered here may have made a thread of
            // this core runnable (its handler's notification): the idle
            // loop must look at its queues, as after a reschedule IPI,
            // which is sent only to other cores.
            crate::cpu_local::this()
                .woken
                .store(1, core::sync::atomic::Ordering::Release);
        }
        return;
    }
    let cr2 = cpu::read_cr2();
    crate::kernel_fatal(format_args!(
        "kernel {} (vector {}) at rip={:#x}, error code {:#x}, cr2={:#x}, rsp={:#x}",
        exception_name(frame.vector),
        frame.vector,
        frame.rip,
        frame.error_code,
        cr2,
        frame.rsp
    ));
}
