//! VM setup cost: /dev/kvm open, VM + memory + vCPU creation, boot structures, MSR filter and
//! scenario assembly — everything `kvmtriage repro` does before the first KVM_RUN. Also the
//! whole origin-x2apic-timer run with `--inject wrmsr:0x838=EPERM`.

use criterion::{criterion_group, criterion_main, Criterion};
use kvmtriage_kvm::{prepare, reproduce, scenarios, Guest, KvmModel, Request};

fn bench(c: &mut Criterion) {
    if !kvmtriage_kvm::kvm_available() {
        eprintln!("skipped: no /dev/kvm");
        return;
    }
    let origin = scenarios::find("origin-x2apic-timer").unwrap();
    let plain = Request::new(Guest::Scenario(origin), KvmModel::Host, vec![]);
    // Setup only: the VM's teardown (closing the fds, which KVM does synchronously) happens
    // outside the timed part.
    c.bench_function("vm_setup/origin-x2apic-timer", |b| {
        b.iter_with_large_drop(|| prepare(&plain).unwrap())
    });
    let failing = Request::new(
        Guest::Scenario(origin),
        KvmModel::Host,
        vec!["wrmsr:0x838=EPERM".parse().unwrap()],
    );
    // Setup, run to the EPERM, state capture, report; teardown included.
    c.bench_function("setup_run_report/origin-x2apic-timer+EPERM", |b| {
        b.iter(|| reproduce(&failing, &mut |_| {}).unwrap())
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
