//! Property tests of the `--inject` and `--kvm-model` parsers: no input panics, every error
//! names the rule, and generated valid rules parse to what they say.

use kvmtriage_kvm::policy::{InjectAction, InjectRule, KvmModel, ValuePredicate};
use proptest::prelude::*;

proptest! {
    #[test]
    fn arbitrary_text_never_panics(text in ".{0,80}") {
        match text.parse::<InjectRule>() {
            Ok(rule) => prop_assert_eq!(&rule.text, &text),
            Err(e) => prop_assert!(e.to_string().contains(&text)),
        }
        let _ = text.parse::<KvmModel>();
    }

    #[test]
    fn near_miss_text_never_panics(text in "(wrmsr|rdmsr|msr|random)?:?[0-9a-fx,=&!*.-]{0,30}(=(GP|EPERM|IGNORE|EIO))?") {
        match text.parse::<InjectRule>() {
            Ok(rule) => prop_assert!(rule.reads || rule.writes),
            Err(e) => prop_assert!(e.to_string().contains(&text)),
        }
    }

    #[test]
    fn generated_rules_parse(
        target in prop_oneof![Just("wrmsr"), Just("rdmsr"), Just("msr")],
        lo in any::<u32>(),
        span in 0u32..5000,
        value in any::<u64>(),
        mask in any::<u64>(),
        pred in 0u8..4,
        rate in prop::option::of(0.0f64..=1.0),
        seed in any::<u64>(),
        action in prop_oneof![Just(("GP", InjectAction::GeneralProtection)), Just(("EPERM", InjectAction::Errno(1))), Just(("IGNORE", InjectAction::Ignore)), Just(("EINVAL", InjectAction::Errno(22)))],
    ) {
        let hi = lo.saturating_add(span);
        let mut text = format!("{target}:{lo:#x}-{hi}");
        let expected_pred = if target == "wrmsr" {
            match pred {
                1 => { text += &format!(",value={value:#x}"); Some(ValuePredicate::Equals(value)) }
                2 => { text += &format!(",value!={value}"); Some(ValuePredicate::NotEquals(value)) }
                3 => { text += &format!(",value&{mask:#x}={value:#x}"); Some(ValuePredicate::Masked { mask, value }) }
                _ => None,
            }
        } else { None };
        if let Some(r) = rate { text += &format!(",rate={r},seed={seed}"); }
        text += &format!("={}", action.0);
        let rule: InjectRule = text.parse().map_err(|e: kvmtriage_kvm::Error| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(rule.indices, Some((lo, hi)));
        prop_assert_eq!(rule.action, action.1);
        prop_assert_eq!(rule.predicates, expected_pred.into_iter().collect::<Vec<_>>());
        prop_assert_eq!(rule.rate, rate.unwrap_or(1.0));
        prop_assert_eq!(rule.seed, if rate.is_some() { seed } else { 0 });
        prop_assert_eq!((rule.reads, rule.writes), (target != "wrmsr", target != "rdmsr"));
    }
}
