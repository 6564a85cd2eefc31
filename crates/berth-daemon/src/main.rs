//! berthd, the Berth daemon (see the `berth_daemon` library for everything it does).

fn main() -> std::process::ExitCode {
    berth_daemon::main()
}
