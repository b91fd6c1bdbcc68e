//! Kernel object types and their sizes, as user programs name them in
//! `untyped_retype`.
//!
//! Every kernel object is carved out of Untyped memory and is naturally
//! aligned: an object of `2^bits` bytes starts at a multiple of `2^bits`.
//! Sizes follow seL4 on x86_64 where an seL4 counterpart exists.

/// The object types `untyped_retype` can create. The numbers are stable.
#[repr(u64)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ObjectType {
    /// Untyped memory; its size is given by the `size_bits` argument.
    Untyped = 0,
    /// A thread control block.
    Tcb = 1,
    /// A synchronous IPC endpoint.
    Endpoint = 2,
    /// An asynchronous notification (a word of signal bits).
    Notification = 3,
    /// A CNode of `2^size_bits` capability slots.
    CNode = 4,
    /// A 4 KiB frame.
    Frame4K = 5,
    /// A 2 MiB frame.
    Frame2M = 6,
    /// A PML4: the root of a virtual address space (VSpace).
    Pml4 = 7,
    /// A page-directory-pointer table (maps 1 GiB per entry).
    Pdpt = 8,
    /// A page directory (maps 2 MiB per entry).
    PageDirectory = 9,
    /// A page table (maps 4 KiB per entry).
    PageTable = 10,
    /// A VT-d IO page table (issue 4; created here, used by the IOMMU code).
    IoPageTable = 11,
}

/// The number of object types; valid numbers are `0..OBJECT_TYPE_COUNT`.
pub const OBJECT_TYPE_COUNT: u64 = 12;

/// log2 of the size of one capability slot: two words of capability and two
/// words of derivation-tree links.
pub const SLOT_BITS: u32 = 5;
/// log2 of a TCB's size: 2 KiB holds the register and FPU context (1 KiB),
/// the TCB's own capability slots and the scheduling and IPC state.
pub const TCB_BITS: u32 = 11;
/// log2 of an endpoint's size: two words of wait-queue head and tail.
pub const ENDPOINT_BITS: u32 = 4;
/// log2 of a notification's size: queue head and tail, the signal word and
/// the bound thread.
pub const NOTIFICATION_BITS: u32 = 5;
/// log2 of a 4 KiB page, the x86_64 base page size.
pub const PAGE_BITS: u32 = 12;
/// log2 of a 2 MiB page, the x86_64 large page size.
pub const LARGE_PAGE_BITS: u32 = 21;
/// log2 of every x86_64 paging structure (512 entries of 8 bytes).
pub const PAGE_TABLE_BITS: u32 = 12;

/// The smallest untyped object: big enough for one endpoint, the smallest
/// object, so that no untyped is useless.
pub const MIN_UNTYPED_BITS: u32 = 4;
/// The largest untyped object: 128 TiB, beyond any machine Ward runs on and
/// small enough that sizes and watermarks fit in 48 bits.
pub const MAX_UNTYPED_BITS: u32 = 47;
/// The smallest CNode radix: one bit (two slots); a 0-bit CNode could only
/// resolve through its guard, which a 1-slot CNode gains nothing from.
pub const MIN_CNODE_RADIX_BITS: u32 = 1;
/// The largest CNode radix: 2^26 slots (2 GiB), more than any component needs;
/// bounded so that the slot count of a dying CNode fits in its zombie cap.
pub const MAX_CNODE_RADIX_BITS: u32 = 26;
/// The most objects one `untyped_retype` call creates; bounds the work of one
/// (non-preemptible) call, as seL4's fan-out limit does.
pub const MAX_RETYPE_FAN_OUT: u64 = 256;

impl ObjectType {
    /// Decodes an object-type number; `None` for unknown numbers.
    pub fn from_number(number: u64) -> Option<ObjectType> {
        use ObjectType::*;
        Some(match number {
            0 => Untyped,
            1 => Tcb,
            2 => Endpoint,
            3 => Notification,
            4 => CNode,
            5 => Frame4K,
            6 => Frame2M,
            7 => Pml4,
            8 => Pdpt,
            9 => PageDirectory,
            10 => PageTable,
            11 => IoPageTable,
            _ => return None,
        })
    }

    /// log2 of the object's size in bytes, which is also its alignment.
    ///
    /// `size_bits` is the caller's argument: the object size for Untyped, the
    /// radix (log2 of the slot count) for CNode; other types ignore it.
    /// Returns `None` when `size_bits` is out of range for the type.
    pub fn size_bits(self, size_bits: u32) -> Option<u32> {
        use ObjectType::*;
        match self {
            Untyped => (MIN_UNTYPED_BITS..=MAX_UNTYPED_BITS)
                .contains(&size_bits)
                .then_some(size_bits),
            CNode => (MIN_CNODE_RADIX_BITS..=MAX_CNODE_RADIX_BITS)
                .contains(&size_bits)
                .then_some(size_bits + SLOT_BITS),
            Tcb => Some(TCB_BITS),
            Endpoint => Some(ENDPOINT_BITS),
            Notification => Some(NOTIFICATION_BITS),
            Frame4K => Some(PAGE_BITS),
            Frame2M => Some(LARGE_PAGE_BITS),
            Pml4 | Pdpt | PageDirectory | PageTable | IoPageTable => Some(PAGE_TABLE_BITS),
        }
    }

    /// Whether device untyped memory may become this type. Device memory
    /// (MMIO) must never hold kernel data, so only frames and smaller
    /// untyped can be made from it.
    pub fn allowed_from_device_memory(self) -> bool {
        matches!(
            self,
            ObjectType::Untyped | ObjectType::Frame4K | ObjectType::Frame2M
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_round_trip_and_sizes_match_sel4() {
        for n in 0..OBJECT_TYPE_COUNT {
            let t = ObjectType::from_number(n).unwrap();
            assert_eq!(t as u64, n);
        }
        assert_eq!(ObjectType::from_number(OBJECT_TYPE_COUNT), None);
        assert_eq!(ObjectType::Tcb.size_bits(0), Some(11));
        assert_eq!(ObjectType::Endpoint.size_bits(0), Some(4));
        assert_eq!(ObjectType::Notification.size_bits(0), Some(5));
        assert_eq!(ObjectType::CNode.size_bits(4), Some(9));
        assert_eq!(ObjectType::CNode.size_bits(0), None);
        assert_eq!(ObjectType::Untyped.size_bits(3), None);
        assert_eq!(ObjectType::Untyped.size_bits(20), Some(20));
        assert_eq!(ObjectType::Frame2M.size_bits(0), Some(21));
        assert!(!ObjectType::Tcb.allowed_from_device_memory());
        assert!(ObjectType::Frame4K.allowed_from_device_memory());
    }
}
