//! What every socket application on Ward does before and around its own
//! logic: set up the socket pair system.toml grants it (it owns the pool),
//! attach the pair to the network stack with a `net-api` call (the kernel's
//! badge tells the stack who calls), and serve the stack's answers,
//! ringing the stack's doorbell and sleeping on its own notification.
#![no_std]

use ward_proto::client::{ClientError, SocketClient};
use ward_proto::socket::api;
use ward_proto::socket::SocketResponse;
use ward_userlib::cap::{cap_type::Endpoint, Cap};
use ward_userlib::component::StatusPage;
use ward_userlib::ring::{self, RingError, SLOT_SET_WORDS};
use ward_userlib::spec::RingChannel;
use ward_userlib::{component, message};

/// The client over an application's socket pair.
pub type Client = SocketClient<'static, ward_ring::SharedRing<'static>, SLOT_SET_WORDS>;

/// Why an application could not start serving.
#[derive(Debug)]
pub enum StartError {
    /// The socket pair could not be set up.
    Ring(RingError),
    /// The caps table gives no pool mapping for the pair.
    NoPool,
    /// The stack refused the attach (an `api::ATTACH_*` code).
    Refused(u64),
    /// The call to the stack failed.
    Call(ward_userlib::InvocationError),
}

/// Sets up `channel` (as its owner, with this instance's `generation`) and
/// attaches it to the stack through `net_api`.
pub fn attach(
    channel: RingChannel,
    net_api: Cap<Endpoint>,
    generation: u64,
) -> Result<Client, StartError> {
    let end = ring::attach(channel, generation).map_err(StartError::Ring)?;
    let pool = end.pool.ok_or(StartError::NoPool)?;
    let reply = net_api
        .call(message::info(api::LABEL_ATTACH, 1), [generation, 0, 0, 0])
        .map_err(StartError::Call)?;
    if reply.info.label() != api::ATTACH_OK {
        return Err(StartError::Refused(reply.info.label()));
    }
    Ok(SocketClient::new(end.pair, pool))
}

/// Serves answers on `client` until the stack breaks the protocol or is
/// restarted ([`ClientError::StackRestarted`]: its generation on the status
/// page changed; the supervisor signals the application's bit for the
/// channel when it restarts the stack): each answer goes to `on_answer`;
/// the stack's doorbell on `channel` is rung when it asked, and the
/// component sleeps on its notification when idle.
pub fn serve(
    client: &mut Client,
    channel: RingChannel,
    on_answer: impl FnMut(&mut Client, &SocketResponse<'_>),
) -> ClientError {
    let status = StatusPage::mapped();
    let stack_generation = status.generation_of(channel.peer);
    client.serve(
        on_answer,
        || {
            let _ = channel.doorbell.signal();
        },
        || {
            let _ = component::wait();
            if status.generation_of(channel.peer) != stack_generation {
                return Err(ClientError::StackRestarted);
            }
            Ok(())
        },
    )
}
