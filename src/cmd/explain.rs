//! `kvmtriage explain`.

/// Arguments of `kvmtriage explain`.
#[derive(clap::Args)]
pub struct Args {}

pub fn run(_args: Args) -> anyhow::Result<u8> {
    anyhow::bail!("`kvmtriage explain` is not implemented yet")
}
