//! Capability kinds as `DebugCapIdentify` reports them. The numbers are the
//! kernel's own capability tags and are stable.

pub const NULL: u64 = 0;
pub const UNTYPED: u64 = 1;
pub const ENDPOINT: u64 = 2;
pub const NOTIFICATION: u64 = 3;
pub const CNODE: u64 = 4;
pub const TCB: u64 = 5;
pub const FRAME: u64 = 6;
pub const PML4: u64 = 7;
pub const PDPT: u64 = 8;
pub const PAGE_DIRECTORY: u64 = 9;
pub const PAGE_TABLE: u64 = 10;
pub const REPLY: u64 = 11;
pub const ZOMBIE: u64 = 12;
pub const IRQ_CONTROL: u64 = 13;
pub const IRQ_HANDLER: u64 = 14;
pub const IO_PORT_CONTROL: u64 = 15;
pub const IO_PORT: u64 = 16;
pub const IO_SPACE: u64 = 17;
pub const IO_PAGE_TABLE: u64 = 18;

/// A short name for a kind number, for dumps and messages.
pub fn name(kind: u64) -> &'static str {
    match kind {
        NULL => "null",
        UNTYPED => "untyped",
        ENDPOINT => "endpoint",
        NOTIFICATION => "notification",
        CNODE => "cnode",
        TCB => "tcb",
        FRAME => "frame",
        PML4 => "pml4",
        PDPT => "pdpt",
        PAGE_DIRECTORY => "page-directory",
        PAGE_TABLE => "page-table",
        REPLY => "reply",
        ZOMBIE => "zombie",
        IRQ_CONTROL => "irq-control",
        IRQ_HANDLER => "irq-handler",
        IO_PORT_CONTROL => "ioport-control",
        IO_PORT => "ioport",
        IO_SPACE => "iospace",
        IO_PAGE_TABLE => "io-page-table",
        _ => "unknown",
    }
}
