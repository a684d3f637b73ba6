//! Property tests over the readers of untrusted input: YAML/JSON ([`super::yaml`]) and Terraform
//! ([`super::terraform`], its JSON syntax [`super::tf_json`] and var files), and what `check-iac`
//! builds from them ([`super::cfn`]). Whatever the
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

/// JSON values for `.tf.json` bodies: strings with quotes, backslashes, control characters and
/// non-ASCII text, but no template sequence (`${`, `%{`), nested in arrays and objects.
fn json_value() -> impl Strategy<Value = serde_json::Value> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        "[^$%]{0,12}".prop_map(serde_json::Value::from),
    ];
    leaf.prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(serde_json::Value::from),
            prop::collection::btree_map("[^$%]{0,8}", inner, 0..4)
                .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Every `.tf.json` configuration without templates translates into native syntax that the `.tf`
/// reader parses, with a source line for each line: the quoting never breaks a string.
#[test]
fn tf_json_translation_always_parses() {
    let config = prop::collection::btree_map("[a-z_][a-z0-9_-]{0,6}|//", json_value(), 0..5)
        .prop_map(|body| {
            serde_json::json!({
                "variable": {"v": {"default": body.get("x").cloned().unwrap_or_default()}},
                "locals": body.clone(),
                "resource": {"aws_kms_key": {"k": body}},
            })
            .to_string()
        });
    runner(1_000)
        .run(&config, |text| {
            let (native, lines) = super::tf_json::to_native(&text).expect("valid JSON object");
            prop_assert_eq!(lines.len(), native.lines().count());
            let parsed = terraform::parse_text(Path::new("fuzz.tf.json"), &native);
            prop_assert!(parsed.is_ok(), "{native}\n{:?}", parsed.err());
            Ok(())
        })
        .unwrap();
}

/// Any text as a `.tf.json` file or a var file: a value or an error, never a panic.
#[test]
fn tf_json_and_var_file_readers_take_any_text() {
    let text = prop_oneof![
        any::<String>(),
        json_value().prop_map(|v| v.to_string()),
        prop::collection::vec(hcl_piece(), 0..30).prop_map(|p| p.concat()),
    ];
    runner(2_000)
        .run(&text, |text| {
            let _ = super::tf_json::to_native(&text);
            let _ = terraform::parse_vars(&text);
            Ok(())
        })
        .unwrap();
}
