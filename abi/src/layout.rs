//! Fixed points of every user address space.
//!
//! User programs live in the lower canonical half. The kernel occupies the
//! upper half of every address space with supervisor-only mappings, so none of
//! the addresses below can ever alias kernel memory.

/// Page size of the smallest frame.
pub const PAGE_SIZE: u64 = 4096;

/// Lowest address a user segment may occupy. The first 64 KiB stay unmapped
/// so that null-pointer dereferences (and small offsets from null) fault.
pub const USER_MIN: u64 = 0x1_0000;

/// One past the highest user address: the end of the lower canonical half.
pub const USER_TOP: u64 = 0x0000_8000_0000_0000;

/// Where the kernel maps the root task's boot-info pages (read-only).
pub const ROOT_BOOTINFO_VADDR: u64 = 0x0000_7fff_0000_0000;

/// Where the kernel maps the root task's IPC buffer (one page, read-write).
pub const ROOT_IPC_BUFFER_VADDR: u64 = 0x0000_7fff_0010_0000;

/// Top of the root task's initial stack (the stack grows down from here).
pub const ROOT_STACK_TOP: u64 = 0x0000_7ffe_0000_0000;

/// Size of the root task's initial stack. The page below it stays unmapped
/// as a guard, so an overflow faults instead of corrupting other data.
pub const ROOT_STACK_SIZE: u64 = 256 * 1024;

/// Where the kernel maps the boot modules (read-only), one after another,
/// each starting on a page boundary.
pub const ROOT_MODULES_VADDR: u64 = 0x0000_7f00_0000_0000;

/// Whether `[start, start + len)` lies entirely inside user space.
pub fn is_user_range(start: u64, len: u64) -> bool {
    match start.checked_add(len) {
        Some(end) => start >= USER_MIN && end <= USER_TOP,
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_ranges() {
        assert!(is_user_range(0x40_0000, 0x1000));
        assert!(!is_user_range(0, 0x1000));
        assert!(!is_user_range(USER_TOP - 0x1000, 0x2000));
        assert!(!is_user_range(u64::MAX - 10, 100));
        assert!(is_user_range(USER_TOP - 0x1000, 0x1000));
    }

    #[test]
    fn fixed_points_are_user_addresses() {
        for a in [
            ROOT_BOOTINFO_VADDR,
            ROOT_IPC_BUFFER_VADDR,
            ROOT_MODULES_VADDR,
        ] {
            assert!(is_user_range(a, PAGE_SIZE));
        }
        assert!(is_user_range(
            ROOT_STACK_TOP - ROOT_STACK_SIZE,
            ROOT_STACK_SIZE
        ));
    }
}
