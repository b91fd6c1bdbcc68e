//! The data path: buffers move between the network stack's ring pairs and
//! the NIC's descriptor rings, by offset and IO address only. The driver
//! never maps the packet pools; it translates a buffer's pool offset to the
//! IO address the NIC reaches it at (`DmaWindow::iova_of`) and back, so it
//! cannot read or change a frame.
//!
//! ```text
//!  stack ─ rx lend ring ─▶ refill() ─▶ RX descriptors ─▶ NIC writes a frame
//!  stack ◀ rx return ring ◀ receive() ◀ done bit, length, errors checked
//!  stack ─ tx lend ring ─▶ transmit() ─▶ TX descriptors ─▶ NIC reads the frame
//!  stack ◀ tx return ring ◀ complete() ◀ done bit
//! ```
//!
//! Nothing the stack lends or the NIC writes back is trusted: every lent
//! descriptor was checked against the pool by the ring (`ward_ring`), and
//! here against the protocol (`ward_proto::driver`) and the NIC's window;
//! every written-back descriptor is checked for errors and length. What
//! fails is counted under its reason and given back or dropped; no buffer
//! is ever lost or handed out twice: each is in exactly one place, the
//! stack, a lend or return ring, or a descriptor the driver's shadow knows.

use ward_proto::driver::{
    ChecksumStatus, RxCompletion, RxPosting, TxCompletion, TxRequest, MAX_FRAME_BYTES,
    MIN_FRAME_BYTES,
};
use ward_ring::{Buffer, PeerMisbehaved, RawDescriptor, SendError};
use ward_userlib::ring::Pair;
use ward_userlib::spec::DmaWindow;

use crate::counters::{Counter, Counters};
use crate::descriptors::{rx_errors, rx_status, tx_command, RxWriteBack};
use crate::faults::{Faults, Injection, RxPost, RxReturn};
use crate::rings::{RxRing, TxRing};

/// A ring pair whose indices the stack broke: it is left alone until the
/// stack restarts and sets it up again (docs/protocols.md).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Broken(pub PeerMisbehaved);

/// Which pair a lent descriptor came from, for the drop counters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PairKind {
    Rx,
    Tx,
    Events,
}

/// Counts a lend-ring error under its reason. Bad descriptors and
/// duplicates were consumed by the ring and are dropped; a broken index
/// stalls the pair.
pub fn peer_error(
    kind: PairKind,
    error: PeerMisbehaved,
    counters: &Counters,
) -> Result<(), Broken> {
    let counter = match (error, kind) {
        (PeerMisbehaved::BadDescriptor { .. }, PairKind::Rx) => Counter::RxRingBadDescriptor,
        (PeerMisbehaved::BadDescriptor { .. }, PairKind::Tx) => Counter::TxRingBadDescriptor,
        (PeerMisbehaved::BadDescriptor { .. }, PairKind::Events) => Counter::EventRingBadDescriptor,
        (PeerMisbehaved::BufferAlreadyHeld { .. }, PairKind::Rx) => Counter::RxRingDuplicate,
        (PeerMisbehaved::BufferAlreadyHeld { .. }, PairKind::Tx) => Counter::TxRingDuplicate,
        (PeerMisbehaved::BufferAlreadyHeld { .. }, PairKind::Events) => Counter::EventRingDuplicate,
        (PeerMisbehaved::IndexOutOfRange { .. }, _) => {
            counters.bump(Counter::RingBroken);
            return Err(Broken(error));
        }
    };
    counters.bump(counter);
    Ok(())
}

/// Room on a pair's return ring, or the broken pair.
fn return_room(pair: &mut Pair, kind: PairKind, counters: &Counters) -> Result<usize, Broken> {
    match pair.outgoing_ring().free() {
        Ok(free) => Ok(free as usize),
        Err(e) => peer_error(kind, e, counters).map(|_| 0),
    }
}

/// Gives a buffer back on a pair's return ring, after a room check.
fn give_back(
    pair: &mut Pair,
    buffer: Buffer,
    kind: PairKind,
    counters: &Counters,
) -> Result<(), Broken> {
    match pair.send(buffer) {
        Ok(()) => Ok(()),
        Err(SendError::Peer(e, _)) => peer_error(kind, e, counters),
        // The driver checked for room and holds every buffer it returns: a
        // refusal here is a driver bug.
        Err(e) => panic!("returning a buffer on the {kind:?} pair failed: {e:?}"),
    }
}

/// The receive and transmit descriptor rings and the IO windows of the pools.
pub struct Datapath<'a> {
    pub rx: RxRing<'a>,
    pub tx: TxRing<'a>,
    rx_window: DmaWindow,
    tx_window: DmaWindow,
    /// Command bits of every transmit descriptor.
    tx_command: u8,
    /// An IO address outside every window of the NIC, for the fault
    /// injection build's stray DMA.
    stray_iova: u64,
    /// Dropping the rest of a frame that spanned descriptors, up to its end.
    discarding_fragment: bool,
}

impl<'a> Datapath<'a> {
    /// A data path over the two rings; `delay_tx_interrupts` marks transmit
    /// descriptors for the delayed interrupt (IDE). `windows` are all the
    /// NIC's DMA windows, to find an address outside them.
    pub fn new(
        rx: RxRing<'a>,
        tx: TxRing<'a>,
        rx_window: DmaWindow,
        tx_window: DmaWindow,
        windows: &[DmaWindow],
        delay_tx_interrupts: bool,
    ) -> Datapath<'a> {
        let mut tx_command = tx_command::EOP | tx_command::IFCS | tx_command::RS;
        if delay_tx_interrupts {
            tx_command |= tx_command::IDE;
        }
        Datapath {
            rx,
            tx,
            rx_window,
            tx_window,
            tx_command,
            stray_iova: outside(windows),
            discarding_fragment: false,
        }
    }

    /// Forgets everything posted: only after the NIC was reset.
    pub fn reset(&mut self) {
        self.rx.reset();
        self.tx.reset();
        self.discarding_fragment = false;
    }

    /// Takes empty buffers the stack lent (`RxPosting`) and posts them to
    /// the NIC while its ring has room. A buffer too short for a full frame,
    /// with flags set, or outside the NIC's window is given back at once as a
    /// receive error. Returns how many were posted (the caller then writes
    /// the tail register once).
    pub fn refill(&mut self, rx: &mut Pair, counters: &Counters) -> Result<usize, Broken> {
        let mut posted = 0;
        while self.rx.room() > 0 {
            // A refused buffer goes straight back: keep room for it.
            if return_room(rx, PairKind::Rx, counters)? == 0 {
                break;
            }
            let buffer = match rx.receive() {
                Ok(Some(buffer)) => buffer,
                Ok(None) => break,
                Err(e) => {
                    peer_error(PairKind::Rx, e, counters)?;
                    continue;
                }
            };
            let iova = RxPosting::decode(buffer).ok().and_then(|_| {
                self.rx_window
                    .iova_of(buffer.offset().into(), buffer.len().into())
            });
            match iova {
                Some(iova) => {
                    self.rx.post(buffer, iova);
                    posted += 1;
                }
                None => {
                    counters.bump(Counter::RxPostRefused);
                    give_back(
                        rx,
                        RxCompletion::encode_error(buffer),
                        PairKind::Rx,
                        counters,
                    )?;
                }
            }
        }
        counters.add(Counter::RxPosted, posted as u64);
        Ok(posted)
    }

    /// Reaps up to `budget` descriptors the NIC wrote back and returns their
    /// buffers to the stack: a good frame as an `RxCompletion::Frame` of its
    /// length, anything else as an `RxCompletion::Error`, counted by reason.
    /// Returns the descriptors reaped.
    pub fn receive<F: Faults>(
        &mut self,
        rx: &mut Pair,
        budget: usize,
        faults: &mut F,
        counters: &Counters,
    ) -> Result<usize, Broken> {
        let room = return_room(rx, PairKind::Rx, counters)?;
        let mut reaped = 0;
        while reaped < budget.min(room) {
            let Some((buffer, write_back)) = self.rx.reap() else {
                break;
            };
            reaped += 1;
            let returned = match self.classify(&buffer, &write_back) {
                Ok(checksum) => {
                    let pool = rx.pool();
                    match RxCompletion::encode_frame(
                        &pool,
                        buffer,
                        write_back.length.into(),
                        checksum,
                    ) {
                        Ok(frame) => {
                            counters.bump(Counter::RxFrames);
                            counters.add(Counter::RxBytes, write_back.length.into());
                            frame
                        }
                        Err(_) => {
                            counters.bump(Counter::RxDropTooLong);
                            RxCompletion::encode_error(buffer)
                        }
                    }
                }
                Err(reason) => {
                    counters.bump(reason);
                    RxCompletion::encode_error(buffer)
                }
            };
            match faults.on_rx_return() {
                RxReturn::None => give_back(rx, returned, PairKind::Rx, counters)?,
                RxReturn::Drop => give_back(
                    rx,
                    RxCompletion::encode_error(buffer),
                    PairKind::Rx,
                    counters,
                )?,
                RxReturn::WrongLength => {
                    // Half the length the NIC wrote back, at least a header's.
                    let wrong = (u32::from(write_back.length) / 2).max(MIN_FRAME_BYTES);
                    let lie = RxCompletion::encode_frame(
                        &rx.pool(),
                        buffer,
                        wrong,
                        ChecksumStatus::Unchecked,
                    )
                    .unwrap_or(returned);
                    give_back(rx, lie, PairKind::Rx, counters)?;
                }
                RxReturn::Garbage => {
                    let garbage = RawDescriptor {
                        offset: 0xdead_beef,
                        len: 0x7fff_ffff,
                        cookie: 0,
                        flags: 0xffff_ffff,
                    };
                    let _ = rx.outgoing_ring().push_unchecked(garbage);
                    give_back(rx, returned, PairKind::Rx, counters)?;
                }
                RxReturn::Twice => {
                    give_back(rx, returned, PairKind::Rx, counters)?;
                    let _ = rx.outgoing_ring().push_unchecked(returned.descriptor());
                }
            }
        }
        Ok(reaped)
    }

    /// Whether a written-back frame may go to the stack, and its checksum
    /// verdict; otherwise the counter of the reason it is dropped.
    fn classify(&mut self, buffer: &Buffer, wb: &RxWriteBack) -> Result<ChecksumStatus, Counter> {
        if !wb.end_of_packet() {
            // A frame larger than one buffer: with 2048-byte buffers and long
            // frames refused (RCTL.LPE clear) the NIC never does this.
            self.discarding_fragment = true;
            return Err(Counter::RxDropFragment);
        }
        if self.discarding_fragment {
            self.discarding_fragment = false;
            return Err(Counter::RxDropFragment);
        }
        if wb.errors & rx_errors::FRAME != 0 {
            return Err(Counter::RxDropNicError);
        }
        let length = u32::from(wb.length);
        if length < MIN_FRAME_BYTES {
            return Err(Counter::RxDropRunt);
        }
        if length > MAX_FRAME_BYTES || length > buffer.len() {
            return Err(Counter::RxDropTooLong);
        }
        Ok(if wb.status & rx_status::IXSM != 0 {
            ChecksumStatus::Unchecked
        } else if wb.errors & (rx_errors::IPE | rx_errors::TCPE) != 0 {
            ChecksumStatus::Failed
        } else if wb.status & (rx_status::IPCS | rx_status::TCPCS) != 0 {
            ChecksumStatus::Verified
        } else {
            ChecksumStatus::Unchecked
        })
    }

    /// Takes frames the stack lent for sending (`TxRequest`) and hands them
    /// to the NIC while its ring has room. A request with a bad length or
    /// flags, or asking for a checksum offload (which would need the frame's
    /// headers, which the driver cannot read), goes back as dropped. Returns
    /// how many were queued (the caller then writes the tail register once).
    pub fn transmit<F: Faults>(
        &mut self,
        tx: &mut Pair,
        faults: &mut F,
        counters: &Counters,
    ) -> Result<usize, Broken> {
        let mut queued = 0;
        while self.tx.room() > 0 {
            if return_room(tx, PairKind::Tx, counters)? == 0 {
                break;
            }
            let buffer = match tx.receive() {
                Ok(Some(buffer)) => buffer,
                Ok(None) => break,
                Err(e) => {
                    peer_error(PairKind::Tx, e, counters)?;
                    continue;
                }
            };
            let refused = match TxRequest::decode(buffer) {
                Err(_) => Some(Counter::TxDropBadRequest),
                Ok(request) if request.offload_ip_checksum || request.offload_l4_checksum => {
                    Some(Counter::TxDropOffload)
                }
                Ok(_) => None,
            };
            let iova = self
                .tx_window
                .iova_of(buffer.offset().into(), buffer.len().into());
            match (refused, iova) {
                (None, Some(iova)) => {
                    let injection = faults.on_transmit_request(&buffer);
                    let iova = match injection {
                        Injection::StrayDma => self.stray_iova,
                        Injection::Shift => iova + SHIFT_BYTES,
                        Injection::None | Injection::Duplicate => iova,
                    };
                    self.tx.post(buffer.with_flags(0), iova, self.tx_command);
                    queued += 1;
                    if injection == Injection::Duplicate && self.tx.room() > 0 {
                        // The copy's shadow is marked: it is not returned twice.
                        self.tx
                            .post(buffer.with_flags(DUPLICATE_MARK), iova, self.tx_command);
                        queued += 1;
                    }
                }
                (refused, _) => {
                    counters.bump(refused.unwrap_or(Counter::TxDropBadRequest));
                    let dropped = TxCompletion {
                        buffer,
                        sent: false,
                    };
                    give_back(tx, dropped.encode(), PairKind::Tx, counters)?;
                }
            }
        }
        Ok(queued)
    }

    /// Reaps frames the NIC has sent and returns their buffers to the stack
    /// as sent. Returns how many.
    pub fn complete<F: Faults>(
        &mut self,
        tx: &mut Pair,
        faults: &mut F,
        counters: &Counters,
    ) -> Result<usize, Broken> {
        let room = return_room(tx, PairKind::Tx, counters)?;
        let mut completed = 0;
        while completed < room && !faults.keep_sent() {
            let Some(buffer) = self.tx.reap() else {
                break;
            };
            if buffer.flags() == DUPLICATE_MARK {
                continue;
            }
            completed += 1;
            counters.bump(Counter::TxFrames);
            counters.add(Counter::TxBytes, buffer.len().into());
            let sent = TxCompletion { buffer, sent: true };
            give_back(tx, sent.encode(), PairKind::Tx, counters)?;
        }
        Ok(completed)
    }

    /// Fault injection: points the receive descriptor the NIC fills next
    /// (`nic_head`, its RDH) somewhere the stack never lent.
    pub fn misdirect_receive(&mut self, how: RxPost, nic_head: u32) {
        let stray = match how {
            RxPost::None => return,
            RxPost::OtherPool => self.tx_window.iova,
            RxPost::Rings => self.rx.iova(),
        };
        self.rx.retarget(nic_head as usize, stray);
    }

    /// The IO address the fault injection build points a stray descriptor at.
    pub fn stray_iova(&self) -> u64 {
        self.stray_iova
    }
}

/// Bytes a corrupted transmit descriptor is shifted into its buffer (fault
/// injection): the frame on the wire starts with the wrong bytes.
const SHIFT_BYTES: u64 = 2;
/// The flags of the shadow of a duplicated transmit descriptor (fault
/// injection); a correct driver posts every buffer with flags 0.
const DUPLICATE_MARK: u32 = 0xd0b1;

/// The first 1 MiB boundary at or past the end of every window: an IO
/// address the NIC has no mapping for.
fn outside(windows: &[DmaWindow]) -> u64 {
    const MIB: u64 = 1 << 20;
    let end = windows.iter().map(|w| w.iova + w.size).max().unwrap_or(0);
    end.div_ceil(MIB) * MIB
}

#[cfg(test)]
mod tests;
