//! berthd integration tests: the real binary on temporary sockets and roots.

mod authz;
mod engine;
mod faults;
mod harness;
mod lifecycle;
mod reload;
mod robustness;
mod socket_activation;
mod tls;
