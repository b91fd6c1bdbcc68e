//! Every kernel-object invocation, declared once: its label, the object it
//! applies to and the rights that object's capability needs, its word
//! arguments (message registers, in order, by name), its capability
//! arguments (extra capabilities, in order, by name, with the kind and
//! rights each must have) and the names of the words it returns.
//!
//! Everything else is derived from this one table:
//! - the kernel decodes a message into the invocation's argument struct
//!   ([`args`]), checking the message length and each capability argument's
//!   kind and rights from the declaration before the object sees it;
//! - userlib encodes the same struct (named fields, so an argument can
//!   neither be forgotten nor swapped);
//! - userlib's error messages name the argument a detail word points at
//!   ([`Declaration::word_name`], [`Declaration::cap_name`]);
//! - docs/kernel.md's invocation tables are generated from [`DECLARATIONS`]
//!   and compared with the page by a test (`abi/tests/kernel_doc.rs`).
//!
//! Labels are grouped by object in blocks of 16 so each object can grow.
//! Names follow rust-sel4 (`untyped_retype`, `cnode_mint`, `tcb_configure`).

use crate::cap_kind;
use crate::rights::CapRights;

/// Most word arguments any invocation declares (a variable tail, such as
/// `tcb_write_registers`' registers, comes on top).
pub const MAX_DECLARED_WORDS: usize = 8;

/// What a capability argument must be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CapArgKind {
    /// A capability of this kind (an `abi::cap_kind` number).
    Is(u64),
    /// A frame of RAM: device frames (registers, not memory) are refused.
    RamFrame,
    /// The root CNode of a slot lookup. Not checked when decoding: the
    /// lookup itself reports a root that is no CNode (`FailedLookup`,
    /// `InvalidRoot`), as in seL4.
    LookupRoot,
}

impl CapArgKind {
    /// The kind in words, for messages and the documentation.
    pub fn describe(self) -> &'static str {
        match self {
            CapArgKind::Is(kind) => cap_kind::name(kind),
            CapArgKind::RamFrame => "frame of RAM (not device memory)",
            CapArgKind::LookupRoot => "cnode (the lookup's root)",
        }
    }
}

/// One capability argument.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CapArg {
    pub name: &'static str,
    pub kind: CapArgKind,
    /// Rights the capability must carry.
    pub rights: CapRights,
    /// May be left out (only ever the last ones).
    pub optional: bool,
}

/// One invocation's declaration.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Declaration {
    pub label: InvocationLabel,
    /// The label's name (`CNodeCopy`).
    pub name: &'static str,
    /// userlib's method (`cnode_copy`).
    pub method: &'static str,
    /// What it does, in one sentence.
    pub summary: &'static str,
    /// The kind of capability it is invoked on (an `abi::cap_kind` number).
    pub object: u64,
    /// Rights the invoked capability must carry.
    pub object_rights: CapRights,
    /// Word arguments, MR0 onwards.
    pub words: &'static [&'static str],
    /// The name of a variable run of words after the declared ones, whose
    /// length another argument gives (`tcb_write_registers`' registers).
    pub tail: Option<&'static str>,
    /// Capability arguments, extra capability 0 onwards.
    pub caps: &'static [CapArg],
    /// The words of a successful reply, MR0 onwards.
    pub result: &'static [&'static str],
}

/// The name of a word argument, as [`Declaration::word_name`] gives it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WordName {
    /// A declared word.
    Named(&'static str),
    /// Word `index` of the variable tail.
    Tail(&'static str, usize),
    /// Past everything the invocation reads: how many words it declares.
    Beyond(usize),
}

impl core::fmt::Display for WordName {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            WordName::Named(name) => f.write_str(name),
            WordName::Tail(name, index) => write!(f, "{name}[{index}]"),
            WordName::Beyond(count) => {
                write!(f, "beyond the {count} word arguments the invocation takes")
            }
        }
    }
}

impl Declaration {
    /// The name of word argument (message register) `index`.
    pub fn word_name(&self, index: u64) -> WordName {
        let count = self.words.len();
        match usize::try_from(index) {
            Ok(i) if i < count => WordName::Named(self.words[i]),
            Ok(i) => match self.tail {
                Some(tail) => WordName::Tail(tail, i - count),
                None => WordName::Beyond(count),
            },
            Err(_) => WordName::Beyond(count),
        }
    }

    /// The name of capability argument `index` (counted from 0), if declared.
    pub fn cap_name(&self, index: u64) -> Option<&'static str> {
        usize::try_from(index)
            .ok()
            .and_then(|i| self.caps.get(i))
            .map(|c| c.name)
    }

    /// How many capability arguments must be present.
    pub fn required_caps(&self) -> usize {
        self.caps.iter().filter(|c| !c.optional).count()
    }
}

/// How a declared invocation's arguments are built from a message (by the
/// kernel) and turned into one (by userlib). `C` is what stands for a
/// capability argument: a CPtr for userlib, a looked-up slot and capability
/// for the kernel.
pub trait Invocation<C>: Sized {
    /// Its declaration.
    const DECLARATION: &'static Declaration;

    /// Builds the arguments: `word(i)` gives word argument `i`, `cap(i)`
    /// capability argument `i` (`None` only for an optional one left out).
    /// Words come first, then capabilities, each in declared order.
    fn decode<E>(
        word: impl FnMut(usize) -> Result<u64, E>,
        cap: impl FnMut(usize) -> Result<Option<C>, E>,
    ) -> Result<Self, E>;

    /// The message: the word arguments and the capability arguments, in
    /// declared order (an optional capability left out is `None`).
    fn encode(self) -> Encoded<C>;
}

/// An invocation's arguments laid out as a message (see [`Invocation::encode`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Encoded<C> {
    pub words: [u64; MAX_DECLARED_WORDS],
    pub word_count: usize,
    pub caps: [Option<C>; crate::message::MAX_EXTRA_CAPS],
}

impl<C: Copy> Encoded<C> {
    /// The word arguments.
    pub fn words(&self) -> &[u64] {
        &self.words[..self.word_count]
    }
}

/// A required capability argument.
macro_rules! required {
    ($decode:expr) => {
        match $decode? {
            Some(cap) => cap,
            // The decoder gives `None` only for optional arguments; a
            // wrong answer here is a decoder bug, so say it loudly.
            None => unreachable!("a required capability argument was left out"),
        }
    };
}

/// One argument struct. Structs with capability arguments are generic over
/// what a capability is; the others are not.
macro_rules! argument_struct {
    ($name:ident [$($word:ident)*] [] []) => {
        #[doc = concat!("The arguments of `", stringify!($name), "`.")]
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub struct $name {
            $(pub $word: u64,)*
        }

        impl<C: Copy> super::Invocation<C> for $name {
            const DECLARATION: &'static super::Declaration =
                super::InvocationLabel::$name.declaration();

            #[allow(unused_mut, unused_variables, unused_assignments)]
            fn decode<E>(
                mut word: impl FnMut(usize) -> Result<u64, E>,
                cap: impl FnMut(usize) -> Result<Option<C>, E>,
            ) -> Result<Self, E> {
                let mut index = 0;
                Ok($name {
                    $($word: { let value = word(index)?; index += 1; value },)*
                })
            }

            #[allow(unused_mut, unused_assignments)]
            fn encode(self) -> super::Encoded<C> {
                let mut words = [0; super::MAX_DECLARED_WORDS];
                let mut word_count = 0;
                $(words[word_count] = self.$word; word_count += 1;)*
                super::Encoded { words, word_count, caps: [None; crate::message::MAX_EXTRA_CAPS] }
            }
        }
    };
    ($name:ident [$($word:ident)*] [$($cap:ident)*] [$($optional:ident)*]) => {
        #[doc = concat!("The arguments of `", stringify!($name), "`; `C` stands for a capability.")]
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub struct $name<C> {
            $(pub $word: u64,)*
            $(pub $cap: C,)*
            $(pub $optional: Option<C>,)*
        }

        impl<C: Copy> super::Invocation<C> for $name<C> {
            const DECLARATION: &'static super::Declaration =
                super::InvocationLabel::$name.declaration();

            #[allow(unused_mut, unused_assignments, unused_variables)]
            fn decode<E>(
                mut word: impl FnMut(usize) -> Result<u64, E>,
                mut cap: impl FnMut(usize) -> Result<Option<C>, E>,
            ) -> Result<Self, E> {
                let mut index = 0;
                $(let $word = word(index)?; index += 1;)*
                let mut index = 0;
                $(let $cap = required!(cap(index)); index += 1;)*
                $(let $optional = cap(index)?; index += 1;)*
                Ok($name { $($word,)* $($cap,)* $($optional,)* })
            }

            #[allow(unused_mut, unused_assignments)]
            fn encode(self) -> super::Encoded<C> {
                let mut words = [0; super::MAX_DECLARED_WORDS];
                let mut word_count = 0;
                $(words[word_count] = self.$word; word_count += 1;)*
                let mut caps = [None; crate::message::MAX_EXTRA_CAPS];
                let mut cap_count = 0;
                $(caps[cap_count] = Some(self.$cap); cap_count += 1;)*
                $(caps[cap_count] = self.$optional; cap_count += 1;)*
                super::Encoded { words, word_count, caps }
            }
        }
    };
}

macro_rules! invocations {
    ($(
        $name:ident = $label:literal, $method:ident on $object:ident ($($object_rights:ident)|*):
        $summary:literal
        words [$($word:ident),*] $(tail $tail:ident)?
        caps [$($cap:ident: $cap_kind:ident ($($cap_rights:ident)|*)),*]
        optional [$($optional:ident: $optional_kind:ident ($($optional_rights:ident)|*)),*]
        result [$($result:ident),*];
    )*) => {
        /// The operation an invocation asks for: the label of the message
        /// sent to the object's capability.
        #[repr(u64)]
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub enum InvocationLabel {
            $($name = $label,)*
        }

        /// Every declaration, in label order.
        pub const DECLARATIONS: &[Declaration] = &[$(
            Declaration {
                label: InvocationLabel::$name,
                name: stringify!($name),
                method: stringify!($method),
                summary: $summary,
                object: cap_kind::$object,
                object_rights: rights(&[$(CapRights::$object_rights),*]),
                words: &[$(stringify!($word)),*],
                tail: first(&[$(stringify!($tail)),*]),
                caps: &[
                    $(CapArg {
                        name: stringify!($cap),
                        kind: kind!($cap_kind),
                        rights: rights(&[$(CapRights::$cap_rights),*]),
                        optional: false,
                    },)*
                    $(CapArg {
                        name: stringify!($optional),
                        kind: kind!($optional_kind),
                        rights: rights(&[$(CapRights::$optional_rights),*]),
                        optional: true,
                    },)*
                ],
                result: &[$(stringify!($result)),*],
            },
        )*];

        impl InvocationLabel {
            /// Every label, for decoding and for tests.
            pub const ALL: &'static [InvocationLabel] = &[$(InvocationLabel::$name),*];

            /// This label's declaration.
            pub const fn declaration(self) -> &'static Declaration {
                let mut index = 0;
                while index < DECLARATIONS.len() {
                    if DECLARATIONS[index].label as u64 == self as u64 {
                        return &DECLARATIONS[index];
                    }
                    index += 1;
                }
                panic!("every label has a declaration")
            }
        }

        /// The argument structs, one per invocation, with the declared names.
        pub mod args {
            $(argument_struct!($name [$($word)*] [$($cap)*] [$($optional)*]);)*
        }
    };
}

/// A capability argument's kind, by name: `LookupRoot`, `RamFrame` or a
/// `cap_kind` constant.
macro_rules! kind {
    (LookupRoot) => {
        CapArgKind::LookupRoot
    };
    (RamFrame) => {
        CapArgKind::RamFrame
    };
    ($kind:ident) => {
        CapArgKind::Is(cap_kind::$kind)
    };
}

const fn rights(list: &[CapRights]) -> CapRights {
    let mut all = CapRights::NONE;
    let mut index = 0;
    while index < list.len() {
        all = all.union(list[index]);
        index += 1;
    }
    all
}

const fn first(names: &[&'static str]) -> Option<&'static str> {
    match names {
        [name, ..] => Some(*name),
        [] => None,
    }
}

invocations! {
    // ---- Untyped ----
    UntypedRetype = 0x10, untyped_retype on UNTYPED ():
        "Makes `num_objects` objects of `object_type` in slots `node_offset..` of the CNode at (`root`, `node_index`, `node_depth`), or of `root` itself when `node_depth` is 0."
        words [object_type, size_bits, node_index, node_depth, node_offset, num_objects]
        caps [root: LookupRoot ()] optional [] result [];

    // ---- CNode ----
    CNodeRevoke = 0x20, cnode_revoke on CNODE ():
        "Deletes every capability derived from the one at (`index`, `depth`)."
        words [index, depth] caps [] optional [] result [];
    CNodeDelete = 0x21, cnode_delete on CNODE ():
        "Empties the slot at (`index`, `depth`); deleting the last capability to an object destroys it."
        words [index, depth] caps [] optional [] result [];
    CNodeCopy = 0x22, cnode_copy on CNODE ():
        "Copies the capability at (`src_root`, `src_index`, `src_depth`) into the empty slot (`dest_index`, `dest_depth`) with its rights cut to `rights`."
        words [dest_index, dest_depth, src_index, src_depth, rights]
        caps [src_root: LookupRoot ()] optional [] result [];
    CNodeMint = 0x23, cnode_mint on CNODE ():
        "As `CNodeCopy`, and badges an unbadged endpoint or notification capability (or sets a CNode capability's guard) with `badge`."
        words [dest_index, dest_depth, src_index, src_depth, rights, badge]
        caps [src_root: LookupRoot ()] optional [] result [];
    CNodeMove = 0x24, cnode_move on CNODE ():
        "Moves the capability at (`src_root`, `src_index`, `src_depth`) into the empty slot (`dest_index`, `dest_depth`)."
        words [dest_index, dest_depth, src_index, src_depth]
        caps [src_root: LookupRoot ()] optional [] result [];
    CNodeMutate = 0x25, cnode_mutate on CNODE ():
        "As `CNodeMove`, and sets a CNode capability's guard to `data` (0 for any other capability)."
        words [dest_index, dest_depth, src_index, src_depth, data]
        caps [src_root: LookupRoot ()] optional [] result [];
    CNodeCancelBadgedSends = 0x26, cnode_cancel_badged_sends on CNODE ():
        "Makes every thread blocked sending through the badge of the endpoint capability at (`index`, `depth`) run its system call again."
        words [index, depth] caps [] optional [] result [];
    CNodeRotate = 0x27, cnode_rotate on CNODE ():
        "Moves the pivot's capability to the empty destination and the source's to the pivot, each with its data applied as by Mutate; with the destination equal to the source the two swap."
        words [dest_index, dest_depth, pivot_index, pivot_depth, pivot_data, src_index, src_depth, src_data]
        caps [pivot_root: LookupRoot (), src_root: LookupRoot ()] optional [] result [];

    // ---- TCB ----
    TcbConfigure = 0x30, tcb_configure on TCB (GRANT):
        "Sets the fault endpoint (the endpoint at CPtr `fault_ep` in the caller's CSpace, 0 for none), the CSpace root (with `cspace_root_data` as its guard, 0 to keep it), the VSpace root and the IPC buffer (at `ipc_buffer`, in `ipc_buffer_frame`; none without the frame)."
        words [fault_ep, cspace_root_data, vspace_root_data, ipc_buffer]
        caps [cspace_root: CNODE (), vspace_root: PML4 ()]
        optional [ipc_buffer_frame: RamFrame (READ | WRITE)] result [];
    TcbSetPriority = 0x31, tcb_set_priority on TCB (WRITE):
        "Sets the priority, at most `authority`'s maximum controlled priority."
        words [priority] caps [authority: TCB ()] optional [] result [];
    TcbSetMcPriority = 0x32, tcb_set_mc_priority on TCB (WRITE):
        "Sets the maximum controlled priority, at most `authority`'s."
        words [mcp] caps [authority: TCB ()] optional [] result [];
    TcbSetSchedParams = 0x33, tcb_set_sched_params on TCB (WRITE):
        "Sets both the maximum controlled priority and the priority, each at most `authority`'s maximum controlled priority."
        words [mcp, priority] caps [authority: TCB ()] optional [] result [];
    TcbSetIpcBuffer = 0x34, tcb_set_ipc_buffer on TCB (GRANT):
        "Sets the IPC buffer: its address and the frame holding it (removed without the frame)."
        words [ipc_buffer] caps [] optional [frame: RamFrame (READ | WRITE)] result [];
    TcbSetSpace = 0x35, tcb_set_space on TCB (GRANT):
        "As `TcbConfigure` without the IPC buffer."
        words [fault_ep, cspace_root_data, vspace_root_data]
        caps [cspace_root: CNODE (), vspace_root: PML4 ()] optional [] result [];
    TcbReadRegisters = 0x36, tcb_read_registers on TCB (READ):
        "Returns the first `count` registers; bit 0 of `flags` suspends the thread first (which needs the Write right too)."
        words [flags, count] caps [] optional [] result [registers];
    TcbWriteRegisters = 0x37, tcb_write_registers on TCB (WRITE):
        "Writes the first `count` registers from the words after `count`; bit 0 of `flags` resumes the thread afterwards."
        words [flags, arch_flags, count] tail registers caps [] optional [] result [];
    TcbCopyRegisters = 0x38, tcb_copy_registers on TCB (WRITE):
        "Copies registers from `source`: bit 0 of `flags` suspends the source first (needs its Write right), bit 1 resumes this thread after, bit 2 copies rip, rsp, rflags, rax, rbx, rcx, rdx, rsi, rdi, rbp, bit 3 copies r8-r15."
        words [flags, arch_flags] caps [source: TCB (READ)] optional [] result [];
    TcbSuspend = 0x39, tcb_suspend on TCB (WRITE):
        "Stops the thread."
        words [] caps [] optional [] result [];
    TcbResume = 0x3a, tcb_resume on TCB (WRITE):
        "Makes a stopped thread runnable where its registers say."
        words [] caps [] optional [] result [];
    TcbBindNotification = 0x3b, tcb_bind_notification on TCB (WRITE):
        "Binds `notification` to the thread: its signals also wake the thread while it waits on an endpoint."
        words [] caps [notification: NOTIFICATION (READ)] optional [] result [];
    TcbUnbindNotification = 0x3c, tcb_unbind_notification on TCB (WRITE):
        "Unbinds the thread's notification."
        words [] caps [] optional [] result [];
    TcbGetCpuTime = 0x3d, tcb_get_cpu_time on TCB (READ):
        "Returns the TSC ticks the thread has run for (kernel entries on its behalf included)."
        words [] caps [] optional [] result [cpu_ticks];
    TcbSetAffinity = 0x3e, tcb_set_affinity on TCB (WRITE):
        "Makes the thread run on core `core` only (0 is the first; the kernel's core count bounds it). A thread running on another core stops there first."
        words [core] caps [] optional [] result [];

    // ---- Frames and paging structures ----
    FrameMap = 0x40, frame_map on FRAME ():
        "Maps the frame into `vspace` at `vaddr` with `rights` cut to the capability's; bit 0 of `attributes` makes it executable (needs the Execute right, refused with Write)."
        words [vaddr, rights, attributes] caps [vspace: PML4 ()] optional [] result [];
    FrameUnmap = 0x41, frame_unmap on FRAME ():
        "Removes the mapping made through this capability, if any."
        words [] caps [] optional [] result [];
    FrameGetAddress = 0x42, frame_get_address on FRAME ():
        "Returns the frame's physical address."
        words [] caps [] optional [] result [paddr];
    PdptMap = 0x48, pdpt_map on PDPT ():
        "Maps the PDPT into `vspace` to cover the 512 GiB around `vaddr` (`attributes` is ignored)."
        words [vaddr, attributes] caps [vspace: PML4 ()] optional [] result [];
    PdptUnmap = 0x49, pdpt_unmap on PDPT ():
        "Removes the PDPT's mapping."
        words [] caps [] optional [] result [];
    PageDirectoryMap = 0x4a, page_directory_map on PAGE_DIRECTORY ():
        "Maps the page directory into `vspace` to cover the 1 GiB around `vaddr` (`attributes` is ignored)."
        words [vaddr, attributes] caps [vspace: PML4 ()] optional [] result [];
    PageDirectoryUnmap = 0x4b, page_directory_unmap on PAGE_DIRECTORY ():
        "Removes the page directory's mapping."
        words [] caps [] optional [] result [];
    PageTableMap = 0x4c, page_table_map on PAGE_TABLE ():
        "Maps the page table into `vspace` to cover the 2 MiB around `vaddr` (`attributes` is ignored)."
        words [vaddr, attributes] caps [vspace: PML4 ()] optional [] result [];
    PageTableUnmap = 0x4d, page_table_unmap on PAGE_TABLE ():
        "Removes the page table's mapping."
        words [] caps [] optional [] result [];

    // ---- Interrupts ----
    IrqControlGet = 0x50, irq_control_get on IRQ_CONTROL ():
        "Makes the IRQ handler capability of IOAPIC input `line` (`level` 1 = level-triggered, `active_low` 1 = active low) in the slot (`root`, `index`, `depth`)."
        words [index, depth, line, level, active_low] caps [root: LookupRoot ()] optional [] result [];
    IrqControlGetMsi = 0x51, irq_control_get_msi on IRQ_CONTROL ():
        "Makes an MSI handler capability for PCI `requester` (bus << 8 | dev << 3 | fn) in the slot (`root`, `index`, `depth`); returns the MSI address and data to program."
        words [index, depth, requester] caps [root: LookupRoot ()] optional [] result [msi_address, msi_data];
    IrqHandlerAck = 0x52, irq_handler_ack on IRQ_HANDLER ():
        "The last interrupt is handled: unmask the line."
        words [] caps [] optional [] result [];
    IrqHandlerSetNotification = 0x53, irq_handler_set_notification on IRQ_HANDLER ():
        "Interrupts signal `notification` with its badge."
        words [] caps [notification: NOTIFICATION (WRITE)] optional [] result [];
    IrqHandlerClear = 0x54, irq_handler_clear on IRQ_HANDLER ():
        "Masks the line and unbinds its notification."
        words [] caps [] optional [] result [];
    IrqHandlerGetCount = 0x55, irq_handler_get_count on IRQ_HANDLER ():
        "Returns how many interrupts of this source the kernel has delivered since boot."
        words [] caps [] optional [] result [delivered];
    IrqHandlerSetCore = 0x56, irq_handler_set_core on IRQ_HANDLER ():
        "Steers the interrupt to core `core` (IOAPIC redirection or MSI remapping destination): the core its handling thread runs on."
        words [core] caps [] optional [] result [];

    // ---- IO ports ----
    IoPortControlIssue = 0x60, io_port_control_issue on IO_PORT_CONTROL ():
        "Makes the capability to ports `first..=last` in the slot (`root`, `index`, `depth`)."
        words [first, last, index, depth] caps [root: LookupRoot ()] optional [] result [];
    IoPortIn8 = 0x61, io_port_in8 on IO_PORT ():
        "Reads a byte from `port`."
        words [port] caps [] optional [] result [value];
    IoPortIn16 = 0x62, io_port_in16 on IO_PORT ():
        "Reads 16 bits from `port`."
        words [port] caps [] optional [] result [value];
    IoPortIn32 = 0x63, io_port_in32 on IO_PORT ():
        "Reads 32 bits from `port`."
        words [port] caps [] optional [] result [value];
    IoPortOut8 = 0x64, io_port_out8 on IO_PORT ():
        "Writes the low byte of `value` to `port`."
        words [port, value] caps [] optional [] result [];
    IoPortOut16 = 0x65, io_port_out16 on IO_PORT ():
        "Writes the low 16 bits of `value` to `port`."
        words [port, value] caps [] optional [] result [];
    IoPortOut32 = 0x66, io_port_out32 on IO_PORT ():
        "Writes the low 32 bits of `value` to `port`."
        words [port, value] caps [] optional [] result [];

    // ---- IOMMU ----
    IoPageTableMap = 0x70, io_page_table_map on IO_PAGE_TABLE ():
        "Installs the IO page table in `iospace` at the first missing level for `ioaddr`."
        words [ioaddr] caps [iospace: IO_SPACE ()] optional [] result [];
    IoPageTableUnmap = 0x71, io_page_table_unmap on IO_PAGE_TABLE ():
        "Removes the IO page table's mapping."
        words [] caps [] optional [] result [];
    FrameMapIo = 0x72, frame_map_io on FRAME ():
        "Maps the frame for DMA in `iospace` at `ioaddr` with `rights` cut to the capability's (Read: the device may read it; Write: write it)."
        words [ioaddr, rights] caps [iospace: IO_SPACE ()] optional [] result [];
    IoSpaceIssue = 0x73, io_space_issue on IO_SPACE ():
        "On the master IOSpace: makes the IOSpace of PCI `requester` in `domain`, in the slot (`root`, `index`, `depth`)."
        words [requester, domain, index, depth] caps [root: LookupRoot ()] optional [] result [];
    IoSpaceSetFaultNotification = 0x74, io_space_set_fault_notification on IO_SPACE ():
        "The device's DMA faults signal `notification` with its badge."
        words [] caps [notification: NOTIFICATION (WRITE)] optional [] result [];
    IoSpaceReadFault = 0x75, io_space_read_fault on IO_SPACE ():
        "Takes the device's oldest recorded DMA fault: `found` is 0 when there is none."
        words [] caps [] optional [] result [found, ioaddr, is_write, reason];
}

impl InvocationLabel {
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
            assert_eq!(l.declaration().label, *l);
            for m in &InvocationLabel::ALL[i + 1..] {
                assert_ne!(*l as u64, *m as u64);
            }
        }
        assert_eq!(InvocationLabel::from_number(0), None);
    }

    #[test]
    fn declarations_fit_a_message() {
        for d in DECLARATIONS {
            assert!(d.words.len() <= MAX_DECLARED_WORDS, "{}", d.name);
            assert!(d.caps.len() <= crate::message::MAX_EXTRA_CAPS, "{}", d.name);
            // Optional capabilities come last.
            let first_optional = d.caps.iter().position(|c| c.optional);
            if let Some(i) = first_optional {
                assert!(d.caps[i..].iter().all(|c| c.optional), "{}", d.name);
            }
            // Every word has a name, and no name is used twice.
            for (i, w) in d.words.iter().enumerate() {
                assert!(!d.words[i + 1..].contains(w), "{}: {w} twice", d.name);
            }
        }
    }

    #[test]
    fn words_are_named_past_the_end_too() {
        let d = InvocationLabel::CNodeDelete.declaration();
        assert_eq!(d.word_name(1), WordName::Named("depth"));
        assert_eq!(d.word_name(9), WordName::Beyond(2));
        let d = InvocationLabel::TcbWriteRegisters.declaration();
        assert_eq!(d.word_name(5), WordName::Tail("registers", 2));
        assert_eq!(d.cap_name(0), None);
        assert_eq!(
            InvocationLabel::TcbConfigure.declaration().cap_name(2),
            Some("ipc_buffer_frame")
        );
    }

    #[test]
    fn arguments_round_trip_through_a_message() {
        let copy = args::CNodeCopy {
            dest_index: 1,
            dest_depth: 2,
            src_index: 3,
            src_depth: 4,
            rights: 5,
            src_root: 77u64,
        };
        let encoded = Invocation::<u64>::encode(copy);
        assert_eq!(encoded.words(), &[1, 2, 3, 4, 5]);
        assert_eq!(encoded.caps, [Some(77), None, None]);
        let decoded = <args::CNodeCopy<u64> as Invocation<u64>>::decode(
            |i| Ok::<u64, ()>(encoded.words[i]),
            |i| Ok(encoded.caps[i]),
        );
        assert_eq!(decoded, Ok(copy));
        let configure = args::TcbSetIpcBuffer::<u64> {
            ipc_buffer: 0x1000,
            frame: None,
        };
        assert_eq!(Invocation::<u64>::encode(configure).caps, [None; 3]);
    }
}
