//! Invocation labels: which operation a message sent to a kernel object's
//! capability asks for.
//!
//! A user invokes an object by `Call`ing its capability with a label in the
//! message info. The argument lists are documented in docs/kernel.md; names
//! follow rust-sel4 (`untyped_retype`, `cnode_mint`, `tcb_configure`, ...).
//! Labels are grouped by object in blocks of 16 so each object can grow.

/// The operation requested by an invocation.
#[repr(u64)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InvocationLabel {
    UntypedRetype = 0x10,

    CNodeRevoke = 0x20,
    CNodeDelete = 0x21,
    CNodeCopy = 0x22,
    CNodeMint = 0x23,
    CNodeMove = 0x24,
    CNodeMutate = 0x25,
    CNodeCancelBadgedSends = 0x26,
    CNodeRotate = 0x27,

    TcbConfigure = 0x30,
    TcbSetPriority = 0x31,
    TcbSetMcPriority = 0x32,
    TcbSetSchedParams = 0x33,
    TcbSetIpcBuffer = 0x34,
    TcbSetSpace = 0x35,
    TcbReadRegisters = 0x36,
    TcbWriteRegisters = 0x37,
    TcbCopyRegisters = 0x38,
    TcbSuspend = 0x39,
    TcbResume = 0x3a,
    TcbBindNotification = 0x3b,
    TcbUnbindNotification = 0x3c,
    /// MR0 = TSC ticks the thread has run for (its CPU time).
    TcbGetCpuTime = 0x3d,

    FrameMap = 0x40,
    FrameUnmap = 0x41,
    FrameGetAddress = 0x42,
    PdptMap = 0x48,
    PdptUnmap = 0x49,
    PageDirectoryMap = 0x4a,
    PageDirectoryUnmap = 0x4b,
    PageTableMap = 0x4c,
    PageTableUnmap = 0x4d,

    IrqControlGet = 0x50,
    IrqControlGetMsi = 0x51,
    IrqHandlerAck = 0x52,
    IrqHandlerSetNotification = 0x53,
    IrqHandlerClear = 0x54,

    IoPortControlIssue = 0x60,
    IoPortIn8 = 0x61,
    IoPortIn16 = 0x62,
    IoPortIn32 = 0x63,
    IoPortOut8 = 0x64,
    IoPortOut16 = 0x65,
    IoPortOut32 = 0x66,

    IoPageTableMap = 0x70,
    IoPageTableUnmap = 0x71,
    FrameMapIo = 0x72,
    /// On the master IOSpace cap: make an IOSpace for one requester in one domain.
    IoSpaceIssue = 0x73,
    /// DMA faults of this IOSpace's device signal this notification.
    IoSpaceSetFaultNotification = 0x74,
    /// Takes the oldest recorded DMA fault of this IOSpace's device.
    IoSpaceReadFault = 0x75,
}

impl InvocationLabel {
    /// Every label, for decoding and for tests.
    pub const ALL: &'static [InvocationLabel] = &[
        Self::UntypedRetype,
        Self::CNodeRevoke,
        Self::CNodeDelete,
        Self::CNodeCopy,
        Self::CNodeMint,
        Self::CNodeMove,
        Self::CNodeMutate,
        Self::CNodeCancelBadgedSends,
        Self::CNodeRotate,
        Self::TcbConfigure,
        Self::TcbSetPriority,
        Self::TcbSetMcPriority,
        Self::TcbSetSchedParams,
        Self::TcbSetIpcBuffer,
        Self::TcbSetSpace,
        Self::TcbReadRegisters,
        Self::TcbWriteRegisters,
        Self::TcbCopyRegisters,
        Self::TcbSuspend,
        Self::TcbResume,
        Self::TcbBindNotification,
        Self::TcbUnbindNotification,
        Self::TcbGetCpuTime,
        Self::FrameMap,
        Self::FrameUnmap,
        Self::FrameGetAddress,
        Self::PdptMap,
        Self::PdptUnmap,
        Self::PageDirectoryMap,
        Self::PageDirectoryUnmap,
        Self::PageTableMap,
        Self::PageTableUnmap,
        Self::IrqControlGet,
        Self::IrqControlGetMsi,
        Self::IrqHandlerAck,
        Self::IrqHandlerSetNotification,
        Self::IrqHandlerClear,
        Self::IoPortControlIssue,
        Self::IoPortIn8,
        Self::IoPortIn16,
        Self::IoPortIn32,
        Self::IoPortOut8,
        Self::IoPortOut16,
        Self::IoPortOut32,
        Self::IoPageTableMap,
        Self::IoPageTableUnmap,
        Self::FrameMapIo,
        Self::IoSpaceIssue,
        Self::IoSpaceSetFaultNotification,
        Self::IoSpaceReadFault,
    ];

    /// Decodes a label; `None` for labels the kernel does not know.
    pub fn from_number(number: u64) -> Option<InvocationLabel> {
        Self::ALL.iter().copied().find(|l| *l as u64 == number)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_round_trip_and_are_unique() {
        for (i, l) in InvocationLabel::ALL.iter().enumerate() {
            assert_eq!(InvocationLabel::from_number(*l as u64), Some(*l));
            for m in &InvocationLabel::ALL[i + 1..] {
                assert_ne!(*l as u64, *m as u64);
            }
        }
        assert_eq!(InvocationLabel::from_number(0), None);
    }
}
