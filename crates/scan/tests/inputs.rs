//! Input forms (compressed, journald, mbox) and bad input: each reported with its path, the
//! scan goes on.

mod common;

use std::io::Write;

use common::*;
use kvmtriage_scan::{expand, Input, IssueKind};

fn text_with_dumps(n: usize) -> String {
    let mut s = String::new();
    for _ in 0..n {
        s.push_str(&noise(50));
        s.push_str(&origin());
    }
    s.push_str(&noise(10));
    s
}

#[test]
fn plain_gzip_zstd_xz_give_the_same_records() {
    let dir = tempfile::tempdir().unwrap();
    let text = text_with_dumps(3);
    let plain = dir.path().join("a.log");
    std::fs::write(&plain, &text).unwrap();
    let gz = dir.path().join("a.log.gz");
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(text.as_bytes()).unwrap();
    std::fs::write(&gz, e.finish().unwrap()).unwrap();
    // the magic decides, not the name
    let zst = dir.path().join("a.bin");
    std::fs::write(&zst, zstd::encode_all(text.as_bytes(), 1).unwrap()).unwrap();
    let xz = dir.path().join("a.log.xz");
    let mut e = xz2::write::XzEncoder::new(Vec::new(), 1);
    e.write_all(text.as_bytes()).unwrap();
    std::fs::write(&xz, e.finish().unwrap()).unwrap();
    let (base, issues) = scan_file(&plain);
    assert!(issues.is_empty(), "{issues:?}");
    assert_eq!(dumps(&base), 3);
    for p in [&gz, &zst, &xz] {
        let (r, issues) = scan_file(p);
        assert!(issues.is_empty(), "{}: {issues:?}", p.display());
        let sig = |r: &[kvmtriage_scan::Record]| {
            r.iter()
                .map(|r| {
                    (
                        r.signature.clone(),
                        r.source.first_line,
                        r.source.byte_offset,
                    )
                })
                .collect::<Vec<_>>()
        };
        assert_eq!(sig(&r), sig(&base), "{}", p.display());
    }
    // line numbers and offsets point at the event line
    let first = &base[0];
    assert_eq!(first.source.first_line, 51);
    let off = first.source.byte_offset as usize;
    assert!(text[off..].starts_with("error: kvm run failed"));
}

#[test]
fn directories_are_walked() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("a/b")).unwrap();
    std::fs::write(dir.path().join("a/b/x.log"), origin()).unwrap();
    std::fs::write(dir.path().join("a/y.log"), origin()).unwrap();
    let mut issues = Vec::new();
    let inputs = expand(&[dir.path().display().to_string()], &mut issues);
    assert_eq!(inputs.len(), 2);
    let (r, issues) = scan(&inputs);
    assert!(issues.is_empty());
    assert_eq!(dumps(&r), 2);
}

fn journal_json_line(msg: &str, pid: u32, t_us: u64) -> String {
    serde_json::json!({
        "__REALTIME_TIMESTAMP": t_us.to_string(),
        "_BOOT_ID": "6f1c0b2e",
        "_PID": pid.to_string(),
        "_HOSTNAME": "hv07",
        "MESSAGE": msg,
    })
    .to_string()
        + "\n"
}

#[test]
fn journald_json_reassembles_a_dump_across_interleaved_entries() {
    let mut s = String::new();
    let t = 1_795_853_261_000_000u64;
    for (i, l) in origin().lines().enumerate() {
        s.push_str(&journal_json_line(l, 4021, t + i as u64));
        // another process between every line
        s.push_str(&journal_json_line(
            "Started Session 12 of user root.",
            1,
            t + i as u64,
        ));
    }
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("j.json");
    std::fs::write(&p, &s).unwrap();
    let (r, issues) = scan_file(&p);
    assert!(issues.is_empty(), "{issues:?}");
    assert_eq!(r.len(), 1, "{r:#?}");
    assert_eq!(r[0].host.as_deref(), Some("hv07"));
    assert_eq!(r[0].time.as_deref(), Some("2026-11-28T08:07:41.000000Z"));
    assert_eq!(r[0].source.first_line, 1);
    assert!(
        r[0].signature.contains("wrmsr | msr=0x838"),
        "{}",
        r[0].signature
    );
}

#[test]
fn journald_export_reassembles_a_dump() {
    let mut s = Vec::new();
    for (i, l) in origin().lines().enumerate() {
        for pid in [4021, 1] {
            write!(
                s,
                "__CURSOR=s=1;i={i}\n__REALTIME_TIMESTAMP=1795853261000000\n_BOOT_ID=b1\n_PID={pid}\n_HOSTNAME=hv09\n"
            )
            .unwrap();
            if pid == 1 {
                s.extend_from_slice(b"MESSAGE=Reloading.\n\n");
            } else if i == 3 {
                // a binary field (journald's form for values with control bytes)
                s.extend_from_slice(b"MESSAGE\n");
                s.extend_from_slice(&(l.len() as u64).to_le_bytes());
                s.extend_from_slice(l.as_bytes());
                s.extend_from_slice(b"\n\n");
            } else {
                writeln!(s, "MESSAGE={l}\n").unwrap();
            }
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("j.export");
    std::fs::write(&p, &s).unwrap();
    let (r, issues) = scan_file(&p);
    assert!(issues.is_empty(), "{issues:?}");
    assert_eq!(dumps(&r), 1, "{r:#?}");
    assert_eq!(r[0].host.as_deref(), Some("hv09"));
    assert!(r[0].signature.contains("run_failed:EPERM"));
}

#[test]
fn mbox_quoted_printable_goes_through_the_transport() {
    let qp: String = origin()
        .lines()
        .map(|l| format!("> {}\n", l.replace('=', "=3D")))
        .collect();
    let mbox = format!(
        "From dev@example.org Sat Nov 28 08:07:41 2026\nSubject: crash\nContent-Transfer-Encoding: quoted-printable\n\n{qp}\n"
    );
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("list.mbox");
    std::fs::write(&p, mbox).unwrap();
    let (r, _) = scan_file(&p);
    assert_eq!(dumps(&r), 1, "{r:#?}");
    assert!(r[0].signature.contains("msr=0x838"));
}

#[test]
fn binary_file_is_skipped_and_named() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("core.bin");
    let mut b = vec![0x7fu8, b'E', b'L', b'F', 0, 0, 1];
    b.extend_from_slice(origin().as_bytes());
    std::fs::write(&p, b).unwrap();
    let good = dir.path().join("good.log");
    std::fs::write(&good, origin()).unwrap();
    let (r, issues) = scan(&[Input::File(p.clone()), Input::File(good)]);
    assert_eq!(dumps(&r), 1, "the scan goes on");
    assert_eq!(issues.len(), 1);
    assert_eq!(issues[0].kind, IssueKind::Binary);
    assert_eq!(issues[0].path, p.display().to_string());
}

#[test]
fn nul_bytes_later_in_a_text_file_are_reported_and_read_on() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("nul.log");
    let mut b = noise(200).into_bytes();
    b.extend_from_slice(b"garbage \0\0\0 here\n");
    b.extend_from_slice(origin().as_bytes());
    std::fs::write(&p, b).unwrap();
    let (r, issues) = scan_file(&p);
    assert_eq!(dumps(&r), 1);
    assert_eq!(issues.len(), 1);
    assert_eq!(issues[0].kind, IssueKind::NulBytes);
}

#[test]
fn a_100_mb_line_is_cut_with_a_warning_and_the_dump_after_it_found() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("long.log");
    {
        let mut f = std::io::BufWriter::new(std::fs::File::create(&p).unwrap());
        f.write_all(noise(5).as_bytes()).unwrap();
        let block = vec![b'x'; 1 << 20];
        for _ in 0..100 {
            f.write_all(&block).unwrap();
        }
        f.write_all(b"\n").unwrap();
        f.write_all(origin().as_bytes()).unwrap();
    }
    let (r, issues) = scan_file(&p);
    assert_eq!(dumps(&r), 1);
    assert_eq!(issues.len(), 1, "{issues:?}");
    assert_eq!(issues[0].kind, IssueKind::LineCut);
    assert!(
        issues[0].message.contains("line 6"),
        "{}",
        issues[0].message
    );
    // line numbers stay right after the cut line
    assert_eq!(r[0].source.first_line, 7);
}

#[test]
fn truncated_gzip_is_reported_and_what_came_before_is_scanned() {
    let text = text_with_dumps(2) + &noise(20_000);
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(text.as_bytes()).unwrap();
    let gz = e.finish().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("cut.log.gz");
    std::fs::write(&p, &gz[..gz.len() * 3 / 4]).unwrap();
    let (r, issues) = scan_file(&p);
    assert_eq!(dumps(&r), 2);
    assert_eq!(issues.len(), 1, "{issues:?}");
    assert_eq!(issues[0].kind, IssueKind::Truncated);
    assert_eq!(issues[0].path, p.display().to_string());
}

#[test]
fn unreadable_paths_are_reported_and_the_scan_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.log");
    std::fs::write(&good, origin()).unwrap();
    std::os::unix::fs::symlink(dir.path().join("gone"), dir.path().join("dangling")).unwrap();
    let missing = dir.path().join("missing.log");
    let not_a_dir = good.join("sub");
    let mut issues = Vec::new();
    let inputs = expand(
        &[
            missing.display().to_string(),
            dir.path().display().to_string(),
            not_a_dir.display().to_string(),
        ],
        &mut issues,
    );
    assert_eq!(inputs, vec![Input::File(good.clone())]);
    let paths: Vec<&str> = issues.iter().map(|i| i.path.as_str()).collect();
    assert_eq!(issues.len(), 3, "{issues:?}");
    assert!(issues.iter().all(|i| i.kind == IssueKind::Unreadable));
    assert!(paths.contains(&missing.to_str().unwrap()));
    assert!(paths.contains(&dir.path().join("dangling").to_str().unwrap()));
    let (r, more) = scan(&inputs);
    assert_eq!(dumps(&r), 1);
    assert!(more.is_empty());
    // a file that opens but cannot be read (a directory opened as a file reads EISDIR)
    let (_, issues) = scan(&[Input::File(dir.path().to_path_buf())]);
    assert_eq!(issues.len(), 1);
    assert_eq!(issues[0].kind, IssueKind::Unreadable);
}
