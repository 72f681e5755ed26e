//! `kvmtriage repro`.

/// Arguments of `kvmtriage repro`.
#[derive(clap::Args)]
pub struct Args {}

pub fn run(_args: Args) -> anyhow::Result<u8> {
    anyhow::bail!("`kvmtriage repro` is not implemented yet")
}
