//! Docker -H host parsing and the listeners behind it: unix, tcp, TLS with client certificates, fd:// socket activation.
