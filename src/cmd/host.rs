//! `kvmtriage host`.

/// Arguments of `kvmtriage host`.
#[derive(clap::Args)]
pub struct Args {}

pub fn run(_args: Args) -> anyhow::Result<u8> {
    anyhow::bail!("`kvmtriage host` is not implemented yet")
}
