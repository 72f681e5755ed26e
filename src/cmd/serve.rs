//! `kvmtriage serve`: the local web page and JSON API (crates/serve).

use std::net::SocketAddr;

use crate::exit;

/// Default listening address: loopback only.
const DEFAULT_LISTEN: &str = "127.0.0.1:7373";

/// Arguments of `kvmtriage serve`.
#[derive(clap::Args)]
pub struct Args {
    /// Address and port to listen on (port 0 picks a free one). Loopback by default; any other
    /// address makes the page reachable from other machines, without authentication.
    #[arg(long, value_name = "ADDR:PORT", default_value = DEFAULT_LISTEN)]
    listen: SocketAddr,
}

pub fn run(args: Args) -> anyhow::Result<u8> {
    let loopback = args.listen.ip().is_loopback();
    if !loopback {
        super::error(format_args!(
            "kvmtriage: warning: listening on {}, not on loopback: the page has no authentication, \
             so anyone who can reach this address can use it (it stores nothing)",
            args.listen
        ));
    }
    let config = kvmtriage_serve::Config {
        loopback_hosts_only: loopback,
        ..kvmtriage_serve::Config::default()
    };
    kvmtriage_serve::run(args.listen, config, |addr| {
        // The first line names the URL (tests read it when they ask for port 0).
        super::error(format_args!(
            "kvmtriage: serving http://{addr}/ (Ctrl+C to stop)"
        ));
    })?;
    Ok(exit::OK)
}
