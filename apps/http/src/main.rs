//! The `http` component: [`ward_http`]'s server on the socket pair
//! system.toml grants it (`http-net`, which it owns), attached through
//! `net-api`. The status page shows what it may read and nothing else: the
//! root task's status page (every component's state, generation, restarts
//! and CPU time), the kernel's statistics page and the network stack's
//! counter page (`net-stats`), all mapped read-only. Each request is logged
//! on COM2 through the serial driver (`serial-log`).
#![cfg_attr(target_os = "none", no_std, no_main)]

#[cfg(target_os = "none")]
mod component {
    #[allow(dead_code)]
    mod caps {
        include!(concat!(env!("OUT_DIR"), "/caps.rs"));
    }

    use heapless::{String, Vec};
    use ward_http::{ComponentStatus, Page, Server, Status};
    use ward_proto::client::ClientError;
    use ward_proto::counters::{Counter, CounterReader};
    use ward_userlib::component::{status, StatusEntry, StatusPage};
    use ward_userlib::kstats::KernelStatistics;
    use ward_userlib::{println, region, text_channel, time};

    ward_userlib::component!(main, caps);

    /// Counters shown (the stack publishes fewer).
    const MAX_COUNTERS: usize = 96;
    /// Components shown (the root task supervises at most 16).
    const MAX_COMPONENTS: usize = 16;
    /// Kernel figures shown: six totals and the busiest interrupt vectors.
    /// Machine-wide figures, per-core figures (seven for each of up to
    /// eight cores shown) and interrupt vectors.
    const MAX_KERNEL: usize = 80;
    /// Cores shown on the status page.
    const MAX_CORES_SHOWN: usize = 8;

    /// One rendered response per connection (16 KiB each), in static memory.
    static mut PAGES: [Page; ward_http::MAX_CONNECTIONS] =
        [const { Page::new() }; ward_http::MAX_CONNECTIONS];

    fn main(generation: u64) {
        let net_stats = CounterReader::new(region::words64(caps::NET_STATS));
        let driver_stats = CounterReader::new(region::words64(caps::E1000_STATS));
        let kernel = KernelStatistics::of(caps::KERNEL_STATISTICS);
        let page_of_status = StatusPage::mapped();
        // SAFETY: PAGES is touched here only, once, by the one thread (the
        // reference lives across the loop below).
        let pages = unsafe { &mut *core::ptr::addr_of_mut!(PAGES) };
        // The figures, read afresh for each page.
        let mut snapshot = |render: &mut dyn FnMut(&Status<'_>)| {
            let counters: Vec<Counter, MAX_COUNTERS> =
                net_stats.iter().take(MAX_COUNTERS).collect();
            let named: Vec<(&str, u64), MAX_COUNTERS> =
                counters.iter().map(|c| (c.name(), c.value)).collect();
            let driver: Vec<Counter, MAX_COUNTERS> =
                driver_stats.iter().take(MAX_COUNTERS).collect();
            let driver_named: Vec<(&str, u64), MAX_COUNTERS> =
                driver.iter().map(|c| (c.name(), c.value)).collect();
            let hz = page_of_status.tsc_hz().max(1);
            let entries: Vec<StatusEntry, MAX_COMPONENTS> = (0..page_of_status.count())
                .filter_map(|i| page_of_status.entry(i))
                .take(MAX_COMPONENTS)
                .collect();
            let components: Vec<ComponentStatus<'_>, MAX_COMPONENTS> = entries
                .iter()
                .map(|e| ComponentStatus {
                    name: e.name(),
                    state: status::state_name(e.state),
                    generation: e.generation,
                    restarts: e.restarts,
                    cpu_us: time::ticks_to_duration(e.cpu_ticks, hz).as_micros() as u64,
                    faults: e.faults,
                    last_fault: (status::detector_name(e.last_fault_detector), e.last_fault()),
                    dma_faults: e.dma_faults,
                    interrupts: e.interrupts,
                })
                .collect();
            let mut names: Vec<String<24>, MAX_KERNEL> = Vec::new();
            let mut values: Vec<u64, MAX_KERNEL> = Vec::new();
            if let Some(k) = &kernel {
                let now = time::read_tsc();
                for (name, value) in [
                    (
                        "uptime_ms",
                        time::ticks_to_duration(now, hz).as_millis() as u64,
                    ),
                    (
                        "idle_ms",
                        time::ticks_to_duration(k.idle_tsc(), hz).as_millis() as u64,
                    ),
                    ("context_switches", k.context_switches()),
                    ("syscalls", k.syscalls()),
                    ("signals", k.signals()),
                    ("timeouts", k.timeouts()),
                ] {
                    let _ = names.push(String::try_from(name).unwrap_or_default());
                    let _ = values.push(value);
                }
                // Per core: its load (busy time since boot) and what it
                // asked of the other cores and they of it.
                use ward_userlib::abi::kstats::word::cpu as field;
                let cores = (k.cpus() as usize).min(MAX_CORES_SHOWN);
                let _ = names.push(String::try_from("cpus").unwrap_or_default());
                let _ = values.push(k.cpus());
                for core in 0..cores {
                    let idle = k.per_cpu(core, field::IDLE_TSC);
                    for (what, value) in [
                        (
                            "busy_ms",
                            time::ticks_to_duration(now.saturating_sub(idle), hz).as_millis()
                                as u64,
                        ),
                        ("ipis_sent", k.per_cpu(core, field::IPIS_SENT)),
                        ("ipis_received", k.per_cpu(core, field::IPIS_RECEIVED)),
                        ("ipis_avoided", k.per_cpu(core, field::IPIS_AVOIDED)),
                        ("shootdowns", k.per_cpu(core, field::SHOOTDOWNS)),
                        ("lock_waits", k.per_cpu(core, field::LOCK_WAITS)),
                        (
                            "device_interrupts",
                            k.per_cpu(core, field::DEVICE_INTERRUPTS),
                        ),
                    ] {
                        let mut name = String::new();
                        let _ = core::fmt::Write::write_fmt(
                            &mut name,
                            format_args!("cpu{core}.{what}"),
                        );
                        let _ = names.push(name);
                        let _ = values.push(value);
                    }
                }
                for vector in 0..=u8::MAX {
                    let count = k.interrupts(vector);
                    if count == 0 || names.is_full() {
                        continue;
                    }
                    let mut name = String::new();
                    let _ =
                        core::fmt::Write::write_fmt(&mut name, format_args!("irq.vector{vector}"));
                    let _ = names.push(name);
                    let _ = values.push(count);
                }
            }
            let kernel_figures: Vec<(&str, u64), MAX_KERNEL> = names
                .iter()
                .zip(values.iter())
                .map(|(n, v)| (n.as_str(), *v))
                .collect();
            render(&Status {
                components: &components,
                counters: &named,
                kernel: &kernel_figures,
                driver: &driver_named,
                address: None,
            });
        };
        // Each turn is one pairing with the stack; a restarted stack has
        // none of http's sockets, so http attaches again and listens afresh
        // (its connections are lost, as TCP's are with any restart of the
        // host they end in).
        loop {
            let mut client =
                match ward_socket_app::attach(caps::HTTP_NET, caps::NET_API, generation) {
                    Ok(client) => client,
                    Err(e) => {
                        println!("http: cannot attach to the stack: {e:?}");
                        return;
                    }
                };
            let mut server = Server::new();
            if let Err(e) = server.start(&mut client) {
                println!("http: cannot open its socket: {e:?}");
                return;
            }
            let mut announced = false;
            let error = ward_socket_app::serve(&mut client, caps::HTTP_NET, |client, answer| {
                if let Err(e) = server.on_answer(client, answer, &mut snapshot, pages) {
                    println!("http: {e:?}");
                }
                // The request log goes to COM2 through the serial driver; a
                // busy, restarting or absent serial driver loses lines, never
                // the request.
                while let Some(mut line) = server.take_log() {
                    let _ = line.push(b'\n');
                    let _ = text_channel::write_if_running(
                        caps::SERIAL_LOG,
                        caps::SERIAL_LOG_SERVER,
                        &line,
                    );
                }
                if server.ready() && !announced {
                    announced = true;
                    println!("http: serving port 80 (/, /stats.json, /bench/10MiB)");
                }
            });
            if error != ClientError::StackRestarted {
                // The stack broke the protocol: wait to be restarted with it.
                println!("http: the stack misbehaved: {error:?}");
                return;
            }
            println!("http: the stack restarted; attaching again (its connections are lost)");
        }
    }
}

#[cfg(not(target_os = "none"))]
fn main() {
    eprintln!("http is a Ward component: `make run` builds and boots it");
}
