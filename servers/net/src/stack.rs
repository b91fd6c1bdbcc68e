//! The stack: smoltcp's interface and sockets, the applications' sessions,
//! and one bounded step of work ([`Stack::poll`]).
//!
//! **Sockets.** Every smoltcp socket is made once, at start, over memory the
//! component takes from a region of system.toml; nothing is allocated later.
//! Applications see their own socket numbers, which name an entry of the
//! application-socket table: a UDP socket, a fresh TCP socket (maybe bound),
//! a TCP listener, or a TCP connection. A listener with backlog *k* keeps up
//! to *k* smoltcp sockets listening on its port; each connection that
//! arrives waits on one of them until the application accepts it, and a
//! fresh socket starts listening in its place. A socket number carries a
//! reuse count, so a stale number is refused instead of reaching someone
//! else's socket.
//!
//! **Limits.** Socket tables are fixed; a SYN that finds every listener of a
//! port busy is dropped (the client retries; counted), a connection that
//! stays half-open longer than [`HALF_OPEN_LIMIT`] is reset (counted), and
//! each application keeps a reserve of TCP sockets that no other
//! application can take ([`Stack::new`]), so one application's flood of
//! connections cannot starve another.
//!
//! **One step.** [`Stack::poll`] takes at most [`RX_BUDGET`] frames and
//! [`REQUEST_BUDGET`] requests per application, retries parked requests,
//! sends what smoltcp queued, publishes every ring, and returns when it
//! wants to run again and which doorbells to ring.

use heapless::Vec;
use smoltcp::iface::{Config, Interface, SocketHandle, SocketSet, SocketStorage};
use smoltcp::socket::{dhcpv4, tcp, udp};
use smoltcp::time::{Duration, Instant};
use smoltcp::wire::{
    EthernetAddress, HardwareAddress, IpAddress, IpCidr, IpEndpoint, IpListenEndpoint, Ipv4Address,
    Ipv4Cidr,
};
use ward_proto::socket::{
    Endpoint, Protocol, SocketError, SocketReply, SocketRequest, HEADER_BYTES,
};
use ward_proto::wire::read_prefix;
use ward_ring::{Buffer, PairEnd, PoolMemory, RingMemory};

use crate::counters::{Counter, Counters};
use crate::device::{Doorbells, DriverPair, RingDevice};
use crate::screen::Summary;
use crate::session::{Parked, Session, Wait, MAX_SLOT_BYTES};

/// Frames taken from the driver per step: enough to drain a burst, small
/// enough that applications' requests are served between bursts (NAPI's
/// default budget is 64).
pub const RX_BUDGET: usize = 64;
/// New requests taken from one application per step, so that one busy
/// application cannot starve the others or the receive path.
pub const REQUEST_BUDGET: usize = 32;
/// How long a connection may stay half-open (SYN received, handshake not
/// completed) before its listener slot is reset for the next client: a
/// normal handshake takes one round trip, so this only ever fires for SYN
/// floods and lost clients.
pub const HALF_OPEN_LIMIT: Duration = Duration::from_millis(3_000);
/// Connections that see no answer to data or a SYN for this long are given
/// up (TimedOut / ConnectionRefused).
pub const TCP_TIMEOUT: Duration = Duration::from_millis(20_000);
/// Largest UDP payload in one unfragmented Ethernet frame (1500 - 20 - 8).
pub const MAX_UDP_PAYLOAD: usize = 1472;

/// Most TCP sockets the tables track (the component decides how many exist,
/// from its socket memory).
pub const MAX_TCP_SOCKETS: usize = 128;
/// Most UDP sockets the tables track.
pub const MAX_UDP_SOCKETS: usize = 16;
/// Most application sockets: every smoltcp socket, plus listeners and
/// fresh TCP sockets, which hold none.
pub const MAX_APP_SOCKETS: usize = MAX_TCP_SOCKETS + MAX_UDP_SOCKETS + 32;
/// Most applications (sessions): the default system has two; each session
/// costs about 9 KiB of tables.
pub const MAX_SESSIONS: usize = 4;
/// smoltcp sockets beyond TCP and UDP: the DHCP client.
pub const EXTRA_SOCKETS: usize = 1;
/// (socket, operation) pairs one retry pass remembers as blocked; past that
/// every later request waits a round (only slower, never out of order).
const BLOCKED_TRACKED: usize = 64;
/// First ephemeral port (RFC 6335's dynamic range).
const EPHEMERAL_FIRST: u16 = 49152;
/// DHCP client port, which smoltcp's DHCP socket serves.
const DHCP_CLIENT_PORT: u16 = 68;

/// How the interface gets its IPv4 address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AddressConfig {
    /// Ask a DHCP server.
    Dhcp,
    /// A fixed address.
    Static {
        /// The address.
        address: [u8; 4],
        /// Network prefix length.
        prefix_len: u8,
        /// Default gateway, if any.
        gateway: Option<[u8; 4]>,
    },
}

/// The memory the stack's sockets live in, carved by the component.
pub struct SocketMemory<'a> {
    /// smoltcp's socket table: at least `tcp.len() + udp.len() + EXTRA_SOCKETS` entries.
    pub storage: &'a mut [SocketStorage<'a>],
    /// One (receive, send) buffer pair per TCP socket.
    pub tcp: &'a mut [(&'a mut [u8], &'a mut [u8])],
    /// One receive and one send packet buffer per UDP socket.
    pub udp: &'a mut [UdpBuffers<'a>],
}

/// The buffers of one UDP socket.
pub struct UdpBuffers<'a> {
    /// Receive packet metadata.
    pub rx_meta: &'a mut [udp::PacketMetadata],
    /// Receive payload bytes.
    pub rx: &'a mut [u8],
    /// Send packet metadata.
    pub tx_meta: &'a mut [udp::PacketMetadata],
    /// Send payload bytes.
    pub tx: &'a mut [u8],
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum TcpUse {
    Free,
    /// Listening (or holding an unaccepted connection) for this app socket.
    Member {
        listener: usize,
    },
    /// A connection owned by this app socket.
    Stream {
        app: usize,
    },
    /// Closed by its application, finishing its shutdown.
    Orphan,
}

#[derive(Clone, Copy, Debug)]
struct TcpSlot {
    handle: SocketHandle,
    use_: TcpUse,
    /// When a member was first seen half-open.
    half_open_since: Option<Instant>,
}

#[derive(Clone, Copy, Debug)]
struct UdpSlot {
    handle: SocketHandle,
    app: Option<usize>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum AppKind {
    Free,
    Udp {
        udp: usize,
        remote: Option<IpEndpoint>,
    },
    TcpFresh {
        port: Option<u16>,
    },
    TcpListener {
        port: u16,
        backlog: u8,
    },
    TcpStream {
        tcp: usize,
        /// The handshake has completed once (so a later close is not a refusal).
        established: bool,
        /// When the connect started (for refused vs timed out).
        since: Instant,
    },
}

#[derive(Clone, Copy, Debug)]
struct AppSocket {
    session: usize,
    reuse: u16,
    kind: AppKind,
}

/// A successful answer; received data waits in `Stack::scratch`.
#[derive(Clone, Copy, Debug)]
enum Reply {
    Opened(u32),
    Done,
    Accepted(u32, Endpoint),
    Sent(u32),
    /// The sender, and the bytes at the front of `scratch`.
    Received(Endpoint, usize),
}

/// What a request handler decided.
enum Outcome {
    Answer(Result<Reply, SocketError>),
    Park(Wait),
}

/// What one step produced.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PollResult {
    /// Doorbells for the driver.
    pub driver: Doorbells,
    /// Bit `i` set: ring session `i`'s application.
    pub sessions: u32,
    /// Work is left (a budget ran out): run again without sleeping.
    pub busy: bool,
}

/// Why an attach was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AttachError {
    /// No session has this badge.
    UnknownClient,
}

/// The network stack.
pub struct Stack<'a, M, const W: usize> {
    iface: Interface,
    sockets: SocketSet<'a>,
    /// The NIC.
    pub device: RingDevice<'a, M, W>,
    tcp: Vec<TcpSlot, MAX_TCP_SOCKETS>,
    /// The sockets of free TCP slots, kept out of smoltcp's socket set: smoltcp walks every
    /// socket of its set on each ingress, egress and timer pass, and a hundred idle sockets
    /// cost more than the packet (docs/benchmarks.md). A slot's socket joins the set when the
    /// slot is taken ([`Stack::take_tcp_slot`]) and leaves it once closed and free again.
    idle_tcp: Vec<Option<tcp::Socket<'a>>, MAX_TCP_SOCKETS>,
    udp: Vec<UdpSlot, MAX_UDP_SOCKETS>,
    apps: Vec<AppSocket, MAX_APP_SOCKETS>,
    sessions: Vec<Session<'a, M, W>, MAX_SESSIONS>,
    dhcp: Option<SocketHandle>,
    address: Option<Ipv4Cidr>,
    next_ephemeral: u16,
    /// TCP sockets each session keeps for itself.
    reserve: usize,
    /// The time of the step in progress.
    now: Instant,
    /// Data received for the answer being written.
    scratch: [u8; MAX_SLOT_BYTES],
    /// The listeners need tending (see [`Stack::poll`]): a connection
    /// request, reset or close arrived, or a TCP slot changed hands.
    tend_due: bool,
    /// When the oldest half-open member must be reset, if one is.
    half_open_deadline: Option<Instant>,
    /// Some closed connection may still be finishing (an orphan).
    orphans: bool,
}

fn endpoint_of(e: IpEndpoint) -> Endpoint {
    let IpAddress::Ipv4(a) = e.addr;
    Endpoint {
        addr: a.octets(),
        port: e.port,
    }
}

fn ip_endpoint(e: Endpoint) -> IpEndpoint {
    IpEndpoint::new(IpAddress::Ipv4(Ipv4Address::from(e.addr)), e.port)
}

impl<'a, M: RingMemory, const W: usize> Stack<'a, M, W> {
    /// A stack on `device` with `address` configuration, its sockets in
    /// `memory`, serving the applications `clients` (badge and pool each).
    pub fn new(
        mut device: RingDevice<'a, M, W>,
        address: AddressConfig,
        memory: SocketMemory<'a>,
        clients: &[(u64, PoolMemory<'a>)],
        random_seed: u64,
        now: Instant,
    ) -> Self {
        let mac = device.nic.mac();
        let mut config = Config::new(HardwareAddress::Ethernet(EthernetAddress(mac)));
        config.random_seed = random_seed;
        let iface = Interface::new(config, &mut device, now);
        let mut sockets = SocketSet::new(memory.storage);
        let mut tcp = Vec::new();
        let mut idle_tcp = Vec::new();
        for (rx, tx) in memory.tcp.iter_mut() {
            let rx = core::mem::take(rx);
            let tx = core::mem::take(tx);
            let mut socket =
                tcp::Socket::new(tcp::SocketBuffer::new(rx), tcp::SocketBuffer::new(tx));
            socket.set_timeout(Some(TCP_TIMEOUT));
            socket.set_nagle_enabled(false);
            // Free sockets wait outside smoltcp's set (see `idle_tcp`); the handle is a
            // placeholder until the slot is taken.
            let handle = sockets.add(socket);
            let smoltcp::socket::Socket::Tcp(socket) = sockets.remove(handle) else {
                unreachable!("the socket just added is a TCP socket");
            };
            if tcp
                .push(TcpSlot {
                    handle,
                    use_: TcpUse::Free,
                    half_open_since: None,
                })
                .is_err()
                || idle_tcp.push(Some(socket)).is_err()
            {
                break;
            }
        }
        let mut udp = Vec::new();
        for buffers in memory.udp.iter_mut() {
            let rx = udp::PacketBuffer::new(
                core::mem::take(&mut buffers.rx_meta),
                core::mem::take(&mut buffers.rx),
            );
            let tx = udp::PacketBuffer::new(
                core::mem::take(&mut buffers.tx_meta),
                core::mem::take(&mut buffers.tx),
            );
            let handle = sockets.add(udp::Socket::new(rx, tx));
            if udp.push(UdpSlot { handle, app: None }).is_err() {
                break;
            }
        }
        let mut sessions = Vec::new();
        for (badge, pool) in clients {
            let _ = sessions.push(Session::new(*badge, *pool));
        }
        // Each application keeps a quarter of its fair share of TCP sockets.
        let reserve = tcp.len() / (4 * sessions.len().max(1));
        let mut stack = Self {
            iface,
            sockets,
            device,
            tcp,
            idle_tcp,
            udp,
            apps: Vec::new(),
            sessions,
            dhcp: None,
            address: None,
            next_ephemeral: EPHEMERAL_FIRST + (random_seed % 1024) as u16,
            reserve,
            now,
            scratch: [0; MAX_SLOT_BYTES],
            tend_due: true,
            half_open_deadline: None,
            orphans: false,
        };
        match address {
            AddressConfig::Dhcp => {
                stack.dhcp = Some(stack.sockets.add(dhcpv4::Socket::new()));
            }
            AddressConfig::Static {
                address,
                prefix_len,
                gateway,
            } => stack.configure(
                Some(Ipv4Cidr::new(Ipv4Address::from(address), prefix_len)),
                gateway.map(Ipv4Address::from),
            ),
        }
        stack
    }

    /// Sets the station address (the driver reported it).
    pub fn set_mac(&mut self, mac: [u8; 6]) {
        self.device.nic.set_mac(mac);
        self.iface
            .set_hardware_addr(HardwareAddress::Ethernet(EthernetAddress(mac)));
    }

    /// The interface address, once configured.
    pub fn address(&self) -> Option<Ipv4Cidr> {
        self.address
    }

    /// Every counter.
    pub fn counters(&self) -> &Counters {
        &self.device.nic.counters
    }

    fn count(&mut self, counter: Counter) {
        self.device.nic.counters.bump(counter);
    }

    fn configure(&mut self, address: Option<Ipv4Cidr>, gateway: Option<Ipv4Address>) {
        self.address = address;
        self.iface.update_ip_addrs(|addrs| {
            addrs.clear();
            if let Some(a) = address {
                let _ = addrs.push(IpCidr::Ipv4(a));
            }
        });
        match gateway {
            Some(g) => {
                let _ = self.iface.routes_mut().add_default_ipv4_route(g);
            }
            None => {
                self.iface.routes_mut().remove_default_ipv4_route();
            }
        }
    }

    /// Session index of `badge`.
    pub fn session_of(&self, badge: u64) -> Option<usize> {
        self.sessions.iter().position(|s| s.badge == badge)
    }

    /// Buffers the stack holds from session `index`'s application.
    pub fn session_held(&self, index: usize) -> u32 {
        self.sessions.get(index).map_or(0, |s| s.held())
    }

    /// The application with `badge` attached `end` (its pair, initialised by
    /// the application): every socket of its earlier attachment is dropped.
    pub fn attach(&mut self, badge: u64, end: PairEnd<M, W>) -> Result<usize, AttachError> {
        let index = self.session_of(badge).ok_or(AttachError::UnknownClient)?;
        self.drop_sockets_of(index);
        self.sessions[index].attach(end);
        self.count(Counter::AppAttaches);
        Ok(index)
    }

    /// The driver restarted: new pairs, every buffer re-lent.
    pub fn driver_restarted(&mut self, rx: DriverPair<'a, M, W>, tx: DriverPair<'a, M, W>) {
        self.device.nic.driver_restarted(rx, tx);
    }

    fn drop_sockets_of(&mut self, session: usize) {
        for index in 0..self.apps.len() {
            if self.apps[index].session == session && self.apps[index].kind != AppKind::Free {
                self.release_app(index, true);
            }
        }
    }

    // ---- one step ---------------------------------------------------------------------------

    /// Does one bounded step of work at time `now`.
    pub fn poll(&mut self, now: Instant) -> PollResult {
        let mut result = PollResult::default();
        self.now = now;
        self.iface.poll_maintenance(now);
        // Receive.
        let mut frames = 0;
        while frames < RX_BUDGET {
            let outcome = self
                .iface
                .poll_ingress_single(now, &mut self.device, &mut self.sockets);
            if outcome == smoltcp::iface::PollIngressSingleResult::None {
                break;
            }
            frames += 1;
            if let Some(summary) = self.device.nic.take_summary() {
                if matches!(summary, Summary::Tcp { control: true, .. }) {
                    self.tend_due = true;
                }
                self.account(summary);
                if matches!(summary, Summary::Tcp { syn: true, .. }) {
                    // A listener may just have taken its last free slot.
                    self.mark_full_ports();
                }
            }
        }
        result.busy |= frames == RX_BUDGET;
        self.dhcp_events();
        // Tending walks every TCP slot, so it runs only when a listener's
        // members may have changed, not for every data segment and datagram.
        if self.tend_due || self.half_open_deadline.is_some_and(|d| now >= d) {
            self.tend_due = false;
            self.tend_listeners(now);
        }
        // Parked requests first (they came first), then new ones.
        for s in 0..self.sessions.len() {
            self.retry_parked(s);
        }
        for s in 0..self.sessions.len() {
            result.busy |= self.serve_session(s, now);
        }
        // Send.
        loop {
            let r = self
                .iface
                .poll_egress(now, &mut self.device, &mut self.sockets);
            if r == smoltcp::iface::PollResult::None {
                break;
            }
        }
        if self.orphans {
            self.collect_orphans();
        }
        // Publish everything.
        let parked = self.sessions.iter().map(|s| s.parked.len() as u64).sum();
        self.device.nic.counters.set(Counter::AppParked, parked);
        result.driver = self.device.nic.flush();
        for (i, session) in self.sessions.iter_mut().enumerate() {
            session.flush();
            if core::mem::take(&mut session.doorbell) {
                result.sessions |= 1 << i;
            }
        }
        result
    }

    /// When the stack next needs to run if nothing arrives (`None`: only
    /// when something arrives).
    pub fn poll_at(&mut self, now: Instant) -> Option<Instant> {
        let at = self.iface.poll_at(now, &self.sockets);
        // Half-open connections must be reset on time; parked connects,
        // sends and receives complete through smoltcp's own timers.
        match (at, self.half_open_deadline) {
            (Some(a), Some(d)) => Some(a.min(d)),
            (a, d) => a.or(d),
        }
    }

    /// Asks the driver and every application to ring when there is work;
    /// false if there is work now (do not sleep).
    pub fn prepare_sleep(&mut self) -> bool {
        let mut sleep = self.device.nic.prepare_sleep();
        for session in self.sessions.iter_mut() {
            sleep &= session.prepare_sleep();
        }
        sleep
    }

    /// Counts what the socket tables do with a frame smoltcp just took.
    fn account(&mut self, summary: Summary) {
        match summary {
            Summary::Tcp {
                port, syn: true, ..
            } => {
                let listening = self
                    .apps
                    .iter()
                    .any(|a| matches!(a.kind, AppKind::TcpListener { port: p, .. } if p == port));
                if !listening {
                    if !self.tcp_port_in_use(port) {
                        self.count(Counter::TcpClosedPort);
                    }
                } else {
                    let free_member = self.tcp.iter().any(|t| {
                        matches!(t.use_, TcpUse::Member { .. })
                            && t.half_open_since.is_none()
                            && self.sockets.get::<tcp::Socket>(t.handle).state()
                                == tcp::State::Listen
                    });
                    // smoltcp has just taken the SYN if a member was
                    // listening; if none is left and none was taken, the
                    // backlog was full.
                    if !free_member && !self.any_member_just_synced(port) {
                        self.count(Counter::TcpBacklogFull);
                    }
                }
            }
            Summary::Udp { port, .. }
                if port != DHCP_CLIENT_PORT
                    && !self.udp.iter().any(|u| {
                        u.app.is_some()
                            && self.sockets.get::<udp::Socket>(u.handle).endpoint().port == port
                    }) =>
            {
                self.count(Counter::UdpNoSocket);
            }
            _ => {}
        }
    }

    /// True if a member of a listener on `port` is half-open but not yet
    /// noted as such (it took the SYN just now).
    fn any_member_just_synced(&self, port: u16) -> bool {
        self.tcp.iter().any(|t| {
            if !matches!(t.use_, TcpUse::Member { .. }) || t.half_open_since.is_some() {
                return false;
            }
            let socket = self.sockets.get::<tcp::Socket>(t.handle);
            socket.state() == tcp::State::SynReceived
                && socket.local_endpoint().map(|e| e.port) == Some(port)
        })
    }

    fn tcp_port_in_use(&self, port: u16) -> bool {
        self.tcp.iter().any(|t| {
            t.use_ != TcpUse::Free
                && self
                    .sockets
                    .get::<tcp::Socket>(t.handle)
                    .local_endpoint()
                    .is_some_and(|e| e.port == port)
        })
    }

    fn dhcp_events(&mut self) {
        let Some(handle) = self.dhcp else { return };
        let event = self.sockets.get_mut::<dhcpv4::Socket>(handle).poll();
        match event {
            None => {}
            Some(dhcpv4::Event::Configured(config)) => {
                let (address, router) = (config.address, config.router);
                self.configure(Some(address), router);
                self.count(Counter::DhcpLeases);
            }
            Some(dhcpv4::Event::Deconfigured) => self.configure(None, None),
        }
    }

    // ---- listeners -----------------------------------------------------------------------

    /// Resets members that stayed half-open too long, and tops every
    /// listener up to its backlog.
    fn tend_listeners(&mut self, now: Instant) {
        let mut deadline: Option<Instant> = None;
        for i in 0..self.tcp.len() {
            let TcpUse::Member { listener } = self.tcp[i].use_ else {
                continue;
            };
            let socket = self.sockets.get_mut::<tcp::Socket>(self.tcp[i].handle);
            match socket.state() {
                tcp::State::SynReceived => match self.tcp[i].half_open_since {
                    None => self.tcp[i].half_open_since = Some(now),
                    Some(since) if now >= since + HALF_OPEN_LIMIT => {
                        socket.abort();
                        self.tcp[i].half_open_since = None;
                        self.device.nic.counters.bump(Counter::TcpHalfOpenReset);
                        self.relisten(i, listener);
                    }
                    Some(_) => {}
                },
                tcp::State::Closed => {
                    // Reset before it was accepted: listen again.
                    self.tcp[i].half_open_since = None;
                    self.relisten(i, listener);
                }
                _ => self.tcp[i].half_open_since = None,
            }
            if let Some(since) = self.tcp[i].half_open_since {
                let due = since + HALF_OPEN_LIMIT;
                deadline = Some(deadline.map_or(due, |d: Instant| d.min(due)));
            }
        }
        self.half_open_deadline = deadline;
        self.refill_listeners();
        self.mark_full_ports();
    }

    /// Tops every listener up to its backlog.
    fn refill_listeners(&mut self) {
        for app in 0..self.apps.len() {
            if let AppKind::TcpListener { port, backlog } = self.apps[app].kind {
                let members = self.members_of(app);
                for _ in members..usize::from(backlog) {
                    let Some(slot) = self.take_tcp_slot(self.apps[app].session) else {
                        break;
                    };
                    let socket = self.sockets.get_mut::<tcp::Socket>(self.tcp[slot].handle);
                    if socket
                        .listen(IpListenEndpoint { addr: None, port })
                        .is_err()
                    {
                        break;
                    }
                    self.tcp[slot].use_ = TcpUse::Member { listener: app };
                }
            }
        }
    }

    /// Tells the device which listening ports have no listener free.
    fn mark_full_ports(&mut self) {
        let mut full: Vec<u16, 16> = Vec::new();
        for app in 0..self.apps.len() {
            let AppKind::TcpListener { port, .. } = self.apps[app].kind else {
                continue;
            };
            let free = self.tcp.iter().any(|t| {
                t.use_ == (TcpUse::Member { listener: app })
                    && self.sockets.get::<tcp::Socket>(t.handle).state() == tcp::State::Listen
            });
            if !free {
                let _ = full.push(port);
            }
        }
        self.device.nic.set_full_ports(&full);
    }

    fn relisten(&mut self, slot: usize, listener: usize) {
        let AppKind::TcpListener { port, .. } = self.apps[listener].kind else {
            self.tcp[slot].use_ = TcpUse::Free;
            return;
        };
        let socket = self.sockets.get_mut::<tcp::Socket>(self.tcp[slot].handle);
        if socket
            .listen(IpListenEndpoint { addr: None, port })
            .is_err()
        {
            socket.abort();
            self.tcp[slot].use_ = TcpUse::Free;
        }
    }

    fn members_of(&self, listener: usize) -> usize {
        self.tcp
            .iter()
            .filter(|t| t.use_ == TcpUse::Member { listener })
            .count()
    }

    /// TCP slots in use by `session`.
    fn tcp_used_by(&self, session: usize) -> usize {
        self.tcp
            .iter()
            .filter(|t| match t.use_ {
                TcpUse::Member { listener } => self.apps[listener].session == session,
                TcpUse::Stream { app } => self.apps[app].session == session,
                _ => false,
            })
            .count()
    }

    /// A free TCP slot for `session`, respecting the other sessions'
    /// reserves; a closing orphan in TIME-WAIT is recycled if nothing else is free.
    fn take_tcp_slot(&mut self, session: usize) -> Option<usize> {
        let free = self.tcp.iter().filter(|t| t.use_ == TcpUse::Free).count();
        let reserved_for_others: usize = (0..self.sessions.len())
            .filter(|&s| s != session)
            .map(|s| self.reserve.saturating_sub(self.tcp_used_by(s)))
            .sum();
        let recyclable = self.tcp.iter().position(|t| {
            t.use_ == TcpUse::Orphan
                && self.sockets.get::<tcp::Socket>(t.handle).state() == tcp::State::TimeWait
        });
        if free > reserved_for_others {
            let slot = self.tcp.iter().position(|t| t.use_ == TcpUse::Free)?;
            // Into smoltcp's set, with a fresh handle.
            if let Some(socket) = self.idle_tcp[slot].take() {
                self.tcp[slot].handle = self.sockets.add(socket);
            }
            return Some(slot);
        }
        let slot = recyclable?;
        self.sockets
            .get_mut::<tcp::Socket>(self.tcp[slot].handle)
            .abort();
        self.tcp[slot].use_ = TcpUse::Free;
        self.tend_due = true;
        Some(slot)
    }

    /// Frees the orphans that finished closing (their sockets leave smoltcp's
    /// set); notes whether any is left.
    fn collect_orphans(&mut self) {
        let mut left = false;
        for (slot, idle) in self.tcp.iter_mut().zip(self.idle_tcp.iter_mut()) {
            if slot.use_ != TcpUse::Orphan {
                continue;
            }
            if self.sockets.get::<tcp::Socket>(slot.handle).state() == tcp::State::Closed {
                slot.use_ = TcpUse::Free;
                if let smoltcp::socket::Socket::Tcp(socket) = self.sockets.remove(slot.handle) {
                    *idle = Some(socket);
                }
                // A free slot may complete a listener's backlog.
                self.tend_due = true;
            } else {
                left = true;
            }
        }
        self.orphans = left;
    }

    // ---- application sockets ---------------------------------------------------------------

    fn socket_id(&self, app: usize) -> u32 {
        (u32::from(self.apps[app].reuse) << 16) | (app as u32 + 1)
    }

    /// The app socket `id` names, if it belongs to `session`.
    fn lookup(&self, session: usize, id: u32) -> Result<usize, SocketError> {
        let index = (id & 0xffff)
            .checked_sub(1)
            .ok_or(SocketError::NoSuchSocket)? as usize;
        let app = self.apps.get(index).ok_or(SocketError::NoSuchSocket)?;
        if app.session != session || app.kind == AppKind::Free || u32::from(app.reuse) != id >> 16 {
            return Err(SocketError::NoSuchSocket);
        }
        Ok(index)
    }

    fn new_app(&mut self, session: usize, kind: AppKind) -> Result<usize, SocketError> {
        let used = self
            .apps
            .iter()
            .filter(|a| a.session == session && a.kind != AppKind::Free)
            .count();
        // An application may hold at most its share of the table plus the
        // unused reserves, like TCP slots.
        let others: usize = (0..self.sessions.len())
            .filter(|&s| s != session)
            .map(|s| {
                let theirs = self
                    .apps
                    .iter()
                    .filter(|a| a.session == s && a.kind != AppKind::Free)
                    .count();
                self.reserve.saturating_sub(theirs)
            })
            .sum();
        let free = MAX_APP_SOCKETS - self.apps.len()
            + self.apps.iter().filter(|a| a.kind == AppKind::Free).count();
        if free <= others || used >= MAX_APP_SOCKETS {
            return Err(SocketError::NoResources);
        }
        if let Some(index) = self.apps.iter().position(|a| a.kind == AppKind::Free) {
            let a = &mut self.apps[index];
            a.session = session;
            a.reuse = a.reuse.wrapping_add(1);
            a.kind = kind;
            return Ok(index);
        }
        self.apps
            .push(AppSocket {
                session,
                reuse: 1,
                kind,
            })
            .map_err(|_| SocketError::NoResources)?;
        Ok(self.apps.len() - 1)
    }

    /// Frees app socket `app`. `abort`: reset connections instead of closing them.
    fn release_app(&mut self, app: usize, abort: bool) {
        match self.apps[app].kind {
            AppKind::Free | AppKind::TcpFresh { .. } => {}
            AppKind::Udp { udp, .. } => {
                self.sockets
                    .get_mut::<udp::Socket>(self.udp[udp].handle)
                    .close();
                self.udp[udp].app = None;
            }
            AppKind::TcpListener { .. } => {
                for slot in self.tcp.iter_mut() {
                    if slot.use_ == (TcpUse::Member { listener: app }) {
                        self.sockets.get_mut::<tcp::Socket>(slot.handle).abort();
                        slot.use_ = TcpUse::Orphan;
                        slot.half_open_since = None;
                    }
                }
            }
            AppKind::TcpStream { tcp, .. } => {
                let socket = self.sockets.get_mut::<tcp::Socket>(self.tcp[tcp].handle);
                if abort {
                    socket.abort();
                } else {
                    socket.close();
                }
                self.tcp[tcp].use_ = TcpUse::Orphan;
            }
        }
        self.apps[app].kind = AppKind::Free;
        self.orphans = true;
        self.tend_due = true;
    }

    fn ephemeral_port(&mut self) -> u16 {
        for _ in 0..(u16::MAX - EPHEMERAL_FIRST) {
            let port = self.next_ephemeral;
            self.next_ephemeral = if port == u16::MAX {
                EPHEMERAL_FIRST
            } else {
                port + 1
            };
            let udp_taken = self
                .udp
                .iter()
                .any(|u| self.sockets.get::<udp::Socket>(u.handle).endpoint().port == port);
            if !udp_taken && !self.tcp_port_in_use(port) && !self.port_reserved(port) {
                return port;
            }
        }
        EPHEMERAL_FIRST
    }

    /// True if an app socket has bound or listens on TCP `port`.
    fn port_reserved(&self, port: u16) -> bool {
        self.apps.iter().any(|a| {
            matches!(a.kind, AppKind::TcpFresh { port: Some(p) } | AppKind::TcpListener { port: p, .. } if p == port)
        })
    }

    fn local_address_ok(&self, addr: [u8; 4]) -> bool {
        addr == [0; 4] || self.address.is_some_and(|a| a.address().octets() == addr)
    }

    // ---- sessions --------------------------------------------------------------------------

    /// Takes new requests from session `s`; true if its budget ran out.
    fn serve_session(&mut self, s: usize, now: Instant) -> bool {
        for _ in 0..REQUEST_BUDGET {
            let buffer = match self.sessions[s].next_request() {
                Ok(Some(b)) => b,
                Ok(None) => return false,
                Err(_) => {
                    self.count(Counter::AppProtocolErrors);
                    continue;
                }
            };
            self.count(Counter::AppRequests);
            self.handle(s, buffer, now);
        }
        true
    }

    fn handle(&mut self, s: usize, buffer: Buffer, now: Instant) {
        let mut copy = [0u8; MAX_SLOT_BYTES];
        let n = self.sessions[s].read_request(&buffer, &mut copy);
        let bytes = &copy[..n];
        let (request_id, request) = match SocketRequest::decode(bytes) {
            Ok(r) => r,
            Err(_) => {
                self.count(Counter::AppMalformed);
                // Answer with what can be salvaged from the header.
                let (op, id, socket) = read_prefix::<ward_proto::socket::SocketHeader>(bytes)
                    .map(|(h, _)| (h.op & !ward_proto::socket::RESPONSE, h.request_id, h.socket))
                    .unwrap_or((0, buffer.cookie(), 0));
                self.sessions[s].answer(buffer, id, op, socket, Err(SocketError::InvalidArgument));
                return;
            }
        };
        let (op, socket) = op_and_socket(&request);
        // A socket with parked requests keeps its order: a new request for
        // it waits behind them.
        let behind = socket != 0
            && self.sessions[s]
                .parked
                .iter()
                .any(|p| p.wait.socket() == socket && p.wait.op() == op);
        let outcome = match request {
            SocketRequest::Open { protocol } => self.open(s, protocol),
            SocketRequest::Bind { socket, local } => self.bind(s, socket, local),
            SocketRequest::Listen { socket, backlog } => self.listen(s, socket, backlog, now),
            SocketRequest::Connect { socket, remote } => self.connect(s, socket, remote, now),
            SocketRequest::Close { socket } => self.close(s, socket),
            SocketRequest::Accept { socket } if !behind => self.accept(s, socket),
            SocketRequest::Receive { socket, max_len } if !behind => {
                self.receive(s, buffer, socket, max_len)
            }
            SocketRequest::Send {
                socket,
                to,
                payload,
            } if !behind => {
                let len = payload.len() as u32;
                self.send(s, buffer, socket, to, len)
            }
            SocketRequest::Accept { socket } => Outcome::Park(Wait::Accept { socket }),
            SocketRequest::Receive { socket, max_len } => {
                Outcome::Park(Wait::Receive { socket, max_len })
            }
            SocketRequest::Send {
                socket,
                to,
                payload,
            } => Outcome::Park(Wait::Send {
                socket,
                len: payload.len() as u32,
                to,
            }),
        };
        self.finish(s, buffer, request_id, op, socket, outcome);
    }

    fn finish(
        &mut self,
        s: usize,
        buffer: Buffer,
        request_id: u32,
        op: u16,
        socket: u32,
        outcome: Outcome,
    ) {
        match outcome {
            Outcome::Answer(result) => {
                let result = result.map(|reply| match reply {
                    Reply::Opened(socket) => SocketReply::Opened { socket },
                    Reply::Done => SocketReply::Done,
                    Reply::Accepted(socket, peer) => SocketReply::Accepted { socket, peer },
                    Reply::Sent(accepted) => SocketReply::Sent { accepted },
                    Reply::Received(from, n) => SocketReply::Received {
                        from,
                        data: &self.scratch[..n],
                    },
                });
                self.sessions[s].answer(buffer, request_id, op, socket, result);
            }
            Outcome::Park(wait) => {
                let parked = Parked {
                    buffer,
                    request_id,
                    wait,
                };
                if self.sessions[s].parked.push_back(parked).is_err() {
                    // Cannot happen: the session holds at most its pool's
                    // slots, which the table covers. Answer rather than lose.
                    self.sessions[s].answer(
                        buffer,
                        request_id,
                        op,
                        socket,
                        Err(SocketError::NoResources),
                    );
                }
            }
        }
    }

    fn retry_parked(&mut self, s: usize) {
        if !self.sessions[s].active() {
            return;
        }
        // Requests of one socket and operation are answered in order: once
        // one parks again, the ones behind it wait too.
        let mut blocked: Vec<(u32, u16), BLOCKED_TRACKED> = Vec::new();
        let count = self.sessions[s].parked.len();
        for _ in 0..count {
            let Some(p) = self.sessions[s].parked.pop_front() else {
                break;
            };
            let socket = p.wait.socket();
            let key = (socket, p.wait.op());
            let behind = blocked.is_full() || blocked.contains(&key);
            let outcome = if behind {
                Outcome::Park(p.wait)
            } else {
                match p.wait {
                    Wait::Accept { socket } => self.accept(s, socket),
                    Wait::Receive { socket, max_len } => self.receive(s, p.buffer, socket, max_len),
                    Wait::Send { socket, len, to } => self.send(s, p.buffer, socket, to, len),
                    Wait::Connect { socket } => self.connect_progress(s, socket),
                }
            };
            if matches!(outcome, Outcome::Park(_)) && !blocked.contains(&key) {
                let _ = blocked.push(key);
            }
            // A request that parks again goes to the back, keeping the
            // order of the ones still waiting.
            self.finish(s, p.buffer, p.request_id, key.1, socket, outcome);
        }
    }

    // ---- operations ------------------------------------------------------------------------

    fn open(&mut self, s: usize, protocol: Protocol) -> Outcome {
        let kind = match protocol {
            Protocol::Tcp => AppKind::TcpFresh { port: None },
            Protocol::Udp => {
                let Some(udp) = self.udp.iter().position(|u| u.app.is_none()) else {
                    self.count(Counter::AppNoResources);
                    return Outcome::Answer(Err(SocketError::NoResources));
                };
                AppKind::Udp { udp, remote: None }
            }
        };
        match self.new_app(s, kind) {
            Ok(app) => {
                if let AppKind::Udp { udp, .. } = kind {
                    self.udp[udp].app = Some(app);
                }
                Outcome::Answer(Ok(Reply::Opened(self.socket_id(app))))
            }
            Err(e) => {
                self.count(Counter::AppNoResources);
                Outcome::Answer(Err(e))
            }
        }
    }

    fn bind(&mut self, s: usize, id: u32, local: Endpoint) -> Outcome {
        let app = match self.lookup(s, id) {
            Ok(a) => a,
            Err(e) => return Outcome::Answer(Err(e)),
        };
        if !self.local_address_ok(local.addr) {
            return Outcome::Answer(Err(SocketError::InvalidArgument));
        }
        let result = match self.apps[app].kind {
            AppKind::Udp { udp, .. } => {
                let port = if local.port == 0 {
                    self.ephemeral_port()
                } else {
                    local.port
                };
                let taken = self.udp.iter().enumerate().any(|(i, u)| {
                    i != udp && self.sockets.get::<udp::Socket>(u.handle).endpoint().port == port
                }) || port == DHCP_CLIENT_PORT;
                if taken {
                    Err(SocketError::AddressInUse)
                } else {
                    let socket = self.sockets.get_mut::<udp::Socket>(self.udp[udp].handle);
                    if socket.is_open() {
                        Err(SocketError::InvalidArgument)
                    } else {
                        socket
                            .bind(port)
                            .map(|_| Reply::Done)
                            .map_err(|_| SocketError::InvalidArgument)
                    }
                }
            }
            AppKind::TcpFresh { port: None } => {
                let port = if local.port == 0 {
                    self.ephemeral_port()
                } else {
                    local.port
                };
                if self.port_reserved(port) {
                    Err(SocketError::AddressInUse)
                } else {
                    self.apps[app].kind = AppKind::TcpFresh { port: Some(port) };
                    Ok(Reply::Done)
                }
            }
            _ => Err(SocketError::InvalidArgument),
        };
        Outcome::Answer(result)
    }

    fn listen(&mut self, s: usize, id: u32, backlog: u32, now: Instant) -> Outcome {
        let app = match self.lookup(s, id) {
            Ok(a) => a,
            Err(e) => return Outcome::Answer(Err(e)),
        };
        let result = match self.apps[app].kind {
            AppKind::Udp { .. } => Err(SocketError::WrongProtocol),
            AppKind::TcpFresh { port: Some(port) } => {
                self.apps[app].kind = AppKind::TcpListener {
                    port,
                    backlog: backlog.min(u32::from(u8::MAX)) as u8,
                };
                self.tend_listeners(now);
                if self.members_of(app) == 0 {
                    self.apps[app].kind = AppKind::TcpFresh { port: Some(port) };
                    self.count(Counter::AppNoResources);
                    Err(SocketError::NoResources)
                } else {
                    Ok(Reply::Done)
                }
            }
            _ => Err(SocketError::InvalidArgument),
        };
        Outcome::Answer(result)
    }

    fn accept(&mut self, s: usize, id: u32) -> Outcome {
        let listener = match self.lookup(s, id) {
            Ok(a) => a,
            Err(e) => return Outcome::Answer(Err(e)),
        };
        match self.apps[listener].kind {
            AppKind::TcpListener { .. } => {}
            AppKind::Udp { .. } => return Outcome::Answer(Err(SocketError::WrongProtocol)),
            _ => return Outcome::Answer(Err(SocketError::InvalidArgument)),
        }
        let ready = self.tcp.iter().position(|t| {
            t.use_ == (TcpUse::Member { listener })
                && matches!(
                    self.sockets.get::<tcp::Socket>(t.handle).state(),
                    tcp::State::Established | tcp::State::CloseWait
                )
        });
        let Some(slot) = ready else {
            return Outcome::Park(Wait::Accept { socket: id });
        };
        let app = match self.new_app(
            s,
            AppKind::TcpStream {
                tcp: slot,
                established: true,
                since: Instant::ZERO,
            },
        ) {
            Ok(a) => a,
            Err(e) => {
                self.count(Counter::AppNoResources);
                return Outcome::Answer(Err(e));
            }
        };
        self.tcp[slot].use_ = TcpUse::Stream { app };
        self.tcp[slot].half_open_since = None;
        // The listener has a member fewer: top it up.
        self.tend_due = true;
        self.count(Counter::TcpAccepted);
        let peer = self
            .sockets
            .get::<tcp::Socket>(self.tcp[slot].handle)
            .remote_endpoint()
            .map(endpoint_of)
            .unwrap_or(Endpoint {
                addr: [0; 4],
                port: 0,
            });
        Outcome::Answer(Ok(Reply::Accepted(self.socket_id(app), peer)))
    }

    fn connect(&mut self, s: usize, id: u32, remote: Endpoint, now: Instant) -> Outcome {
        let app = match self.lookup(s, id) {
            Ok(a) => a,
            Err(e) => return Outcome::Answer(Err(e)),
        };
        match self.apps[app].kind {
            AppKind::Udp { udp, .. } => {
                self.apps[app].kind = AppKind::Udp {
                    udp,
                    remote: Some(ip_endpoint(remote)),
                };
                Outcome::Answer(Ok(Reply::Done))
            }
            AppKind::TcpFresh { port } => {
                if remote.addr == [0; 4] {
                    return Outcome::Answer(Err(SocketError::InvalidArgument));
                }
                let Some(slot) = self.take_tcp_slot(s) else {
                    self.count(Counter::AppNoResources);
                    return Outcome::Answer(Err(SocketError::NoResources));
                };
                let local = port.unwrap_or_else(|| self.ephemeral_port());
                let handle = self.tcp[slot].handle;
                let socket = self.sockets.get_mut::<tcp::Socket>(handle);
                if socket
                    .connect(self.iface.context(), ip_endpoint(remote), local)
                    .is_err()
                {
                    return Outcome::Answer(Err(SocketError::InvalidArgument));
                }
                self.tcp[slot].use_ = TcpUse::Stream { app };
                self.apps[app].kind = AppKind::TcpStream {
                    tcp: slot,
                    established: false,
                    since: now,
                };
                Outcome::Park(Wait::Connect { socket: id })
            }
            _ => Outcome::Answer(Err(SocketError::InvalidArgument)),
        }
    }

    fn connect_progress(&mut self, s: usize, id: u32) -> Outcome {
        let app = match self.lookup(s, id) {
            Ok(a) => a,
            Err(e) => return Outcome::Answer(Err(e)),
        };
        let AppKind::TcpStream { tcp, since, .. } = self.apps[app].kind else {
            return Outcome::Answer(Err(SocketError::InvalidArgument));
        };
        let state = self
            .sockets
            .get::<tcp::Socket>(self.tcp[tcp].handle)
            .state();
        match state {
            tcp::State::SynSent | tcp::State::SynReceived => {
                Outcome::Park(Wait::Connect { socket: id })
            }
            tcp::State::Closed | tcp::State::TimeWait => {
                if self.now >= since + TCP_TIMEOUT {
                    Outcome::Answer(Err(SocketError::TimedOut))
                } else {
                    Outcome::Answer(Err(SocketError::ConnectionRefused))
                }
            }
            _ => {
                self.apps[app].kind = AppKind::TcpStream {
                    tcp,
                    established: true,
                    since,
                };
                Outcome::Answer(Ok(Reply::Done))
            }
        }
    }

    fn send(
        &mut self,
        s: usize,
        buffer: Buffer,
        id: u32,
        to: Option<Endpoint>,
        len: u32,
    ) -> Outcome {
        let app = match self.lookup(s, id) {
            Ok(a) => a,
            Err(e) => return Outcome::Answer(Err(e)),
        };
        let mut payload = [0u8; MAX_SLOT_BYTES];
        let n = self.sessions[s].read_payload(&buffer, len, &mut payload);
        let payload = &payload[..n];
        let wait = Wait::Send {
            socket: id,
            len,
            to,
        };
        match self.apps[app].kind {
            AppKind::Udp { udp, remote } => {
                let Some(destination) = to.map(ip_endpoint).or(remote) else {
                    return Outcome::Answer(Err(SocketError::NotConnected));
                };
                if payload.len() > MAX_UDP_PAYLOAD {
                    return Outcome::Answer(Err(SocketError::InvalidArgument));
                }
                if !self
                    .sockets
                    .get::<udp::Socket>(self.udp[udp].handle)
                    .is_open()
                {
                    let port = self.ephemeral_port();
                    let _ = self
                        .sockets
                        .get_mut::<udp::Socket>(self.udp[udp].handle)
                        .bind(port);
                }
                let socket = self.sockets.get_mut::<udp::Socket>(self.udp[udp].handle);
                match socket.send_slice(payload, destination) {
                    Ok(()) => Outcome::Answer(Ok(Reply::Sent(payload.len() as u32))),
                    Err(udp::SendError::BufferFull) => Outcome::Park(wait),
                    Err(udp::SendError::Unaddressable) => {
                        Outcome::Answer(Err(SocketError::InvalidArgument))
                    }
                }
            }
            AppKind::TcpStream { tcp, .. } => {
                if to.is_some() {
                    return Outcome::Answer(Err(SocketError::InvalidArgument));
                }
                let socket = self.sockets.get_mut::<tcp::Socket>(self.tcp[tcp].handle);
                match socket.state() {
                    tcp::State::SynSent | tcp::State::SynReceived => return Outcome::Park(wait),
                    tcp::State::Closed => {
                        return Outcome::Answer(Err(SocketError::ConnectionReset))
                    }
                    _ if !socket.may_send() => return Outcome::Answer(Err(SocketError::Closed)),
                    _ => {}
                }
                match socket.send_slice(payload) {
                    Ok(0) if !payload.is_empty() => Outcome::Park(wait),
                    Ok(sent) => Outcome::Answer(Ok(Reply::Sent(sent as u32))),
                    Err(_) => Outcome::Answer(Err(SocketError::Closed)),
                }
            }
            AppKind::TcpListener { .. } | AppKind::TcpFresh { .. } => {
                Outcome::Answer(Err(SocketError::NotConnected))
            }
            AppKind::Free => Outcome::Answer(Err(SocketError::NoSuchSocket)),
        }
    }

    fn receive(&mut self, s: usize, buffer: Buffer, id: u32, max_len: u32) -> Outcome {
        let _ = buffer;
        let app = match self.lookup(s, id) {
            Ok(a) => a,
            Err(e) => return Outcome::Answer(Err(e)),
        };
        let room = (self.sessions[s].pool().geometry().slot_size() as usize)
            .min(MAX_SLOT_BYTES)
            .saturating_sub(HEADER_BYTES);
        let want = (max_len as usize).min(room);
        let wait = Wait::Receive {
            socket: id,
            max_len,
        };
        match self.apps[app].kind {
            AppKind::Udp { udp, .. } => {
                let socket = self.sockets.get_mut::<udp::Socket>(self.udp[udp].handle);
                match socket.recv() {
                    Ok((data, meta)) => {
                        let n = data.len().min(want);
                        self.scratch[..n].copy_from_slice(&data[..n]);
                        Outcome::Answer(Ok(Reply::Received(endpoint_of(meta.endpoint), n)))
                    }
                    Err(_) => Outcome::Park(wait),
                }
            }
            AppKind::TcpStream { tcp, .. } => {
                let socket = self.sockets.get_mut::<tcp::Socket>(self.tcp[tcp].handle);
                let peer = socket
                    .remote_endpoint()
                    .map(endpoint_of)
                    .unwrap_or(Endpoint {
                        addr: [0; 4],
                        port: 0,
                    });
                if socket.can_recv() {
                    match socket.recv_slice(&mut self.scratch[..want]) {
                        Ok(n) => Outcome::Answer(Ok(Reply::Received(peer, n))),
                        Err(_) => Outcome::Answer(Err(SocketError::ConnectionReset)),
                    }
                } else if socket.may_recv()
                    || matches!(
                        socket.state(),
                        tcp::State::SynSent | tcp::State::SynReceived
                    )
                {
                    Outcome::Park(wait)
                } else {
                    // The peer finished sending: the end of the stream.
                    Outcome::Answer(Ok(Reply::Received(peer, 0)))
                }
            }
            AppKind::TcpListener { .. } | AppKind::TcpFresh { .. } => {
                Outcome::Answer(Err(SocketError::NotConnected))
            }
            AppKind::Free => Outcome::Answer(Err(SocketError::NoSuchSocket)),
        }
    }

    fn close(&mut self, s: usize, id: u32) -> Outcome {
        let app = match self.lookup(s, id) {
            Ok(a) => a,
            Err(e) => return Outcome::Answer(Err(e)),
        };
        self.release_app(app, false);
        // Requests still parked on the socket are answered: it is gone.
        let count = self.sessions[s].parked.len();
        for _ in 0..count {
            let Some(p) = self.sessions[s].parked.pop_front() else {
                break;
            };
            if p.wait.socket() == id {
                self.sessions[s].answer(
                    p.buffer,
                    p.request_id,
                    p.wait.op(),
                    id,
                    Err(SocketError::Closed),
                );
            } else {
                let _ = self.sessions[s].parked.push_back(p);
            }
        }
        Outcome::Answer(Ok(Reply::Done))
    }
}

/// The operation code and socket of a request (0 for `Open`).
fn op_and_socket(request: &SocketRequest<'_>) -> (u16, u32) {
    use ward_proto::socket::*;
    match *request {
        SocketRequest::Open { .. } => (OP_OPEN, 0),
        SocketRequest::Bind { socket, .. } => (OP_BIND, socket),
        SocketRequest::Connect { socket, .. } => (OP_CONNECT, socket),
        SocketRequest::Listen { socket, .. } => (OP_LISTEN, socket),
        SocketRequest::Accept { socket } => (OP_ACCEPT, socket),
        SocketRequest::Send { socket, .. } => (OP_SEND, socket),
        SocketRequest::Receive { socket, .. } => (OP_RECEIVE, socket),
        SocketRequest::Close { socket } => (OP_CLOSE, socket),
    }
}
