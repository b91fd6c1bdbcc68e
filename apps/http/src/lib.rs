//! Ward's HTTP/1.1 server, as an event-driven library over the socket
//! protocol: the live status page (`/`), the same figures as JSON
//! (`/stats.json`), and the benchmark transfer (`/bench/10MiB`, byte i =
//! i % 251). One response per connection (`Connection: close`).
//!
//! The figures come from a [`Status`] snapshot that the component fills
//! from what system.toml lets it read: the root task's status page
//! (components, states, generations) and the network stack's counter page.
//! Nothing here calls the kernel; the host tests drive the same code.
#![no_std]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

use ward_proto::client::{ClientError, SocketClient, Tag};
use ward_proto::socket::{Endpoint, Protocol, SocketReply, SocketRequest, SocketResponse};
use ward_ring::RingMemory;

/// The port served.
pub const HTTP_PORT: u16 = 80;
/// Size of `/bench/10MiB`.
pub const BENCH_BYTES: u64 = 10 * 1024 * 1024;
/// Largest request head accepted (request line and headers); longer heads
/// get 431. Browsers send well under 1 KiB to a page like this.
pub const MAX_HEAD: usize = 2048;
/// Largest rendered page (the status page with 64 counters and 16
/// components is about 8 KiB).
pub const MAX_PAGE: usize = 16 * 1024;
/// Connections served at once; more wait in the stack's backlog.
pub const MAX_CONNECTIONS: usize = 8;
/// Listen backlog.
pub const BACKLOG: u32 = 8;
/// Bytes per send.
const CHUNK: usize = 1024;
/// Bytes of a request log line: the request line cut to fit, and the status.
pub const LOG_LINE: usize = 96;
/// Log lines waiting for the serial line; more are counted as dropped (the
/// component writes them out after every answer, so a few suffice).
const LOG_QUEUE: usize = 8;

/// One line of the request log: "GET /stats.json HTTP/1.1 -> 200".
pub type LogLine = heapless::Vec<u8, LOG_LINE>;

/// One component as the status page shows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ComponentStatus<'a> {
    /// Its name.
    pub name: &'a str,
    /// "running", "restarting", "held", "not started".
    pub state: &'a str,
    /// 1 at first start, +1 per restart.
    pub generation: u32,
    /// Restarts so far.
    pub restarts: u64,
    /// CPU time over all its generations, in microseconds.
    pub cpu_us: u64,
    /// Faults detected so far.
    pub faults: u64,
    /// The last fault: who detected it ("none" before any) and what it was.
    pub last_fault: (&'a str, &'a str),
    /// DMA of its devices the IOMMU blocked.
    pub dma_faults: u64,
    /// Interrupts of its devices the kernel delivered.
    pub interrupts: u64,
}

/// What the status page shows.
pub struct Status<'a> {
    /// Every component.
    pub components: &'a [ComponentStatus<'a>],
    /// The network stack's counters, by name.
    pub counters: &'a [(&'a str, u64)],
    /// The kernel's figures (time, idle time, switches, interrupts per vector), by name.
    pub kernel: &'a [(&'a str, u64)],
    /// The NIC driver's counters (frames, interrupts, polls, drops, the NIC's statistics).
    pub driver: &'a [(&'a str, u64)],
    /// The stack's address, once it has one.
    pub address: Option<&'a str>,
}

/// Where a page's figures come from: called with a renderer, it reads the
/// figures afresh and hands them to it.
pub type StatusSource<'s> = dyn FnMut(&mut dyn FnMut(&Status<'_>)) + 's;

/// A request's outcome.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Route {
    /// The status page.
    StatusPage,
    /// The JSON figures.
    StatsJson,
    /// The benchmark transfer.
    Bench,
    /// 404.
    NotFound,
    /// 405 (not GET or HEAD).
    MethodNotAllowed,
    /// 400.
    BadRequest,
    /// 431 (head too long).
    HeadTooLong,
}

/// Parses a request head (up to and including the blank line); `None` while
/// it is incomplete.
pub fn route(head: &[u8]) -> Option<(Route, bool)> {
    let end = head.windows(4).position(|w| w == b"\r\n\r\n");
    let Some(end) = end else {
        return (head.len() >= MAX_HEAD).then_some((Route::HeadTooLong, false));
    };
    let line_end = head.iter().position(|b| *b == b'\r').unwrap_or(end);
    let line = &head[..line_end];
    let mut parts = line.split(|b| *b == b' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Some((Route::BadRequest, false));
    };
    if version != b"HTTP/1.1" && version != b"HTTP/1.0" {
        return Some((Route::BadRequest, false));
    }
    let head_only = method == b"HEAD";
    if method != b"GET" && !head_only {
        return Some((Route::MethodNotAllowed, false));
    }
    let path = target.split(|b| *b == b'?').next().unwrap_or(b"");
    let route = match path {
        b"/" | b"/index.html" => Route::StatusPage,
        b"/stats.json" => Route::StatsJson,
        b"/bench/10MiB" => Route::Bench,
        _ if path.first() != Some(&b'/') => Route::BadRequest,
        _ => Route::NotFound,
    };
    Some((route, head_only))
}

/// A fixed buffer that text is written into (cut at the end, never overrun).
pub struct Page {
    bytes: [u8; MAX_PAGE],
    len: usize,
}

impl Default for Page {
    fn default() -> Self {
        Self::new()
    }
}

impl Page {
    /// Empty.
    pub const fn new() -> Self {
        Self {
            bytes: [0; MAX_PAGE],
            len: 0,
        }
    }
    /// The text so far.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes[..self.len]
    }
    /// Empties it.
    pub fn clear(&mut self) {
        self.len = 0;
    }
    fn push(&mut self, s: &[u8]) {
        let n = s.len().min(MAX_PAGE - self.len);
        self.bytes[self.len..self.len + n].copy_from_slice(&s[..n]);
        self.len += n;
    }
    fn text(&mut self, s: &str) {
        self.push(s.as_bytes());
    }
    /// Text escaped for HTML and JSON strings (names are ASCII; quotes,
    /// angle brackets, ampersands and backslashes are replaced).
    fn escaped(&mut self, s: &str) {
        for b in s.bytes() {
            match b {
                b'<' | b'>' | b'&' | b'"' | b'\\' => self.text("_"),
                0x20..=0x7e => self.push(&[b]),
                _ => self.text("?"),
            }
        }
    }
    fn number(&mut self, mut n: u64) {
        let mut digits = [0u8; 20];
        let mut i = digits.len();
        loop {
            i -= 1;
            digits[i] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        let d = digits;
        self.push(&d[i..]);
    }
}

/// Renders the status page as HTML.
pub fn render_html(status: &Status<'_>, page: &mut Page) {
    page.text("<!doctype html><html><head><meta charset=\"utf-8\"><meta http-equiv=\"refresh\" content=\"2\"><title>Ward</title>");
    page.text("<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}td,th{padding:2px 10px;text-align:left}td.n{text-align:right}</style></head><body>");
    page.text("<h1>Ward</h1><p>Served by an unprivileged application through an unprivileged network stack and an unprivileged e1000 driver. This page refreshes every 2 seconds.</p>");
    if let Some(a) = status.address {
        page.text("<p>Network stack address: ");
        page.escaped(a);
        page.text("</p>");
    }
    page.text("<h2>Components</h2><table><tr><th>component</th><th>state</th><th>generation</th><th>restarts</th><th>CPU time (ms)</th><th>interrupts</th><th>DMA blocked</th><th>faults</th><th>last fault (detected by)</th></tr>");
    for c in status.components {
        page.text("<tr><td>");
        page.escaped(c.name);
        page.text("</td><td>");
        page.escaped(c.state);
        page.text("</td><td class=n>");
        page.number(c.generation.into());
        page.text("</td><td class=n>");
        page.number(c.restarts);
        page.text("</td><td class=n>");
        page.number(c.cpu_us / 1000);
        for n in [c.interrupts, c.dma_faults, c.faults] {
            page.text("</td><td class=n>");
            page.number(n);
        }
        page.text("</td><td>");
        if c.faults > 0 {
            page.escaped(c.last_fault.1);
            page.text(" (");
            page.escaped(c.last_fault.0);
            page.text(")");
        }
        page.text("</td></tr>");
    }
    page.text("</table>");
    table(page, "Kernel", status.kernel);
    table(page, "NIC driver", status.driver);
    table(page, "Network stack", status.counters);
    page.text("<p><a href=\"/stats.json\">/stats.json</a></p></body></html>\n");
}

/// A titled table of named figures.
fn table(page: &mut Page, title: &str, rows: &[(&str, u64)]) {
    page.text("<h2>");
    page.text(title);
    page.text("</h2><table><tr><th>counter</th><th>value</th></tr>");
    for (name, value) in rows {
        page.text("<tr><td>");
        page.escaped(name);
        page.text("</td><td class=n>");
        page.number(*value);
        page.text("</td></tr>");
    }
    page.text("</table>");
}

/// Writes `"name":value,...` pairs.
fn json_pairs(page: &mut Page, rows: &[(&str, u64)]) {
    for (i, (name, value)) in rows.iter().enumerate() {
        if i > 0 {
            page.text(",");
        }
        page.text("\"");
        page.escaped(name);
        page.text("\":");
        page.number(*value);
    }
}

/// Renders the same figures as JSON.
pub fn render_json(status: &Status<'_>, page: &mut Page) {
    page.text("{\"address\":");
    match status.address {
        Some(a) => {
            page.text("\"");
            page.escaped(a);
            page.text("\"");
        }
        None => page.text("null"),
    }
    page.text(",\"components\":[");
    for (i, c) in status.components.iter().enumerate() {
        if i > 0 {
            page.text(",");
        }
        page.text("{\"name\":\"");
        page.escaped(c.name);
        page.text("\",\"state\":\"");
        page.escaped(c.state);
        page.text("\",\"generation\":");
        page.number(c.generation.into());
        page.text(",\"restarts\":");
        page.number(c.restarts);
        page.text(",\"cpu_us\":");
        page.number(c.cpu_us);
        page.text(",\"interrupts\":");
        page.number(c.interrupts);
        page.text(",\"dma_faults\":");
        page.number(c.dma_faults);
        page.text(",\"faults\":");
        page.number(c.faults);
        page.text(",\"last_fault\":{\"detector\":\"");
        page.escaped(c.last_fault.0);
        page.text("\",\"what\":\"");
        page.escaped(c.last_fault.1);
        page.text("\"}}");
    }
    page.text("],\"kernel\":{");
    json_pairs(page, status.kernel);
    page.text("},\"driver\":{");
    json_pairs(page, status.driver);
    page.text("},\"net\":{");
    json_pairs(page, status.counters);
    page.text("}}\n");
}

/// Writes a response head.
pub fn head(page: &mut Page, code: u16, reason: &str, content_type: &str, length: u64) {
    page.text("HTTP/1.1 ");
    page.number(code.into());
    page.text(" ");
    page.text(reason);
    page.text("\r\nServer: ward-http\r\nConnection: close\r\nContent-Type: ");
    page.text(content_type);
    page.text("\r\nContent-Length: ");
    page.number(length);
    page.text("\r\n\r\n");
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// Reading the request head.
    Head,
    /// Sending `page` from `at`, then the pattern up to `pattern_len`.
    Sending,
    /// Closed, waiting for the close's answer to free the slot.
    Closing,
}

#[derive(Clone, Copy)]
struct Connection {
    socket: u32,
    phase: Phase,
    head: [u8; MAX_HEAD],
    head_len: usize,
    /// Bytes of the rendered response (head + body) sent so far.
    at: usize,
    /// Rendered bytes to send (the page buffer is shared: rendered per chunk).
    route: Route,
    head_only: bool,
    /// Pattern bytes sent after the head (the bench route).
    pattern_sent: u64,
    head_bytes: usize,
}

/// The server.
pub struct Server {
    listener: u32,
    ready: bool,
    accept_posted: bool,
    connections: [Option<Connection>; MAX_CONNECTIONS],
    /// Requests served.
    pub served: u64,
    /// Request log lines not yet taken ([`Server::take_log`]).
    log: heapless::Deque<LogLine, LOG_QUEUE>,
    /// Log lines dropped because the queue was full.
    pub log_dropped: u64,
}

const ROLE_LISTENER: u8 = 1;
const ROLE_CONNECTION: u8 = 2;
const OP_OPEN: u8 = 0;
const OP_BIND: u8 = 1;
const OP_LISTEN: u8 = 2;
const OP_WORK: u8 = 3;

impl Default for Server {
    fn default() -> Self {
        Self::new()
    }
}

impl Server {
    /// The next line of the request log, for the serial line.
    pub fn take_log(&mut self) -> Option<LogLine> {
        self.log.pop_front()
    }

    fn log_request(&mut self, head: &[u8], code: u16) {
        if self.log.push_back(log_line(head, code)).is_err() {
            self.log_dropped += 1;
        }
    }

    /// Nothing open yet.
    pub const fn new() -> Self {
        Self {
            listener: 0,
            ready: false,
            accept_posted: false,
            connections: [None; MAX_CONNECTIONS],
            served: 0,
            log: heapless::Deque::new(),
            log_dropped: 0,
        }
    }

    /// True once listening.
    pub fn ready(&self) -> bool {
        self.ready
    }

    /// Opens the listener.
    pub fn start<M: RingMemory, const W: usize>(
        &mut self,
        client: &mut SocketClient<'_, M, W>,
    ) -> Result<(), ClientError> {
        let id = client.id(Tag::new(ROLE_LISTENER, 0, OP_OPEN));
        client.submit(
            id,
            SocketRequest::Open {
                protocol: Protocol::Tcp,
            },
        )
    }

    /// Reacts to one answer; `status` gives the figures when a page is asked
    /// for. `pages` holds one response per connection ([`MAX_CONNECTIONS`]):
    /// a response is rendered once, when its request has arrived, so that
    /// figures changing while it is sent cannot garble it.
    pub fn on_answer<M: RingMemory, const W: usize>(
        &mut self,
        client: &mut SocketClient<'_, M, W>,
        answer: &SocketResponse<'_>,
        status: &mut StatusSource<'_>,
        pages: &mut [Page],
    ) -> Result<(), ClientError> {
        let id = answer.request_id;
        let tag = Tag::of(id);
        let (role, index, op) = (tag.role, usize::from(tag.index), tag.step);
        if role == ROLE_LISTENER {
            self.on_listener(client, op, answer)?;
        } else if role == ROLE_CONNECTION && index < MAX_CONNECTIONS.min(pages.len()) {
            self.on_connection(client, index, op, answer, status, &mut pages[index])?;
        }
        if self.ready && !self.accept_posted {
            self.accept(client)?;
        }
        Ok(())
    }

    fn on_listener<M: RingMemory, const W: usize>(
        &mut self,
        client: &mut SocketClient<'_, M, W>,
        op: u8,
        answer: &SocketResponse<'_>,
    ) -> Result<(), ClientError> {
        match (op, answer.result) {
            (OP_OPEN, Ok(SocketReply::Opened { socket })) => {
                self.listener = socket;
                let id = client.id(Tag::new(ROLE_LISTENER, 0, OP_BIND));
                client.submit(
                    id,
                    SocketRequest::Bind {
                        socket,
                        local: Endpoint {
                            addr: [0; 4],
                            port: HTTP_PORT,
                        },
                    },
                )
            }
            (OP_BIND, Ok(SocketReply::Done)) => {
                let id = client.id(Tag::new(ROLE_LISTENER, 0, OP_LISTEN));
                client.submit(
                    id,
                    SocketRequest::Listen {
                        socket: self.listener,
                        backlog: BACKLOG,
                    },
                )
            }
            (OP_LISTEN, Ok(SocketReply::Done)) => {
                self.ready = true;
                Ok(())
            }
            (OP_WORK, result) => {
                self.accept_posted = false;
                if let Ok(SocketReply::Accepted { socket, .. }) = result {
                    match self.connections.iter().position(Option::is_none) {
                        Some(slot) => {
                            self.connections[slot] = Some(Connection {
                                socket,
                                phase: Phase::Head,
                                head: [0; MAX_HEAD],
                                head_len: 0,
                                at: 0,
                                route: Route::BadRequest,
                                head_only: false,
                                pattern_sent: 0,
                                head_bytes: 0,
                            });
                            self.receive(client, slot)?;
                        }
                        None => {
                            let id = client.id(Tag::new(ROLE_LISTENER, 0, OP_OPEN));
                            client.submit(id, SocketRequest::Close { socket })?;
                        }
                    }
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }

    fn accept<M: RingMemory, const W: usize>(
        &mut self,
        client: &mut SocketClient<'_, M, W>,
    ) -> Result<(), ClientError> {
        if self.connections.iter().all(Option::is_some) || client.free() < 2 {
            return Ok(());
        }
        let id = client.id(Tag::new(ROLE_LISTENER, 0, OP_WORK));
        client.submit(
            id,
            SocketRequest::Accept {
                socket: self.listener,
            },
        )?;
        self.accept_posted = true;
        Ok(())
    }

    fn receive<M: RingMemory, const W: usize>(
        &mut self,
        client: &mut SocketClient<'_, M, W>,
        slot: usize,
    ) -> Result<(), ClientError> {
        let Some(c) = &self.connections[slot] else {
            return Ok(());
        };
        let socket = c.socket;
        let want = (MAX_HEAD - c.head_len).clamp(1, client.room());
        let id = client.id(Tag::new(ROLE_CONNECTION, slot, OP_WORK));
        client.submit(
            id,
            SocketRequest::Receive {
                socket,
                max_len: want as u32,
            },
        )
    }

    fn close<M: RingMemory, const W: usize>(
        &mut self,
        client: &mut SocketClient<'_, M, W>,
        slot: usize,
    ) -> Result<(), ClientError> {
        let Some(c) = self.connections[slot].as_mut() else {
            return Ok(());
        };
        c.phase = Phase::Closing;
        let socket = c.socket;
        let id = client.id(Tag::new(ROLE_CONNECTION, slot, OP_OPEN));
        client.submit(id, SocketRequest::Close { socket })
    }

    /// Sends the next chunk of the connection's response (`page`, rendered
    /// when the request arrived; for the bench, its head, then the pattern).
    fn send_next<M: RingMemory, const W: usize>(
        &mut self,
        client: &mut SocketClient<'_, M, W>,
        slot: usize,
        page: &Page,
    ) -> Result<(), ClientError> {
        let Some(c) = self.connections[slot] else {
            return Ok(());
        };
        let mut chunk = [0u8; CHUNK];
        let n;
        if c.route == Route::Bench && c.at >= c.head_bytes {
            // The pattern, generated as it goes: 10 MiB never sits in memory.
            if c.head_only || c.pattern_sent >= BENCH_BYTES {
                return self.close(client, slot);
            }
            n = ((BENCH_BYTES - c.pattern_sent) as usize).min(CHUNK);
            let mut value = (c.pattern_sent % 251) as u8;
            for b in &mut chunk[..n] {
                *b = value;
                value = if value == 250 { 0 } else { value + 1 };
            }
        } else {
            let bytes = if c.route == Route::Bench {
                &page.bytes()[..c.head_bytes.min(page.bytes().len())]
            } else {
                page.bytes()
            };
            if c.at >= bytes.len() {
                return self.close(client, slot);
            }
            n = (bytes.len() - c.at).min(CHUNK);
            chunk[..n].copy_from_slice(&bytes[c.at..c.at + n]);
        }
        let id = client.id(Tag::new(ROLE_CONNECTION, slot, OP_WORK));
        client.submit(
            id,
            SocketRequest::Send {
                socket: c.socket,
                to: None,
                payload: &chunk[..n],
            },
        )
    }

    fn on_connection<M: RingMemory, const W: usize>(
        &mut self,
        client: &mut SocketClient<'_, M, W>,
        slot: usize,
        op: u8,
        answer: &SocketResponse<'_>,
        status: &mut StatusSource<'_>,
        page: &mut Page,
    ) -> Result<(), ClientError> {
        let Some(mut c) = self.connections[slot] else {
            return Ok(());
        };
        if op != OP_WORK {
            // A close's answer: the slot is free again.
            if c.phase == Phase::Closing && c.socket == answer.socket {
                self.connections[slot] = None;
            }
            return Ok(());
        }
        if c.socket != answer.socket || c.phase == Phase::Closing {
            return Ok(());
        }
        match answer.result {
            Ok(SocketReply::Received { data, .. }) if c.phase == Phase::Head => {
                if data.is_empty() {
                    return self.close(client, slot);
                }
                let n = data.len().min(MAX_HEAD - c.head_len);
                c.head[c.head_len..c.head_len + n].copy_from_slice(&data[..n]);
                c.head_len += n;
                match route(&c.head[..c.head_len]) {
                    None => {
                        self.connections[slot] = Some(c);
                        self.receive(client, slot)
                    }
                    Some((r, head_only)) => {
                        c.route = r;
                        c.head_only = head_only;
                        c.phase = Phase::Sending;
                        let code = render(r, head_only, status, page);
                        self.log_request(&c.head[..c.head_len], code);
                        c.head_bytes = if r == Route::Bench {
                            page.bytes().len()
                        } else {
                            0
                        };
                        self.served += 1;
                        self.connections[slot] = Some(c);
                        self.send_next(client, slot, page)
                    }
                }
            }
            Ok(SocketReply::Sent { accepted }) if c.phase == Phase::Sending => {
                if c.route == Route::Bench && c.at >= c.head_bytes {
                    c.pattern_sent += u64::from(accepted);
                } else {
                    c.at += accepted as usize;
                }
                self.connections[slot] = Some(c);
                self.send_next(client, slot, page)
            }
            _ => self.close(client, slot),
        }
    }
}

/// Renders the whole response of `route` (for the bench: its head only);
/// returns its status code.
fn render(route: Route, head_only: bool, status: &mut StatusSource<'_>, page: &mut Page) -> u16 {
    page.clear();
    let mut body = Page::new();
    let (code, reason, content_type) = match route {
        Route::StatusPage => {
            status(&mut |s| render_html(s, &mut body));
            (200, "OK", "text/html; charset=utf-8")
        }
        Route::StatsJson => {
            status(&mut |s| render_json(s, &mut body));
            (200, "OK", "application/json")
        }
        Route::Bench => {
            head(page, 200, "OK", "application/octet-stream", BENCH_BYTES);
            return 200;
        }
        Route::NotFound => {
            body.text("not found\n");
            (404, "Not Found", "text/plain")
        }
        Route::MethodNotAllowed => {
            body.text("only GET and HEAD\n");
            (405, "Method Not Allowed", "text/plain")
        }
        Route::BadRequest => {
            body.text("bad request\n");
            (400, "Bad Request", "text/plain")
        }
        Route::HeadTooLong => {
            body.text("request head too long\n");
            (431, "Request Header Fields Too Large", "text/plain")
        }
    };
    head(page, code, reason, content_type, body.bytes().len() as u64);
    if !head_only {
        page.push(body.bytes());
    }
    code
}

/// The request log line of a request whose head starts `head`, answered
/// with `code`: its request line (printable ASCII only, cut to fit), then
/// " -> code".
pub fn log_line(head: &[u8], code: u16) -> LogLine {
    let mut line = LogLine::new();
    let request = head
        .split(|b| *b == b'\r' || *b == b'\n')
        .next()
        .unwrap_or(b"");
    let code = code.min(999);
    let digit = |n: u16| b'0' + (n % 10) as u8;
    let suffix = [
        b' ',
        b'-',
        b'>',
        b' ',
        digit(code / 100),
        digit(code / 10),
        digit(code),
    ];
    let room = LOG_LINE - suffix.len();
    for b in request.iter().take(room) {
        let _ = line.push(if (0x20..0x7f).contains(b) { *b } else { b'?' });
    }
    let _ = line.extend_from_slice(&suffix);
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_lines_are_printable_and_bounded() {
        assert_eq!(
            log_line(b"GET /stats.json HTTP/1.1\r\nHost: x\r\n\r\n", 200).as_slice(),
            b"GET /stats.json HTTP/1.1 -> 200"
        );
        assert_eq!(
            log_line(b"G\x01T\xff /\r\n", 400).as_slice(),
            b"G?T? / -> 400"
        );
        let long = log_line(&[b'a'; 500], 431);
        assert_eq!(long.len(), LOG_LINE);
        assert!(long.ends_with(b"aaa -> 431"));
    }

    #[test]
    fn routes() {
        assert_eq!(
            route(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"),
            Some((Route::StatusPage, false))
        );
        assert_eq!(
            route(b"GET /stats.json HTTP/1.0\r\n\r\n"),
            Some((Route::StatsJson, false))
        );
        assert_eq!(
            route(b"HEAD /bench/10MiB HTTP/1.1\r\n\r\n"),
            Some((Route::Bench, true))
        );
        assert_eq!(
            route(b"GET /nope HTTP/1.1\r\n\r\n"),
            Some((Route::NotFound, false))
        );
        assert_eq!(
            route(b"POST / HTTP/1.1\r\n\r\n"),
            Some((Route::MethodNotAllowed, false))
        );
        assert_eq!(
            route(b"GET / SPDY\r\n\r\n"),
            Some((Route::BadRequest, false))
        );
        assert_eq!(route(b"garbage\r\n\r\n"), Some((Route::BadRequest, false)));
        assert_eq!(route(b"GET / HTTP/1.1\r\nHost"), None);
        assert_eq!(route(&[b'a'; MAX_HEAD]), Some((Route::HeadTooLong, false)));
    }

    #[test]
    fn json_is_escaped_and_complete() {
        let components = [ComponentStatus {
            name: "e1000",
            state: "running",
            generation: 2,
            restarts: 1,
            cpu_us: 1500,
            faults: 1,
            last_fault: ("iommu", "DMA write to 0x7000 blocked"),
            dma_faults: 1,
            interrupts: 42,
        }];
        let counters = [("rx.frames", 5u64), ("drop\"x", 1)];
        let kernel = [("idle_ms", 7u64)];
        let status = Status {
            components: &components,
            counters: &counters,
            kernel: &kernel,
            driver: &[],
            address: Some("10.0.2.15/24"),
        };
        let mut page = Page::new();
        render_json(&status, &mut page);
        assert_eq!(
            core::str::from_utf8(page.bytes()).unwrap(),
            "{\"address\":\"10.0.2.15/24\",\"components\":[{\"name\":\"e1000\",\"state\":\"running\",\"generation\":2,\"restarts\":1,\"cpu_us\":1500,\"interrupts\":42,\"dma_faults\":1,\"faults\":1,\"last_fault\":{\"detector\":\"iommu\",\"what\":\"DMA write to 0x7000 blocked\"}}],\"kernel\":{\"idle_ms\":7},\"driver\":{},\"net\":{\"rx.frames\":5,\"drop_x\":1}}\n"
        );
    }
}
