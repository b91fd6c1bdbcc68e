//! Supervisor messages: fault reports (kernel or IOMMU → supervisor) and
//! restart notices (supervisor → the peers of a restarted component), with
//! generation numbers.
//!
//! Every component instance has a *generation*: 1 at first start, one more at
//! each restart. Peers stamp and check it, so that after a restart:
//!
//! 1. the supervisor sends a [`RestartNotice`] to each peer of the component;
//! 2. a peer that owns a shared pool stops using the rings to the dead
//!    instance (quiesce), takes back every buffer it had lent (reclaim, see
//!    `ward_ring::PairEnd::reclaim_after_peer_restart`), and writes the region
//!    afresh with the new generation;
//! 3. the new instance attaches, reads the generation from the region header
//!    and stamps it on its control messages; anything stamped with an older
//!    generation is recognised by [`GenerationTracker`] as stale and dropped.

use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

use crate::wire::{read_prefix, reserved_zero, write_prefix, ProtoError};

/// A component instance's generation. Compared in wrapping arithmetic, so a
/// generation counter that wraps after 2^32 restarts still orders correctly
/// within any window of 2^31 restarts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Generation(pub u32);

impl Generation {
    /// The generation of a component's first instance.
    pub const FIRST: Generation = Generation(1);

    /// The generation after a restart.
    pub const fn next(self) -> Generation {
        Generation(self.0.wrapping_add(1))
    }

    /// True if `self` is later than `other`.
    pub const fn is_after(self, other: Generation) -> bool {
        (self.0.wrapping_sub(other.0) as i32) > 0
    }
}

/// What a message's generation says about the peer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GenerationCheck {
    /// Same instance as before.
    Current,
    /// The peer restarted since we last heard: resynchronise before using
    /// anything shared with the old instance.
    Restarted {
        /// The instance we knew.
        previous: Generation,
        /// The instance now talking.
        current: Generation,
    },
    /// A leftover from an instance that is already gone: drop it.
    Stale {
        /// The generation on the message.
        found: Generation,
    },
}

/// Remembers a peer's generation and classifies each message's stamp.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GenerationTracker {
    known: Generation,
}

impl GenerationTracker {
    /// Tracks a peer first seen at `known`.
    pub const fn new(known: Generation) -> Self {
        Self { known }
    }

    /// The generation currently accepted.
    pub const fn known(&self) -> Generation {
        self.known
    }

    /// Classifies `stamp`, and moves on to it if it is newer.
    pub fn observe(&mut self, stamp: Generation) -> GenerationCheck {
        if stamp == self.known {
            GenerationCheck::Current
        } else if stamp.is_after(self.known) {
            let previous = self.known;
            self.known = stamp;
            GenerationCheck::Restarted {
                previous,
                current: stamp,
            }
        } else {
            GenerationCheck::Stale { found: stamp }
        }
    }
}

/// What went wrong, as reported to the supervisor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FaultKind {
    /// A page fault the component's address space cannot satisfy.
    VmFault {
        /// Faulting access was a write.
        write: bool,
        /// Faulting access was an instruction fetch.
        execute: bool,
    },
    /// A system call number the kernel does not know.
    UnknownSyscall {
        /// The number.
        number: u64,
    },
    /// A CPU exception other than a page fault (vector number).
    UserException {
        /// The x86 exception vector.
        vector: u8,
    },
    /// An invocation on a missing or wrong capability.
    CapFault,
    /// The IOMMU blocked a DMA access by the component's device.
    DmaFault {
        /// PCI requester id (bus:dev.fn).
        requester: u16,
        /// VT-d fault reason code.
        reason: u8,
        /// The access was a write.
        write: bool,
    },
    /// The component missed its watchdog deadline.
    Timeout,
    /// The component's interrupt fired faster than the configured limit.
    InterruptStorm {
        /// Interrupts counted in the last window.
        count: u64,
    },
}

/// A fault report.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FaultReport {
    /// Component id from the system description.
    pub component: u32,
    /// The faulting instance.
    pub generation: Generation,
    /// What happened.
    pub kind: FaultKind,
    /// Faulting data or DMA address (0 if none).
    pub address: u64,
    /// Instruction pointer at the fault (0 if none, as for DMA faults).
    pub instruction: u64,
}

/// Why a component was restarted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RestartReason {
    /// After a fault report.
    Fault,
    /// Asked for by an operator or a test.
    Requested,
    /// A dependency restarted.
    Dependency,
}

/// Sent to every peer of a restarted component.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RestartNotice {
    /// Component id.
    pub component: u32,
    /// The instance that is gone.
    pub previous: Generation,
    /// The instance that replaces it.
    pub current: Generation,
    /// Why.
    pub reason: RestartReason,
}

/// Wire kind of a fault report.
pub const KIND_FAULT_REPORT: u32 = 0x0300;
/// Wire kind of a restart notice.
pub const KIND_RESTART_NOTICE: u32 = 0x0301;

const FAULT_VM: u32 = 1;
const FAULT_UNKNOWN_SYSCALL: u32 = 2;
const FAULT_USER_EXCEPTION: u32 = 3;
const FAULT_CAP: u32 = 4;
const FAULT_DMA: u32 = 5;
const FAULT_TIMEOUT: u32 = 6;
const FAULT_INTERRUPT_STORM: u32 = 7;

/// x86 exception vectors are 0..=31.
const MAX_EXCEPTION_VECTOR: u64 = 31;
/// VT-d fault reason codes are one byte.
const MAX_DMA_REASON: u64 = 0xff;

/// Fault report on the wire (56 bytes).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
#[repr(C)]
pub struct FaultReportWire {
    /// [`KIND_FAULT_REPORT`].
    pub kind: u32,
    /// Component id.
    pub component: u32,
    /// Generation.
    pub generation: u32,
    /// `FAULT_*` code.
    pub fault: u32,
    /// Fault-specific: bit 0 write, bit 1 execute (VM, DMA).
    pub access: u32,
    /// Zero.
    pub reserved: u32,
    /// Fault-specific: syscall number, vector, requester id, reason, interrupt count.
    pub detail: u64,
    /// DMA reason (DMA faults only).
    pub detail2: u64,
    /// Address.
    pub address: u64,
    /// Instruction pointer.
    pub instruction: u64,
}

/// Restart notice on the wire (24 bytes).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
#[repr(C)]
pub struct RestartNoticeWire {
    /// [`KIND_RESTART_NOTICE`].
    pub kind: u32,
    /// Component id.
    pub component: u32,
    /// Previous generation.
    pub previous: u32,
    /// Current generation.
    pub current: u32,
    /// 1 fault, 2 requested, 3 dependency.
    pub reason: u32,
    /// Zero.
    pub reserved: u32,
}

const ACCESS_WRITE: u32 = 1;
const ACCESS_EXECUTE: u32 = 2;

impl FaultReport {
    /// Encodes into `out`; returns bytes written.
    pub fn encode(&self, out: &mut [u8]) -> Result<usize, ProtoError> {
        let mut w = FaultReportWire {
            kind: KIND_FAULT_REPORT,
            component: self.component,
            generation: self.generation.0,
            address: self.address,
            instruction: self.instruction,
            ..Default::default()
        };
        match self.kind {
            FaultKind::VmFault { write, execute } => {
                w.fault = FAULT_VM;
                w.access =
                    (u32::from(write) * ACCESS_WRITE) | (u32::from(execute) * ACCESS_EXECUTE);
            }
            FaultKind::UnknownSyscall { number } => {
                w.fault = FAULT_UNKNOWN_SYSCALL;
                w.detail = number;
            }
            FaultKind::UserException { vector } => {
                w.fault = FAULT_USER_EXCEPTION;
                w.detail = vector.into();
            }
            FaultKind::CapFault => w.fault = FAULT_CAP,
            FaultKind::DmaFault {
                requester,
                reason,
                write,
            } => {
                w.fault = FAULT_DMA;
                w.detail = requester.into();
                w.detail2 = reason.into();
                w.access = u32::from(write) * ACCESS_WRITE;
            }
            FaultKind::Timeout => w.fault = FAULT_TIMEOUT,
            FaultKind::InterruptStorm { count } => {
                w.fault = FAULT_INTERRUPT_STORM;
                w.detail = count;
            }
        }
        write_prefix(&w, out)
    }

    /// Decodes a private copy.
    pub fn decode(bytes: &[u8]) -> Result<Self, ProtoError> {
        let (w, _) = read_prefix::<FaultReportWire>(bytes)?;
        if w.kind != KIND_FAULT_REPORT {
            return Err(ProtoError::UnknownKind(w.kind));
        }
        reserved_zero(&w.reserved, "fault reserved")?;
        let unused =
            |used_access: u32, used_detail: bool, used_detail2: bool| -> Result<(), ProtoError> {
                if w.access & !used_access != 0 {
                    return Err(ProtoError::BadField {
                        field: "fault access",
                        value: w.access.into(),
                    });
                }
                if !used_detail && w.detail != 0 {
                    return Err(ProtoError::ReservedNotZero {
                        field: "fault detail",
                    });
                }
                if !used_detail2 && w.detail2 != 0 {
                    return Err(ProtoError::ReservedNotZero {
                        field: "fault detail2",
                    });
                }
                Ok(())
            };
        let kind = match w.fault {
            FAULT_VM => {
                unused(ACCESS_WRITE | ACCESS_EXECUTE, false, false)?;
                if w.access == ACCESS_WRITE | ACCESS_EXECUTE {
                    return Err(ProtoError::BadField {
                        field: "fault access",
                        value: w.access.into(),
                    });
                }
                FaultKind::VmFault {
                    write: w.access & ACCESS_WRITE != 0,
                    execute: w.access & ACCESS_EXECUTE != 0,
                }
            }
            FAULT_UNKNOWN_SYSCALL => {
                unused(0, true, false)?;
                FaultKind::UnknownSyscall { number: w.detail }
            }
            FAULT_USER_EXCEPTION => {
                unused(0, true, false)?;
                if w.detail > MAX_EXCEPTION_VECTOR {
                    return Err(ProtoError::BadField {
                        field: "exception vector",
                        value: w.detail,
                    });
                }
                FaultKind::UserException {
                    vector: w.detail as u8,
                }
            }
            FAULT_CAP => {
                unused(0, false, false)?;
                FaultKind::CapFault
            }
            FAULT_DMA => {
                unused(ACCESS_WRITE, true, true)?;
                let requester = u16::try_from(w.detail).map_err(|_| ProtoError::BadField {
                    field: "dma requester",
                    value: w.detail,
                })?;
                if w.detail2 > MAX_DMA_REASON {
                    return Err(ProtoError::BadField {
                        field: "dma reason",
                        value: w.detail2,
                    });
                }
                FaultKind::DmaFault {
                    requester,
                    reason: w.detail2 as u8,
                    write: w.access & ACCESS_WRITE != 0,
                }
            }
            FAULT_TIMEOUT => {
                unused(0, false, false)?;
                FaultKind::Timeout
            }
            FAULT_INTERRUPT_STORM => {
                unused(0, true, false)?;
                FaultKind::InterruptStorm { count: w.detail }
            }
            other => {
                return Err(ProtoError::BadField {
                    field: "fault code",
                    value: other.into(),
                })
            }
        };
        Ok(Self {
            component: w.component,
            generation: Generation(w.generation),
            kind,
            address: w.address,
            instruction: w.instruction,
        })
    }
}

impl RestartNotice {
    /// Encodes into `out`; returns bytes written.
    pub fn encode(&self, out: &mut [u8]) -> Result<usize, ProtoError> {
        let reason = match self.reason {
            RestartReason::Fault => 1,
            RestartReason::Requested => 2,
            RestartReason::Dependency => 3,
        };
        write_prefix(
            &RestartNoticeWire {
                kind: KIND_RESTART_NOTICE,
                component: self.component,
                previous: self.previous.0,
                current: self.current.0,
                reason,
                reserved: 0,
            },
            out,
        )
    }

    /// Decodes a private copy; the new generation must come after the old.
    pub fn decode(bytes: &[u8]) -> Result<Self, ProtoError> {
        let (w, _) = read_prefix::<RestartNoticeWire>(bytes)?;
        if w.kind != KIND_RESTART_NOTICE {
            return Err(ProtoError::UnknownKind(w.kind));
        }
        reserved_zero(&w.reserved, "restart reserved")?;
        let reason = match w.reason {
            1 => RestartReason::Fault,
            2 => RestartReason::Requested,
            3 => RestartReason::Dependency,
            other => {
                return Err(ProtoError::BadField {
                    field: "restart reason",
                    value: other.into(),
                })
            }
        };
        let (previous, current) = (Generation(w.previous), Generation(w.current));
        if !current.is_after(previous) {
            return Err(ProtoError::BadField {
                field: "restart generation",
                value: w.current.into(),
            });
        }
        Ok(Self {
            component: w.component,
            previous,
            current,
            reason,
        })
    }
}
