//! The `echo` component: the bench services of [`ward_echo`] on the socket
//! pair system.toml grants it (`echo-net`, which it owns), attached to the
//! network stack through `net-api`. It waits on its notification for the
//! stack's doorbell and rings the stack's after each batch of requests.
#![cfg_attr(target_os = "none", no_std, no_main)]

#[cfg(target_os = "none")]
mod component {
    #[allow(dead_code)]
    mod caps {
        include!(concat!(env!("OUT_DIR"), "/caps.rs"));
    }

    use ward_echo::{Clock, Services};
    use ward_proto::client::ClientError;
    use ward_userlib::kstats::KernelStatistics;
    use ward_userlib::{println, time};

    ward_userlib::component!(main, caps);

    /// The counters service's figures: the TSC and the kernel's idle time.
    struct Figures {
        kernel: Option<KernelStatistics>,
    }

    impl Clock for Figures {
        fn tsc(&self) -> u64 {
            time::read_tsc()
        }
        fn idle_tsc(&self) -> Option<u64> {
            self.kernel.as_ref().map(KernelStatistics::idle_tsc)
        }
    }

    /// The connection table (tens of KiB) lives in static memory, not on
    /// the component's stack.
    static mut SERVICES: Services = Services::new();

    fn main(generation: u64) {
        let figures = Figures {
            kernel: KernelStatistics::of(caps::KERNEL_STATISTICS),
        };
        // SAFETY: SERVICES is touched here only, by the one thread.
        let services = unsafe { &mut *core::ptr::addr_of_mut!(SERVICES) };
        // Each turn is one pairing with the stack; a restarted stack has
        // none of echo's sockets, so echo attaches again and opens them
        // afresh (its connections are lost, as TCP's are with any restart
        // of the host they end in).
        loop {
            let mut client =
                match ward_socket_app::attach(caps::ECHO_NET, caps::NET_API, generation) {
                    Ok(client) => client,
                    Err(e) => {
                        println!("echo: cannot attach to the stack: {e:?}");
                        return;
                    }
                };
            services.forget_sockets();
            if let Err(e) = services.start(&mut client) {
                println!("echo: cannot open its sockets: {e:?}");
                return;
            }
            let mut announced = false;
            let error = ward_socket_app::serve(&mut client, caps::ECHO_NET, |client, answer| {
                if let Err(e) = services.on_answer(client, answer, &figures) {
                    println!("echo: {e:?}");
                }
                if services.ready() && !announced {
                    announced = true;
                    println!(
                        "echo: serving UDP/TCP 7, TCP 9 (sink), TCP 19 (source), UDP 9000 (counters); at {} us",
                        time::Instant::now().since_boot().as_micros()
                    );
                }
            });
            if error != ClientError::StackRestarted {
                // The stack broke the protocol: wait to be restarted with it.
                println!("echo: the stack misbehaved: {error:?}");
                return;
            }
            println!("echo: the stack restarted; attaching again (its connections are lost)");
        }
    }
}

#[cfg(not(target_os = "none"))]
fn main() {
    eprintln!("echo is a Ward component: `make run` builds and boots it");
}
