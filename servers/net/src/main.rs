//! The `net` component: the [`ward_net`] stack on what system.toml grants
//! it — the rx and tx pairs with the e1000 driver (it owns both packet
//! pools), one socket pair per application (each application owns its
//! pool), `net-api` for attaching them, its socket memory (`net-sockets`,
//! mapped here alone) and its counter page (`net-stats`).
//!
//! The loop: wait on `net-api` (the notification is bound to the thread,
//! so doorbells wake the wait too), serve an attach call or run one step of
//! the stack, ring the doorbells it asks for, publish the counters, and
//! sleep once every ring has asked for a signal.
#![cfg_attr(target_os = "none", no_std, no_main)]

#[cfg(target_os = "none")]
mod component {
    #[allow(dead_code)]
    mod caps {
        include!(concat!(env!("OUT_DIR"), "/caps.rs"));
    }

    use smoltcp::iface::SocketStorage;
    use smoltcp::socket::udp::PacketMetadata;
    use smoltcp::time::Instant;
    use ward_net::counters;
    use ward_net::device::{DriverPair, RingDevice};
    use ward_net::stack::{AddressConfig, SocketMemory, Stack, UdpBuffers, EXTRA_SOCKETS};
    use ward_proto::counters::CounterPageWriter;
    use ward_proto::driver::{DriverEvent, StackRequest, MAX_CONTROL_BYTES};
    use ward_proto::socket::api;
    use ward_ring::{PairEnd, PoolGeometry, RingPairParams, SharedRing};
    use ward_sysspec::caps::Ipv4Config;
    use ward_userlib::{message, println, syscall};

    ward_userlib::component!(main, caps::LAYOUT_HASH);

    /// Ring geometry as system.toml states it (`net-rx`, `net-tx`: 256
    /// entries of 2048 bytes; `echo-net`, `http-net`: 64 of 2048). The caps
    /// table carries it once the components kit (issue 11) lands.
    const NIC_ENTRIES: u32 = 256;
    const APP_ENTRIES: u32 = 64;
    const BUFFER_BYTES: u32 = 2048;
    /// Buffers start on a cache line (and the NIC's 16-byte DMA alignment).
    const BUFFER_ALIGN: u32 = 64;
    /// Slot-set words: enough for the largest pool (256 slots).
    const W: usize = ward_ring::slot_set_words(NIC_ENTRIES);

    /// TCP sockets: 64 concurrent connections (the host tests' load) plus
    /// the listeners' backlogs (echo 8, sink 8, source 8, http 8), rounded
    /// up; `net-sockets` is shared out among them.
    const TCP_SOCKETS: usize = 100;
    /// UDP sockets: the two bench services and room for applications to grow.
    const UDP_SOCKETS: usize = 4;
    /// Datagrams queued per UDP socket and direction, and their bytes: a
    /// burst of 16 full-size datagrams (more wait in the NIC's 256-entry ring).
    const UDP_PACKETS: usize = 16;
    const UDP_BYTES: usize = 16 * 1536;

    type Ring = SharedRing<'static>;

    static mut STACK: Option<Stack<'static, Ring, W>> = None;

    static mut STORAGE: [SocketStorage<'static>; TCP_SOCKETS + UDP_SOCKETS + EXTRA_SOCKETS] =
        [SocketStorage::EMPTY; TCP_SOCKETS + UDP_SOCKETS + EXTRA_SOCKETS];
    static mut UDP_META: [[PacketMetadata; UDP_PACKETS]; 2 * UDP_SOCKETS] =
        [[PacketMetadata::EMPTY; UDP_PACKETS]; 2 * UDP_SOCKETS];
    /// The buffer tables smoltcp's sockets are made from (filled once).
    static mut TCP_TABLE: heapless::Vec<(&'static mut [u8], &'static mut [u8]), TCP_SOCKETS> =
        heapless::Vec::new();
    static mut UDP_TABLE: heapless::Vec<UdpBuffers<'static>, UDP_SOCKETS> = heapless::Vec::new();

    /// Time from the TSC, at the frequency CPUID reports.
    struct Clock {
        ticks_per_ms: u64,
        start: u64,
    }

    impl Clock {
        fn new() -> Option<Clock> {
            // CPUID leaf 0x16 (processor frequency information), EAX = base
            // MHz; leaf 0 says which leaves exist.
            let max = core::arch::x86_64::__cpuid(0).eax;
            if max < 0x16 {
                return None;
            }
            let mhz = core::arch::x86_64::__cpuid(0x16).eax & 0xffff;
            (mhz != 0).then(|| Clock {
                ticks_per_ms: u64::from(mhz) * 1000,
                start: tsc(),
            })
        }

        fn now(&self) -> Instant {
            Instant::from_millis(((tsc() - self.start) / self.ticks_per_ms) as i64)
        }
    }

    fn tsc() -> u64 {
        // SAFETY: RDTSC reads the time-stamp counter; no memory effects.
        unsafe { core::arch::x86_64::_rdtsc() }
    }

    fn words_of(bytes: &[u8]) -> [u64; 4] {
        let mut words = [0u64; 4];
        for (i, chunk) in bytes.chunks(8).take(4).enumerate() {
            let mut b = [0u8; 8];
            b[..chunk.len()].copy_from_slice(chunk);
            words[i] = u64::from_le_bytes(b);
        }
        words
    }

    /// Asks the driver for its MAC address over `nic-control`.
    fn query_mac() -> Option<[u8; 6]> {
        let mut request = [0u8; MAX_CONTROL_BYTES];
        let n = StackRequest::QueryMac.encode(0, 1, &mut request).ok()?;
        let reply = syscall::call(
            u64::from(caps::NIC_CONTROL.index()),
            message::info(1, n.div_ceil(8)),
            words_of(&request[..n]),
        )
        .ok()?;
        let mut bytes = [0u8; 32];
        for (i, w) in reply.mrs.iter().enumerate() {
            bytes[i * 8..i * 8 + 8].copy_from_slice(&w.to_le_bytes());
        }
        match DriverEvent::decode(&bytes) {
            Ok((_, DriverEvent::Mac(mac))) => Some(mac.0),
            _ => None,
        }
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

    fn main(generation: u64) {
        let nic_pool =
            PoolGeometry::new(BUFFER_BYTES, NIC_ENTRIES, BUFFER_ALIGN).expect("nic pool");
        let nic_params = RingPairParams::new(NIC_ENTRIES, nic_pool).expect("nic rings");
        let app_pool =
            PoolGeometry::new(BUFFER_BYTES, APP_ENTRIES, BUFFER_ALIGN).expect("app pool");
        let app_params = RingPairParams::new(APP_ENTRIES, app_pool).expect("app rings");
        let generation = generation as u32;
        let rx_region = ward_mapped::ring_region(&caps::NET_RX_RING).expect("net-rx memory");
        let tx_region = ward_mapped::ring_region(&caps::NET_TX_RING).expect("net-tx memory");
        let rx = DriverPair {
            end: PairEnd::<Ring, W>::initialise_owner(rx_region, &nic_params, generation)
                .expect("initialise net-rx"),
            pool: ward_mapped::pool(&caps::NET_RX_POOL, nic_pool).expect("net-rx-pool"),
        };
        let tx = DriverPair {
            end: PairEnd::<Ring, W>::initialise_owner(tx_region, &nic_params, generation)
                .expect("initialise net-tx"),
            pool: ward_mapped::pool(&caps::NET_TX_POOL, nic_pool).expect("net-tx-pool"),
        };
        let Some(clock) = Clock::new() else {
            println!("net: the CPU reports no TSC frequency (CPUID 0x16); no clock for TCP timers");
            return;
        };
        println!("net: waiting for the driver's MAC address");
        let Some(mac) = query_mac() else {
            println!("net: the driver did not give its MAC address");
            return;
        };
        println!(
            "net: MAC {:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            mac[0], mac[1], mac[2], mac[3], mac[4], mac[5]
        );
        let device = RingDevice::new(rx, tx, mac);

        // Socket memory: net-sockets is mapped into this component alone.
        // SAFETY: capctl explain shows net-sockets mapped only here, and this
        // is the only view of it.
        let region =
            unsafe { ward_mapped::private_bytes(&caps::NET_SOCKETS) }.expect("net-sockets");
        let (udp_bytes, tcp_bytes) = region.split_at_mut(UDP_SOCKETS * 2 * UDP_BYTES);
        // Each TCP socket gets an equal share, split evenly between its
        // receive and send buffers, whole KiB.
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

        let clients = [
            (
                caps::NET_API_FROM_ECHO,
                ward_mapped::pool(&caps::ECHO_POOL, app_pool).expect("echo-pool"),
            ),
            (
                caps::NET_API_FROM_HTTP,
                ward_mapped::pool(&caps::HTTP_POOL, app_pool).expect("http-pool"),
            ),
        ];
        let app_regions = [
            (
                caps::NET_API_FROM_ECHO,
                caps::ECHO_NET_RING,
                caps::ECHO_NET_SIGNAL,
            ),
            (
                caps::NET_API_FROM_HTTP,
                caps::HTTP_NET_RING,
                caps::HTTP_NET_SIGNAL,
            ),
        ];
        // The stack's tables (tens of KiB) live in static memory, not on the
        // component's stack.
        // SAFETY: touched here only, once, by the one thread.
        let stack = unsafe { &mut *core::ptr::addr_of_mut!(STACK) };
        let stack = stack.insert(Stack::new(
            device,
            address_config(),
            SocketMemory {
                storage,
                tcp: tcp.as_mut_slice(),
                udp: udp.as_mut_slice(),
            },
            &clients,
            tsc(),
            clock.now(),
        ));
        let stats = ward_mapped::counter_words(&caps::NET_STATS).expect("net-stats");
        let mut page = CounterPageWriter::new(stats, &counters::names()).expect("counter page");
        let mut announced = None;
        let endpoint = u64::from(caps::NET_API.index());
        loop {
            let result = stack.poll(clock.now());
            if result.driver.rx {
                let _ = syscall::signal(u64::from(caps::NET_RX_SIGNAL.index()));
            }
            if result.driver.tx {
                let _ = syscall::signal(u64::from(caps::NET_TX_SIGNAL.index()));
            }
            for (i, (_, _, signal)) in app_regions.iter().enumerate() {
                if result.sessions & (1 << i) != 0 {
                    let _ = syscall::signal(u64::from(signal.index()));
                }
            }
            page.update(stack.counters().values().iter().copied());
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
            if result.busy || !stack.prepare_sleep() {
                continue;
            }
            // A doorbell (notification, label 0) or an attach call (label 1).
            let Ok(received) = syscall::recv(endpoint) else {
                continue;
            };
            if received.info.label() != api::LABEL_ATTACH {
                continue;
            }
            let answer = match app_regions
                .iter()
                .find(|(badge, _, _)| *badge == received.badge)
            {
                None => api::ATTACH_UNKNOWN_CLIENT,
                Some((badge, ring, _)) => {
                    let end = ward_mapped::ring_region(ring)
                        .ok()
                        .and_then(|r| PairEnd::<Ring, W>::attach_borrower(r, &app_params).ok());
                    match end.map(|end| stack.attach(*badge, end)) {
                        Some(Ok(_)) => api::ATTACH_OK,
                        Some(Err(_)) => api::ATTACH_UNKNOWN_CLIENT,
                        None => api::ATTACH_BAD_REGION,
                    }
                }
            };
            let _ = syscall::reply(message::info(answer, 1), [u64::from(generation), 0, 0, 0]);
        }
    }
}

#[cfg(not(target_os = "none"))]
fn main() {
    eprintln!("net is a Ward component: `make run` builds and boots it");
}
