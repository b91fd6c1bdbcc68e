//! The `echo` component: the bench services of [`ward_echo`] on the socket
//! pair system.toml grants it (`echo-net`), attached to the network stack
//! through `net-api`. It owns the pair and its pool; it waits on its
//! notification for the stack's doorbell and rings the stack's after each
//! batch of requests.
#![cfg_attr(target_os = "none", no_std, no_main)]

#[cfg(target_os = "none")]
mod component {
    #[allow(dead_code)]
    mod caps {
        include!(concat!(env!("OUT_DIR"), "/caps.rs"));
    }

    use ward_echo::{Clock, Services};
    use ward_proto::client::{SocketClient, MAX_SLOT_BYTES};
    use ward_proto::socket::api;
    use ward_ring::{PairEnd, PoolGeometry, RingPairParams};
    use ward_userlib::{component, message, println, syscall};

    ward_userlib::component!(main, caps::LAYOUT_HASH);

    /// `echo-net`'s entries and buffer size as system.toml states them, and
    /// the pool's slot alignment (one cache line). The caps table carries
    /// the ring geometry once the components kit (issue 11) lands.
    const ENTRIES: u32 = 64;
    const BUFFER_BYTES: u32 = 2048;
    const BUFFER_ALIGN: u32 = 64;
    /// Slot-set words for the pool's slots.
    const W: usize = ward_ring::slot_set_words(ENTRIES);

    static mut SERVICES: Services = Services::new();

    struct Tsc;
    impl Clock for Tsc {
        fn tsc(&self) -> u64 {
            // SAFETY: RDTSC reads the time-stamp counter; it has no memory
            // effects and is allowed at ring 3 (the kernel leaves CR4.TSD clear).
            unsafe { core::arch::x86_64::_rdtsc() }
        }
        fn idle_tsc(&self) -> Option<u64> {
            // The kernel does not publish its idle time yet (see docs/network.md).
            None
        }
    }

    fn main(generation: u64) {
        let geometry =
            PoolGeometry::new(BUFFER_BYTES, ENTRIES, BUFFER_ALIGN).expect("echo-net pool geometry");
        let params = RingPairParams::new(ENTRIES, geometry).expect("echo-net ring geometry");
        let region = ward_mapped::ring_region(&caps::ECHO_NET_RING).expect("echo-net ring memory");
        let pool = ward_mapped::pool(&caps::ECHO_POOL, geometry).expect("echo-pool");
        let end = PairEnd::<_, W>::initialise_owner(region, &params, generation as u32)
            .expect("initialise echo-net");
        // Attach: from now on the stack serves the pair.
        let net = u64::from(caps::NET_API.index());
        match syscall::call(
            net,
            message::info(api::LABEL_ATTACH, 1),
            [generation, 0, 0, 0],
        ) {
            Ok(reply) if reply.info.label() == api::ATTACH_OK => {}
            Ok(reply) => {
                println!(
                    "echo: the stack refused the attach ({})",
                    reply.info.label()
                );
                return;
            }
            Err(e) => {
                println!("echo: cannot call the stack: {e}");
                return;
            }
        }
        let mut client = SocketClient::new(end, pool);
        // The connection table (tens of KiB) lives in static memory.
        // SAFETY: touched here only, once, by the one thread.
        let services = unsafe { &mut *core::ptr::addr_of_mut!(SERVICES) };
        if let Err(e) = services.start(&mut client) {
            println!("echo: cannot open its sockets: {e:?}");
            return;
        }
        let doorbell = u64::from(caps::ECHO_NET_SIGNAL.index());
        let mut announced = false;
        let mut copy = [0u8; MAX_SLOT_BYTES];
        loop {
            loop {
                match client.next_answer(&mut copy) {
                    Ok(Some(answer)) => {
                        if let Err(e) = services.on_answer(&mut client, &answer, &Tsc) {
                            println!("echo: {e:?}");
                        }
                    }
                    Ok(None) => break,
                    Err(e) => {
                        // The stack broke the protocol: wait for it to restart.
                        println!("echo: the stack misbehaved: {e:?}");
                        return;
                    }
                }
            }
            if client.flush() {
                let _ = syscall::signal(doorbell);
            }
            if services.ready() && !announced {
                announced = true;
                println!(
                    "echo: serving UDP/TCP 7, TCP 9 (sink), TCP 19 (source), UDP 9000 (counters)"
                );
            }
            if client.prepare_sleep() == Ok(true) {
                let _ = component::wait();
            }
        }
    }
}

#[cfg(not(target_os = "none"))]
fn main() {
    eprintln!("echo is a Ward component: `make run` builds and boots it");
}
