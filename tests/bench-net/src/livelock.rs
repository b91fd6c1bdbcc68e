//! The receive-livelock curve. A host-side frame generator on QEMU's socket backend offers UDP
//! echo frames at a paced rate and counts the echoes that come back: the delivered rate. A ramp
//! finds the saturation rate (the most the guest delivered); the curve then offers from a quarter
//! to four times that. A system that livelocks delivers less and less as the offered load rises
//! past saturation; one that mitigates (NAPI, interrupt moderation) holds near its peak.

use std::io;
use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::{self, sleep, JoinHandle};
use std::time::{Duration, Instant};

use crate::frames::{self, Received};
use crate::guest::Guest;
use crate::stats::summarize;

/// Step tag of the readiness probes (never a measurement step).
const READY_STEP: u32 = u32::MAX;
/// Step tag while queues drain between steps: echoes of it are not counted.
const DRAIN_STEP: u32 = u32::MAX - 1;
/// Time between readiness probes.
const PROBE_INTERVAL: Duration = Duration::from_millis(50);
/// Time for the queues (host socket, QEMU, the guest's rings) to empty between steps.
const DRAIN: Duration = Duration::from_millis(300);
/// How often the pacing loop wakes: short against a window, long against a system call.
const PACE_TICK: Duration = Duration::from_micros(200);
/// The responder's receive timeout: how soon it notices the stop flag.
const RESPONDER_TICK: Duration = Duration::from_millis(50);
/// A ramp step whose delivered rate is below this fraction of the offered rate has passed the
/// knee: the search for the saturation rate stops there.
const KNEE: f64 = 0.8;
/// Once past the knee, the ramp stops when it offers this many times the best delivered rate.
const BEYOND_KNEE: f64 = 2.0;
/// Each ramp step offers this many times the previous one.
const RAMP_FACTOR: f64 = 1.5;
/// At most this many ramp steps, whatever the guest does.
const RAMP_STEPS: usize = 16;

/// How the curve is measured.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Offered loads as multiples of the saturation rate.
    pub multiples: Vec<f64>,
    /// Length of each curve point.
    pub window: Duration,
    /// Length of each ramp step.
    pub ramp_window: Duration,
    /// First ramp rate, frames per second.
    pub ramp_start: f64,
    /// No step offers more than this (frames per second): bounds the load on the host.
    pub max_rate: f64,
}

/// One measured point.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Point {
    /// The multiple of the saturation rate asked for (0 for ramp steps).
    pub multiple: f64,
    /// Frames per second actually sent.
    pub offered: f64,
    /// Echoes per second that came back.
    pub delivered: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Curve {
    /// The highest delivered rate the ramp found, frames per second.
    pub saturation: f64,
    pub ramp: Vec<Point>,
    pub points: Vec<Point>,
}

impl Curve {
    /// The highest delivered rate of any step.
    pub fn peak(&self) -> f64 {
        self.ramp
            .iter()
            .chain(&self.points)
            .map(|p| p.delivered)
            .fold(0.0, f64::max)
    }

    /// Delivered at `multiple` times saturation, as a fraction of the peak.
    pub fn fraction_of_peak_at(&self, multiple: f64) -> Option<f64> {
        let point = self
            .points
            .iter()
            .find(|p| (p.multiple - multiple).abs() < 1e-9)?;
        let peak = self.peak();
        (peak > 0.0).then(|| point.delivered / peak)
    }
}

/// One point of a configuration's curves over several rounds: the medians.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Median {
    pub offered: f64,
    pub delivered: f64,
    /// Of each round's own peak.
    pub fraction_of_peak: f64,
}

/// The medians over `curves` at `multiple` times saturation.
pub fn median_at(curves: &[Curve], multiple: f64) -> Option<Median> {
    let mut offered = Vec::new();
    let mut delivered = Vec::new();
    let mut fractions = Vec::new();
    for curve in curves {
        if let (Some(p), Some(f)) = (
            curve
                .points
                .iter()
                .find(|p| (p.multiple - multiple).abs() < 1e-9),
            curve.fraction_of_peak_at(multiple),
        ) {
            offered.push(p.offered);
            delivered.push(p.delivered);
            fractions.push(f);
        }
    }
    Some(Median {
        offered: summarize(&offered)?.median,
        delivered: summarize(&delivered)?.median,
        fraction_of_peak: summarize(&fractions)?.median,
    })
}

/// The generator: a UDP socket QEMU's socket backend exchanges frames with, and a responder
/// thread that answers ARP and DHCP and counts echoes.
pub struct Generator {
    socket: UdpSocket,
    qemu: SocketAddr,
    step: Arc<AtomicU32>,
    echoes: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    responder: Option<JoinHandle<()>>,
}

impl Generator {
    /// Binds the generator's socket and chooses QEMU's; returns (generator, its port, QEMU's port).
    pub fn bind() -> io::Result<(Generator, u16, u16)> {
        let socket = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0))?;
        let qemu_port = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0))?
            .local_addr()?
            .port();
        let qemu = SocketAddr::from((Ipv4Addr::LOCALHOST, qemu_port));
        let generator_port = socket.local_addr()?.port();
        let step = Arc::new(AtomicU32::new(DRAIN_STEP));
        let echoes = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let responder = {
            let socket = socket.try_clone()?;
            socket.set_read_timeout(Some(RESPONDER_TICK))?;
            let (step, echoes, stop) = (step.clone(), echoes.clone(), stop.clone());
            thread::spawn(move || respond(socket, qemu, step, echoes, stop))
        };
        Ok((
            Generator {
                socket,
                qemu,
                step,
                echoes,
                stop,
                responder: Some(responder),
            },
            generator_port,
            qemu_port,
        ))
    }

    /// Probes until the guest echoes a test frame; the time since the guest started.
    pub fn wait_ready(&self, guest: &mut Guest, limit: Duration) -> Result<Duration, String> {
        self.begin(READY_STEP);
        let mut seq = 0;
        while guest.started.elapsed() < limit {
            if let Some(status) = guest.exited() {
                return Err(format!("QEMU ended ({status}) before the guest answered"));
            }
            let _ = self
                .socket
                .send_to(&frames::test_frame(READY_STEP, seq), self.qemu);
            seq += 1;
            sleep(PROBE_INTERVAL);
            if self.echoes.load(Ordering::Relaxed) > 0 {
                self.begin(DRAIN_STEP);
                sleep(DRAIN);
                return Ok(guest.started.elapsed());
            }
        }
        Err(format!(
            "no echo of a test frame within {} s",
            limit.as_secs()
        ))
    }

    fn begin(&self, step: u32) {
        self.step.store(step, Ordering::SeqCst);
        self.echoes.store(0, Ordering::SeqCst);
    }

    /// Offers `rate` frames per second for `window`; counts the echoes received meanwhile.
    fn offer(&self, step: u32, multiple: f64, rate: f64, window: Duration) -> Point {
        let total = (rate * window.as_secs_f64()).ceil() as u64;
        self.begin(step);
        let start = Instant::now();
        let mut sent = 0u64;
        loop {
            let elapsed = start.elapsed();
            if elapsed >= window {
                break;
            }
            let due = ((elapsed.as_secs_f64() * rate) as u64 + 1).min(total);
            while sent < due {
                if self
                    .socket
                    .send_to(&frames::test_frame(step, sent), self.qemu)
                    .is_err()
                {
                    break; // the host dropped it: not offered
                }
                sent += 1;
            }
            sleep(PACE_TICK);
        }
        let seconds = start.elapsed().as_secs_f64();
        let echoed = self.echoes.load(Ordering::SeqCst);
        self.begin(DRAIN_STEP);
        sleep(DRAIN);
        Point {
            multiple,
            offered: sent as f64 / seconds,
            delivered: echoed as f64 / seconds,
        }
    }

    /// The ramp, then the curve. The ramp goes on past the first step that falls short of the
    /// offered load until it offers twice the best delivered rate, so that one unlucky step
    /// (the host is shared) does not end the search early.
    pub fn curve(&self, plan: &Plan) -> Curve {
        let mut step = 0u32;
        let mut ramp: Vec<Point> = Vec::new();
        let mut rate = plan.ramp_start;
        for _ in 0..RAMP_STEPS {
            step += 1;
            let p = self.offer(step, 0.0, rate, plan.ramp_window);
            ramp.push(p);
            let best = ramp.iter().map(|p| p.delivered).fold(0.0, f64::max);
            let past_the_knee = ramp.iter().any(|p| p.delivered < KNEE * p.offered);
            if past_the_knee && rate >= BEYOND_KNEE * best || rate * RAMP_FACTOR > plan.max_rate {
                break;
            }
            rate *= RAMP_FACTOR;
        }
        let saturation = ramp.iter().map(|p| p.delivered).fold(0.0, f64::max);
        let points = plan
            .multiples
            .iter()
            .map(|&m| {
                step += 1;
                self.offer(step, m, (m * saturation).min(plan.max_rate), plan.window)
            })
            .collect();
        Curve {
            saturation,
            ramp,
            points,
        }
    }
}

impl Drop for Generator {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.responder.take() {
            let _ = t.join();
        }
    }
}

/// The responder thread: answers ARP and DHCP, counts echoes of the current step.
fn respond(
    socket: UdpSocket,
    qemu: SocketAddr,
    step: Arc<AtomicU32>,
    echoes: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
) {
    let mut buf = [0u8; 2048];
    while !stop.load(Ordering::Relaxed) {
        let Ok((n, from)) = socket.recv_from(&mut buf) else {
            continue;
        };
        if from != qemu {
            continue;
        }
        match frames::receive(&buf[..n]) {
            Received::Echo { step: s } if s == step.load(Ordering::Relaxed) => {
                echoes.fetch_add(1, Ordering::Relaxed);
            }
            Received::NeedsReply(frame) => {
                let _ = socket.send_to(&frame, qemu);
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(multiple: f64, delivered: f64) -> Point {
        Point {
            multiple,
            offered: multiple * 1000.0,
            delivered,
        }
    }

    #[test]
    fn medians_over_rounds_take_each_round_against_its_own_peak() {
        let round = |peak: f64, at2: f64| Curve {
            saturation: peak,
            ramp: vec![point(0.0, peak)],
            points: vec![point(2.0, at2)],
        };
        let curves = [
            round(1000.0, 900.0),
            round(2000.0, 1000.0),
            round(1500.0, 1500.0),
        ];
        let m = median_at(&curves, 2.0).unwrap();
        assert_eq!(m.delivered, 1000.0);
        assert_eq!(m.fraction_of_peak, 0.9);
        assert_eq!(median_at(&curves, 4.0), None);
        assert_eq!(median_at(&[], 2.0), None);
    }

    #[test]
    fn fraction_of_peak_uses_the_best_step_anywhere() {
        let curve = Curve {
            saturation: 1000.0,
            ramp: vec![point(0.0, 500.0), point(0.0, 1000.0)],
            points: vec![point(1.0, 1100.0), point(2.0, 880.0)],
        };
        assert_eq!(curve.peak(), 1100.0);
        assert_eq!(curve.fraction_of_peak_at(2.0), Some(0.8));
        assert_eq!(curve.fraction_of_peak_at(3.0), None);
    }
}
