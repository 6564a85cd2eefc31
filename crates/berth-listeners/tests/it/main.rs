//! Integration tests for berth-listeners: real sockets, real certificates, real socket activation.

mod fd;
mod pki;
mod tcp;
mod tls;
mod unix;
