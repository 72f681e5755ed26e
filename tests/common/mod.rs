//! Helpers shared by the root integration tests.

/// Whether /dev/kvm can be opened read-write; says so loudly when it cannot, so a skipped KVM
/// test is never mistaken for a pass.
pub fn have_kvm() -> bool {
    if std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/kvm")
        .is_ok()
    {
        true
    } else {
        eprintln!("skipped: no /dev/kvm");
        false
    }
}
