//! CPU registers and instructions: MSRs, control registers, CPUID, halting.

pub const MSR_EFER: u32 = 0xC000_0080;
pub const MSR_STAR: u32 = 0xC000_0081;
pub const MSR_LSTAR: u32 = 0xC000_0082;
pub const MSR_SFMASK: u32 = 0xC000_0084;
pub const MSR_APIC_BASE: u32 = 0x1B;

pub const EFER_SCE: u64 = 1 << 0;

pub const CR4_PGE: u64 = 1 << 7;
pub const CR4_SMEP: u64 = 1 << 20;
pub const CR4_SMAP: u64 = 1 << 21;

/// Reads a model-specific register.
pub fn rdmsr(msr: u32) -> u64 {
    let (low, high): (u32, u32);
    // SAFETY: the kernel reads only architectural MSRs that exist on every
    // x86_64 CPU it boots on (checked at boot: long mode implies them).
    unsafe {
        core::arch::asm!("rdmsr", in("ecx") msr, out("eax") low, out("edx") high, options(nomem, nostack, preserves_flags))
    }
    (u64::from(high) << 32) | u64::from(low)
}

/// Writes a model-specific register.
pub fn wrmsr(msr: u32, value: u64) {
    // SAFETY: callers write architectural MSRs with values that keep the
    // kernel's invariants (syscall entry, EFER bits already in use).
    unsafe {
        core::arch::asm!("wrmsr", in("ecx") msr, in("eax") value as u32, in("edx") (value >> 32) as u32,
            options(nostack, preserves_flags))
    }
}

pub fn read_cr2() -> u64 {
    let value: u64;
    // SAFETY: reading CR2 has no side effects.
    unsafe {
        core::arch::asm!("mov {}, cr2", out(reg) value, options(nomem, nostack, preserves_flags))
    }
    value
}

pub fn read_cr3() -> u64 {
    let value: u64;
    // SAFETY: reading CR3 has no side effects.
    unsafe {
        core::arch::asm!("mov {}, cr3", out(reg) value, options(nomem, nostack, preserves_flags))
    }
    value
}

/// Switches address space.
///
/// # Safety
/// `pml4_paddr` must be the physical address of a page-map level-4 table
/// that maps the kernel (its upper half is the kernel's) and stays alive.
pub unsafe fn write_cr3(pml4_paddr: u64) {
    // SAFETY: the caller guarantees the new tables map the running kernel.
    unsafe {
        core::arch::asm!("mov cr3, {}", in(reg) pml4_paddr, options(nostack, preserves_flags))
    }
}

pub fn read_cr4() -> u64 {
    let value: u64;
    // SAFETY: reading CR4 has no side effects.
    unsafe {
        core::arch::asm!("mov {}, cr4", out(reg) value, options(nomem, nostack, preserves_flags))
    }
    value
}

/// Sets CR4 bits.
///
/// # Safety
/// The bits must be supported (checked with CPUID) and not break the
/// running kernel (e.g. SMAP only once no code touches user pages directly).
pub unsafe fn set_cr4_bits(bits: u64) {
    let value = read_cr4() | bits;
    // SAFETY: the caller vouches for the bits.
    unsafe { core::arch::asm!("mov cr4, {}", in(reg) value, options(nostack, preserves_flags)) }
}

/// CPUID leaf `leaf`, subleaf `subleaf`: (eax, ebx, ecx, edx).
pub fn cpuid(leaf: u32, subleaf: u32) -> (u32, u32, u32, u32) {
    let r = core::arch::x86_64::__cpuid_count(leaf, subleaf);
    (r.eax, r.ebx, r.ecx, r.edx)
}

/// The time-stamp counter. User mode may read it too (CR4.TSD stays clear):
/// components keep time with it without a system call.
#[inline]
pub fn rdtsc() -> u64 {
    // SAFETY: `rdtsc` only reads the counter; it has no other effect.
    unsafe { core::arch::x86_64::_rdtsc() }
}

/// Waits for the next interrupt with interrupts enabled, then disables them
/// again. `sti` takes effect after the next instruction, so no interrupt can
/// slip in between enabling and halting and be missed.
pub fn wait_for_interrupt() {
    // SAFETY: the kernel's interrupt handlers are installed before the idle
    // loop runs; the handler returns here with interrupts off again after cli.
    unsafe { core::arch::asm!("sti", "hlt", "cli", options(nomem, nostack)) }
}

/// Stops this CPU for good.
pub fn halt_forever() -> ! {
    loop {
        // SAFETY: with interrupts disabled, hlt only wakes for NMI; loop again.
        unsafe { core::arch::asm!("cli", "hlt", options(nomem, nostack)) }
    }
}
