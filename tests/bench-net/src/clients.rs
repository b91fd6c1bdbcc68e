//! The host clients: plain sockets on 127.0.0.1 speaking the bench service contract
//! (docs/bench-net.md) through QEMU's host forwards. Every loop is bounded by a count and a
//! deadline; every byte a guest sends back is checked.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream, UdpSocket};
use std::time::{Duration, Instant};

/// The contract's pattern: byte i of every generated stream is i % 251.
pub const PATTERN_PERIOD: u64 = 251;
/// The HTTP object and its size.
pub const HTTP_PATH: &str = "/bench/10MiB";
pub const HTTP_BYTES: u64 = 10 * 1024 * 1024;
/// Request size of the round-trip measurements: a small message, one frame each way.
const MESSAGE_BYTES: usize = 64;
/// How long one UDP datagram may take to come back before it counts as lost.
const UDP_REPLY_TIMEOUT: Duration = Duration::from_secs(1);
/// Copy buffer of the bulk transfers.
const CHUNK: usize = 64 * 1024;

pub fn pattern_byte(i: u64) -> u8 {
    (i % PATTERN_PERIOD) as u8
}

fn remaining(deadline: Instant) -> io::Result<Duration> {
    let left = deadline.saturating_duration_since(Instant::now());
    if left.is_zero() {
        Err(io::Error::new(io::ErrorKind::TimedOut, "deadline passed"))
    } else {
        Ok(left)
    }
}

fn udp_socket() -> io::Result<UdpSocket> {
    UdpSocket::bind(("127.0.0.1", 0))
}

/// A datagram to the echo port; true if it came back unchanged within `wait`.
pub fn udp_probe(socket: &UdpSocket, to: SocketAddr, token: u64, wait: Duration) -> bool {
    let mut message = [0u8; MESSAGE_BYTES];
    message[..8].copy_from_slice(&token.to_le_bytes());
    if socket.send_to(&message, to).is_err() || socket.set_read_timeout(Some(wait)).is_err() {
        return false;
    }
    let deadline = Instant::now() + wait;
    let mut reply = [0u8; 2048];
    while Instant::now() < deadline {
        match socket.recv(&mut reply) {
            Ok(n) if reply[..n] == message => return true,
            Ok(_) => continue, // a late reply to an earlier probe
            Err(_) => return false,
        }
    }
    false
}

/// Makes the socket the probes use for readiness.
pub fn probe_socket() -> io::Result<UdpSocket> {
    udp_socket()
}

/// UDP echo round trips, one datagram outstanding at a time.
pub struct UdpRtts {
    /// Round trips in microseconds, of the datagrams that came back.
    pub micros: Vec<f64>,
    pub lost: usize,
}

pub fn udp_rtts(to: SocketAddr, count: usize, deadline: Instant) -> io::Result<UdpRtts> {
    let socket = udp_socket()?;
    let mut out = UdpRtts {
        micros: Vec::with_capacity(count),
        lost: 0,
    };
    let mut reply = [0u8; 2048];
    for seq in 0..count as u64 {
        let mut message = [0u8; MESSAGE_BYTES];
        message[..8].copy_from_slice(&seq.to_le_bytes());
        message[8..]
            .iter_mut()
            .enumerate()
            .for_each(|(i, b)| *b = pattern_byte(i as u64));
        let sent = Instant::now();
        socket.send_to(&message, to)?;
        let wait_until = (sent + UDP_REPLY_TIMEOUT).min(deadline);
        let mut answered = false;
        while let Ok(left) = remaining(wait_until) {
            socket.set_read_timeout(Some(left))?;
            match socket.recv(&mut reply) {
                Ok(n) if reply[..n] == message => {
                    out.micros.push(sent.elapsed().as_secs_f64() * 1e6);
                    answered = true;
                    break;
                }
                Ok(n) if n >= 8 && reply[..8] != message[..8] => continue, // late, earlier one
                Ok(_) => return Err(io::Error::other("UDP echo changed the datagram")),
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) =>
                {
                    break
                }
                Err(e) => return Err(e),
            }
        }
        if !answered {
            out.lost += 1;
        }
        remaining(deadline)?;
    }
    Ok(out)
}

fn connect(to: SocketAddr, deadline: Instant) -> io::Result<TcpStream> {
    let stream = TcpStream::connect_timeout(&to, remaining(deadline)?)?;
    stream.set_nodelay(true)?;
    stream.set_read_timeout(Some(remaining(deadline)?))?;
    stream.set_write_timeout(Some(remaining(deadline)?))?;
    Ok(stream)
}

/// TCP echo round trips on one connection, in microseconds.
pub fn tcp_rtts(to: SocketAddr, count: usize, deadline: Instant) -> io::Result<Vec<f64>> {
    let mut stream = connect(to, deadline)?;
    let mut out = Vec::with_capacity(count);
    let mut reply = [0u8; MESSAGE_BYTES];
    for seq in 0..count as u64 {
        let mut message = [0u8; MESSAGE_BYTES];
        message[..8].copy_from_slice(&seq.to_le_bytes());
        let sent = Instant::now();
        stream.write_all(&message)?;
        stream.read_exact(&mut reply)?;
        out.push(sent.elapsed().as_secs_f64() * 1e6);
        if reply != message {
            return Err(io::Error::other("TCP echo changed the bytes"));
        }
        remaining(deadline)?;
    }
    stream.shutdown(Shutdown::Both).ok();
    Ok(out)
}

/// One bulk transfer.
#[derive(Debug, Clone, Copy)]
pub struct Transfer {
    pub bytes: u64,
    pub seconds: f64,
}

impl Transfer {
    pub fn megabytes_per_second(&self) -> f64 {
        self.bytes as f64 / self.seconds / 1e6
    }
}

/// Host → guest: `bytes` to the sink, which must report exactly that count.
pub fn sink(to: SocketAddr, bytes: u64, deadline: Instant) -> io::Result<Transfer> {
    let start = Instant::now();
    let mut stream = connect(to, deadline)?;
    let chunk: Vec<u8> = (0..CHUNK as u64).map(pattern_byte).collect();
    let mut sent = 0u64;
    while sent < bytes {
        let n = (bytes - sent).min(CHUNK as u64) as usize;
        stream.write_all(&chunk[..n])?;
        sent += n as u64;
        remaining(deadline)?;
    }
    stream.shutdown(Shutdown::Write)?;
    let mut count = [0u8; 8];
    stream.read_exact(&mut count)?;
    let seconds = start.elapsed().as_secs_f64();
    let counted = u64::from_le_bytes(count);
    if counted != bytes {
        return Err(io::Error::other(format!(
            "the sink counted {counted} bytes of {bytes}"
        )));
    }
    Ok(Transfer { bytes, seconds })
}

/// Reads exactly `bytes` of the pattern from `stream`, checking each byte.
fn read_pattern(
    stream: &mut TcpStream,
    bytes: u64,
    deadline: Instant,
    already: &[u8],
) -> io::Result<()> {
    let mut offset = 0u64;
    let check = |data: &[u8], offset: &mut u64| -> io::Result<()> {
        for &b in data {
            if b != pattern_byte(*offset) {
                return Err(io::Error::other(format!(
                    "byte {offset} is {b}, not {}",
                    pattern_byte(*offset)
                )));
            }
            *offset += 1;
        }
        Ok(())
    };
    if already.len() as u64 > bytes {
        return Err(io::Error::other("more bytes than announced"));
    }
    check(already, &mut offset)?;
    let mut buf = vec![0u8; CHUNK];
    while offset < bytes {
        let n = stream.read(&mut buf)?;
        if n == 0 {
            return Err(io::Error::other(format!(
                "the stream ended after {offset} of {bytes} bytes"
            )));
        }
        if offset + n as u64 > bytes {
            return Err(io::Error::other("more bytes than asked for"));
        }
        check(&buf[..n], &mut offset)?;
        remaining(deadline)?;
    }
    Ok(())
}

/// Guest → host: asks the source for `bytes` and checks every one.
pub fn source(to: SocketAddr, bytes: u64, deadline: Instant) -> io::Result<Transfer> {
    let start = Instant::now();
    let mut stream = connect(to, deadline)?;
    stream.write_all(&bytes.to_le_bytes())?;
    read_pattern(&mut stream, bytes, deadline, &[])?;
    Ok(Transfer {
        bytes,
        seconds: start.elapsed().as_secs_f64(),
    })
}

/// The status code and Content-Length of an HTTP response head (up to the blank line).
pub fn parse_http_head(head: &str) -> Result<(u16, Option<u64>), String> {
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let mut parts = status_line.split_whitespace();
    let version = parts.next().unwrap_or_default();
    if !version.starts_with("HTTP/1.") {
        return Err(format!("not an HTTP/1 status line: {status_line:?}"));
    }
    let status = parts
        .next()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("no status code in {status_line:?}"))?;
    let mut length = None;
    for line in lines {
        if let Some((name, value)) = line.split_once(':') {
            if name.trim().eq_ignore_ascii_case("content-length") {
                length = Some(
                    value
                        .trim()
                        .parse()
                        .map_err(|_| format!("bad Content-Length: {value:?}"))?,
                );
            }
        }
    }
    Ok((status, length))
}

/// `GET /bench/10MiB`: status 200, Content-Length and body as the contract says.
pub fn http_get(to: SocketAddr, deadline: Instant) -> io::Result<Transfer> {
    let start = Instant::now();
    let mut stream = connect(to, deadline)?;
    write!(
        stream,
        "GET {HTTP_PATH} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )?;
    let mut head = Vec::new();
    let mut buf = [0u8; 4096];
    let body_start = loop {
        let n = stream.read(&mut buf)?;
        if n == 0 {
            return Err(io::Error::other(
                "the connection closed before the response head ended",
            ));
        }
        head.extend_from_slice(&buf[..n]);
        if let Some(at) = head.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
        if head.len() > 16 * 1024 {
            return Err(io::Error::other("response head longer than 16 KiB"));
        }
        remaining(deadline)?;
    };
    let text = String::from_utf8_lossy(&head[..body_start]).into_owned();
    let (status, length) = parse_http_head(&text).map_err(io::Error::other)?;
    if status != 200 || length != Some(HTTP_BYTES) {
        return Err(io::Error::other(format!(
            "GET {HTTP_PATH} answered status {status}, Content-Length {length:?}; the contract says 200 and {HTTP_BYTES}"
        )));
    }
    read_pattern(&mut stream, HTTP_BYTES, deadline, &head[body_start..])?;
    Ok(Transfer {
        bytes: HTTP_BYTES,
        seconds: start.elapsed().as_secs_f64(),
    })
}

/// One reading of the guest's counters (UDP 9000).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counters {
    pub tsc: u64,
    pub idle_tsc: u64,
    pub udp_rx: u64,
}

impl Counters {
    /// Busy TSC ticks (instructions under icount) from `self` to `later`.
    pub fn busy_until(&self, later: &Counters) -> Result<u64, String> {
        let elapsed = later
            .tsc
            .checked_sub(self.tsc)
            .ok_or("the TSC went backwards")?;
        let idle = later
            .idle_tsc
            .checked_sub(self.idle_tsc)
            .ok_or("idle time went backwards")?;
        elapsed
            .checked_sub(idle)
            .ok_or_else(|| format!("more idle ({idle}) than elapsed ({elapsed}) ticks"))
    }
}

/// `tsc=<u64> idle_tsc=<u64> udp_rx=<u64>\n`, the fields in that order, nothing else.
pub fn parse_counters(line: &str) -> Result<Counters, String> {
    let line = line
        .strip_suffix('\n')
        .ok_or("the counters line does not end in a newline")?;
    let fields: Vec<&str> = line.split(' ').collect();
    let value = |i: usize, name: &str| -> Result<u64, String> {
        let field = fields.get(i).ok_or_else(|| format!("no {name} field"))?;
        let v = field
            .strip_prefix(name)
            .and_then(|f| f.strip_prefix('='))
            .ok_or_else(|| format!("field {} is {field:?}, expected {name}=<u64>", i + 1))?;
        v.parse().map_err(|_| format!("{name} is not a u64: {v:?}"))
    };
    if fields.len() != 3 {
        return Err(format!("expected 3 fields, got {}: {line:?}", fields.len()));
    }
    Ok(Counters {
        tsc: value(0, "tsc")?,
        idle_tsc: value(1, "idle_tsc")?,
        udp_rx: value(2, "udp_rx")?,
    })
}

/// Asks the counters port, retrying a lost datagram a few times; also says how many requests it
/// sent (each one is a marker in a wire capture).
pub fn counters(to: SocketAddr) -> Result<(Counters, usize), String> {
    const ATTEMPTS: usize = 5;
    // Long enough that a busy host does not make a slow answer look lost (a retry is a second
    // marker on the wire, which the instruction counts then refuse).
    const WAIT: Duration = Duration::from_secs(2);
    let socket = udp_socket().map_err(|e| e.to_string())?;
    socket
        .set_read_timeout(Some(WAIT))
        .map_err(|e| e.to_string())?;
    let mut buf = [0u8; 256];
    for attempt in 1..=ATTEMPTS {
        socket.send_to(b"counters", to).map_err(|e| e.to_string())?;
        if let Ok(n) = socket.recv(&mut buf) {
            return parse_counters(&String::from_utf8_lossy(&buf[..n])).map(|c| (c, attempt));
        }
    }
    Err(format!(
        "no answer on the counters port (UDP 9000) after {ATTEMPTS} tries"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_line_parses() {
        let c = parse_counters("tsc=100 idle_tsc=40 udp_rx=7\n").unwrap();
        assert_eq!(
            c,
            Counters {
                tsc: 100,
                idle_tsc: 40,
                udp_rx: 7
            }
        );
        let later = parse_counters("tsc=1100 idle_tsc=540 udp_rx=9\n").unwrap();
        assert_eq!(c.busy_until(&later), Ok(500));
    }

    #[test]
    fn bad_counters_lines_are_refused_with_a_reason() {
        for (line, why) in [
            ("tsc=1 idle_tsc=2 udp_rx=3", "newline"),
            ("tsc=1 idle_tsc=2\n", "3 fields"),
            ("tsc=1 idle=2 udp_rx=3\n", "idle_tsc=<u64>"),
            ("tsc=x idle_tsc=2 udp_rx=3\n", "not a u64"),
            ("tsc=1 idle_tsc=2 udp_rx=3 extra=4\n", "3 fields"),
        ] {
            let e = parse_counters(line).unwrap_err();
            assert!(e.contains(why), "{line:?}: {e}");
        }
        let a = parse_counters("tsc=10 idle_tsc=0 udp_rx=0\n").unwrap();
        let b = parse_counters("tsc=20 idle_tsc=30 udp_rx=0\n").unwrap();
        assert!(a.busy_until(&b).unwrap_err().contains("more idle"));
        assert!(b.busy_until(&a).unwrap_err().contains("backwards"));
    }

    #[test]
    fn http_head_gives_status_and_length() {
        let head = "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\ncontent-length: 10485760\r\n\r\n";
        assert_eq!(parse_http_head(head), Ok((200, Some(10485760))));
        assert_eq!(
            parse_http_head("HTTP/1.0 404 Not Found\r\n\r\n"),
            Ok((404, None))
        );
        assert!(parse_http_head("SSH-2.0\r\n").is_err());
        assert!(parse_http_head("HTTP/1.1 200 OK\r\nContent-Length: ten\r\n\r\n").is_err());
    }

    #[test]
    fn pattern_wraps_at_251() {
        assert_eq!(pattern_byte(0), 0);
        assert_eq!(pattern_byte(250), 250);
        assert_eq!(pattern_byte(251), 0);
        assert_eq!(
            pattern_byte(10 * 1024 * 1024 - 1),
            ((10 * 1024 * 1024 - 1) % 251) as u8
        );
    }
}
