//! `kvmtriage msr`.

/// Arguments of `kvmtriage msr`.
#[derive(clap::Args)]
pub struct Args {}

pub fn run(_args: Args) -> anyhow::Result<u8> {
    anyhow::bail!("`kvmtriage msr` is not implemented yet")
}
