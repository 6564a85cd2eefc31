//! Integration tests for berth-listeners: real sockets, real certificates, real socket activation.

mod fd;
mod pki;
mod tcp;
mod tls;
mod unix;

/// The daemon moves listeners into accept tasks and streams into hyper connection tasks.
#[test]
fn types_are_send_sync_unpin() {
    fn send_sync<T: Send + Sync + 'static>() {}
    fn send_unpin<T: Send + Unpin + 'static>() {}
    send_sync::<berth_listeners::Listener>();
    send_sync::<berth_listeners::PeerInfo>();
    send_unpin::<berth_listeners::Conn>();
    send_unpin::<berth_listeners::IoStream>();
    send_sync::<berth_listeners::ListenError>();
    send_sync::<berth_listeners::TlsError>();
    send_sync::<berth_listeners::HostError>();
}
