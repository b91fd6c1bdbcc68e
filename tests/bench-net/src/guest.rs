//! The systems under test and how each is booted: one QEMU at a time, always through
//! `scripts/qemu.sh`, so Ward and the Linux peer run on the same machine model (q35, `-cpu max`,
//! qboot, the same memory) with the same e1000 on the same network backend.

use std::fs;
use std::io;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, UdpSocket};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

/// The runner script, relative to the repository root.
const RUNNER: &str = "scripts/qemu.sh";
/// The machine both systems get: q35 with the split irqchip that VT-d interrupt remapping needs
/// (the same as `make run`); the VT-d device itself is added only where a configuration asks.
const MACHINE: &str = "q35,kernel-irqchip=split";
/// VT-d as `make run` gives it to Ward: DMA and interrupt remapping, caching mode on.
const VTD_DEVICE: &str = "intel-iommu,intremap=on,caching-mode=on";
/// The guest's MAC address, stated so that the frame generator can address the guest.
pub const GUEST_MAC: [u8; 6] = [0x52, 0x54, 0x00, 0x12, 0x34, 0x56];
/// QEMU's user network: the guest's address (its DHCP server hands out this one first) and the
/// gateway. The Linux peer is configured with them statically; the frame generator plays the
/// gateway on the socket backend.
pub const GUEST_IP: Ipv4Addr = Ipv4Addr::new(10, 0, 2, 15);
pub const GATEWAY_IP: Ipv4Addr = Ipv4Addr::new(10, 0, 2, 2);
pub const PREFIX_LEN: u8 = 24;
/// How many bytes of each frame the wire capture keeps: Ethernet, IPv4 and TCP headers with
/// options fit (14 + 60 + 60); payloads are never needed, only their lengths.
const CAPTURE_BYTES: u32 = 134;
/// Time allowed for QEMU to stop after SIGTERM before the whole process group is killed.
const TERM_GRACE: Duration = Duration::from_secs(5);
/// How often a stopping or exiting QEMU is checked.
const POLL: Duration = Duration::from_millis(20);

/// Which operating system a configuration boots.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum System {
    Ward,
    Linux,
}

/// One way of booting a system: the unit the benchmark compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Config {
    /// Short name for logs and tables.
    pub name: &'static str,
    pub system: System,
    /// VT-d present and strict (Ward always; Linux with `intel_iommu=on iommu.strict=1`).
    pub vtd: bool,
    /// The e1000 model's interrupt moderation (ITR, RDTR/RADV, TADV), QEMU's `mitigation`
    /// property: on as the hardware has it; off makes every frame interrupt at once.
    pub nic_moderation: bool,
}

pub const WARD: Config = Config {
    name: "ward",
    system: System::Ward,
    vtd: true,
    nic_moderation: true,
};
pub const LINUX: Config = Config {
    name: "linux",
    system: System::Linux,
    vtd: false,
    nic_moderation: true,
};
pub const LINUX_VTD: Config = Config {
    name: "linux-vtd",
    system: System::Linux,
    vtd: true,
    nic_moderation: true,
};
pub const WARD_NO_MODERATION: Config = Config {
    name: "ward-nomod",
    nic_moderation: false,
    ..WARD
};
pub const LINUX_NO_MODERATION: Config = Config {
    name: "linux-nomod",
    nic_moderation: false,
    ..LINUX
};

/// Where the boot images are.
#[derive(Debug, Clone)]
pub struct Images {
    /// `make image`'s output for the default system.
    pub ward: PathBuf,
    /// `make ktest-image`'s output: the kernel benchmark as the root task.
    pub ktest: PathBuf,
    /// `scripts/linux-peer.sh`'s output.
    pub linux: PathBuf,
}

/// Host ports forwarded to the contract's guest ports, all on 127.0.0.1.
#[derive(Debug, Clone, Copy)]
pub struct Forwards {
    pub udp_echo: u16,
    pub tcp_echo: u16,
    pub sink: u16,
    pub source: u16,
    pub http: u16,
    pub counters: u16,
}

impl Forwards {
    /// Free ports, each held open until all are chosen so that none is chosen twice.
    pub fn pick() -> io::Result<Forwards> {
        let udp: Vec<UdpSocket> = (0..2)
            .map(|_| UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)))
            .collect::<io::Result<_>>()?;
        let tcp: Vec<TcpListener> = (0..4)
            .map(|_| TcpListener::bind((Ipv4Addr::LOCALHOST, 0)))
            .collect::<io::Result<_>>()?;
        let u = |i: usize| udp[i].local_addr().map(|a| a.port());
        let t = |i: usize| tcp[i].local_addr().map(|a| a.port());
        Ok(Forwards {
            udp_echo: u(0)?,
            counters: u(1)?,
            tcp_echo: t(0)?,
            sink: t(1)?,
            source: t(2)?,
            http: t(3)?,
        })
    }

    pub fn addr(port: u16) -> SocketAddr {
        SocketAddr::from((Ipv4Addr::LOCALHOST, port))
    }

    /// QEMU's `-netdev user` with one `hostfwd` per contract port, host side on loopback only.
    fn netdev(&self) -> String {
        let rules = [
            ("udp", self.udp_echo, 7),
            ("tcp", self.tcp_echo, 7),
            ("tcp", self.sink, 9),
            ("tcp", self.source, 19),
            ("tcp", self.http, 80),
            ("udp", self.counters, 9000),
        ];
        let mut s = String::from("user,id=net0");
        for (proto, host, guest) in rules {
            s.push_str(&format!(",hostfwd={proto}:127.0.0.1:{host}-:{guest}"));
        }
        s
    }
}

/// The network backend behind the guest's e1000.
#[derive(Debug, Clone, Copy)]
pub enum Network {
    /// QEMU's user network with host forwards (the host clients' way in).
    User(Forwards),
    /// Raw Ethernet frames in UDP datagrams between QEMU (bound to `qemu`) and the frame
    /// generator (bound to `generator`), both on 127.0.0.1.
    Socket { qemu: u16, generator: u16 },
}

/// What to boot and how.
#[derive(Debug, Clone)]
pub struct Boot<'a> {
    pub config: Config,
    pub network: Network,
    /// Count guest instructions: `-icount shift=0,align=off`, one TSC tick per instruction.
    pub icount: bool,
    /// Record the wire (headers only) to this pcap file.
    pub capture: Option<PathBuf>,
    /// Ward: arguments of the root task (e.g. `test=bench` for the kernel benchmark image).
    pub root_args: &'a str,
    /// Linux: extra kernel arguments (e.g. `peer_mode=ipc`).
    pub kernel_args: &'a str,
    /// The image directory; `None` for the system's normal image.
    pub image: Option<&'a Path>,
    /// The runner's own time limit: QEMU never outlives it, whatever happens here.
    pub seconds: u64,
    /// The console (COM1) log.
    pub log: PathBuf,
    /// Where COM2 goes (Ward's serial driver drives it; `make run` gives it the same way).
    pub com2: PathBuf,
}

impl Boot<'_> {
    /// The QEMU arguments this boot adds to the runner's machine.
    fn qemu_args(&self) -> Vec<String> {
        let mut a: Vec<String> = Vec::new();
        let mut add = |list: &[&str]| a.extend(list.iter().map(|s| s.to_string()));
        if self.config.vtd {
            // First, so that it exists before the devices it translates for.
            add(&["-device", VTD_DEVICE]);
        }
        add(&["-nic", "none"]);
        let netdev = match self.network {
            Network::User(f) => f.netdev(),
            Network::Socket { qemu, generator } => {
                format!("socket,id=net0,udp=127.0.0.1:{generator},localaddr=127.0.0.1:{qemu}")
            }
        };
        add(&["-netdev", &netdev]);
        let mac = GUEST_MAC.map(|b| format!("{b:02x}")).join(":");
        let moderation = if self.config.nic_moderation {
            "on"
        } else {
            "off"
        };
        // Autonegotiation off: QEMU's e1000 then reports link up at once instead of after its
        // emulated negotiation delay; the same for both systems.
        add(&[
            "-device",
            &format!("e1000,netdev=net0,mac={mac},autonegotiation=off,mitigation={moderation}"),
        ]);
        // COM2 to a file, as `make run` connects it: the second -serial after the runner's own.
        add(&[
            "-chardev",
            &format!("file,id=com2,path={}", self.com2.display()),
            "-serial",
            "chardev:com2",
        ]);
        if self.icount {
            // The RTC on the virtual clock too: Ward's supervisor ticks from it and its
            // components keep time by the TSC, so both must count guest instructions, or a busy
            // guest (slower than one instruction per nanosecond of host time) misses heartbeats.
            add(&["-icount", "shift=0,align=off", "-rtc", "clock=vm"]);
        }
        if let Some(path) = &self.capture {
            add(&[
                "-object",
                &format!(
                    "filter-dump,id=wire,netdev=net0,file={},maxlen={CAPTURE_BYTES}",
                    path.display()
                ),
            ]);
        }
        a
    }

    fn kernel_args(&self) -> String {
        match self.config.system {
            System::Ward => self.kernel_args.to_string(),
            System::Linux => {
                let mut k = format!("peer_ip={GUEST_IP}/{PREFIX_LEN} peer_gw={GATEWAY_IP}");
                if self.config.vtd {
                    k.push_str(" intel_iommu=on iommu.strict=1");
                }
                if !self.kernel_args.is_empty() {
                    k.push(' ');
                    k.push_str(self.kernel_args);
                }
                k
            }
        }
    }

    /// The runner's arguments, in the order it documents.
    pub fn runner_args(&self, images: &Images) -> Vec<String> {
        let image = self
            .image
            .map(Path::to_path_buf)
            .unwrap_or_else(|| match self.config.system {
                System::Ward => images.ward.clone(),
                System::Linux => images.linux.clone(),
            });
        let mut a = vec![
            "--seconds".to_string(),
            self.seconds.to_string(),
            "--machine".to_string(),
            MACHINE.to_string(),
        ];
        if !self.root_args.is_empty() {
            a.extend(["--root-args".to_string(), self.root_args.to_string()]);
        }
        let kernel_args = self.kernel_args();
        if !kernel_args.is_empty() {
            a.extend(["--kernel-args".to_string(), kernel_args]);
        }
        for q in self.qemu_args() {
            a.extend(["--qemu-arg".to_string(), q]);
        }
        a.push(image.display().to_string());
        a
    }
}

/// A running QEMU. Dropping it stops QEMU and reaps it.
pub struct Guest {
    child: Option<Child>,
    pub started: Instant,
    pub log: PathBuf,
    status: Option<ExitStatus>,
}

impl Guest {
    /// Starts the runner in a process group of its own, console to `boot.log`.
    pub fn start(root: &Path, images: &Images, boot: &Boot<'_>) -> Result<Guest, String> {
        if let Some(parent) = boot.log.parent() {
            fs::create_dir_all(parent).map_err(|e| format!("{}: {e}", parent.display()))?;
        }
        let log =
            fs::File::create(&boot.log).map_err(|e| format!("{}: {e}", boot.log.display()))?;
        let log2 = log.try_clone().map_err(|e| e.to_string())?;
        let started = Instant::now();
        let child = Command::new("bash")
            .arg(root.join(RUNNER))
            .args(boot.runner_args(images))
            .current_dir(root)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log2)
            .process_group(0)
            .spawn()
            .map_err(|e| format!("cannot start {RUNNER}: {e}"))?;
        Ok(Guest {
            child: Some(child),
            started,
            log: boot.log.clone(),
            status: None,
        })
    }

    /// The console so far.
    pub fn console(&self) -> String {
        fs::read(&self.log)
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default()
    }

    /// QEMU's exit status once it has ended by itself.
    pub fn exited(&mut self) -> Option<ExitStatus> {
        if self.status.is_none() {
            if let Some(child) = self.child.as_mut() {
                self.status = child.try_wait().ok().flatten();
            }
        }
        self.status
    }

    /// Waits up to `limit` for QEMU to end by itself (a guest that powers off).
    pub fn wait_exit(&mut self, limit: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Some(s) = self.exited() {
                return Some(s);
            }
            sleep(POLL);
        }
        None
    }

    /// Stops QEMU: SIGTERM to the group (timeout(1) and QEMU end cleanly, flushing the capture),
    /// then SIGKILL to the group if that did not do it. Always reaps the runner.
    pub fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        if self.status.is_none() {
            signal_group(&child, "TERM");
            let deadline = Instant::now() + TERM_GRACE;
            while Instant::now() < deadline {
                if let Ok(Some(s)) = child.try_wait() {
                    self.status = Some(s);
                    break;
                }
                sleep(POLL);
            }
        }
        // Whatever is left in the group (QEMU itself should timeout(1) have died first).
        signal_group(&child, "KILL");
        if self.status.is_none() {
            self.status = child.wait().ok();
        }
    }
}

impl Drop for Guest {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Sends a signal to the child's process group (its pid is the group id). std sends only
/// SIGKILL and only to one process; kill(1) does the rest.
fn signal_group(child: &Child, signal: &str) {
    let _ = Command::new("kill")
        .args([&format!("-{signal}"), "--", &format!("-{}", child.id())])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

/// The last non-empty console lines, for saying why a boot failed.
pub fn console_tail(console: &str, lines: usize) -> String {
    let all: Vec<&str> = console.lines().filter(|l| !l.trim().is_empty()).collect();
    all[all.len().saturating_sub(lines)..].join(" | ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn images() -> Images {
        Images {
            ward: PathBuf::from("build/images/system"),
            ktest: PathBuf::from("build/images/ktest"),
            linux: PathBuf::from("build/linux-peer/image"),
        }
    }

    fn forwards() -> Forwards {
        Forwards {
            udp_echo: 1001,
            tcp_echo: 1002,
            sink: 1003,
            source: 1004,
            http: 1005,
            counters: 1006,
        }
    }

    fn boot(config: Config) -> Boot<'static> {
        Boot {
            config,
            network: Network::User(forwards()),
            icount: false,
            capture: None,
            root_args: "",
            kernel_args: "",
            image: None,
            seconds: 60,
            log: PathBuf::from("x.log"),
            com2: PathBuf::from("/tmp/com2.log"),
        }
    }

    fn joined(args: &[String]) -> String {
        args.join(" ")
    }

    #[test]
    fn ward_gets_vtd_first_and_every_forward_on_loopback() {
        let a = joined(&boot(WARD).runner_args(&images()));
        assert!(a.starts_with("--seconds 60 --machine q35,kernel-irqchip=split --qemu-arg -device --qemu-arg intel-iommu"));
        for rule in [
            "hostfwd=udp:127.0.0.1:1001-:7",
            "hostfwd=tcp:127.0.0.1:1002-:7",
            "hostfwd=tcp:127.0.0.1:1003-:9",
            "hostfwd=tcp:127.0.0.1:1004-:19",
            "hostfwd=tcp:127.0.0.1:1005-:80",
            "hostfwd=udp:127.0.0.1:1006-:9000",
        ] {
            assert!(a.contains(rule), "{rule} missing from {a}");
        }
        assert!(
            a.contains("e1000,netdev=net0,mac=52:54:00:12:34:56,autonegotiation=off,mitigation=on")
        );
        assert!(!a.contains("--kernel-args"));
        assert!(a.ends_with(" build/images/system"));
    }

    #[test]
    fn linux_gets_its_address_and_vtd_strict_only_when_asked() {
        let plain = joined(&boot(LINUX).runner_args(&images()));
        assert!(plain.contains("--kernel-args peer_ip=10.0.2.15/24 peer_gw=10.0.2.2 --qemu-arg"));
        assert!(!plain.contains("intel-iommu") && !plain.contains("intel_iommu"));
        assert!(plain.ends_with(" build/linux-peer/image"));
        let vtd = joined(&boot(LINUX_VTD).runner_args(&images()));
        assert!(vtd.contains("peer_gw=10.0.2.2 intel_iommu=on iommu.strict=1"));
        assert!(
            vtd.contains("--qemu-arg -device --qemu-arg intel-iommu,intremap=on,caching-mode=on")
        );
    }

    #[test]
    fn icount_capture_and_socket_backend() {
        let mut b = boot(WARD_NO_MODERATION);
        b.icount = true;
        b.capture = Some(PathBuf::from("/tmp/w.pcap"));
        b.network = Network::Socket {
            qemu: 2001,
            generator: 2002,
        };
        let a = joined(&b.runner_args(&images()));
        assert!(a.contains("socket,id=net0,udp=127.0.0.1:2002,localaddr=127.0.0.1:2001"));
        assert!(a.contains("mitigation=off"));
        assert!(a.contains("--qemu-arg -icount --qemu-arg shift=0,align=off"));
        assert!(a.contains("filter-dump,id=wire,netdev=net0,file=/tmp/w.pcap,maxlen=134"));
        assert!(!a.contains("hostfwd"));
    }

    #[test]
    fn picked_ports_are_distinct() {
        let f = Forwards::pick().unwrap();
        let mut tcp = [f.tcp_echo, f.sink, f.source, f.http];
        tcp.sort_unstable();
        assert!(tcp.windows(2).all(|w| w[0] != w[1]));
        assert_ne!(f.udp_echo, f.counters);
    }

    #[test]
    fn console_tail_skips_blank_lines() {
        assert_eq!(console_tail("a\n\nb\nc\n\n", 2), "b | c");
        assert_eq!(console_tail("", 3), "");
    }
}
