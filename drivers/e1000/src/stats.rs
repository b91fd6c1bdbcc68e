//! The NIC's statistics registers (SDM 13.7), accumulated into the
//! driver's counters.
//!
//! The manual says every statistics register counts since it was last read
//! and clears on read, so the driver adds what it reads. QEMU's model (7.2)
//! clears most of them but not all: CRCERRS through MPC, RNBC and RLEC keep
//! counting. Rather than trusting either, the driver learns each register's
//! behaviour the first time it reads a non-zero value: it reads again at
//! once; a register that clears reads less than before (usually zero), one
//! that keeps counting reads at least as much. A register taken for
//! cumulative that later reads less than before was cleared after all, and
//! is treated as clearing from then on. The 64-bit octet counters are read
//! low word first; reading the high word clears both (SDM 13.7.31) on the
//! hardware and in QEMU alike.

use ward_userlib::mmio::{Register, RegisterBlock};

use crate::counters::{Counter, Counters};
use crate::regs::stats as reg;

/// The 32-bit statistics registers and the counter each feeds.
const REGISTERS: [(Register<u32>, Counter); 14] = [
    (reg::GPRC, Counter::NicGoodRx),
    (reg::GPTC, Counter::NicGoodTx),
    (reg::MPC, Counter::NicMissed),
    (reg::RNBC, Counter::NicNoBuffer),
    (reg::ROC, Counter::NicRxOversize),
    (reg::RUC, Counter::NicRxUndersize),
    (reg::RLEC, Counter::NicLengthErrors),
    (reg::CRCERRS, Counter::NicCrcErrors),
    (reg::RXERRC, Counter::NicRxErrors),
    (reg::BPRC, Counter::NicBroadcastRx),
    (reg::MPRC, Counter::NicMulticastRx),
    (reg::TPR, Counter::NicTotalRx),
    (reg::TPT, Counter::NicTotalTx),
    (reg::COLC, Counter::NicCollisions),
];

/// The 64-bit octet counters: (low, high, counter).
const OCTETS: [(Register<u32>, Register<u32>, Counter); 2] = [
    (reg::GORCL, reg::GORCH, Counter::NicRxOctets),
    (reg::GOTCL, reg::GOTCH, Counter::NicTxOctets),
];

/// How a register behaves when read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Behaviour {
    /// Not seen non-zero yet.
    Unknown,
    /// Clears on read, as the manual says: what it reads is new.
    ClearsOnRead,
    /// Keeps counting: what is new is the difference to the last read.
    Cumulative { last: u32 },
}

/// What the driver knows about each statistics register.
pub struct NicStatistics {
    behaviour: [Behaviour; REGISTERS.len()],
}

impl Default for NicStatistics {
    fn default() -> Self {
        Self::new()
    }
}

impl NicStatistics {
    pub const fn new() -> NicStatistics {
        NicStatistics {
            behaviour: [Behaviour::Unknown; REGISTERS.len()],
        }
    }

    /// Reads every statistics register once and forgets what it read: what
    /// a previous generation (or the power-up state) left there is not this
    /// generation's to count. Learns which registers keep counting.
    pub fn start(&mut self, nic: &RegisterBlock) {
        for (i, (register, _)) in REGISTERS.iter().enumerate() {
            self.behaviour[i] = Behaviour::Unknown;
            let _ = self.new_events(i, nic, *register);
        }
        for (low, high, _) in OCTETS {
            let _ = nic.read(low);
            let _ = nic.read(high);
        }
    }

    /// Adds what every register counted since the last read to `counters`.
    pub fn accumulate(&mut self, nic: &RegisterBlock, counters: &Counters) {
        for (i, (register, counter)) in REGISTERS.iter().enumerate() {
            counters.add(*counter, u64::from(self.new_events(i, nic, *register)));
        }
        for (low, high, counter) in OCTETS {
            let low = nic.read(low);
            let high = nic.read(high);
            counters.add(counter, u64::from(high) << 32 | u64::from(low));
        }
    }

    /// Events register `i` counted since it was last read.
    fn new_events(&mut self, i: usize, nic: &RegisterBlock, register: Register<u32>) -> u32 {
        let value = nic.read(register);
        match self.behaviour[i] {
            Behaviour::ClearsOnRead => value,
            Behaviour::Cumulative { last } if value >= last => {
                self.behaviour[i] = Behaviour::Cumulative { last: value };
                value - last
            }
            Behaviour::Cumulative { .. } => {
                // It went back: it was cleared by this read after all.
                self.behaviour[i] = Behaviour::ClearsOnRead;
                value
            }
            Behaviour::Unknown if value == 0 => 0,
            Behaviour::Unknown => {
                let again = nic.read(register);
                if again >= value {
                    self.behaviour[i] = Behaviour::Cumulative { last: again };
                    again
                } else {
                    self.behaviour[i] = Behaviour::ClearsOnRead;
                    value + again
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::sync::atomic::AtomicU64;

    /// A register block over plain memory: reads do not clear, so every
    /// register behaves as QEMU's cumulative ones.
    fn block(memory: &mut [u32]) -> RegisterBlock {
        // SAFETY: `memory` outlives the block in each test and is only
        // reached through it.
        unsafe { RegisterBlock::new(memory.as_mut_ptr() as usize, memory.len() * 4) }
    }

    #[test]
    fn cumulative_registers_are_counted_by_difference() {
        let mut memory = vec![0u32; 0x4100 / 4];
        let words: Vec<AtomicU64> = (0..512).map(|_| AtomicU64::new(0)).collect();
        let counters = Counters::create(&words, 1).unwrap();
        let mut stats = NicStatistics::new();
        memory[reg::MPC.offset() / 4] = 7; // left over from before
        stats.start(&block(&mut memory));
        stats.accumulate(&block(&mut memory), &counters);
        assert_eq!(counters.get(Counter::NicMissed), 0);
        memory[reg::MPC.offset() / 4] = 10;
        memory[reg::GPRC.offset() / 4] = 4;
        stats.accumulate(&block(&mut memory), &counters);
        stats.accumulate(&block(&mut memory), &counters);
        assert_eq!(counters.get(Counter::NicMissed), 3);
        assert_eq!(counters.get(Counter::NicGoodRx), 4);
        // A register that goes back was cleared: its value is all new.
        memory[reg::GPRC.offset() / 4] = 2;
        stats.accumulate(&block(&mut memory), &counters);
        assert_eq!(counters.get(Counter::NicGoodRx), 6);
        memory[reg::GORCL.offset() / 4] = 100;
        memory[reg::GORCH.offset() / 4] = 1;
        stats.accumulate(&block(&mut memory), &counters);
        assert_eq!(counters.get(Counter::NicRxOctets), (1 << 32) + 100);
    }
}
