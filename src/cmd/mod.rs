pub mod capture;
pub mod explain;
pub mod host;
pub mod msr;
pub mod repro;
