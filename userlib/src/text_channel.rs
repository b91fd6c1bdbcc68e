//! Text over an endpoint channel: how a client hands lines to a text server
//! (the serial driver's `serial-log`), and how the server reads them.
//!
//! A client calls the endpoint with label [`WRITE`] and the text packed as
//! the console packs it (a byte count, then eight bytes per word, at most
//! [`crate::component::CONSOLE_CHUNK_BYTES`] per call; longer text takes
//! several calls). The server replies with the number of bytes it took,
//! which is less than sent when its buffer is full: a busy server drops
//! text and counts it, it never makes its clients wait for the wire.

use crate::cap::cap_type::Endpoint;
use crate::cap::Cap;
use crate::component::{pack_text, status, unpack_text, StatusPage, CONSOLE_CHUNK_BYTES};
use crate::ipc_buffer::IpcBuffer;
use crate::syscall::Received;
use crate::InvocationError;

/// The label of a write (non-zero: label 0 is how a bound notification
/// arrives on a server's endpoint).
pub const WRITE: u64 = 1;

/// Writes `text` to the server behind `endpoint` if `server` (the caps
/// table's `<NAME>_SERVER`) is running; returns the bytes it took, or 0 when
/// it is not. A call to a server that never started (its device is missing)
/// or that the supervisor holds would wait forever: a client whose text is
/// a courtesy, like a request log, uses this rather than [`write`].
pub fn write_if_running(
    endpoint: Cap<Endpoint>,
    server: &str,
    text: &[u8],
) -> Result<usize, InvocationError> {
    let running = StatusPage::mapped().state_of(server) == Some(status::STATE_RUNNING);
    if running {
        write(endpoint, text)
    } else {
        Ok(0)
    }
}

/// Writes `text` to the server behind `endpoint`; returns the bytes it took.
pub fn write(endpoint: Cap<Endpoint>, text: &[u8]) -> Result<usize, InvocationError> {
    let mut taken = 0;
    for piece in text.chunks(CONSOLE_CHUNK_BYTES) {
        let mut words = [0u64; 1 + CONSOLE_CHUNK_BYTES / 8];
        let used = pack_text(piece, &mut words);
        let reply = endpoint.call_message(WRITE, &words[..used], &[])?;
        let took = (reply.mrs[0] as usize).min(piece.len());
        taken += took;
        if took < piece.len() {
            break;
        }
    }
    Ok(taken)
}

/// The server's side: the text of a received write (`None` if the message
/// is not a write). Words past the four register words are read from the
/// server's IPC buffer, and never past what the message says it carries.
pub fn read(message: &Received, out: &mut [u8; CONSOLE_CHUNK_BYTES]) -> Option<usize> {
    if message.info.label() != WRITE {
        return None;
    }
    let buffer = IpcBuffer::current();
    let length = message.info.length() as usize;
    Some(unpack_text(
        |index| {
            if index < message.mrs.len() {
                message.mrs[index]
            } else {
                buffer.msg(index)
            }
        },
        length,
        out,
    ))
}
