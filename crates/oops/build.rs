//! data/titles.toml is the reviewable source of the title rules; the crate embeds it as JSON,
//! which parses several times faster at start-up than TOML (docs/performance.md).
fn main() {
    println!("cargo:rerun-if-changed=data/titles.toml");
    let src = std::fs::read_to_string("data/titles.toml").expect("data/titles.toml");
    let value: toml::Value =
        toml::from_str(&src).unwrap_or_else(|e| panic!("data/titles.toml does not parse: {e}"));
    let json = serde_json::to_string(&value).expect("TOML values serialise as JSON");
    let out = std::path::PathBuf::from(std::env::var_os("OUT_DIR").expect("OUT_DIR"));
    std::fs::write(out.join("titles.json"), json).expect("write titles.json");
}
