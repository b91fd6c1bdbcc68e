//! The embedded-io adapters end to end: an application's `SocketStream`
//! against a stand-in network stack on another thread (a TCP echo service),
//! and a console writer/reader pair.

use std::collections::VecDeque;
use std::sync::atomic::AtomicU32;

use embedded_io::{Read, Write};
use ward_proto::socket::{
    Endpoint, SocketError, SocketReply, SocketRequest, SocketResponse, OP_RECEIVE,
};
use ward_proto::stream::{ChannelReader, ConsoleWriter, Doorbell, SocketStream, StreamError};
use ward_ring::{PairEnd, PoolGeometry, PoolMemory, RegionMapping, RingPairParams};

/// Both threads poll; waiting is a yield.
struct YieldDoorbell;

impl Doorbell for YieldDoorbell {
    fn ring(&mut self) {}
    fn wait(&mut self) {
        std::thread::yield_now();
    }
}

fn leaked_words(words: usize) -> &'static [AtomicU32] {
    let spare = ward_ring::REGION_ALIGN / 4;
    let storage: &'static [AtomicU32] = Box::leak(
        (0..words + spare)
            .map(|_| AtomicU32::new(0))
            .collect::<Vec<_>>()
            .into_boxed_slice(),
    );
    let skip = storage.as_ptr().align_offset(ward_ring::REGION_ALIGN);
    &storage[skip..skip + words]
}

fn channel(
    slot_size: u32,
    slots: u32,
) -> (RingPairParams, RegionMapping<'static>, PoolMemory<'static>) {
    let geometry = PoolGeometry::new(slot_size, slots, 8).unwrap();
    let params = RingPairParams::new(8, geometry).unwrap();
    let region = RegionMapping::from_words(leaked_words(params.region_words())).unwrap();
    let pool = PoolMemory::new(leaked_words(geometry.pool_bytes() as usize / 4), geometry).unwrap();
    (params, region, pool)
}

/// A stand-in stack: one TCP socket that echoes what it is sent, and
/// refuses connections to port 1. Returns after `Close`.
fn echo_stack(
    mut end: PairEnd<ward_ring::SharedRing<'static>, 1>,
    pool: PoolMemory<'static>,
) -> u32 {
    let mut echo: VecDeque<u8> = VecDeque::new();
    let mut requests = 0;
    loop {
        let Some(buffer) = end.receive().unwrap() else {
            std::thread::yield_now();
            continue;
        };
        let _ = end.release();
        requests += 1;
        let mut bytes = [0u8; 512];
        let n = pool.read(&buffer, &mut bytes).unwrap();
        let (id, request) = SocketRequest::decode(&bytes[..n]).unwrap();
        let mut data = Vec::new();
        let (op, socket, result) = match request {
            SocketRequest::Open { .. } => (1, 0, Ok(SocketReply::Opened { socket: 7 })),
            SocketRequest::Connect { socket, remote } if remote.port == 1 => {
                (3, socket, Err(SocketError::ConnectionRefused))
            }
            SocketRequest::Connect { socket, .. } => (3, socket, Ok(SocketReply::Done)),
            SocketRequest::Send {
                socket, payload, ..
            } => {
                // Take at most 100 bytes per call, like a stack with a small window.
                let take = payload.len().min(100);
                echo.extend(&payload[..take]);
                (
                    6,
                    socket,
                    Ok(SocketReply::Sent {
                        accepted: take as u32,
                    }),
                )
            }
            SocketRequest::Receive { socket, max_len } => {
                if echo.is_empty() {
                    (OP_RECEIVE, socket, Err(SocketError::WouldBlock))
                } else {
                    let take = echo.len().min(max_len as usize);
                    data.extend(echo.drain(..take));
                    (
                        OP_RECEIVE,
                        socket,
                        Ok(SocketReply::Received {
                            from: Endpoint {
                                addr: [10, 0, 2, 2],
                                port: 7,
                            },
                            data: &[],
                        }),
                    )
                }
            }
            SocketRequest::Close { socket } => (8, socket, Ok(SocketReply::Done)),
            other => panic!("unexpected {other:?}"),
        };
        let result = match result {
            Ok(SocketReply::Received { from, .. }) => {
                Ok(SocketReply::Received { from, data: &data })
            }
            other => other,
        };
        let mut out = [0u8; 512];
        let n = SocketResponse {
            op,
            request_id: id,
            socket,
            result,
        }
        .encode(&mut out)
        .unwrap();
        let whole = pool.geometry().whole_slot(buffer);
        pool.write(&whole, &out[..n]).unwrap();
        let answer = pool
            .geometry()
            .with_len(whole, n as u32)
            .unwrap()
            .with_cookie(id);
        end.send(answer).unwrap();
        let _ = end.publish();
        if op == 8 {
            return requests;
        }
    }
}

#[test]
fn tcp_stream_echoes_through_the_socket_protocol() {
    let (params, region, pool) = channel(256, 4);
    let app_end = PairEnd::<_, 1>::initialise_owner(region, &params, 1).unwrap();
    let stack_end = PairEnd::<_, 1>::attach_borrower(region, &params).unwrap();
    let stack = std::thread::spawn(move || echo_stack(stack_end, pool));

    let remote = Endpoint {
        addr: [10, 0, 2, 2],
        port: 7,
    };
    let mut stream = SocketStream::connect(app_end, pool, YieldDoorbell, remote).unwrap();
    assert_eq!(stream.socket(), 7);
    let message: Vec<u8> = (0..1000u32).map(|i| (i % 251) as u8).collect();
    stream.write_all(&message).unwrap();
    stream.flush().unwrap();
    let mut back = vec![0u8; message.len()];
    stream.read_exact(&mut back).unwrap();
    assert_eq!(back, message);
    let end = stream.close().unwrap();
    assert_eq!(end.held().len(), 4, "every buffer came back");
    let requests = stack.join().unwrap();
    assert!(
        requests > 10,
        "1000 bytes through 224-byte requests and 100-byte windows"
    );
}

#[test]
fn refused_connection_is_an_error_kind() {
    let (params, region, pool) = channel(256, 2);
    let app_end = PairEnd::<_, 1>::initialise_owner(region, &params, 1).unwrap();
    let stack_end = PairEnd::<_, 1>::attach_borrower(region, &params).unwrap();
    let stack = std::thread::spawn(move || {
        // Answer Open and the refused Connect, then stop.
        let mut end = stack_end;
        let mut answered = 0;
        while answered < 2 {
            let Some(buffer) = end.receive().unwrap() else {
                continue;
            };
            let mut bytes = [0u8; 256];
            let n = pool.read(&buffer, &mut bytes).unwrap();
            let (id, request) = SocketRequest::decode(&bytes[..n]).unwrap();
            let response = match request {
                SocketRequest::Open { .. } => SocketResponse {
                    op: 1,
                    request_id: id,
                    socket: 0,
                    result: Ok(SocketReply::Opened { socket: 2 }),
                },
                _ => SocketResponse {
                    op: 3,
                    request_id: id,
                    socket: 2,
                    result: Err(SocketError::ConnectionRefused),
                },
            };
            let n = response.encode(&mut bytes).unwrap();
            pool.write(&buffer, &bytes[..n]).unwrap();
            end.send(pool.geometry().with_len(buffer, n as u32).unwrap())
                .unwrap();
            let _ = end.publish();
            let _ = end.release();
            answered += 1;
        }
    });
    let result = SocketStream::connect(
        app_end,
        pool,
        YieldDoorbell,
        Endpoint {
            addr: [1, 2, 3, 4],
            port: 1,
        },
    );
    let err = result.err().unwrap();
    assert_eq!(err, StreamError::Socket(SocketError::ConnectionRefused));
    assert_eq!(
        embedded_io::Error::kind(&err),
        embedded_io::ErrorKind::ConnectionRefused
    );
    stack.join().unwrap();
}

#[test]
fn console_lines_cross_the_channel() {
    let (params, region, pool) = channel(64, 3);
    let app_end = PairEnd::<_, 1>::initialise_owner(region, &params, 1).unwrap();
    let serial_end = PairEnd::<_, 1>::attach_borrower(region, &params).unwrap();
    let text: String = (0..40)
        .map(|i| format!("line {i}: the quick brown fox jumps over the lazy dog\n"))
        .collect();
    let expected = text.clone();
    let serial = std::thread::spawn(move || {
        let mut reader = ChannelReader::new(serial_end, pool, YieldDoorbell);
        let mut got = vec![0u8; expected.len()];
        reader.read_exact(&mut got).unwrap();
        String::from_utf8(got).unwrap()
    });
    let mut console = ConsoleWriter::new(app_end, pool, YieldDoorbell);
    console.write_all(text.as_bytes()).unwrap();
    console.flush().unwrap();
    assert_eq!(serial.join().unwrap(), text);
}
