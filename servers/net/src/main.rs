//! The `net` component: the [`ward_net`] stack on what system.toml grants
//! it — the rx and tx pairs with the e1000 driver (it owns both packet
//! pools), one socket pair per application (each application owns its
//! pool), `net-api` for attaching them, the `net-events` pair on which the
//! driver reports its MAC address and link, its socket memory
//! (`net-sockets`, mapped here alone) and its counter page (`net-stats`).
//!
//! The loop: run one step of the stack, ring the doorbells it asks for,
//! publish the counters, then wait on `net-api` until the stack's next
//! timer (the notification is bound to the thread, so doorbells end the
//! wait too) and serve an attach call if one came. A driver restart (the
//! supervisor signals the ring's bit and the status page shows a new
//! generation) re-initialises both driver pairs and lends every buffer anew.
#![cfg_attr(target_os = "none", no_std, no_main)]

#[cfg(target_os = "none")]
mod component {
    #[allow(dead_code)]
    mod caps {
        include!(concat!(env!("OUT_DIR"), "/caps.rs"));
    }

    use smoltcp::iface::SocketStorage;
    use smoltcp::socket::udp::PacketMetadata;
    use ward_net::counters::{self, COUNTERS};
    use ward_net::device::{DriverPair, RingDevice};
    use ward_net::events::DriverEvents;
    use ward_net::stack::{AddressConfig, SocketMemory, Stack, UdpBuffers, EXTRA_SOCKETS};
    use ward_proto::counters::CounterWriter;
    use ward_proto::driver::DriverEvent;
    use ward_proto::socket::api;
    use ward_userlib::component::{Incoming, StatusPage};
    use ward_userlib::ring::{self, Pair, SLOT_SET_WORDS};
    use ward_userlib::spec::{Ipv4Config, Mapping, RingChannel};
    use ward_userlib::time::{Duration, Instant};
    use ward_userlib::{component, message, println, region};

    ward_userlib::component!(main, caps);

    /// TCP sockets: 64 concurrent connections (the host tests' load) plus
    /// the listeners' backlogs (echo 16, sink 4, source 4, http 8), rounded
    /// up; `net-sockets` is shared out among them.
    const TCP_SOCKETS: usize = 128;
    /// UDP sockets: the two bench services and room for applications to grow.
    const UDP_SOCKETS: usize = 4;
    /// Datagrams queued per UDP socket and direction, and their bytes: a
    /// burst of 16 full-size datagrams (more wait in the NIC's ring).
    const UDP_PACKETS: usize = 16;
    const UDP_BYTES: usize = 16 * 1536;

    type Ring = ward_ring::SharedRing<'static>;
    type NetStack = Stack<'static, Ring, SLOT_SET_WORDS>;

    static mut STORAGE: [SocketStorage<'static>; TCP_SOCKETS + UDP_SOCKETS + EXTRA_SOCKETS] =
        [SocketStorage::EMPTY; TCP_SOCKETS + UDP_SOCKETS + EXTRA_SOCKETS];
    static mut UDP_META: [[PacketMetadata; UDP_PACKETS]; 2 * UDP_SOCKETS] =
        [[PacketMetadata::EMPTY; UDP_PACKETS]; 2 * UDP_SOCKETS];
    /// The buffer tables smoltcp's sockets are made from (filled once).
    static mut TCP_TABLE: heapless::Vec<(&'static mut [u8], &'static mut [u8]), TCP_SOCKETS> =
        heapless::Vec::new();
    static mut UDP_TABLE: heapless::Vec<UdpBuffers<'static>, UDP_SOCKETS> = heapless::Vec::new();
    /// The stack's tables (tens of KiB) live in static memory, not on the stack.
    static mut STACK: Option<NetStack> = None;

    /// The applications the stack serves: the badge each calls `net-api`
    /// with, and its socket pair.
    const APPLICATIONS: [(u64, RingChannel); 2] = [
        (caps::NET_API_FROM_ECHO, caps::ECHO_NET),
        (caps::NET_API_FROM_HTTP, caps::HTTP_NET),
    ];

    /// smoltcp's time from the component clock.
    fn smoltcp_now() -> smoltcp::time::Instant {
        smoltcp::time::Instant::from_micros(Instant::now().since_boot().as_micros() as i64)
    }

    fn address_config() -> AddressConfig {
        match caps::IPV4 {
            Ipv4Config::Dhcp => AddressConfig::Dhcp,
            Ipv4Config::Static {
                address,
                prefix_len,
                gateway,
            } => AddressConfig::Static {
                address,
                prefix_len,
                gateway,
            },
        }
    }

    type Events = DriverEvents<'static, Ring, SLOT_SET_WORDS>;
    type DriverEnd = DriverPair<'static, Ring, SLOT_SET_WORDS>;

    /// How long the stack waits for the driver's MAC address before it says
    /// so (it keeps waiting: without the address nothing can be sent).
    const MAC_PATIENCE: Duration = Duration::from_secs(5);

    /// The three driver pairs, written afresh for the pairing of this
    /// instance (`generation`) with the driver's `driver_generation` (every
    /// buffer the stack's again; docs/drivers.md, "Restarts").
    fn driver_pairs(
        generation: u64,
        driver_generation: u32,
    ) -> Option<(DriverEnd, DriverEnd, Events)> {
        let region_generation = ring::pair_generation(generation, u64::from(driver_generation));
        let pair = |channel: RingChannel| {
            let end = ring::attach_for(channel, region_generation).ok()?;
            Some(DriverPair {
                end: end.pair,
                pool: end.pool?,
            })
        };
        let events = pair(caps::NET_EVENTS)?;
        Some((
            pair(caps::NET_RX)?,
            pair(caps::NET_TX)?,
            DriverEvents::new(events.end, events.pool),
        ))
    }

    /// Waits for the driver's station address on the events pair.
    fn wait_for_mac(events: &mut Events) -> [u8; 6] {
        let mut warned = false;
        let start = Instant::now();
        loop {
            while let Some(event) = events.next_event() {
                if let DriverEvent::Mac(mac) = event {
                    return mac.0;
                }
            }
            if events.flush() {
                let _ = caps::NET_EVENTS.doorbell.signal();
            }
            if !warned && start.elapsed() > MAC_PATIENCE {
                warned = true;
                println!("net: still waiting for the driver's MAC address");
            }
            if events.prepare_sleep() {
                let _ = component::wait_until(Some(Instant::now() + MAC_PATIENCE));
            }
        }
    }

    /// The driver restarted: its three pairs afresh, every buffer re-lent.
    fn restart_driver(
        stack: &mut NetStack,
        generation: u64,
        driver_generation: u32,
    ) -> Option<Events> {
        let (rx, tx, events) = driver_pairs(generation, driver_generation)?;
        println!(
            "net: the driver restarted (generation {driver_generation}); its ring pairs start afresh"
        );
        stack.driver_restarted(rx, tx);
        Some(events)
    }

    /// `net-sockets` as bytes.
    fn socket_memory(mapping: Mapping) -> &'static mut [u8] {
        // SAFETY: the root task maps net-sockets read-write at `vaddr` for
        // the component's life, and into this component alone (`capctl
        // explain system.toml net-sockets`): no one else can write it, so a
        // plain byte slice over it is sound. This is the only view made.
        unsafe {
            core::slice::from_raw_parts_mut(mapping.vaddr() as *mut u8, mapping.size() as usize)
        }
    }

    /// Carves the socket memory and the static tables into smoltcp's sockets.
    fn sockets() -> SocketMemory<'static> {
        let region = socket_memory(caps::NET_SOCKETS);
        let (udp_bytes, tcp_bytes) = region.split_at_mut(UDP_SOCKETS * 2 * UDP_BYTES);
        // Each TCP socket gets an equal share, split evenly between its
        // receive and send buffers, in whole KiB.
        let per_buffer = (tcp_bytes.len() / (2 * TCP_SOCKETS)) & !1023;
        // SAFETY: the statics are touched here only, once, by the one thread.
        let (storage, udp_meta, tcp, udp) = unsafe {
            (
                &mut *core::ptr::addr_of_mut!(STORAGE),
                &mut *core::ptr::addr_of_mut!(UDP_META),
                &mut *core::ptr::addr_of_mut!(TCP_TABLE),
                &mut *core::ptr::addr_of_mut!(UDP_TABLE),
            )
        };
        let mut rest = tcp_bytes;
        for _ in 0..TCP_SOCKETS {
            let (rx, after) = rest.split_at_mut(per_buffer);
            let (tx, after) = after.split_at_mut(per_buffer);
            rest = after;
            let _ = tcp.push((rx, tx));
        }
        let mut metas = udp_meta.iter_mut();
        let mut bytes = udp_bytes;
        for _ in 0..UDP_SOCKETS {
            let (rx, after) = bytes.split_at_mut(UDP_BYTES);
            let (tx, after) = after.split_at_mut(UDP_BYTES);
            bytes = after;
            let (Some(rx_meta), Some(tx_meta)) = (metas.next(), metas.next()) else {
                break;
            };
            let _ = udp.push(UdpBuffers {
                rx_meta,
                rx,
                tx_meta,
                tx,
            });
        }
        println!(
            "net: {TCP_SOCKETS} TCP sockets with {} KiB each way, {UDP_SOCKETS} UDP sockets",
            per_buffer / 1024
        );
        SocketMemory {
            storage,
            tcp: tcp.as_mut_slice(),
            udp: udp.as_mut_slice(),
        }
    }

    fn main(generation: u64) {
        let status = StatusPage::mapped();
        let mut driver_generation = status.generation_of(caps::NET_RX.peer).unwrap_or(0);
        let Some((rx, tx, mut events)) = driver_pairs(generation, driver_generation) else {
            println!("net: cannot set up the driver's ring pairs");
            return;
        };
        let mac = wait_for_mac(&mut events);
        println!(
            "net: MAC {:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            mac[0], mac[1], mac[2], mac[3], mac[4], mac[5]
        );
        let mut clients: heapless::Vec<(u64, ward_ring::PoolMemory<'static>), 2> =
            heapless::Vec::new();
        for (badge, channel) in APPLICATIONS {
            let pool = channel
                .pool
                .and_then(|p| ring::pool_memory(p, ring::geometry(&channel).ok()?).ok());
            match pool {
                Some(pool) => {
                    let _ = clients.push((badge, pool));
                }
                None => println!("net: {}'s pool is not usable", channel.peer),
            }
        }
        // SAFETY: STACK is touched here only, once, by the one thread.
        let slot = unsafe { &mut *core::ptr::addr_of_mut!(STACK) };
        let stack = slot.insert(Stack::new(
            RingDevice::new(rx, tx, mac),
            address_config(),
            sockets(),
            &clients,
            ward_userlib::time::read_tsc(),
            smoltcp_now(),
        ));
        let names = counters::names();
        let page = match CounterWriter::create(region::words64(caps::NET_STATS), &names, generation)
        {
            Ok(page) => Some(page),
            Err(e) => {
                println!("net: the counter page is too small: {e:?}");
                None
            }
        };
        let mut announced = None;
        loop {
            // A new driver instance: every buffer back, the pairs afresh.
            let now_generation = status.generation_of(caps::NET_RX.peer).unwrap_or(0);
            if now_generation != driver_generation {
                driver_generation = now_generation;
                match restart_driver(stack, generation, driver_generation) {
                    Some(fresh) => events = fresh,
                    None => println!("net: cannot set up the driver's ring pairs again"),
                }
            }
            while let Some(event) = events.next_event() {
                match event {
                    DriverEvent::Mac(mac) => stack.set_mac(mac.0),
                    DriverEvent::Link(link) => println!(
                        "net: link {} ({} Mbit/s)",
                        if link.up { "up" } else { "down" },
                        link.speed_mbps
                    ),
                    DriverEvent::Statistics(_) => {}
                }
            }
            if events.flush() {
                let _ = caps::NET_EVENTS.doorbell.signal();
            }
            let now = smoltcp_now();
            let result = stack.poll(now);
            if result.driver.rx {
                let _ = caps::NET_RX.doorbell.signal();
            }
            if result.driver.tx {
                let _ = caps::NET_TX.doorbell.signal();
            }
            for (i, (_, channel)) in APPLICATIONS.iter().enumerate() {
                if result.sessions & (1 << i) != 0 {
                    let _ = channel.doorbell.signal();
                }
            }
            if let Some(page) = &page {
                for (index, value) in stack.counters().values().iter().enumerate().take(COUNTERS) {
                    page.set(index, *value);
                }
            }
            if stack.address() != announced {
                announced = stack.address();
                if let Some(a) = announced {
                    let o = a.address().octets();
                    println!(
                        "net: address {}.{}.{}.{}/{}",
                        o[0],
                        o[1],
                        o[2],
                        o[3],
                        a.prefix_len()
                    );
                }
            }
            if result.busy || !stack.prepare_sleep() || !events.prepare_sleep() {
                continue;
            }
            let deadline = stack.poll_at(now).map(|at| {
                let wait = (at - now).total_micros();
                Instant::now() + Duration::from_micros(wait)
            });
            // Doorbells and the supervisor's restart signals end the wait
            // too; the next step looks at every ring and the driver's generation.
            if let Incoming::Message(call) = component::receive_until(caps::NET_API, deadline) {
                let answer = attach(stack, call.badge, call.info.label());
                let _ =
                    ward_userlib::syscall::reply(message::info(answer, 1), [generation, 0, 0, 0]);
            }
        }
    }

    /// Serves an attach call from the application with `badge`.
    fn attach(stack: &mut NetStack, badge: u64, label: u64) -> u64 {
        if label != api::LABEL_ATTACH {
            return api::UNKNOWN_CALL;
        }
        let Some((_, channel)) = APPLICATIONS.iter().find(|(b, _)| *b == badge) else {
            return api::ATTACH_UNKNOWN_CLIENT;
        };
        let end: Option<Pair> = ring::attach(*channel, 0).ok().map(|e| e.pair);
        match end.map(|end| stack.attach(badge, end)) {
            Some(Ok(_)) => api::ATTACH_OK,
            Some(Err(_)) => api::ATTACH_UNKNOWN_CLIENT,
            None => api::ATTACH_BAD_REGION,
        }
    }
}

#[cfg(not(target_os = "none"))]
fn main() {
    eprintln!("net is a Ward component: `make run` builds and boots it");
}
