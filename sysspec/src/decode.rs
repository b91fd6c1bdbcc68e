//! The decoder: checks a compiled spec once and then gives typed, in-place
//! access to its tables.
//!
//! A spec is an *allegation* until [`Spec::decode`] has checked it: the
//! magic, the version, the length, the checksum, that every table lies inside
//! the blob, that every string is in bounds and valid UTF-8, that every
//! enumeration byte is known and that every index points into its table.
//! After that, the accessors cannot fail.

use core::fmt;

use zerocopy::{FromBytes, Immutable, KnownLayout};

use crate::format::*;

/// Why a spec was rejected. Each names what was wrong, so that a boot
/// failure caused by a stale or corrupted `system.bin` is obvious.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DecodeError {
    /// Shorter than the header.
    TooShort { len: usize },
    /// The first eight bytes are not `WARDSPEC`: not a spec at all.
    BadMagic,
    /// Written by a capctl of another format version.
    UnsupportedVersion { found: u32, expected: u32 },
    /// The header length field disagrees with this decoder's header.
    BadHeaderLength { found: u32 },
    /// The length in the header disagrees with the bytes given (truncated
    /// or padded module).
    LengthMismatch { header: u32, actual: usize },
    /// The checksum does not match: the spec was corrupted.
    ChecksumMismatch { stored: u32, computed: u32 },
    /// A table lies (partly) outside the spec.
    SectionOutOfBounds { section: &'static str },
    /// A string lies outside the string table or is not UTF-8.
    BadString { table: &'static str, index: usize },
    /// An enumeration byte has no meaning.
    BadEnum {
        table: &'static str,
        index: usize,
        field: &'static str,
        value: u8,
    },
    /// An index points outside its table.
    BadIndex {
        table: &'static str,
        index: usize,
        field: &'static str,
        value: u32,
    },
    /// A value breaks a rule of the format (explained in `what`).
    BadValue {
        table: &'static str,
        index: usize,
        what: &'static str,
    },
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use DecodeError::*;
        write!(f, "system spec rejected: ")?;
        match *self {
            TooShort { len } => write!(f, "only {len} bytes, shorter than the header"),
            BadMagic => write!(f, "bad magic (not a compiled system spec; expected \"WARDSPEC\")"),
            UnsupportedVersion { found, expected } => write!(
                f,
                "format version {found}, this decoder reads version {expected} (rebuild it with a matching capctl)"
            ),
            BadHeaderLength { found } => write!(f, "header length {found} does not match this format"),
            LengthMismatch { header, actual } => {
                write!(f, "header says {header} bytes but {actual} were given (truncated or padded)")
            }
            ChecksumMismatch { stored, computed } => write!(
                f,
                "checksum mismatch (stored {stored:#010x}, computed {computed:#010x}): the spec is corrupted"
            ),
            SectionOutOfBounds { section } => write!(f, "table `{section}` lies outside the spec"),
            BadString { table, index } => write!(f, "{table}[{index}]: a string is out of bounds or not UTF-8"),
            BadEnum { table, index, field, value } => {
                write!(f, "{table}[{index}].{field}: unknown value {value}")
            }
            BadIndex { table, index, field, value } => {
                write!(f, "{table}[{index}].{field}: index {value} is out of range")
            }
            BadValue { table, index, what } => write!(f, "{table}[{index}]: {what}"),
        }
    }
}

/// A checked, borrowed view of a compiled spec.
#[derive(Clone, Copy)]
pub struct Spec<'a> {
    pub header: &'a Header,
    pub components: &'a [ComponentRec],
    pub regions: &'a [RegionRec],
    pub devices: &'a [DeviceRec],
    pub dma: &'a [DmaRec],
    pub channels: &'a [ChannelRec],
    pub caps: &'a [CapRec],
    strings: &'a [u8],
}

/// Borrows `count` records of `T` at `section.offset`.
fn table<'a, T: FromBytes + Immutable + KnownLayout>(
    bytes: &'a [u8],
    section: Section,
    name: &'static str,
) -> Result<&'a [T], DecodeError> {
    let err = DecodeError::SectionOutOfBounds { section: name };
    let start = section.offset.get() as usize;
    let count = section.count.get() as usize;
    let size = core::mem::size_of::<T>().checked_mul(count).ok_or(err)?;
    let end = start.checked_add(size).ok_or(err)?;
    let slice = bytes.get(start..end).ok_or(err)?;
    <[T]>::ref_from_bytes_with_elems(slice, count).map_err(|_| err)
}

fn check_str(
    strings: &[u8],
    s: StrRef,
    table: &'static str,
    index: usize,
) -> Result<(), DecodeError> {
    let err = DecodeError::BadString { table, index };
    let start = s.offset.get() as usize;
    let end = start.checked_add(s.len.get() as usize).ok_or(err)?;
    let bytes = strings.get(start..end).ok_or(err)?;
    core::str::from_utf8(bytes).map(|_| ()).map_err(|_| err)
}

fn check_index(
    value: u32,
    len: usize,
    allow_none: bool,
    table: &'static str,
    index: usize,
    field: &'static str,
) -> Result<(), DecodeError> {
    if (allow_none && value == NONE) || (value as usize) < len {
        Ok(())
    } else {
        Err(DecodeError::BadIndex {
            table,
            index,
            field,
            value,
        })
    }
}

fn check_enum(
    ok: bool,
    value: u8,
    table: &'static str,
    index: usize,
    field: &'static str,
) -> Result<(), DecodeError> {
    if ok {
        Ok(())
    } else {
        Err(DecodeError::BadEnum {
            table,
            index,
            field,
            value,
        })
    }
}

impl<'a> Spec<'a> {
    /// Checks `bytes` and returns a view of it, or says what is wrong.
    pub fn decode(bytes: &'a [u8]) -> Result<Spec<'a>, DecodeError> {
        // The magic first: "this is not a spec" is the clearest message for
        // the wrong file, whatever its length.
        if bytes.len() >= MAGIC.len() && bytes[..MAGIC.len()] != MAGIC {
            return Err(DecodeError::BadMagic);
        }
        let (header, _) = Header::ref_from_prefix(bytes)
            .map_err(|_| DecodeError::TooShort { len: bytes.len() })?;
        if header.magic != MAGIC {
            return Err(DecodeError::BadMagic);
        }
        if header.version.get() != VERSION {
            return Err(DecodeError::UnsupportedVersion {
                found: header.version.get(),
                expected: VERSION,
            });
        }
        if header.header_len.get() as usize != core::mem::size_of::<Header>() {
            return Err(DecodeError::BadHeaderLength {
                found: header.header_len.get(),
            });
        }
        if header.total_len.get() as usize != bytes.len() {
            return Err(DecodeError::LengthMismatch {
                header: header.total_len.get(),
                actual: bytes.len(),
            });
        }
        let computed = checksum(bytes);
        if computed != header.checksum.get() {
            return Err(DecodeError::ChecksumMismatch {
                stored: header.checksum.get(),
                computed,
            });
        }

        let strings = {
            let s = header.strings;
            let start = s.offset.get() as usize;
            let end = start.checked_add(s.count.get() as usize);
            end.and_then(|end| bytes.get(start..end))
                .ok_or(DecodeError::SectionOutOfBounds { section: "strings" })?
        };
        let spec = Spec {
            header,
            components: table(bytes, header.components, "components")?,
            regions: table(bytes, header.regions, "regions")?,
            devices: table(bytes, header.devices, "devices")?,
            dma: table(bytes, header.dma, "dma")?,
            channels: table(bytes, header.channels, "channels")?,
            caps: table(bytes, header.caps, "caps")?,
            strings,
        };
        spec.validate()?;
        Ok(spec)
    }

    /// Checks every string, enumeration and index in every record.
    fn validate(&self) -> Result<(), DecodeError> {
        let s = self.strings;
        check_str(s, self.header.name, "header", 0)?;
        check_str(s, self.header.kernel_config, "header", 0)?;
        check_str(s, self.header.cmdline, "header", 0)?;
        if self.header.flags.get() & !crate::format::FLAG_AUDIT != 0 {
            return Err(DecodeError::BadValue {
                table: "header",
                index: 0,
                what: "unknown system flag bits",
            });
        }

        let n_comp = self.components.len();
        for (i, c) in self.components.iter().enumerate() {
            let t = "components";
            check_str(s, c.name, t, i)?;
            check_str(s, c.module, t, i)?;
            check_enum(
                ComponentKind::from_u8(c.kind).is_some(),
                c.kind,
                t,
                i,
                "kind",
            )?;
            check_enum(
                RestartPolicy::from_u8(c.restart).is_some(),
                c.restart,
                t,
                i,
                "restart",
            )?;
            check_index(c.fault_handler.get(), n_comp, true, t, i, "fault_handler")?;
            let first = c.first_cap.get() as usize;
            let end = first.checked_add(c.cap_count.get() as usize);
            if end.is_none_or(|end| end > self.caps.len()) {
                return Err(DecodeError::BadValue {
                    table: t,
                    index: i,
                    what: "its capability range is out of bounds",
                });
            }
            if c.priority == 0 || c.priority == crate::SUPERVISOR_PRIORITY {
                return Err(DecodeError::BadValue {
                    table: t,
                    index: i,
                    what: "priority must be 1..=254",
                });
            }
        }
        for (i, r) in self.regions.iter().enumerate() {
            let t = "regions";
            check_str(s, r.name, t, i)?;
            check_enum(RegionKind::from_u8(r.kind).is_some(), r.kind, t, i, "kind")?;
            let page = r.page_size.get();
            if !(page == 4096 || page == 2 << 20) || r.size.get() == 0 || r.size.get() % page != 0 {
                return Err(DecodeError::BadValue {
                    table: t,
                    index: i,
                    what: "size must be a non-zero multiple of a 4 KiB or 2 MiB page",
                });
            }
        }
        for (i, d) in self.devices.iter().enumerate() {
            let t = "devices";
            check_str(s, d.name, t, i)?;
            check_enum(
                DeviceMatch::from_u8(d.match_kind).is_some(),
                d.match_kind,
                t,
                i,
                "match_kind",
            )?;
            check_enum(
                IrqKind::from_u8(d.irq_kind).is_some(),
                d.irq_kind,
                t,
                i,
                "irq_kind",
            )?;
            check_index(d.driver.get(), n_comp, true, t, i, "driver")?;
            if d.bar_mask & 0xc0 != 0 {
                return Err(DecodeError::BadValue {
                    table: t,
                    index: i,
                    what: "BAR mask names a BAR above 5",
                });
            }
        }
        for (i, w) in self.dma.iter().enumerate() {
            let t = "dma";
            check_index(w.device.get(), self.devices.len(), false, t, i, "device")?;
            check_index(w.region.get(), self.regions.len(), false, t, i, "region")?;
            let region = &self.regions[w.region.get() as usize];
            if w.size.get() == 0 || w.size.get() > region.size.get() {
                return Err(DecodeError::BadValue {
                    table: t,
                    index: i,
                    what: "window size exceeds its region",
                });
            }
        }
        for (i, c) in self.channels.iter().enumerate() {
            let t = "channels";
            check_str(s, c.name, t, i)?;
            check_enum(ChannelKind::from_u8(c.kind).is_some(), c.kind, t, i, "kind")?;
            check_index(c.pool.get(), self.regions.len(), true, t, i, "pool")?;
            check_index(
                c.ring_region.get(),
                self.regions.len(),
                true,
                t,
                i,
                "ring_region",
            )?;
            check_index(c.receiver.get(), n_comp, true, t, i, "receiver")?;
        }
        for (i, cap) in self.caps.iter().enumerate() {
            let t = "caps";
            check_str(s, cap.name, t, i)?;
            let kind = CapKind::from_u8(cap.kind);
            check_enum(kind.is_some(), cap.kind, t, i, "kind")?;
            if cap.rights & !Rights::ALL != 0 {
                return Err(DecodeError::BadValue {
                    table: t,
                    index: i,
                    what: "unknown rights bits",
                });
            }
            let target = cap.target.get();
            match kind {
                Some(CapKind::Tcb | CapKind::Cnode | CapKind::Vspace) => {
                    check_index(target, n_comp, false, t, i, "target")?
                }
                Some(CapKind::Endpoint | CapKind::Notification) => {
                    check_index(target, self.channels.len(), true, t, i, "target")?;
                    check_index(cap.arg.get(), n_comp, true, t, i, "arg")?;
                }
                Some(CapKind::Frames) => {
                    check_index(target, self.regions.len(), false, t, i, "target")?
                }
                Some(
                    CapKind::DeviceFrames
                    | CapKind::IoPorts
                    | CapKind::IrqHandler
                    | CapKind::IoSpace,
                ) => check_index(target, self.devices.len(), false, t, i, "target")?,
                None => {}
            }
            if cap.slot.get() >= MAX_SLOTS {
                return Err(DecodeError::BadValue {
                    table: t,
                    index: i,
                    what: "slot beyond the CNode",
                });
            }
        }
        Ok(())
    }

    /// A string of the spec (validated by `decode`).
    pub fn str(&self, s: StrRef) -> &'a str {
        let start = s.offset.get() as usize;
        let end = start + s.len.get() as usize;
        self.strings
            .get(start..end)
            .and_then(|b| core::str::from_utf8(b).ok())
            .unwrap_or("")
    }

    /// The system's name.
    pub fn name(&self) -> &'a str {
        self.str(self.header.name)
    }

    /// The kernel command line.
    /// Whether the system asks for the capability dump at boot (`[system] audit`).
    pub fn audit_at_boot(&self) -> bool {
        self.header.flags.get() & crate::format::FLAG_AUDIT != 0
    }

    pub fn cmdline(&self) -> &'a str {
        self.str(self.header.cmdline)
    }

    /// The capabilities of component `index`, in slot order.
    pub fn caps_of(&self, index: usize) -> &'a [CapRec] {
        let c = &self.components[index];
        let first = c.first_cap.get() as usize;
        &self.caps[first..first + c.cap_count.get() as usize]
    }

    /// The index of the component called `name`.
    pub fn component_index(&self, name: &str) -> Option<usize> {
        self.components
            .iter()
            .position(|c| self.str(c.name) == name)
    }

    /// The name of the object a capability points at ("net-rx", "nic"), or
    /// "supervisor" / the component's name for the fixed capabilities. This
    /// is the `target` field of a capability-dump line.
    pub fn cap_target_name(&self, cap: &CapRec) -> &'a str {
        let target = cap.target.get();
        let idx = target as usize;
        match CapKind::from_u8(cap.kind) {
            Some(CapKind::Tcb | CapKind::Cnode | CapKind::Vspace) => {
                self.str(self.components[idx].name)
            }
            Some(CapKind::Endpoint | CapKind::Notification) if target == NONE => {
                let arg = cap.arg.get();
                if arg == NONE {
                    "supervisor"
                } else {
                    self.str(self.components[arg as usize].name)
                }
            }
            Some(CapKind::Endpoint | CapKind::Notification) => self.str(self.channels[idx].name),
            Some(CapKind::Frames) => self.str(self.regions[idx].name),
            Some(
                CapKind::DeviceFrames | CapKind::IoPorts | CapKind::IrqHandler | CapKind::IoSpace,
            ) => self.str(self.devices[idx].name),
            None => "?",
        }
    }
}

/// The checksum of a spec: FNV-1a 32 (as [`crate::fnv1a32`]) over all
/// bytes, with the checksum field itself read as zero.
pub fn checksum(bytes: &[u8]) -> u32 {
    const FIELD: usize = 20; // offset of Header::checksum: magic 8 + version 4 + header_len 4 + total_len 4
    let mut hash: u32 = 0x811c_9dc5;
    for (i, &b) in bytes.iter().enumerate() {
        let b = if (FIELD..FIELD + 4).contains(&i) {
            0
        } else {
            b
        };
        hash ^= b as u32;
        hash = hash.wrapping_mul(0x0100_0193);
    }
    hash
}
