//! The catalogue's vocabulary is the enums themselves: every name the data file uses
//! deserializes into a variant and serializes back to the same name, and every errno the
//! catalogue names is in the one errno table (crates/model/data/errno.toml).

use kvmtriage_diagnose::catalogue::{catalogue, ERRNOS};
use kvmtriage_diagnose::catalogue_types::{
    CommitRole, EventKind, InsnClass, IssueKind, Level, ModeKind, MsrKind, RegName, StatePredicate,
    ValuePredicate,
};
use serde::{de::DeserializeOwned, Serialize};

fn round_trip<T: Serialize + DeserializeOwned + PartialEq + std::fmt::Debug>(v: &T) {
    let json = serde_json::to_string(v).expect("serialize");
    let back: T = serde_json::from_str(&json).expect("deserialize");
    assert_eq!(&back, v, "{json}");
}

#[test]
fn every_catalogue_name_round_trips() {
    let mut n = 0;
    for issue in catalogue() {
        round_trip::<IssueKind>(&issue.kind);
        round_trip::<Level>(&issue.confidence);
        for c in issue.commits {
            round_trip::<CommitRole>(&c.role);
        }
        let m = &issue.matcher;
        if let Some(e) = &m.event {
            round_trip::<EventKind>(e);
        }
        m.instruction_class.iter().for_each(round_trip::<InsnClass>);
        m.modes.iter().for_each(round_trip::<ModeKind>);
        m.state.iter().for_each(round_trip::<StatePredicate>);
        m.regs.iter().for_each(|r| round_trip::<RegName>(&r.reg));
        if let Some(k) = &m.msr_kind {
            round_trip::<MsrKind>(k);
        }
        if let Some(v) = &m.value {
            round_trip::<ValuePredicate>(v);
        }
        for e in m.errno {
            assert!(
                kvmtriage_model::tables::ERRNO_NAMES
                    .iter()
                    .any(|(_, n)| n == e),
                "{}: errno {e} not in the errno table",
                issue.id
            );
        }
        n += 1;
    }
    assert!(n >= 30, "{n} entries");
}

#[test]
fn errno_explanations_take_number_and_text_from_the_one_table() {
    for e in ERRNOS {
        let (number, name) = kvmtriage_model::tables::ERRNO_NAMES
            .iter()
            .find(|(_, n)| *n == e.name)
            .copied()
            .expect("errno in the table");
        assert_eq!((e.number, e.name), (number, name));
        assert_eq!(
            kvmtriage_model::tables::errno_from_text(e.strerror).map(|x| x.0),
            Some(e.number)
        );
    }
}
