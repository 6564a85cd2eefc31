//! berthd, the Berth daemon.

fn main() {}
