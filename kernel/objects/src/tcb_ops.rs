//! TCB invocations that need no hardware: installing the thread's CSpace,
//! VSpace, IPC buffer and fault endpoint, priorities under the MCP rule,
//! suspend and resume.
//!
//! The thread's configuration is held as capability copies in the TCB's own
//! slots ([`TcbSlot`]), so deleting the TCB or revoking what those caps came
//! from is handled by the derivation tree like any other cap. Reading and
//! writing registers is the kernel's: only it knows the context layout.

use crate::cap::Cap;
use crate::error::InvocationError;
use crate::sched::ReadyQueues;
use crate::slot::Slot;
use crate::tcb::{field, Tcb, TcbSlot, ThreadState};
use crate::{Completion, ObjectHooks, Objects};
use ward_abi::rights::CapRights;

/// The IPC buffer's alignment: 512 bytes, so that a 4 KiB frame holds whole
/// buffers and one never straddles a page (seL4's `seL4_IPCBufferSizeBits`).
pub const IPC_BUFFER_ALIGN: u64 = 512;

/// Error detail positions for `tcb_configure`. Capabilities are counted
/// among its extra caps (fault endpoint, CSpace root, VSpace root, IPC
/// buffer frame); the one data argument is the CSpace root's guard word,
/// argument 1 after the fault endpoint's CPtr.
mod arg {
    pub const FAULT_EP_CAP: u8 = 0;
    pub const CSPACE_CAP: u8 = 1;
    pub const VSPACE_CAP: u8 = 2;
    pub const BUFFER_CAP: u8 = 3;
    pub const CSPACE_DATA: u8 = 1;
}

/// What `tcb_configure` installs; each `Slot` is where the caller's cap
/// is, already looked up in the caller's CSpace. `None` leaves that part
/// as it is.
#[derive(Clone, Copy, Debug, Default)]
pub struct TcbConfig {
    pub fault_endpoint: Option<Slot>,
    /// The CSpace root CNode and the guard data to mint into the copy
    /// (0 keeps the cap's guard).
    pub cspace_root: Option<(Slot, u64)>,
    pub vspace_root: Option<Slot>,
    /// The IPC buffer's user address and the frame that backs it.
    pub ipc_buffer: Option<(u64, Slot)>,
}

impl Objects {
    /// Checks every part of a configuration before anything changes.
    fn check_config(&self, config: &TcbConfig) -> Result<(), InvocationError> {
        if let Some(ep) = config.fault_endpoint {
            if !matches!(self.cap(ep), Cap::Endpoint { rights, .. } if rights.can_write()) {
                return Err(InvocationError::invalid_capability(
                    arg::FAULT_EP_CAP,
                    "the fault endpoint must be a sendable endpoint",
                ));
            }
        }
        if let Some((root, data)) = config.cspace_root {
            let Cap::CNode { radix_bits, .. } = self.cap(root) else {
                return Err(InvocationError::invalid_capability(
                    arg::CSPACE_CAP,
                    "the CSpace root must be a CNode",
                ));
            };
            if data != 0 && crate::cnode_ops::decode_guard(data, radix_bits).is_none() {
                return Err(InvocationError::invalid_argument(
                    arg::CSPACE_DATA,
                    "the guard does not fit",
                ));
            }
        }
        if let Some(root) = config.vspace_root {
            if !matches!(self.cap(root), Cap::Pml4 { asid: Some(_), .. }) {
                return Err(InvocationError::invalid_capability(
                    arg::VSPACE_CAP,
                    "the VSpace root must be a PML4 with an ASID",
                ));
            }
        }
        if let Some((vaddr, frame)) = config.ipc_buffer {
            if vaddr % IPC_BUFFER_ALIGN != 0 {
                return Err(InvocationError::alignment(
                    "the IPC buffer must be 512-byte aligned",
                ));
            }
            if !matches!(self.cap(frame), Cap::Frame { rights, is_device: false, .. } if rights.contains(CapRights::READ_WRITE))
            {
                return Err(InvocationError::invalid_capability(
                    arg::BUFFER_CAP,
                    "the IPC buffer must be a writable frame of RAM",
                ));
            }
        }
        Ok(())
    }

    /// Replaces the cap in one of `tcb`'s slots by a copy of `src`'s.
    fn install(
        &self,
        tcb: Tcb,
        which: TcbSlot,
        src: Slot,
        data: Option<u64>,
        hooks: &mut impl ObjectHooks,
    ) -> Result<Completion, InvocationError> {
        let dest = tcb.slot(which);
        if self.delete_cap(dest, hooks) == Completion::Preempted {
            return Ok(Completion::Preempted);
        }
        self.copy_cap(src, dest, CapRights::ALL, data)?;
        Ok(Completion::Done)
    }

    /// `tcb_configure`: sets the fault endpoint, CSpace root, VSpace root and
    /// IPC buffer of `tcb` in one call. Everything is checked first; the old
    /// caps are then deleted (a preemptible step if one was the last cap to
    /// a CNode) and copies of the new ones installed. `Preempted` means:
    /// restart the call, which picks up where it stopped.
    pub fn tcb_configure(
        &self,
        tcb: Tcb,
        config: TcbConfig,
        hooks: &mut impl ObjectHooks,
    ) -> Result<Completion, InvocationError> {
        self.check_config(&config)?;
        let mut steps: [Option<(TcbSlot, Slot, Option<u64>)>; 4] = [
            config
                .fault_endpoint
                .map(|s| (TcbSlot::FaultEndpoint, s, None)),
            config
                .cspace_root
                .map(|(s, data)| (TcbSlot::CSpaceRoot, s, (data != 0).then_some(data))),
            config.vspace_root.map(|s| (TcbSlot::VSpaceRoot, s, None)),
            config
                .ipc_buffer
                .map(|(_, s)| (TcbSlot::IpcBuffer, s, None)),
        ];
        for (which, src, data) in steps.iter_mut().flatten() {
            // A slot already holding a copy of the same cap needs nothing:
            // this also makes a restarted call skip finished steps.
            let current = self.cap(tcb.slot(*which));
            if !current.is_null() && current.same_object(&self.cap(*src)) && data.is_none() {
                continue;
            }
            if self.install(tcb, *which, *src, *data, hooks)? == Completion::Preempted {
                return Ok(Completion::Preempted);
            }
        }
        if let Some((vaddr, _)) = config.ipc_buffer {
            self.set_tcb_field(tcb, field::IPC_BUFFER_VADDR, vaddr);
        }
        Ok(Completion::Done)
    }

    /// `tcb_set_priority`: `authority`'s MCP bounds the new priority.
    pub fn tcb_set_priority(
        &self,
        ready: &mut ReadyQueues,
        tcb: Tcb,
        authority: Tcb,
        priority: u64,
    ) -> Result<(), InvocationError> {
        let priority = self.check_priority(authority, priority)?;
        ready.set_priority(self, tcb, priority);
        Ok(())
    }

    /// `tcb_set_mc_priority`: `authority`'s MCP bounds the new MCP.
    pub fn tcb_set_mc_priority(
        &self,
        tcb: Tcb,
        authority: Tcb,
        mcp: u64,
    ) -> Result<(), InvocationError> {
        let mcp = self.check_priority(authority, mcp)?;
        self.set_tcb_mcp(tcb, mcp);
        Ok(())
    }

    /// `tcb_suspend`: the thread stops; it leaves any IPC queue and the ready queue.
    pub fn tcb_suspend(&self, ready: &mut ReadyQueues, tcb: Tcb) {
        self.ipc_cancel(tcb);
        ready.remove(self, tcb);
        self.set_tcb_state(tcb, ThreadState::Inactive);
    }

    /// `tcb_resume`: an inactive thread becomes runnable (restarting where
    /// its registers say); a thread that is not inactive is left alone.
    pub fn tcb_resume(&self, ready: &mut ReadyQueues, tcb: Tcb) {
        if self.tcb_state(tcb) == ThreadState::Inactive {
            self.set_tcb_state(tcb, ThreadState::Restart);
            ready.enqueue(self, tcb);
        }
    }
}
