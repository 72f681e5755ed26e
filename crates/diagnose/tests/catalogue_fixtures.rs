//! Every catalogue entry has a fixture that matches it and a near miss that must not.

mod common;

use common::{diag, ids, testdata};
use kvmtriage_diagnose::catalogue;

#[test]
fn every_entry_has_fixtures() {
    let mut missing = Vec::new();
    for issue in catalogue() {
        for f in ["match.txt", "near-miss.txt"] {
            if !testdata().join("diagnose").join(issue.id).join(f).is_file() {
                missing.push(format!("{}/{f}", issue.id));
            }
        }
    }
    assert!(missing.is_empty(), "missing fixtures: {missing:?}");
    assert!(
        catalogue().len() >= 25,
        "catalogue has {} entries",
        catalogue().len()
    );
}

#[test]
fn match_fixtures_match_and_near_misses_do_not() {
    let mut failures = Vec::new();
    for issue in catalogue() {
        let m = diag(&format!("diagnose/{}/match.txt", issue.id), None);
        if !ids(&m).contains(&issue.id) {
            failures.push(format!(
                "{}: match.txt did not match (got {:?}; verdict: {})",
                issue.id,
                ids(&m),
                m.verdict
            ));
        }
        let n = diag(&format!("diagnose/{}/near-miss.txt", issue.id), None);
        if ids(&n).contains(&issue.id) {
            failures.push(format!("{}: near-miss.txt matched", issue.id));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn match_fixtures_put_their_entry_first_or_only_behind_a_bug() {
    // The fixture's own entry leads the verdict unless a more specific entry (a bug) also matches.
    for issue in catalogue() {
        let m = diag(&format!("diagnose/{}/match.txt", issue.id), None);
        let first = m.known_issues.first().expect("a match");
        assert!(
            first.id == issue.id || first.kind == kvmtriage_diagnose::catalogue::IssueKind::Bug,
            "{}: first is {}",
            issue.id,
            first.id
        );
    }
}
