//! What all message formats share: the error type for malformed messages and
//! the helpers that copy a fixed-layout message into and out of bytes.

use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

/// A message from a peer did not decode. The receiver has not acted on any
/// part of it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProtoError {
    /// Fewer bytes than the fixed part of the message.
    Truncated {
        /// Bytes needed.
        need: usize,
        /// Bytes present.
        have: usize,
    },
    /// The kind or operation code is not one this protocol defines.
    UnknownKind(u32),
    /// A field holds a value outside its enumeration or range.
    BadField {
        /// Which field.
        field: &'static str,
        /// The value found.
        value: u64,
    },
    /// A reserved field or padding is not zero.
    ReservedNotZero {
        /// Which field.
        field: &'static str,
    },
    /// A declared payload length runs past the end of the bytes given.
    PayloadTooLong {
        /// Declared length.
        declared: u32,
        /// Bytes available after the fixed part.
        available: usize,
    },
    /// The output buffer is too small for the encoded message.
    NoRoom {
        /// Bytes needed.
        need: usize,
        /// Bytes available.
        have: usize,
    },
}

/// Reads a `T` from the front of `bytes` (a private copy), returning it and the rest.
pub fn read_prefix<T: FromBytes + KnownLayout + Immutable>(
    bytes: &[u8],
) -> Result<(T, &[u8]), ProtoError> {
    T::read_from_prefix(bytes).map_err(|_| ProtoError::Truncated {
        need: core::mem::size_of::<T>(),
        have: bytes.len(),
    })
}

/// Writes `value` to the front of `out`, returning the bytes written.
pub fn write_prefix<T: IntoBytes + Immutable>(
    value: &T,
    out: &mut [u8],
) -> Result<usize, ProtoError> {
    let bytes = value.as_bytes();
    let have = out.len();
    let dst = out.get_mut(..bytes.len()).ok_or(ProtoError::NoRoom {
        need: bytes.len(),
        have,
    })?;
    dst.copy_from_slice(bytes);
    Ok(bytes.len())
}

/// Checks a reserved field.
pub fn reserved_zero<T: IntoBytes + Immutable + ?Sized>(
    value: &T,
    field: &'static str,
) -> Result<(), ProtoError> {
    if value.as_bytes().iter().all(|b| *b == 0) {
        Ok(())
    } else {
        Err(ProtoError::ReservedNotZero { field })
    }
}

/// Checks a 0/1 flag.
pub fn flag(value: u32, field: &'static str) -> Result<bool, ProtoError> {
    match value {
        0 => Ok(false),
        1 => Ok(true),
        v => Err(ProtoError::BadField {
            field,
            value: v.into(),
        }),
    }
}

/// Runs every decoder on `bytes` and checks that whatever decodes encodes
/// back to the same bytes. Shared by the `decode_messages` fuzz target and
/// the corpus regression test; panics only on a broken round trip.
pub fn fuzz_decoders(bytes: &[u8]) {
    use crate::driver::{DriverEvent, StackRequest, MAX_CONTROL_BYTES};
    use crate::socket::{SocketRequest, SocketResponse};
    use crate::supervisor::{FaultReport, RestartNotice};

    let mut out = [0u8; 4096];
    if let Ok((header, event)) = DriverEvent::decode(bytes) {
        let n = event
            .encode(
                header.generation,
                header.sequence,
                &mut out[..MAX_CONTROL_BYTES],
            )
            .unwrap_or(0);
        assert_eq!(&out[..n], &bytes[..n], "driver event round trip");
    }
    if let Ok((header, request)) = StackRequest::decode(bytes) {
        let n = request
            .encode(
                header.generation,
                header.sequence,
                &mut out[..MAX_CONTROL_BYTES],
            )
            .unwrap_or(0);
        assert_eq!(&out[..n], &bytes[..n], "stack request round trip");
    }
    if let Ok((id, request)) = SocketRequest::decode(bytes) {
        let n = request.encode(id, &mut out).unwrap_or(0);
        assert_eq!(&out[..n], &bytes[..n], "socket request round trip");
    }
    if let Ok(response) = SocketResponse::decode(bytes, None) {
        let n = response.encode(&mut out).unwrap_or(0);
        assert_eq!(&out[..n], &bytes[..n], "socket response round trip");
    }
    if let Ok(report) = FaultReport::decode(bytes) {
        let n = report.encode(&mut out).unwrap_or(0);
        assert_eq!(&out[..n], &bytes[..n], "fault report round trip");
    }
    if let Ok(notice) = RestartNotice::decode(bytes) {
        let n = notice.encode(&mut out).unwrap_or(0);
        assert_eq!(&out[..n], &bytes[..n], "restart notice round trip");
    }
}
