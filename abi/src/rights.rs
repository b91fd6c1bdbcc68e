//! Capability access rights.
//!
//! Rights only ever shrink: `cnode_copy` and `cnode_mint` take a rights mask
//! and the new capability gets the intersection of the source's rights and
//! the mask. Which rights mean what, per object:
//!
//! | right | endpoint | notification | frame | TCB |
//! |---|---|---|---|---|
//! | read | receive | wait / poll | map readable | read its registers |
//! | write | send | signal | map writable | run it: suspend, resume, registers, priority, notification |
//! | grant | send capabilities with a message | – | – | install capabilities in it: fault endpoint, CSpace, VSpace, IPC buffer |
//! | grant-reply | let the receiver get a reply capability that may carry capabilities | – | – | – |
//! | execute | – | – | map executable | – |
//!
//! docs/kernel.md ("Rights") says the same per invocation.

/// A set of rights, encoded in the low five bits of a word.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct CapRights(u8);

impl CapRights {
    /// Read: receive on an endpoint, wait on a notification, map a frame readable.
    pub const READ: CapRights = CapRights(1 << 0);
    /// Write: send on an endpoint, signal a notification, map a frame writable.
    pub const WRITE: CapRights = CapRights(1 << 1);
    /// Grant: transfer capabilities along with a message sent through this cap.
    pub const GRANT: CapRights = CapRights(1 << 2);
    /// Grant-reply: a caller through this cap may receive capabilities in the reply.
    pub const GRANT_REPLY: CapRights = CapRights(1 << 3);
    /// Execute: map a frame executable. A frame capability without it can
    /// only be mapped non-executable, whatever the mapping's attributes ask.
    pub const EXECUTE: CapRights = CapRights(1 << 4);
    /// No rights at all.
    pub const NONE: CapRights = CapRights(0);
    /// Every right; what a freshly retyped object's capability carries.
    pub const ALL: CapRights = CapRights(0b1_1111);
    /// Read and write, without grant or execute.
    pub const READ_WRITE: CapRights = CapRights(0b0011);
    /// Read and execute: program text.
    pub const READ_EXECUTE: CapRights = CapRights(0b1_0001);
    /// How many bits of a word the rights use.
    pub const BITS: u32 = 5;

    /// Decodes the low five bits of `word`; other bits are ignored.
    pub const fn from_word(word: u64) -> CapRights {
        CapRights((word & 0b1_1111) as u8)
    }
    /// The rights as a word (low five bits).
    pub const fn to_word(self) -> u64 {
        self.0 as u64
    }
    /// The rights present in both sets.
    pub const fn intersect(self, other: CapRights) -> CapRights {
        CapRights(self.0 & other.0)
    }
    /// Whether every right in `other` is also in `self`.
    pub const fn contains(self, other: CapRights) -> bool {
        self.0 & other.0 == other.0
    }
    /// The union of two sets.
    pub const fn union(self, other: CapRights) -> CapRights {
        CapRights(self.0 | other.0)
    }
    pub const fn can_read(self) -> bool {
        self.contains(Self::READ)
    }
    pub const fn can_write(self) -> bool {
        self.contains(Self::WRITE)
    }
    pub const fn can_grant(self) -> bool {
        self.contains(Self::GRANT)
    }
    pub const fn can_grant_reply(self) -> bool {
        self.contains(Self::GRANT_REPLY)
    }
    pub const fn can_execute(self) -> bool {
        self.contains(Self::EXECUTE)
    }
    /// The rights as letters in the order r, w, x, g, R (grant-reply), for
    /// messages and documentation; "-" for none.
    pub fn letters(self) -> RightsLetters {
        let mut out = RightsLetters([0; 5], 0);
        for (right, letter) in [
            (Self::READ, b'r'),
            (Self::WRITE, b'w'),
            (Self::EXECUTE, b'x'),
            (Self::GRANT, b'g'),
            (Self::GRANT_REPLY, b'R'),
        ] {
            if self.contains(right) {
                out.0[out.1] = letter;
                out.1 += 1;
            }
        }
        out
    }
}

/// The letters of a [`CapRights`] (see [`CapRights::letters`]), without allocation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RightsLetters([u8; 5], usize);

impl RightsLetters {
    pub fn as_str(&self) -> &str {
        if self.1 == 0 {
            return "-";
        }
        core::str::from_utf8(&self.0[..self.1]).unwrap_or("?")
    }
}

impl core::fmt::Display for RightsLetters {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intersection_never_grows() {
        for a in 0..32 {
            for b in 0..32 {
                let (a, b) = (CapRights::from_word(a), CapRights::from_word(b));
                let c = a.intersect(b);
                assert!(a.contains(c) && b.contains(c));
            }
        }
        assert_eq!(CapRights::from_word(0xff), CapRights::ALL);
    }

    #[test]
    fn letters_name_each_right() {
        assert_eq!(CapRights::ALL.letters().as_str(), "rwxgR");
        assert_eq!(CapRights::READ_EXECUTE.letters().as_str(), "rx");
        assert_eq!(CapRights::NONE.letters().as_str(), "-");
    }
}
