//! `test=syscalls`: the kernel's answer to bad syscall arguments.
//!
//! Bad input must come back as an error code, never as a kernel panic or a
//! hang. This self-test makes targeted bad calls (unknown numbers, pointers
//! into the kernel, unmapped or overflowing buffers) and checks each code,
//! then makes a bounded number of random calls from a fixed seed and checks
//! that the kernel answers every one and is still working afterwards.
use ward_userlib::abi::{Error, Syscall};
use ward_userlib::println;
use ward_userlib::syscall::raw_syscall;

/// Random calls made after the targeted ones (bounded, from a fixed seed).
const RANDOM_CALLS: u32 = 100_000;
const SEED: u64 = 0x5741_5244_2d46_555a; // "WARD-FUZ"

/// A small xorshift generator: deterministic, no dependencies.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
}

struct Tally {
    passed: u32,
    failed: u32,
}

impl Tally {
    fn check(&mut self, what: &str, got: u64, want: Result<(), Error>) {
        let want_code = match want {
            Ok(()) => 0,
            Err(e) => e as u64,
        };
        if got == want_code {
            self.passed += 1;
        } else {
            self.failed += 1;
            println!("syscalls: FAIL {what}: got code {got}, expected {want_code}");
        }
    }
}

impl Tally {
    /// Any error code will do: the call must simply not succeed.
    fn check_refused(&mut self, what: &str, got: u64) {
        if got != 0 {
            self.passed += 1;
        } else {
            self.failed += 1;
            println!("syscalls: FAIL {what}: the call succeeded");
        }
    }
}

/// The boot info, for the retype check.
fn info_for_retype() -> &'static ward_userlib::abi::bootinfo::BootInfo {
    ward_rootkit::bootinfo::boot_info(ward_userlib::abi::layout::ROOT_BOOTINFO_VADDR)
}

/// Runs the test; returns true when every check passed.
pub fn run() -> bool {
    let mut tally = Tally {
        passed: 0,
        failed: 0,
    };
    let print = Syscall::DebugPrint as u64;

    // The first number after the assigned ones, whatever they are by now.
    let first_unassigned = (1..)
        .find(|&n| Syscall::from_number(n).is_none())
        .expect("some number is unassigned");
    for number in [
        0,
        first_unassigned,
        0xff,
        0x1ff,
        0x8000_0000_0000_0000,
        u64::MAX,
    ] {
        tally.check(
            "unknown syscall number",
            raw_syscall(number, 1, 2),
            Err(Error::UnknownSyscall),
        );
    }
    let message = b"syscalls: a valid debug print\n";
    tally.check(
        "valid print",
        raw_syscall(print, message.as_ptr() as u64, message.len() as u64),
        Ok(()),
    );
    tally.check("zero-length print", raw_syscall(print, 0, 0), Ok(()));
    tally.check(
        "print from null",
        raw_syscall(print, 0, 16),
        Err(Error::InvalidArgument),
    );
    tally.check(
        "print from kernel memory",
        raw_syscall(print, 0xffff_ffff_8010_0000, 16),
        Err(Error::InvalidArgument),
    );
    tally.check(
        "print from the physical map",
        raw_syscall(print, 0xffff_8000_0000_0000, 16),
        Err(Error::InvalidArgument),
    );
    tally.check(
        "print from unmapped memory",
        raw_syscall(print, 0xdead_0000, 16),
        Err(Error::InvalidArgument),
    );
    tally.check(
        "print with overflowing range",
        raw_syscall(print, u64::MAX - 4, 16),
        Err(Error::InvalidArgument),
    );
    tally.check(
        "print from non-canonical address",
        raw_syscall(print, 0x0000_8000_0000_0000, 8),
        Err(Error::InvalidArgument),
    );
    // A buffer that starts mapped and runs into the unmapped guard page below the stack.
    let stack_guard_end =
        ward_userlib::abi::layout::ROOT_STACK_TOP - ward_userlib::abi::layout::ROOT_STACK_SIZE;
    tally.check(
        "print running off a mapping",
        raw_syscall(print, stack_guard_end - 8, 16),
        Err(Error::InvalidArgument),
    );
    // (Reply with no one to reply to is a no-op, as in seL4, so it is not listed.)
    for ipc in [
        Syscall::Call,
        Syscall::Send,
        Syscall::NBSend,
        Syscall::Recv,
        Syscall::NBRecv,
        Syscall::ReplyRecv,
    ] {
        tally.check_refused(
            "IPC without capabilities",
            raw_syscall(ipc as u64, u64::MAX, u64::MAX),
        );
    }

    // A large retype (64 MiB of 2 MiB frames) completes even though the
    // kernel stops it at preemption points to take timer interrupts.
    let untyped = ward_rootkit::bootinfo::largest_ram_untyped(info_for_retype());
    if let Some(untyped) = untyped.filter(|u| u.size_bits >= 27) {
        let mut slots = ward_rootkit::bootinfo::SlotAllocator::from_boot_info(info_for_retype());
        let first = slots.alloc_range(32).map(|r| r.start).unwrap_or(0);
        let made = untyped.cap.untyped_retype(
            ward_userlib::ObjectType::Frame2M,
            0,
            ward_rootkit::bootinfo::RootCaps::new().cnode,
            0,
            0,
            first,
            32,
        );
        tally.check(
            "large retype (32 x 2 MiB frames)",
            made.map_or_else(|e| e.error as u64, |()| 0),
            Ok(()),
        );
    }

    let mut random = XorShift(SEED);
    let mut answered = 0u32;
    for _ in 0..RANDOM_CALLS {
        let pick = random.next();
        let number = match pick % 4 {
            0 => random.next(),
            1 => 1 + random.next() % 8,
            2 => print,
            _ => random.next() % 0x200,
        };
        if number == Syscall::DebugExit as u64 || number == Syscall::DebugPutChar as u64 {
            continue; // these would end the run or fill the console with noise
        }
        let (arg0, arg1) = (random.next(), random.next() % 8192);
        let _code = raw_syscall(number, arg0, arg1);
        answered += 1;
    }
    println!("syscalls: kernel answered {answered} random calls (seed {SEED:#x})");
    tally.check(
        "kernel still works after random calls",
        raw_syscall(print, message.as_ptr() as u64, message.len() as u64),
        Ok(()),
    );

    println!("syscalls: {} passed, {} failed", tally.passed, tally.failed);
    tally.failed == 0
}
