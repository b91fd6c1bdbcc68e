//! Capability access rights.
//!
//! Rights only ever shrink: `cnode_copy` and `cnode_mint` take a rights mask
//! and the new capability gets the intersection of the source's rights and
//! the mask. Which rights mean what, per object:
//!
//! | right | endpoint | notification | frame |
//! |---|---|---|---|
//! | read | receive | wait / poll | map readable |
//! | write | send | signal | map writable |
//! | grant | send capabilities with a message | – | – |
//! | grant-reply | let the receiver get a reply capability that may carry capabilities | – | – |

/// A set of rights, encoded in the low four bits of a word.
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
    /// No rights at all.
    pub const NONE: CapRights = CapRights(0);
    /// Every right; what a freshly retyped object's capability carries.
    pub const ALL: CapRights = CapRights(0b1111);
    /// Read and write, without grant.
    pub const READ_WRITE: CapRights = CapRights(0b0011);

    /// Decodes the low four bits of `word`; other bits are ignored.
    pub const fn from_word(word: u64) -> CapRights {
        CapRights((word & 0b1111) as u8)
    }
    /// The rights as a word (low four bits).
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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intersection_never_grows() {
        for a in 0..16 {
            for b in 0..16 {
                let (a, b) = (CapRights::from_word(a), CapRights::from_word(b));
                let c = a.intersect(b);
                assert!(a.contains(c) && b.contains(c));
            }
        }
        assert_eq!(CapRights::from_word(0xff), CapRights::ALL);
    }
}
