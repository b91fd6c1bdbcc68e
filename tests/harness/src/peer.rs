//! Host peers: a program the harness runs on the host next to QEMU for a scenario (a traffic
//! generator on QEMU's socket network backend, a client through a host forward), and the free
//! loopback ports they meet on.
//!
//! A scenario names the ports it needs (`host_ports = ["peer", "nic"]`); the harness picks a
//! free 127.0.0.1 port for each, free for both UDP and TCP, and writes it wherever `{port.NAME}`
//! appears in `qemu_args` and `host_peer`. Two scenarios running at once therefore never meet
//! on a port, and nothing listens beyond the loopback address.

use std::collections::BTreeMap;
use std::net::{TcpListener, UdpSocket};

/// The placeholder's opening; the name follows, then `}`.
const PLACEHOLDER: &str = "{port.";

/// Whether `name` can name a port: lowercase letters, digits, `-` and `_`.
pub fn valid_port_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
}

/// The port names `text` refers to, in order; an unterminated placeholder is an error.
pub fn placeholders(text: &str) -> Result<Vec<String>, String> {
    let mut names = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find(PLACEHOLDER) {
        let after = &rest[at + PLACEHOLDER.len()..];
        let end = after.find('}').ok_or_else(|| {
            format!("'{text}' has an unterminated {PLACEHOLDER}...}} placeholder")
        })?;
        names.push(after[..end].to_string());
        rest = &after[end + 1..];
    }
    Ok(names)
}

/// `text` with every `{port.NAME}` replaced by its port.
pub fn substitute(text: &str, ports: &BTreeMap<String, u16>) -> Result<String, String> {
    let mut out = text.to_string();
    for name in placeholders(text)? {
        let port = ports
            .get(&name)
            .ok_or_else(|| format!("port '{name}' is used in '{text}' but not in host_ports"))?;
        out = out.replace(&format!("{PLACEHOLDER}{name}}}"), &port.to_string());
    }
    Ok(out)
}

/// Loopback ports picked for a scenario, still bound (UDP and TCP) until [`release`] so that
/// nothing else on the machine takes them meanwhile.
///
/// [`release`]: PortReservation::release
pub struct PortReservation {
    /// The port of each name.
    pub ports: BTreeMap<String, u16>,
    held: Vec<(UdpSocket, TcpListener)>,
}

impl PortReservation {
    /// Unbinds the ports, for QEMU and the peer to bind; call it just before starting them.
    pub fn release(&mut self) {
        self.held.clear();
    }
}

/// A free loopback port for each name: bound for UDP and for TCP at once (so it is free for
/// both), and held in the reservation (so no two names, and no other program, get the same port
/// before the scenario starts).
pub fn pick_ports(names: &[String]) -> Result<PortReservation, String> {
    let mut held = Vec::new();
    let mut ports = BTreeMap::new();
    for name in names {
        // A UDP port the kernel picks may be taken for TCP; try a few.
        let mut found = None;
        for _ in 0..16 {
            let udp =
                UdpSocket::bind("127.0.0.1:0").map_err(|e| format!("no free UDP port: {e}"))?;
            let port = udp.local_addr().map_err(|e| e.to_string())?.port();
            if let Ok(tcp) = TcpListener::bind(("127.0.0.1", port)) {
                found = Some((port, udp, tcp));
                break;
            }
        }
        let (port, udp, tcp) =
            found.ok_or_else(|| format!("no port free for both UDP and TCP for '{name}'"))?;
        held.push((udp, tcp));
        ports.insert(name.clone(), port);
    }
    Ok(PortReservation { ports, held })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_found_and_replaced() {
        let text = "dgram,id=n,local.port={port.nic},remote.port={port.peer}";
        assert_eq!(placeholders(text).unwrap(), ["nic", "peer"]);
        let ports = BTreeMap::from([("nic".to_string(), 4000), ("peer".to_string(), 4001)]);
        assert_eq!(
            substitute(text, &ports).unwrap(),
            "dgram,id=n,local.port=4000,remote.port=4001"
        );
        assert!(substitute("{port.other}", &ports)
            .unwrap_err()
            .contains("other"));
        assert!(placeholders("{port.nic").is_err());
        assert_eq!(substitute("no ports", &ports).unwrap(), "no ports");
    }

    #[test]
    fn picked_ports_are_distinct_and_free() {
        let names: Vec<String> = ["a", "b", "c"].iter().map(|s| s.to_string()).collect();
        let mut reservation = pick_ports(&names).unwrap();
        let mut values: Vec<u16> = reservation.ports.values().copied().collect();
        values.sort();
        values.dedup();
        assert_eq!(values.len(), 3);
        // Held: nobody else can bind them, for UDP or TCP.
        for &port in &values {
            assert!(UdpSocket::bind(("127.0.0.1", port)).is_err());
            assert!(TcpListener::bind(("127.0.0.1", port)).is_err());
        }
        reservation.release();
        assert!(reservation.held.is_empty());
        assert!(valid_port_name("nic-2") && !valid_port_name("Nic") && !valid_port_name(""));
    }
}
