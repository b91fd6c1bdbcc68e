//! The system-call dispatcher.
//!
//! Arguments arrive in the caller's saved registers (see `ward_abi::syscall`
//! for the convention); results are written back there and take effect when
//! the thread resumes. A bad argument is an error code, never a kernel panic:
//! in particular, user pointers are allegations, checked page by page
//! against the caller's own page tables before a byte is read.
use crate::arch::x86_64::cpu;
use crate::arch::x86_64::paging::{self, PAGE_SIZE};
use crate::console;
use crate::thread::ROOT_THREAD;
use ward_abi::syscall::DEBUG_PRINT_MAX;
use ward_abi::{Error, Syscall};

/// Sets up `syscall`/`sysret`: the entry point, the selectors, and which
/// flags are cleared on entry (interrupts, direction, trap, alignment check).
pub fn init() {
    use crate::arch::x86_64::gdt::{KERNEL_CODE, USER_BASE};
    cpu::wrmsr(cpu::MSR_LSTAR, crate::arch::x86_64::trap::syscall_entry_address());
    cpu::wrmsr(cpu::MSR_STAR, (u64::from(USER_BASE) << 48) | (u64::from(KERNEL_CODE) << 32));
    cpu::wrmsr(cpu::MSR_SFMASK, (1 << 9) | (1 << 10) | (1 << 8) | (1 << 18));
    cpu::wrmsr(cpu::MSR_EFER, cpu::rdmsr(cpu::MSR_EFER) | cpu::EFER_SCE);
}

/// Copies up to `len` bytes of the caller's memory at `address` into `out`,
/// page by page through its own page tables. Fails if any byte is not
/// mapped readable for user mode.
fn copy_from_user(address_space: u64, address: u64, out: &mut [u8]) -> Result<(), Error> {
    let mut done = 0usize;
    while done < out.len() {
        let vaddr = address.checked_add(done as u64).ok_or(Error::InvalidArgument)?;
        let paddr = paging::translate_user(address_space, vaddr, false).ok_or(Error::InvalidArgument)?;
        let in_page = (PAGE_SIZE - (vaddr % PAGE_SIZE)) as usize;
        let chunk = in_page.min(out.len() - done);
        // SAFETY: `paddr..paddr+chunk` lies in one user page mapped in the
        // caller's address space (checked by translate_user); reading it
        // through the physical map cannot fault.
        let bytes = unsafe { paging::phys_slice(paddr, chunk) };
        out[done..done + chunk].copy_from_slice(bytes);
        done += chunk;
    }
    Ok(())
}

/// Entry from `syscall_entry`.
#[no_mangle]
extern "C" fn handle_syscall() {
    let (number, arg0, arg1, address_space, name) = {
        let thread = ROOT_THREAD.lock();
        let c = &thread.context;
        (c.rax, c.rdi, c.rsi, thread.address_space, thread.name)
    };
    let result: Result<(), Error> = match Syscall::from_number(number) {
        Some(Syscall::DebugPutChar) => {
            console::write_raw(&[arg0 as u8]);
            Ok(())
        }
        Some(Syscall::DebugPrint) => {
            let len = (arg1 as usize).min(DEBUG_PRINT_MAX);
            let mut buffer = [0u8; DEBUG_PRINT_MAX];
            copy_from_user(address_space, arg0, &mut buffer[..len]).map(|()| console::write_raw(&buffer[..len]))
        }
        Some(Syscall::DebugExit) => {
            log::info!("debug exit: thread '{name}' ends the run with status {arg0:#x}");
            crate::debug_exit(arg0 as u8);
        }
        Some(Syscall::Yield) => Ok(()),
        // IPC arrives with the object model; until then these are refused.
        Some(_) => Err(Error::IllegalOperation),
        None => Err(Error::UnknownSyscall),
    };
    ROOT_THREAD.lock().context.rax = match result {
        Ok(()) => 0,
        Err(error) => error as u64,
    };
}
