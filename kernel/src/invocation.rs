//! Kernel-object invocations: checking a message sent to a capability of a
//! kernel object against the invocation's declaration in
//! `ward_abi::invocation`, decoding its arguments, and handing them to the
//! object's own module, which decodes and performs its invocations as
//! seL4 splits them: `untyped`, `cnode`, `tcb`, `vspace` (frames and
//! paging structures), `iospace`, `irq`, `ioport`.
//!
//! Every invocation is checked the same way, in this order, before its
//! object sees it (docs/kernel.md, "Invocations: general rules"):
//! 1. the label is known and belongs to the invoked capability's kind
//!    (`IllegalOperation`), and the invoked capability carries the rights
//!    the declaration asks for (`InvalidCapability [0]`);
//! 2. the message has every declared word argument (`TruncatedMessage`
//!    with the first missing index);
//! 3. each capability argument in order: present (`InvalidCapability
//!    [i + 1]` unless optional), found in the caller's CSpace
//!    (`FailedLookup [0, ...]`), of the declared kind with the declared
//!    rights (`InvalidCapability [i + 1]`).
//!
//! A result is message registers back to the caller; an error is an error
//! code with detail words.
use crate::arch::x86_64::trap::Reg;
use crate::ipc::set_mr;
use crate::kobj::{objects, registers};
use crate::user_memory::IpcBuffer;
use heapless::Vec;
use ward_abi::invocation::{CapArg, CapArgKind, Invocation, InvocationLabel as Label};
use ward_abi::message::{MessageInfo, MAX_MESSAGE_LENGTH, REGISTER_MESSAGE_LENGTH};
use ward_kernel_objects::tcb::TcbSlot;
use ward_kernel_objects::{Cap, CapType, Completion, InvocationError, LookupSide, Slot, Tcb};

/// Most words an invocation returns (all registers of a thread).
pub const MAX_REPLY_WORDS: usize = 20;

/// What an invocation gives back.
pub enum Outcome {
    /// Done; these words are the reply's message registers.
    Reply(Vec<u64, MAX_REPLY_WORDS>),
    /// Stopped at a preemption point: run the same syscall again later.
    Restart,
    /// Done, and the caller must not get a reply written (it was suspended,
    /// or it is no longer runnable).
    NoReply,
}

/// Done, with no result words.
pub fn done() -> Result<Outcome, InvocationError> {
    Ok(Outcome::Reply(Vec::new()))
}

/// Done, with these result words.
pub fn reply(words: &[u64]) -> Result<Outcome, InvocationError> {
    Ok(Outcome::Reply(
        Vec::from_slice(&words[..words.len().min(MAX_REPLY_WORDS)]).unwrap_or_default(),
    ))
}

/// A preemptible operation's outcome.
pub fn completion(result: Result<Completion, InvocationError>) -> Result<Outcome, InvocationError> {
    match result? {
        Completion::Done => done(),
        Completion::Preempted => Ok(Outcome::Restart),
    }
}

/// The "message too short" error, naming the first missing word.
fn truncated(index: usize) -> InvocationError {
    InvocationError {
        error: ward_abi::Error::TruncatedMessage,
        detail: ward_kernel_objects::ErrorDetail::Argument(index as u8),
        why: "the message is too short for this invocation",
    }
}

/// A capability argument, found in the caller's CSpace: its slot and cap.
pub type Argument = (Slot, Cap);

/// The caller's message as an invocation sees it.
pub struct Message {
    pub caller: Tcb,
    info: MessageInfo,
    buffer: Option<IpcBuffer>,
}

impl Message {
    fn new(caller: Tcb, info: MessageInfo) -> Message {
        Message {
            caller,
            info,
            buffer: IpcBuffer::of(caller),
        }
    }

    /// Word argument (message register) `index`, or the "message too
    /// short" error naming it.
    pub fn word(&self, index: usize) -> Result<u64, InvocationError> {
        if index as u64 >= self.info.length() || index >= MAX_MESSAGE_LENGTH {
            return Err(truncated(index));
        }
        Ok(match crate::ipc::MESSAGE_REGISTERS.get(index) {
            Some(&reg) => registers(self.caller).get(reg),
            None => self.buffer.map_or(0, |b| b.msg(index)),
        })
    }

    /// The invocation's arguments, decoded and checked as its declaration says.
    pub fn decode<A: Invocation<Argument>>(&self) -> Result<A, InvocationError> {
        let declaration = A::DECLARATION;
        let words = declaration.words.len();
        if self.info.length() < words as u64 {
            return Err(truncated(self.info.length() as usize));
        }
        A::decode(
            |index| self.word(index),
            |index| self.capability(&declaration.caps[index], index),
        )
    }

    /// Capability argument `index`, checked against its declaration.
    fn capability(&self, arg: &CapArg, index: usize) -> Result<Option<Argument>, InvocationError> {
        let number = index as u8 + 1;
        if index as u64 >= self.info.extra_caps() {
            if arg.optional {
                return Ok(None);
            }
            return Err(InvocationError::invalid_capability(
                number,
                "a capability argument is missing",
            ));
        }
        let buffer = self.buffer.ok_or(InvocationError::invalid_capability(
            number,
            "capability arguments need an IPC buffer",
        ))?;
        let root = objects().cap(self.caller.slot(TcbSlot::CSpaceRoot));
        let (slot, cap) = objects()
            .lookup_cap(root, buffer.cap_or_badge(index))
            .map_err(|failure| InvocationError::lookup(LookupSide::Source, failure))?;
        let kind = match arg.kind {
            CapArgKind::Is(kind) => cap.cap_type() as u64 == kind,
            CapArgKind::RamFrame => matches!(
                cap,
                Cap::Frame {
                    is_device: false,
                    ..
                }
            ),
            CapArgKind::LookupRoot => true,
        };
        if !kind {
            return Err(InvocationError::invalid_capability(
                number,
                "a capability argument is of the wrong kind",
            ));
        }
        if !cap.rights().contains(arg.rights) {
            return Err(InvocationError::invalid_capability(
                number,
                "a capability argument lacks a right it needs",
            ));
        }
        Ok(Some((slot, cap)))
    }
}

/// Runs the invocation `info.label()` on the capability `cap` in `slot`.
pub fn invoke(
    caller: Tcb,
    slot: Slot,
    cap: Cap,
    info: MessageInfo,
) -> Result<Outcome, InvocationError> {
    let label = Label::from_number(info.label())
        .ok_or(InvocationError::illegal("unknown invocation label"))?;
    let declaration = label.declaration();
    if declaration.object != cap.cap_type() as u64 {
        return Err(InvocationError::illegal(
            "this capability has no such invocation",
        ));
    }
    if !cap.rights().contains(declaration.object_rights) {
        return Err(InvocationError::invalid_capability(
            0,
            "the invoked capability lacks a right this invocation needs",
        ));
    }
    let message = Message::new(caller, info);
    match cap.cap_type() {
        CapType::Untyped => crate::untyped::invoke(&message, label, slot),
        CapType::CNode => crate::cnode::invoke(&message, label, cap),
        CapType::Tcb => crate::tcb::invoke(&message, label, cap),
        CapType::Frame | CapType::Pdpt | CapType::PageDirectory | CapType::PageTable => {
            crate::vspace::invoke(&message, label, slot, cap)
        }
        CapType::IoSpace | CapType::IoPageTable => {
            crate::iospace::invoke(&message, label, slot, cap)
        }
        CapType::IrqControl | CapType::IrqHandler => crate::irq::invoke(&message, label, cap),
        CapType::IoPortControl | CapType::IoPort => crate::ioport::invoke(&message, label, cap),
        _ => Err(InvocationError::illegal(
            "this capability has no invocations",
        )),
    }
}

/// Writes an invocation's result into the caller's registers.
pub fn write_result(caller: Tcb, result: Result<Outcome, InvocationError>) {
    let registers = registers(caller);
    match result {
        Ok(Outcome::Reply(words)) => {
            let buffer = IpcBuffer::of(caller);
            let length = if buffer.is_some() {
                words.len()
            } else {
                words.len().min(REGISTER_MESSAGE_LENGTH)
            };
            for (index, &word) in words.iter().take(length).enumerate() {
                set_mr(caller, buffer, index, word);
            }
            registers.set(Reg::Rax, 0);
            registers.set(Reg::Rsi, MessageInfo::new(0, 0, 0, length as u64).0);
        }
        Ok(Outcome::Restart) => {
            // Re-run the same syscall once the pending interrupt is handled.
            registers.set(Reg::Rip, registers.get(Reg::Rip).wrapping_sub(2));
        }
        Ok(Outcome::NoReply) => {}
        Err(error) => {
            registers.set_error(error.error, error.detail_words());
            registers.set(Reg::Rsi, 0);
            log::debug!("invocation error: {:?}: {}", error.error, error.why);
        }
    }
}
