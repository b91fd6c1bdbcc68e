//! The `http` component: [`ward_http`]'s server on the socket pair
//! system.toml grants it (`http-net`), attached through `net-api`. The
//! status page reads the root task's status page (every component's state
//! and generation) and the network stack's counter page (`net-stats`,
//! mapped read-only): nothing else.
#![cfg_attr(target_os = "none", no_std, no_main)]

#[cfg(target_os = "none")]
mod component {
    #[allow(dead_code)]
    mod caps {
        include!(concat!(env!("OUT_DIR"), "/caps.rs"));
    }

    use heapless::Vec;
    use ward_http::{ComponentStatus, Page, Server, Status};
    use ward_mapped::ComponentEntry;
    use ward_proto::client::{SocketClient, MAX_SLOT_BYTES};
    use ward_proto::counters::{self, Counter};
    use ward_proto::socket::api;
    use ward_ring::{PairEnd, PoolGeometry, RingPairParams};
    use ward_userlib::component::status as st;
    use ward_userlib::{component, message, println, syscall};

    ward_userlib::component!(main, caps::LAYOUT_HASH);

    /// `http-net`'s entries and buffer size as system.toml states them, and
    /// the pool's slot alignment. The caps table carries the ring geometry
    /// once the components kit (issue 11) lands.
    const ENTRIES: u32 = 64;
    const BUFFER_BYTES: u32 = 2048;
    const BUFFER_ALIGN: u32 = 64;
    const W: usize = ward_ring::slot_set_words(ENTRIES);
    /// Counters shown (the stack publishes fewer than this).
    const MAX_COUNTERS: usize = 96;
    /// Components shown (the root task supervises at most 16).
    const MAX_COMPONENTS: usize = 16;

    static mut PAGE: Page = Page::new();

    fn state_name(state: u32) -> &'static str {
        match state {
            st::STATE_RUNNING => "running",
            st::STATE_RESTARTING => "restarting",
            st::STATE_HELD => "held",
            st::STATE_NOT_STARTED => "not started",
            _ => "unknown",
        }
    }

    fn main(generation: u64) {
        let geometry =
            PoolGeometry::new(BUFFER_BYTES, ENTRIES, BUFFER_ALIGN).expect("http-net pool geometry");
        let params = RingPairParams::new(ENTRIES, geometry).expect("http-net ring geometry");
        let region = ward_mapped::ring_region(&caps::HTTP_NET_RING).expect("http-net ring memory");
        let pool = ward_mapped::pool(&caps::HTTP_POOL, geometry).expect("http-pool");
        let stats = ward_mapped::counter_words(&caps::NET_STATS).expect("net-stats");
        let status_page = ward_mapped::status_page();
        let end = PairEnd::<_, W>::initialise_owner(region, &params, generation as u32)
            .expect("initialise http-net");
        let net = u64::from(caps::NET_API.index());
        match syscall::call(
            net,
            message::info(api::LABEL_ATTACH, 1),
            [generation, 0, 0, 0],
        ) {
            Ok(reply) if reply.info.label() == api::ATTACH_OK => {}
            Ok(reply) => {
                println!(
                    "http: the stack refused the attach ({})",
                    reply.info.label()
                );
                return;
            }
            Err(e) => {
                println!("http: cannot call the stack: {e}");
                return;
            }
        }
        let mut client = SocketClient::new(end, pool);
        let mut server = Server::new();
        if let Err(e) = server.start(&mut client) {
            println!("http: cannot open its socket: {e:?}");
            return;
        }
        // SAFETY: PAGE is used by this single-threaded component only, here.
        let page = unsafe { &mut *core::ptr::addr_of_mut!(PAGE) };
        let doorbell = u64::from(caps::HTTP_NET_SIGNAL.index());
        let mut announced = false;
        let mut copy = [0u8; MAX_SLOT_BYTES];
        // The figures, read afresh for each page.
        let mut snapshot = |render: &mut dyn FnMut(&Status<'_>)| {
            let mut read: Vec<Counter, MAX_COUNTERS> = Vec::new();
            let _ = counters::read(stats, &mut read);
            let mut named: Vec<(&str, u64), MAX_COUNTERS> = Vec::new();
            for c in &read {
                let _ = named.push((c.name(), c.value));
            }
            let mut entries = [ComponentEntry {
                name: [0; st::NAME_BYTES],
                name_len: 0,
                generation: 0,
                state: 0,
            }; MAX_COMPONENTS];
            let n = ward_mapped::read_status(status_page, &mut entries);
            let mut components: Vec<ComponentStatus<'_>, MAX_COMPONENTS> = Vec::new();
            for e in &entries[..n] {
                let _ = components.push(ComponentStatus {
                    name: core::str::from_utf8(&e.name[..e.name_len]).unwrap_or("?"),
                    state: state_name(e.state),
                    generation: e.generation,
                });
            }
            render(&Status {
                components: &components,
                counters: &named,
                address: None,
            });
        };
        loop {
            loop {
                match client.next_answer(&mut copy) {
                    Ok(Some(answer)) => {
                        if let Err(e) = server.on_answer(&mut client, &answer, &mut snapshot, page)
                        {
                            println!("http: {e:?}");
                        }
                    }
                    Ok(None) => break,
                    Err(e) => {
                        println!("http: the stack misbehaved: {e:?}");
                        return;
                    }
                }
            }
            if client.flush() {
                let _ = syscall::signal(doorbell);
            }
            if server.ready() && !announced {
                announced = true;
                println!("http: serving port 80 (/, /stats.json, /bench/10MiB)");
            }
            if client.prepare_sleep() == Ok(true) {
                let _ = component::wait();
            }
        }
    }
}

#[cfg(not(target_os = "none"))]
fn main() {
    eprintln!("http is a Ward component: `make run` builds and boots it");
}
