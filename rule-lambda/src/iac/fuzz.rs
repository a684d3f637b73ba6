//! Property tests over the readers of untrusted input: YAML/JSON ([`super::yaml`]) and Terraform
//! ([`super::terraform`]), and what `check-iac` builds from them ([`super::cfn`]). Whatever the
//! bytes, a reader returns a tree or an error: no panic, no unbounded work. Generated documents
//! lean on what hostile files use (anchors and aliases, deep nesting, CloudFormation tags,
//! unbalanced brackets), with arbitrary text beside them.
//!
//! `make test` runs a fixed seed with few cases; `make fuzz` sets `PROPTEST_CASES` and explores.

use std::path::Path;

use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed, TestRunner};

use super::yaml::{self, ParseError};
use super::{cfn, terraform};

fn runner(default_cases: u32) -> TestRunner {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok());
    let defaults = Config::default();
    TestRunner::new(Config {
        cases: cases.unwrap_or(default_cases),
        failure_persistence: None,
        rng_seed: match cases {
            Some(_) => defaults.rng_seed,
            None => RngSeed::Fixed(20_261_202),
        },
        ..defaults
    })
}

/// YAML fragments: keys, CloudFormation short forms, anchors, aliases to anchors that may or may
/// not exist, flow collections opened and not always closed.
fn yaml_piece() -> impl Strategy<Value = String> {
    prop_oneof![
        "[A-Za-z]{1,6}: ".prop_map(String::from),
        Just("\n".to_owned()),
        Just("  ".to_owned()),
        Just("- ".to_owned()),
        (0..4u8).prop_map(|i| format!("&a{i} ")),
        (0..4u8).prop_map(|i| format!("*a{i}")),
        (0..4u8).prop_map(|i| format!("[*a{i}, *a{i}, *a{i}, *a{i}]")),
        prop::sample::select(vec![
            "!Ref ", "!GetAtt ", "!If ", "!Sub ", "!Join ", "!Select "
        ])
        .prop_map(String::from),
        prop::sample::select(vec![
            "[",
            "]",
            "{",
            "}",
            ", ",
            "'",
            "\"",
            "Type: AWS::KMS::Key"
        ])
        .prop_map(String::from),
        "[ -~]{0,12}".prop_map(String::from),
    ]
}

fn yaml_doc() -> impl Strategy<Value = String> {
    prop::collection::vec(yaml_piece(), 0..60)
        .prop_map(|p| format!("Resources:\n  K:\n    {}", p.concat()))
}

fn hcl_piece() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("resource \"aws_kms_key\" \"k\" {\n".to_owned()),
        Just("module \"m\" {\n  source = \"./m\"\n".to_owned()),
        Just("}\n".to_owned()),
        "[a-z_]{1,8} = ".prop_map(String::from),
        prop::sample::select(vec![
            "true",
            "false",
            "var.x",
            "\"${var.y}\"",
            "[",
            "]",
            "{",
            "(",
            ")",
            "? 1 : 2",
            "for k, v in x :",
            "<<EOT\n",
            "EOT\n"
        ])
        .prop_map(String::from),
        "[ -~]{0,12}".prop_map(String::from),
        Just("\n".to_owned()),
    ]
}

#[test]
fn yaml_reader_never_panics_and_stays_bounded() {
    runner(2_000)
        .run(&yaml_doc(), |text| {
            match yaml::parse(&text) {
                Ok(root) => {
                    if cfn::looks_like_template(&root) {
                        let _ = cfn::read(Path::new("fuzz.yaml"), &root);
                    }
                }
                Err(ParseError::Syntax(m) | ParseError::Limit(m)) => prop_assert!(!m.is_empty()),
            }
            Ok(())
        })
        .unwrap();
}

#[test]
fn yaml_reader_takes_any_text() {
    runner(2_000)
        .run(&any::<String>(), |text| {
            let _ = yaml::parse(&text);
            Ok(())
        })
        .unwrap();
}

#[test]
fn terraform_reader_never_panics() {
    let doc = prop::collection::vec(hcl_piece(), 0..40).prop_map(|p| p.concat());
    runner(2_000)
        .run(&doc, |text| {
            let _ = terraform::parse_text(Path::new("fuzz.tf"), &text);
            Ok(())
        })
        .unwrap();
}
