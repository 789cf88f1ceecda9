//! The configuration layers: the file, `--set` and the named flags, in that order, into one
//! raw configuration; unknown keys and malformed overrides are usage errors naming the key.

use std::path::PathBuf;

use super::{resolve_raw, validate};
use crate::args::{ConfigArgs, EngineFlags};

fn layers(config: Option<PathBuf>, set: &[&str]) -> ConfigArgs {
    ConfigArgs {
        config,
        set: set.iter().map(|s| (*s).to_owned()).collect(),
    }
}

fn message(failure: &crate::Failure) -> String {
    format!("{:?}", failure.report)
}

#[test]
fn set_overrides_a_table_key_of_the_file_and_keeps_its_siblings() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("base.toml");
    std::fs::write(
        &file,
        "strategy = \"sma-cross\"\n[sma_cross]\nfast = 7\nslow = 40\n",
    )
    .expect("write");
    let raw = resolve_raw(
        &layers(Some(file), &["sma_cross.fast=12", "slippage_bps=2.5"]),
        &EngineFlags::default(),
    )
    .expect("resolves");
    assert_eq!(raw.strategy, "sma-cross");
    assert_eq!(raw.sma_cross.fast, 12, "--set wins over the file");
    assert_eq!(raw.sma_cross.slow, 40, "the file's other keys stay");
    assert_eq!(raw.slippage_bps.to_string(), "2.5", "decimal-exact");
}

#[test]
fn a_bare_word_after_set_is_a_string_and_a_named_flag_wins_over_set() {
    let raw = resolve_raw(
        &layers(None, &["strategy=sma-cross", "seed=3"]),
        &EngineFlags {
            seed: Some(9),
            ..EngineFlags::default()
        },
    )
    .expect("resolves");
    assert_eq!(raw.strategy, "sma-cross");
    assert_eq!(raw.seed, 9);
}

#[test]
fn a_misspelt_key_in_the_file_or_in_set_is_an_error_naming_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("bad.toml");
    std::fs::write(&file, "[setups]\nrisk_fraction = 0.01\n").expect("write");
    let failure =
        resolve_raw(&layers(Some(file), &[]), &EngineFlags::default()).expect_err("unknown key");
    assert_eq!(failure.code, 2);
    assert!(
        message(&failure).contains("risk_fraction"),
        "{}",
        message(&failure)
    );

    let failure = resolve_raw(
        &layers(None, &["sma_cross.fastt=3"]),
        &EngineFlags::default(),
    )
    .expect_err("unknown key");
    assert!(message(&failure).contains("fastt"), "{}", message(&failure));
}

#[test]
fn set_without_an_equals_sign_or_with_a_malformed_key_is_a_usage_error() {
    for bad in ["setups.risk_frac", "=3", "setups..risk_frac=1", "a b=1"] {
        let failure = resolve_raw(&layers(None, &[bad]), &EngineFlags::default()).expect_err(bad);
        assert_eq!(failure.code, 2, "{bad}");
    }
}

#[test]
fn an_out_of_range_strategy_parameter_fails_validation_under_its_dotted_key() {
    let raw = resolve_raw(
        &layers(
            None,
            &["sma_cross.fast=50", "sma_cross.slow=20", "taker_fee=0.5"],
        ),
        &EngineFlags::default(),
    )
    .expect("resolves");
    let failure = validate(&raw).expect_err("fast >= slow and a 50 % fee are invalid");
    let text = message(&failure);
    assert!(text.contains("`sma_cross.fast`"), "{text}");
    assert!(text.contains("`taker_fee`"), "all problems at once: {text}");
}

#[test]
fn every_bad_key_of_every_layer_is_reported_at_once_with_its_file_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("bad.toml");
    std::fs::write(
        &file,
        "durration = \"5m\"\nslippage_bps = \"lots\"\n\n[setups]\nrisk_fracc = 0.1\n\n[sma_cross]\nfast = \"five\"\n",
    )
    .expect("write");
    let failure = resolve_raw(
        &layers(Some(file.clone()), &["max_consecutive_losses=-3"]),
        &EngineFlags::default(),
    )
    .expect_err("five bad keys");
    // The diagnostic's own text, one problem per line (the rendered report wraps them).
    let text = failure.report.to_string();
    let at = |line: usize| format!("{}:{line}", file.display());
    for (key, needle) in [
        ("`durration`", at(1)),
        ("`slippage_bps`", at(2)),
        ("`setups.risk_fracc`", at(5)),
        ("`sma_cross.fast`", at(8)),
        ("`max_consecutive_losses`", "(--set)".to_owned()),
    ] {
        let line = text
            .lines()
            .find(|l| l.contains(key))
            .unwrap_or_else(|| panic!("{key} is not reported: {text}"));
        assert!(
            line.contains(&needle),
            "{key} is not traced to {needle}: {line}"
        );
    }
    assert!(text.contains("did you mean `duration`?"), "{text}");
    assert!(text.contains("did you mean `risk_frac`?"), "{text}");
}
