//! `steady` (tests/systems/restart.toml): borrows from the `feed` ring of
//! `crasher`. When a signal comes, it compares crasher's generation on the
//! status page with the ring generation it is attached to; on a change it
//! attaches afresh (dropping whatever the dead instance left) and keeps
//! working.
#![no_std]
#![no_main]

#[allow(dead_code)]
mod caps {
    include!(concat!(env!("OUT_DIR"), "/steady.rs"));
}

use ward_userlib::component::StatusPage;
use ward_userlib::ring::{self, ChannelEnd};
use ward_userlib::{component, println};

ward_userlib::component!(main, caps);

fn main(generation: u64) {
    println!("steady: generation {generation} up");
    let status = StatusPage::mapped();
    let mut known = status.generation_of("crasher").unwrap_or(0);
    let mut feed: Option<ChannelEnd> = None;
    let mut events = 0u32;
    loop {
        if component::wait() & caps::FEED_BIT == 0 {
            continue;
        }
        events += 1;
        let now = status.generation_of("crasher").unwrap_or(0);
        if now != known {
            println!("steady: crasher restarted (generation {known} -> {now}); resynchronising the feed ring");
            known = now;
        }
        // Attach to the instance that is running now; a region still set up
        // by an older instance is left until the new one rings.
        if feed.as_ref().is_none_or(|f| f.pair.generation() != now) {
            feed = ring::attach(caps::FEED, generation)
                .ok()
                .filter(|f| f.pair.generation() == now);
        }
        let Some(end) = feed.as_mut() else { continue };
        loop {
            match end.pair.receive() {
                Ok(Some(buffer)) => {
                    println!(
                        "steady: fed by crasher generation {}; still working ({events} signals so far)",
                        buffer.cookie()
                    );
                    let _ = end.pair.send(buffer);
                }
                Ok(None) => break,
                Err(e) => {
                    println!("steady: the feed ring is broken ({e:?}); waiting for a new instance");
                    feed = None;
                    break;
                }
            }
        }
        if let Some(end) = feed.as_mut() {
            end.flush();
        }
    }
}
