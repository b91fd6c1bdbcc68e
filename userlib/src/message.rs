//! Building and reading messages: the message-info word and a message of
//! up to 120 registers that is split between CPU registers and the IPC
//! buffer as the ABI requires.

pub use ward_abi::message::MessageInfo;
use ward_abi::message::{MAX_EXTRA_CAPS, MAX_MESSAGE_LENGTH, REGISTER_MESSAGE_LENGTH};
use ward_abi::Error;

use crate::error::InvocationError;
use crate::ipc_buffer::IpcBuffer;

/// The largest label a message info can carry (52 bits).
pub const MAX_LABEL: u64 = (1 << 52) - 1;

/// Builds a [`MessageInfo`], refusing fields that do not fit instead of
/// cutting them as `MessageInfo::new` does.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MessageInfoBuilder {
    label: u64,
    caps_unwrapped: u64,
    extra_caps: u64,
    length: u64,
}

impl MessageInfoBuilder {
    pub const fn new() -> MessageInfoBuilder {
        MessageInfoBuilder {
            label: 0,
            caps_unwrapped: 0,
            extra_caps: 0,
            length: 0,
        }
    }
    pub const fn label(mut self, label: u64) -> Self {
        self.label = label;
        self
    }
    pub const fn extra_caps(mut self, count: u64) -> Self {
        self.extra_caps = count;
        self
    }
    pub const fn length(mut self, length: u64) -> Self {
        self.length = length;
        self
    }
    pub const fn caps_unwrapped(mut self, mask: u64) -> Self {
        self.caps_unwrapped = mask;
        self
    }

    /// The message info, or `RangeError` (with the valid range) naming the
    /// first field out of range.
    pub fn build(self) -> Result<MessageInfo, InvocationError> {
        let range = |max: u64| InvocationError::local(Error::RangeError, [0, max, 0, 0]);
        if self.label > MAX_LABEL {
            return Err(range(MAX_LABEL));
        }
        if self.length > MAX_MESSAGE_LENGTH as u64 {
            return Err(range(MAX_MESSAGE_LENGTH as u64));
        }
        if self.extra_caps > MAX_EXTRA_CAPS as u64 {
            return Err(range(MAX_EXTRA_CAPS as u64));
        }
        if self.caps_unwrapped > 0b111 {
            return Err(range(0b111));
        }
        Ok(MessageInfo::new(
            self.label,
            self.caps_unwrapped,
            self.extra_caps,
            self.length,
        ))
    }
}

/// A message info with `label` and `length` registers and no capabilities.
/// Panics if a field does not fit (use [`MessageInfoBuilder`] for a `Result`).
pub fn info(label: u64, length: usize) -> MessageInfo {
    MessageInfoBuilder::new()
        .label(label)
        .length(length as u64)
        .build()
        .expect("message info fields in range")
}

/// The first four message registers of `words` (zero-padded), which travel
/// in CPU registers.
pub fn register_words(words: &[u64]) -> [u64; REGISTER_MESSAGE_LENGTH] {
    let mut mrs = [0; REGISTER_MESSAGE_LENGTH];
    for (mr, word) in mrs.iter_mut().zip(words) {
        *mr = *word;
    }
    mrs
}

/// Puts a message of `words` (at most 120) and `caps` (at most 3 CPtrs) in
/// place for sending: registers 4.. and the capabilities into `buffer`.
/// Returns the message info and the four register words.
pub fn prepare(
    buffer: &IpcBuffer,
    label: u64,
    words: &[u64],
    caps: &[u64],
) -> Result<(MessageInfo, [u64; REGISTER_MESSAGE_LENGTH]), InvocationError> {
    let info = MessageInfoBuilder::new()
        .label(label)
        .length(words.len() as u64)
        .extra_caps(caps.len() as u64)
        .build()?;
    for (index, word) in words.iter().enumerate().skip(REGISTER_MESSAGE_LENGTH) {
        buffer.set_msg(index, *word);
    }
    for (index, cptr) in caps.iter().enumerate() {
        buffer.set_cap(index, *cptr);
    }
    Ok((info, register_words(words)))
}

/// Message register `index` of a received message: 0..4 from the returned
/// registers, the rest from the IPC buffer.
pub fn received_word(
    buffer: &IpcBuffer,
    mrs: &[u64; REGISTER_MESSAGE_LENGTH],
    index: usize,
) -> u64 {
    if index < REGISTER_MESSAGE_LENGTH {
        mrs[index]
    } else {
        buffer.msg(index)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ward_abi::message::IpcBuffer as Layout;
    use zerocopy::FromZeros;

    #[test]
    fn builder_checks_each_field() {
        let i = MessageInfoBuilder::new()
            .label(0x77)
            .length(120)
            .extra_caps(3)
            .caps_unwrapped(5)
            .build()
            .unwrap();
        assert_eq!(
            (i.label(), i.length(), i.extra_caps(), i.caps_unwrapped()),
            (0x77, 120, 3, 5)
        );
        let e = MessageInfoBuilder::new().length(121).build().unwrap_err();
        assert_eq!(e.valid_range(), Some((0, 120)));
        assert_eq!(
            MessageInfoBuilder::new()
                .extra_caps(4)
                .build()
                .unwrap_err()
                .valid_range(),
            Some((0, 3))
        );
        assert_eq!(
            MessageInfoBuilder::new()
                .label(1 << 52)
                .build()
                .unwrap_err()
                .valid_range(),
            Some((0, MAX_LABEL))
        );
        assert!(MessageInfoBuilder::new().label(MAX_LABEL).build().is_ok());
        assert_eq!(info(3, 2), MessageInfo::new(3, 0, 0, 2));
    }

    #[test]
    fn prepare_splits_registers_and_buffer() {
        let mut layout = Layout::new_zeroed();
        // SAFETY: a properly aligned buffer owned by the test.
        let buffer = unsafe { IpcBuffer::at(&mut layout as *mut Layout as u64) };
        let words: [u64; 7] = [10, 11, 12, 13, 14, 15, 16];
        let (info, mrs) = prepare(&buffer, 9, &words, &[21, 22]).unwrap();
        assert_eq!((info.label(), info.length(), info.extra_caps()), (9, 7, 2));
        assert_eq!(mrs, [10, 11, 12, 13]);
        assert_eq!((buffer.msg(4), buffer.msg(6)), (14, 16));
        assert_eq!((buffer.cap_or_badge(0), buffer.cap_or_badge(1)), (21, 22));
        assert_eq!(received_word(&buffer, &mrs, 2), 12);
        assert_eq!(received_word(&buffer, &mrs, 5), 15);
        assert_eq!(register_words(&[1]), [1, 0, 0, 0]);
        assert!(prepare(&buffer, 0, &[0; 121], &[]).is_err());
        assert!(prepare(&buffer, 0, &[], &[1, 2, 3, 4]).is_err());
    }
}
