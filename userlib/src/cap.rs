//! Typed capabilities and their invocations, in the shape of rust-sel4.
//!
//! A [`Cap<T>`] is a CPtr (an address in the caller's CSpace, resolved with
//! full 64-bit depth) tagged with a zero-sized marker type from
//! [`cap_type`]. Each marker gets only its own object's invocations, so
//! `tcb.tcb_resume()` compiles and `endpoint.tcb_resume()` does not. The
//! type is a promise the program makes, not a fact the kernel checks: a
//! `Cap<Tcb>` naming an empty slot still compiles and the kernel answers
//! with an error, which comes back as an [`InvocationError`].
//!
//! Every invocation is a `Call` on the capability with an invocation label
//! and the word arguments as message registers (4 and up in the IPC
//! buffer); capability arguments travel as extra capabilities. Argument
//! orders are docs/kernel.md's; see its "User library conventions" section
//! for the points this library had to settle itself.

use core::fmt;
use core::marker::PhantomData;

use ward_abi::invocation::{args, Invocation, InvocationLabel};
use ward_abi::message::{MAX_EXTRA_CAPS, REGISTER_MESSAGE_LENGTH};
pub use ward_abi::object::ObjectType;
pub use ward_abi::rights::CapRights;

use crate::error::InvocationError;
use crate::ipc_buffer::IpcBuffer;
use crate::message::{self, MessageInfo};
use crate::syscall::{self, Received};

/// A capability address in the caller's CSpace.
pub type CPtr = u64;

/// The lookup depth of every CPtr this library passes for the invoked and
/// the extra capabilities: a full word, as seL4 does for invocations.
pub const FULL_DEPTH: u64 = 64;

/// The zero-sized marker types naming what a capability points at.
pub mod cap_type {
    use super::ObjectType;

    /// Implemented by every marker type.
    pub trait CapType: Copy {
        /// The name used in messages.
        const NAME: &'static str;
        /// The object type `untyped_retype` makes for this capability, if any.
        const OBJECT_TYPE: Option<ObjectType>;
    }

    macro_rules! markers {
        ($($(#[$doc:meta])* $name:ident => $object:expr;)*) => {$(
            $(#[$doc])*
            #[derive(Clone, Copy, Debug, PartialEq, Eq)]
            pub struct $name;
            impl CapType for $name {
                const NAME: &'static str = stringify!($name);
                const OBJECT_TYPE: Option<ObjectType> = $object;
            }
        )*};
    }

    markers! {
        /// Untyped memory, the raw material of every object.
        Untyped => Some(ObjectType::Untyped);
        /// A CNode: a table of capability slots.
        CNode => Some(ObjectType::CNode);
        /// A thread control block.
        Tcb => Some(ObjectType::Tcb);
        /// A synchronous IPC endpoint.
        Endpoint => Some(ObjectType::Endpoint);
        /// An asynchronous notification.
        Notification => Some(ObjectType::Notification);
        /// A 4 KiB frame.
        Frame4K => Some(ObjectType::Frame4K);
        /// A 2 MiB frame.
        Frame2M => Some(ObjectType::Frame2M);
        /// A PML4, the root of a VSpace.
        Pml4 => Some(ObjectType::Pml4);
        /// A page-directory-pointer table.
        Pdpt => Some(ObjectType::Pdpt);
        /// A page directory.
        PageDirectory => Some(ObjectType::PageDirectory);
        /// A page table.
        PageTable => Some(ObjectType::PageTable);
        /// Makes IRQ handler capabilities.
        IrqControl => None;
        /// One interrupt line, bound to a notification.
        IrqHandler => None;
        /// Issues IO-port range capabilities.
        IoPortControl => None;
        /// A range of IO ports.
        IoPort => None;
        /// A VT-d IO address space.
        IoSpace => None;
        /// A VT-d IO page table.
        IoPageTable => Some(ObjectType::IoPageTable);
        /// An empty slot (or a capability whose type does not matter).
        Null => None;
    }

    /// Marker types of frames, which share the frame invocations.
    pub trait FrameType: CapType {
        /// log2 of the frame's size.
        const SIZE_BITS: u32;
    }
    impl FrameType for Frame4K {
        const SIZE_BITS: u32 = ward_abi::object::PAGE_BITS;
    }
    impl FrameType for Frame2M {
        const SIZE_BITS: u32 = ward_abi::object::LARGE_PAGE_BITS;
    }
}

use cap_type::CapType;

/// A capability of type `T` at a CPtr in the caller's CSpace.
pub struct Cap<T: CapType> {
    cptr: CPtr,
    _type: PhantomData<T>,
}

impl<T: CapType> Clone for Cap<T> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T: CapType> Copy for Cap<T> {}
impl<T: CapType> PartialEq for Cap<T> {
    fn eq(&self, other: &Self) -> bool {
        self.cptr == other.cptr
    }
}
impl<T: CapType> Eq for Cap<T> {}

impl<T: CapType> fmt::Debug for Cap<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Cap<{}>({:#x})", T::NAME, self.cptr)
    }
}

pub type Untyped = Cap<cap_type::Untyped>;
pub type CNode = Cap<cap_type::CNode>;
pub type Tcb = Cap<cap_type::Tcb>;
pub type Endpoint = Cap<cap_type::Endpoint>;
pub type Notification = Cap<cap_type::Notification>;
pub type Frame4K = Cap<cap_type::Frame4K>;
pub type Frame2M = Cap<cap_type::Frame2M>;
pub type Pml4 = Cap<cap_type::Pml4>;
pub type Pdpt = Cap<cap_type::Pdpt>;
pub type PageDirectory = Cap<cap_type::PageDirectory>;
pub type PageTable = Cap<cap_type::PageTable>;
pub type IrqControl = Cap<cap_type::IrqControl>;
pub type IrqHandler = Cap<cap_type::IrqHandler>;
pub type IoPortControl = Cap<cap_type::IoPortControl>;
pub type IoPort = Cap<cap_type::IoPort>;
pub type IoSpace = Cap<cap_type::IoSpace>;
pub type IoPageTable = Cap<cap_type::IoPageTable>;
pub type NullCap = Cap<cap_type::Null>;

impl<T: CapType> Cap<T> {
    /// The capability at `cptr`. Naming a slot is harmless: a wrong type or
    /// an empty slot only makes invocations fail.
    pub const fn from_cptr(cptr: CPtr) -> Cap<T> {
        Cap {
            cptr,
            _type: PhantomData,
        }
    }

    /// The CPtr.
    pub const fn cptr(self) -> CPtr {
        self.cptr
    }

    /// The same CPtr seen as another type: for tests that invoke a
    /// capability as the wrong type on purpose, and for caps received in
    /// messages whose type the protocol fixes.
    pub const fn cast<U: CapType>(self) -> Cap<U> {
        Cap::from_cptr(self.cptr)
    }

    /// Invokes the capability with a raw label, word arguments and extra
    /// capabilities; returns the reply. The typed methods are built on this;
    /// it is public for tests and fuzzing that send what no typed method would.
    pub fn invoke_raw(
        self,
        label: u64,
        words: &[u64],
        caps: &[CPtr],
    ) -> Result<Received, InvocationError> {
        let buffer = IpcBuffer::current();
        let (info, mrs) = message::prepare(&buffer, label, words, caps)?;
        syscall::call(self.cptr, info, mrs).map_err(|mut e| {
            e.label = InvocationLabel::from_number(label);
            e
        })
    }

    /// Invokes the capability with an invocation's arguments, laid out as
    /// its declaration in `ward_abi::invocation` says (the one place the
    /// kernel's decoding also follows).
    pub(crate) fn invoke_declared<A: Invocation<CPtr>>(
        self,
        arguments: A,
    ) -> Result<Received, InvocationError> {
        let encoded = arguments.encode();
        let (caps, count) = cap_list(&encoded.caps);
        self.invoke_raw(A::DECLARATION.label as u64, encoded.words(), &caps[..count])
    }

    /// [`Self::invoke_declared`] for invocations that return nothing.
    pub(crate) fn invoke_unit<A: Invocation<CPtr>>(
        self,
        arguments: A,
    ) -> Result<(), InvocationError> {
        self.invoke_declared(arguments).map(|_| ())
    }
}

/// The capability arguments of an encoded invocation that are present
/// (optional ones left out are always the last).
fn cap_list(caps: &[Option<CPtr>; MAX_EXTRA_CAPS]) -> ([CPtr; MAX_EXTRA_CAPS], usize) {
    let mut list = [0; MAX_EXTRA_CAPS];
    let mut count = 0;
    for cptr in caps.iter().flatten() {
        list[count] = *cptr;
        count += 1;
    }
    (list, count)
}

// ---- Untyped -------------------------------------------------------------

impl Untyped {
    /// Makes `num_objects` objects of `object_type` from this untyped and
    /// puts their capabilities in slots `node_offset..` of the CNode found at
    /// `(root, node_index, node_depth)` — or of `root` itself when
    /// `node_depth` is 0. `size_bits` is the size of an Untyped, the radix
    /// of a CNode, and ignored for other types.
    #[allow(clippy::too_many_arguments)]
    pub fn untyped_retype(
        self,
        object_type: ObjectType,
        size_bits: u64,
        root: CNode,
        node_index: u64,
        node_depth: u64,
        node_offset: u64,
        num_objects: u64,
    ) -> Result<(), InvocationError> {
        self.untyped_retype_raw(
            object_type as u64,
            size_bits,
            root,
            node_index,
            node_depth,
            node_offset,
            num_objects,
        )
    }

    /// [`Self::untyped_retype`] with the object type as a raw number, for
    /// testing the kernel's checks.
    #[allow(clippy::too_many_arguments)]
    pub fn untyped_retype_raw(
        self,
        object_type: u64,
        size_bits: u64,
        root: CNode,
        node_index: u64,
        node_depth: u64,
        node_offset: u64,
        num_objects: u64,
    ) -> Result<(), InvocationError> {
        self.invoke_unit(args::UntypedRetype {
            object_type,
            size_bits,
            node_index,
            node_depth,
            node_offset,
            num_objects,
            root: root.cptr,
        })
    }
}

// ---- CNode ---------------------------------------------------------------

impl CNode {
    /// Copies the capability at `(src_root, src_index, src_depth)` into the
    /// empty slot `(self, dest_index, dest_depth)` with rights reduced to
    /// `rights`.
    pub fn cnode_copy(
        self,
        dest_index: u64,
        dest_depth: u64,
        src_root: CNode,
        src_index: u64,
        src_depth: u64,
        rights: CapRights,
    ) -> Result<(), InvocationError> {
        self.invoke_unit(args::CNodeCopy {
            dest_index,
            dest_depth,
            src_index,
            src_depth,
            rights: rights.to_word(),
            src_root: src_root.cptr,
        })
    }

    /// As [`Self::cnode_copy`], and also badges an endpoint or notification
    /// capability (or sets a CNode capability's guard: size in the low 6
    /// bits, guard above).
    #[allow(clippy::too_many_arguments)]
    pub fn cnode_mint(
        self,
        dest_index: u64,
        dest_depth: u64,
        src_root: CNode,
        src_index: u64,
        src_depth: u64,
        rights: CapRights,
        badge: u64,
    ) -> Result<(), InvocationError> {
        self.invoke_unit(args::CNodeMint {
            dest_index,
            dest_depth,
            src_index,
            src_depth,
            rights: rights.to_word(),
            badge,
            src_root: src_root.cptr,
        })
    }

    /// Moves the capability at `(src_root, src_index, src_depth)` into the
    /// empty slot `(self, dest_index, dest_depth)`.
    pub fn cnode_move(
        self,
        dest_index: u64,
        dest_depth: u64,
        src_root: CNode,
        src_index: u64,
        src_depth: u64,
    ) -> Result<(), InvocationError> {
        self.invoke_unit(args::CNodeMove {
            dest_index,
            dest_depth,
            src_index,
            src_depth,
            src_root: src_root.cptr,
        })
    }

    /// As [`Self::cnode_move`], and sets a CNode capability's guard to `data`
    /// (for other capabilities `data` must be 0).
    pub fn cnode_mutate(
        self,
        dest_index: u64,
        dest_depth: u64,
        src_root: CNode,
        src_index: u64,
        src_depth: u64,
        data: u64,
    ) -> Result<(), InvocationError> {
        self.invoke_unit(args::CNodeMutate {
            dest_index,
            dest_depth,
            src_index,
            src_depth,
            data,
            src_root: src_root.cptr,
        })
    }

    /// Deletes the capability at `(self, index, depth)`; deleting the last
    /// capability to an object destroys it. An empty slot is no error.
    pub fn cnode_delete(self, index: u64, depth: u64) -> Result<(), InvocationError> {
        self.invoke_unit(args::CNodeDelete { index, depth })
    }

    /// Deletes every capability derived from the one at `(self, index, depth)`.
    pub fn cnode_revoke(self, index: u64, depth: u64) -> Result<(), InvocationError> {
        self.invoke_unit(args::CNodeRevoke { index, depth })
    }

    /// Wakes every thread blocked sending through a badged copy of the
    /// endpoint capability at `(self, index, depth)`, with an error.
    pub fn cnode_cancel_badged_sends(self, index: u64, depth: u64) -> Result<(), InvocationError> {
        self.invoke_unit(args::CNodeCancelBadgedSends { index, depth })
    }

    /// Moves the capability at the pivot to the empty destination
    /// `(self, dest_index, dest_depth)` and the capability at the source to
    /// the pivot, each with its data applied as by Mutate (0 = unchanged).
    /// With the destination equal to the source, the two swap places.
    #[allow(clippy::too_many_arguments)]
    pub fn cnode_rotate(
        self,
        dest_index: u64,
        dest_depth: u64,
        pivot_root: CNode,
        pivot_index: u64,
        pivot_depth: u64,
        pivot_data: u64,
        src_root: CNode,
        src_index: u64,
        src_depth: u64,
        src_data: u64,
    ) -> Result<(), InvocationError> {
        self.invoke_unit(args::CNodeRotate {
            dest_index,
            dest_depth,
            pivot_index,
            pivot_depth,
            pivot_data,
            src_index,
            src_depth,
            src_data,
            pivot_root: pivot_root.cptr,
            src_root: src_root.cptr,
        })
    }

    /// A slot of this CNode named by full-depth CPtr (for CNodes whose guard
    /// makes a CPtr equal the slot index, like the root task's).
    pub const fn slot(self, index: u64) -> AbsoluteCPtr {
        AbsoluteCPtr {
            root: self,
            index,
            depth: FULL_DEPTH,
        }
    }
}

/// A slot named as seL4's CNode invocations want it: a root CNode, an index
/// and a depth.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AbsoluteCPtr {
    pub root: CNode,
    pub index: u64,
    pub depth: u64,
}

impl AbsoluteCPtr {
    /// `cnode_copy` from `src` into this slot.
    pub fn copy(self, src: AbsoluteCPtr, rights: CapRights) -> Result<(), InvocationError> {
        self.root.cnode_copy(
            self.index, self.depth, src.root, src.index, src.depth, rights,
        )
    }
    /// `cnode_mint` from `src` into this slot.
    pub fn mint(
        self,
        src: AbsoluteCPtr,
        rights: CapRights,
        badge: u64,
    ) -> Result<(), InvocationError> {
        self.root.cnode_mint(
            self.index, self.depth, src.root, src.index, src.depth, rights, badge,
        )
    }
    /// `cnode_move` from `src` into this slot.
    pub fn move_from(self, src: AbsoluteCPtr) -> Result<(), InvocationError> {
        self.root
            .cnode_move(self.index, self.depth, src.root, src.index, src.depth)
    }
    /// `cnode_mutate` from `src` into this slot.
    pub fn mutate_from(self, src: AbsoluteCPtr, data: u64) -> Result<(), InvocationError> {
        self.root
            .cnode_mutate(self.index, self.depth, src.root, src.index, src.depth, data)
    }
    /// `cnode_delete` of this slot.
    pub fn delete(self) -> Result<(), InvocationError> {
        self.root.cnode_delete(self.index, self.depth)
    }
    /// `cnode_revoke` of this slot.
    pub fn revoke(self) -> Result<(), InvocationError> {
        self.root.cnode_revoke(self.index, self.depth)
    }
}

// ---- TCB -----------------------------------------------------------------

/// A thread's user registers in the order `tcb_read_registers` and
/// `tcb_write_registers` transfer them (seL4's x86_64 `seL4_UserContext`
/// without the segment bases, which Ward does not expose).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct UserContext {
    pub rip: u64,
    pub rsp: u64,
    pub rflags: u64,
    pub rax: u64,
    pub rbx: u64,
    pub rcx: u64,
    pub rdx: u64,
    pub rsi: u64,
    pub rdi: u64,
    pub rbp: u64,
    pub r8: u64,
    pub r9: u64,
    pub r10: u64,
    pub r11: u64,
    pub r12: u64,
    pub r13: u64,
    pub r14: u64,
    pub r15: u64,
}

impl UserContext {
    /// Number of registers in a full context.
    pub const WORDS: usize = 18;

    /// The registers as words, in transfer order.
    pub fn to_words(&self) -> [u64; Self::WORDS] {
        [
            self.rip,
            self.rsp,
            self.rflags,
            self.rax,
            self.rbx,
            self.rcx,
            self.rdx,
            self.rsi,
            self.rdi,
            self.rbp,
            self.r8,
            self.r9,
            self.r10,
            self.r11,
            self.r12,
            self.r13,
            self.r14,
            self.r15,
        ]
    }

    /// The context from words in transfer order; missing words are 0.
    pub fn from_words(words: &[u64]) -> UserContext {
        let w = |i: usize| words.get(i).copied().unwrap_or(0);
        UserContext {
            rip: w(0),
            rsp: w(1),
            rflags: w(2),
            rax: w(3),
            rbx: w(4),
            rcx: w(5),
            rdx: w(6),
            rsi: w(7),
            rdi: w(8),
            rbp: w(9),
            r8: w(10),
            r9: w(11),
            r10: w(12),
            r11: w(13),
            r12: w(14),
            r13: w(15),
            r14: w(16),
            r15: w(17),
        }
    }
}

impl Tcb {
    /// Sets the thread's fault endpoint (a CPtr, see docs/kernel.md), CSpace
    /// and VSpace roots (with the data words that would change their guard,
    /// 0 to keep it) and IPC buffer (user address and the frame holding it).
    #[allow(clippy::too_many_arguments)]
    pub fn tcb_configure(
        self,
        fault_ep: CPtr,
        cspace_root: CNode,
        cspace_root_data: u64,
        vspace_root: Pml4,
        vspace_root_data: u64,
        ipc_buffer: u64,
        ipc_buffer_frame: Frame4K,
    ) -> Result<(), InvocationError> {
        self.invoke_unit(args::TcbConfigure {
            fault_ep,
            cspace_root_data,
            vspace_root_data,
            ipc_buffer,
            cspace_root: cspace_root.cptr,
            vspace_root: vspace_root.cptr,
            ipc_buffer_frame: Some(ipc_buffer_frame.cptr),
        })
    }

    /// Sets the thread's priority, with the authority of the thread
    /// `authority` (whose MCP bounds it).
    pub fn tcb_set_priority(self, authority: Tcb, priority: u64) -> Result<(), InvocationError> {
        self.invoke_unit(args::TcbSetPriority {
            priority,
            authority: authority.cptr,
        })
    }

    /// Sets the thread's maximum controlled priority, bounded by
    /// `authority`'s own MCP.
    pub fn tcb_set_mc_priority(self, authority: Tcb, mcp: u64) -> Result<(), InvocationError> {
        self.invoke_unit(args::TcbSetMcPriority {
            mcp,
            authority: authority.cptr,
        })
    }

    /// Sets both MCP and priority at once.
    pub fn tcb_set_sched_params(
        self,
        authority: Tcb,
        mcp: u64,
        priority: u64,
    ) -> Result<(), InvocationError> {
        self.invoke_unit(args::TcbSetSchedParams {
            mcp,
            priority,
            authority: authority.cptr,
        })
    }

    /// Sets the thread's IPC buffer: its user address and the frame holding it.
    pub fn tcb_set_ipc_buffer(
        self,
        ipc_buffer: u64,
        frame: Frame4K,
    ) -> Result<(), InvocationError> {
        self.invoke_unit(args::TcbSetIpcBuffer {
            ipc_buffer,
            frame: Some(frame.cptr),
        })
    }

    /// Sets fault endpoint, CSpace and VSpace without touching the IPC buffer.
    pub fn tcb_set_space(
        self,
        fault_ep: CPtr,
        cspace_root: CNode,
        cspace_root_data: u64,
        vspace_root: Pml4,
        vspace_root_data: u64,
    ) -> Result<(), InvocationError> {
        self.invoke_unit(args::TcbSetSpace {
            fault_ep,
            cspace_root_data,
            vspace_root_data,
            cspace_root: cspace_root.cptr,
            vspace_root: vspace_root.cptr,
        })
    }

    /// Reads the first `count` registers (at most [`UserContext::WORDS`]),
    /// suspending the thread first if `suspend_source`.
    pub fn tcb_read_registers(
        self,
        suspend_source: bool,
        count: u64,
    ) -> Result<UserContext, InvocationError> {
        let reply = self.invoke_declared(args::TcbReadRegisters {
            flags: suspend_source as u64,
            count,
        })?;
        let buffer = IpcBuffer::current();
        let length = (reply.info.length() as usize).min(UserContext::WORDS);
        let mut words = [0u64; UserContext::WORDS];
        for (index, word) in words.iter_mut().enumerate().take(length) {
            *word = message::received_word(&buffer, &reply.mrs, index);
        }
        Ok(UserContext::from_words(&words[..length]))
    }

    /// Writes the first `count` registers of `context`, then resumes the
    /// thread if `resume_target`.
    pub fn tcb_write_registers(
        self,
        resume_target: bool,
        count: u64,
        context: &UserContext,
    ) -> Result<(), InvocationError> {
        // seL4's layout: the declared words (resume flag, architecture
        // flags, none on x86_64, count), then the registers as the tail.
        let declared = Invocation::<CPtr>::encode(args::TcbWriteRegisters {
            flags: resume_target as u64,
            arch_flags: 0,
            count,
        });
        let first = declared.word_count;
        let mut words = [0u64; ward_abi::invocation::MAX_DECLARED_WORDS + UserContext::WORDS];
        words[..first].copy_from_slice(declared.words());
        words[first..first + UserContext::WORDS].copy_from_slice(&context.to_words());
        let used = first + (count as usize).min(UserContext::WORDS);
        self.invoke_raw(
            InvocationLabel::TcbWriteRegisters as u64,
            &words[..used],
            &[],
        )
        .map(|_| ())
    }

    /// Copies registers from `source` into this thread: the frame registers
    /// (rip, rsp, rflags, rax, rbx, rcx, rdx, rsi, rdi, rbp) if `frame`, the
    /// integer registers (r8–r15) if `integer`; suspends the source first if
    /// `suspend_source`, resumes this thread after if `resume_target`.
    pub fn tcb_copy_registers(
        self,
        source: Tcb,
        suspend_source: bool,
        resume_target: bool,
        frame: bool,
        integer: bool,
    ) -> Result<(), InvocationError> {
        let flags = suspend_source as u64
            | (resume_target as u64) << 1
            | (frame as u64) << 2
            | (integer as u64) << 3;
        self.invoke_unit(args::TcbCopyRegisters {
            flags,
            arch_flags: 0,
            source: source.cptr,
        })
    }

    /// Stops the thread (it can be resumed).
    pub fn tcb_suspend(self) -> Result<(), InvocationError> {
        self.invoke_unit(args::TcbSuspend {})
    }

    /// The TSC ticks the thread has run for (kernel entries on its behalf
    /// included); divide by the TSC rate for seconds.
    pub fn tcb_get_cpu_time(self) -> Result<u64, InvocationError> {
        self.invoke_declared(args::TcbGetCpuTime {})
            .map(|reply| reply.mrs[0])
    }

    /// Makes a suspended thread runnable.
    pub fn tcb_resume(self) -> Result<(), InvocationError> {
        self.invoke_unit(args::TcbResume {})
    }

    /// Binds a notification to the thread: signals then wake it while it
    /// waits on an endpoint.
    pub fn tcb_bind_notification(self, notification: Notification) -> Result<(), InvocationError> {
        self.invoke_unit(args::TcbBindNotification {
            notification: notification.cptr,
        })
    }

    /// Unbinds the thread's notification.
    pub fn tcb_unbind_notification(self) -> Result<(), InvocationError> {
        self.invoke_unit(args::TcbUnbindNotification {})
    }

    /// Makes the thread run on core `core` only (0 is the first).
    pub fn tcb_set_affinity(self, core: u64) -> Result<(), InvocationError> {
        self.invoke_unit(args::TcbSetAffinity { core })
    }
}

// ---- Frames and paging structures -----------------------------------------

/// Attributes of a frame mapping.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct VmAttributes(pub u64);

impl VmAttributes {
    /// Not executable, write-back cached (device frames are mapped uncached
    /// by the kernel whatever the attributes say).
    pub const DEFAULT: VmAttributes = VmAttributes(0);
    /// The mapping may hold code. The kernel refuses it together with the
    /// write right (W^X).
    pub const EXECUTABLE: VmAttributes = VmAttributes(1 << 0);

    pub const fn union(self, other: VmAttributes) -> VmAttributes {
        VmAttributes(self.0 | other.0)
    }
}

impl<T: cap_type::FrameType> Cap<T> {
    /// Maps the frame into `vspace` at `vaddr` (aligned to the frame's size)
    /// with `rights` (reduced to the capability's own) and `attributes`.
    pub fn frame_map(
        self,
        vspace: Pml4,
        vaddr: u64,
        rights: CapRights,
        attributes: VmAttributes,
    ) -> Result<(), InvocationError> {
        self.invoke_unit(args::FrameMap {
            vaddr,
            rights: rights.to_word(),
            attributes: attributes.0,
            vspace: vspace.cptr,
        })
    }

    /// Removes the frame's mapping (no error if it had none).
    pub fn frame_unmap(self) -> Result<(), InvocationError> {
        self.invoke_unit(args::FrameUnmap {})
    }

    /// The frame's physical address.
    pub fn frame_get_address(self) -> Result<u64, InvocationError> {
        self.invoke_declared(args::FrameGetAddress {})
            .map(|r| r.mrs[0])
    }

    /// log2 of the frame's size.
    pub const fn size_bits(self) -> u32 {
        T::SIZE_BITS
    }
}

impl PageTable {
    /// Maps the page table into `vspace` to cover the 2 MiB around `vaddr`.
    pub fn page_table_map(
        self,
        vspace: Pml4,
        vaddr: u64,
        attributes: VmAttributes,
    ) -> Result<(), InvocationError> {
        self.invoke_unit(args::PageTableMap {
            vaddr,
            attributes: attributes.0,
            vspace: vspace.cptr,
        })
    }
    pub fn page_table_unmap(self) -> Result<(), InvocationError> {
        self.invoke_unit(args::PageTableUnmap {})
    }
}

impl PageDirectory {
    /// Maps the page directory into `vspace` to cover the 1 GiB around `vaddr`.
    pub fn page_directory_map(
        self,
        vspace: Pml4,
        vaddr: u64,
        attributes: VmAttributes,
    ) -> Result<(), InvocationError> {
        self.invoke_unit(args::PageDirectoryMap {
            vaddr,
            attributes: attributes.0,
            vspace: vspace.cptr,
        })
    }
    pub fn page_directory_unmap(self) -> Result<(), InvocationError> {
        self.invoke_unit(args::PageDirectoryUnmap {})
    }
}

impl Pdpt {
    /// Maps the PDPT into `vspace` to cover the 512 GiB around `vaddr`.
    pub fn pdpt_map(
        self,
        vspace: Pml4,
        vaddr: u64,
        attributes: VmAttributes,
    ) -> Result<(), InvocationError> {
        self.invoke_unit(args::PdptMap {
            vaddr,
            attributes: attributes.0,
            vspace: vspace.cptr,
        })
    }
    pub fn pdpt_unmap(self) -> Result<(), InvocationError> {
        self.invoke_unit(args::PdptUnmap {})
    }
}

// ---- Endpoints and notifications -------------------------------------------

impl Endpoint {
    /// `Call` with a register-only message.
    pub fn call(
        self,
        info: MessageInfo,
        mrs: [u64; REGISTER_MESSAGE_LENGTH],
    ) -> Result<Received, InvocationError> {
        syscall::call(self.cptr, info, mrs)
    }

    /// `Call` with up to 120 words and 3 capabilities (through the IPC buffer).
    pub fn call_message(
        self,
        label: u64,
        words: &[u64],
        caps: &[CPtr],
    ) -> Result<Received, InvocationError> {
        let buffer = IpcBuffer::current();
        let (info, mrs) = message::prepare(&buffer, label, words, caps)?;
        syscall::call(self.cptr, info, mrs)
    }

    /// `Send` with a register-only message.
    pub fn send(
        self,
        info: MessageInfo,
        mrs: [u64; REGISTER_MESSAGE_LENGTH],
    ) -> Result<(), InvocationError> {
        syscall::send(self.cptr, info, mrs)
    }

    /// `Send` with up to 120 words and 3 capabilities.
    pub fn send_message(
        self,
        label: u64,
        words: &[u64],
        caps: &[CPtr],
    ) -> Result<(), InvocationError> {
        let buffer = IpcBuffer::current();
        let (info, mrs) = message::prepare(&buffer, label, words, caps)?;
        syscall::send(self.cptr, info, mrs)
    }

    /// `NBSend` with a register-only message.
    pub fn nb_send(
        self,
        info: MessageInfo,
        mrs: [u64; REGISTER_MESSAGE_LENGTH],
    ) -> Result<(), InvocationError> {
        syscall::nb_send(self.cptr, info, mrs)
    }

    /// `Recv`: waits for a message.
    pub fn recv(self) -> Result<Received, InvocationError> {
        syscall::recv(self.cptr)
    }

    /// `NBRecv`: takes a waiting message, if any.
    pub fn nb_recv(self) -> Result<Received, InvocationError> {
        syscall::nb_recv(self.cptr)
    }

    /// `ReplyRecv`: replies to the last caller, then waits on this endpoint.
    pub fn reply_recv(
        self,
        info: MessageInfo,
        mrs: [u64; REGISTER_MESSAGE_LENGTH],
    ) -> Result<Received, InvocationError> {
        syscall::reply_recv(self.cptr, info, mrs)
    }
}

impl Notification {
    /// ORs this capability's badge into the notification word and wakes a waiter.
    pub fn signal(self) -> Result<(), InvocationError> {
        syscall::signal(self.cptr)
    }

    /// Waits for a signal; returns the badges signalled, ORed.
    pub fn wait(self) -> Result<u64, InvocationError> {
        syscall::wait(self.cptr)
    }

    /// Returns the badges signalled so far (0 for none) without blocking.
    pub fn poll(self) -> Result<u64, InvocationError> {
        syscall::poll(self.cptr)
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use std::format;

    #[test]
    fn caps_are_words_with_a_type() {
        assert_eq!(core::mem::size_of::<Endpoint>(), 8);
        let ep = Endpoint::from_cptr(0x42);
        assert_eq!(ep.cptr(), 0x42);
        assert_eq!(format!("{ep:?}"), "Cap<Endpoint>(0x42)");
        let tcb: Tcb = ep.cast();
        assert_eq!(tcb.cptr(), 0x42);
        assert_eq!(
            <cap_type::Tcb as CapType>::OBJECT_TYPE,
            Some(ObjectType::Tcb)
        );
        assert_eq!(Frame2M::from_cptr(1).size_bits(), 21);
    }

    #[test]
    fn user_context_round_trips() {
        let words: [u64; 18] = core::array::from_fn(|i| i as u64 * 3 + 1);
        let context = UserContext::from_words(&words);
        assert_eq!(context.rip, 1);
        assert_eq!(context.r15, 52);
        assert_eq!(context.to_words(), words);
        assert_eq!(UserContext::from_words(&[5]).rsp, 0);
        assert_eq!(core::mem::size_of::<UserContext>(), 8 * UserContext::WORDS);
    }

    #[test]
    fn absolute_cptr_names_a_root_slot() {
        let root = CNode::from_cptr(2);
        assert_eq!(
            root.slot(17),
            AbsoluteCPtr {
                root,
                index: 17,
                depth: 64
            }
        );
    }
}
