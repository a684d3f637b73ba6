//! The decision table walked twice: for each row that a template can reach, the same key as a
//! CloudFormation template (read by `check-iac`) and as the rule sees it once deployed (DescribeKey,
//! GetKeyRotationStatus, the tags), and the two verdicts' codes compared. The rows a template can
//! never reach are named in `docs/decision-table.md`'s check-iac column with a dash, and this test
//! checks the column against its own list, so the rule, `check-iac` and the document cannot drift.

use std::path::Path;

use aws_sdk_kms::types::{KeySpec, KeyState, OriginType};
use chrono::{NaiveDate, TimeZone, Utc};

use super::assess::{assess_unit, Outcome};
use super::{cfn, terraform, yaml};
use kms_rotation_core::decision::{decide, KeyFacts, KeyMaterial, Known, RotationStatus, Step};
use kms_rotation_core::exception::ExceptionTag;
use kms_rotation_core::params::RuleParameters;

const TODAY: (i32, u32, u32) = (2026, 12, 2);

/// One key, as both doors see it.
struct Case {
    /// The decision table's row (`docs/decision-table.md`, first column).
    row: &'static str,
    /// The key's properties in the template (YAML, indented under `Properties:`), or a Terraform
    /// resource block when they start with `resource`.
    properties: &'static str,
    /// What the rule reads once the stack is deployed.
    deployed: Deployed,
    /// Rule parameters beside the defaults.
    params: fn(&mut RuleParameters),
    /// The reason code both must give.
    code: &'static str,
}

struct Deployed {
    spec: KeySpec,
    origin: OriginType,
    state: KeyState,
    /// `None`: rotation off.
    period: Option<i32>,
    tag: ExceptionTag,
}

const fn deployed(period: Option<i32>, tag: ExceptionTag) -> Deployed {
    Deployed {
        spec: KeySpec::SymmetricDefault,
        origin: OriginType::AwsKms,
        state: KeyState::Enabled,
        period,
        tag,
    }
}

fn none(_: &mut RuleParameters) {}
fn max_365(p: &mut RuleParameters) {
    p.max_rotation_period_in_days = Some(365);
}
fn disabled_keys(p: &mut RuleParameters) {
    p.evaluate_disabled_keys = true;
}
fn material_age(p: &mut RuleParameters) {
    p.max_key_material_age_in_days = Some(180);
}

fn exception(value: &str) -> ExceptionTag {
    ExceptionTag::from_tags(
        "kms-rotation-exception",
        [("kms-rotation-exception", value)],
    )
}

#[allow(
    clippy::too_many_lines,
    reason = "the walk's table: one case per row, read as the table"
)]
fn cases() -> Vec<Case> {
    let off = || deployed(None, ExceptionTag::Absent);
    vec![
        Case {
            row: "3a",
            properties: "Enabled: false\nEnableKeyRotation: false",
            deployed: Deployed {
                state: KeyState::Disabled,
                ..off()
            },
            params: none,
            code: "DISABLED",
        },
        Case {
            row: "3b",
            properties: "Enabled: false\nEnableKeyRotation: false",
            deployed: Deployed {
                state: KeyState::Disabled,
                ..off()
            },
            params: disabled_keys,
            code: "DISABLED_ROTATION_OFF",
        },
        Case {
            row: "4",
            properties: "KeySpec: HMAC_256\nKeyUsage: GENERATE_VERIFY_MAC",
            deployed: Deployed {
                spec: KeySpec::Hmac256,
                ..off()
            },
            params: none,
            code: "HMAC",
        },
        Case {
            row: "4",
            properties: "KeySpec: RSA_2048\nKeyUsage: SIGN_VERIFY",
            deployed: Deployed {
                spec: KeySpec::Rsa2048,
                ..off()
            },
            params: none,
            code: "ASYMMETRIC",
        },
        Case {
            row: "5a",
            properties: "Origin: EXTERNAL",
            deployed: Deployed {
                origin: OriginType::External,
                ..off()
            },
            params: none,
            code: "IMPORTED_MATERIAL",
        },
        Case {
            row: "5b",
            properties: "resource \"aws_kms_key\" \"k\" {\n  custom_key_store_id = \"cks-1234567890abcdef0\"\n}\n",
            deployed: Deployed {
                origin: OriginType::AwsCloudhsm,
                ..off()
            },
            params: none,
            code: "CUSTOM_KEY_STORE",
        },
        Case {
            row: "6d",
            properties: "EnableKeyRotation: false\nTags:\n  - Key: kms-rotation-exception\n    Value: owner=team-a expires=2099-01-31 ticket=SEC-1",
            deployed: deployed(None, exception("owner=team-a expires=2099-01-31 ticket=SEC-1")),
            params: none,
            code: "EXCEPTION_VALID",
        },
        Case {
            row: "6e",
            properties: "EnableKeyRotation: false\nTags:\n  - Key: kms-rotation-exception\n    Value: owner=team-a expires=2020-01-31",
            deployed: deployed(None, exception("owner=team-a expires=2020-01-31")),
            params: none,
            code: "EXCEPTION_EXPIRED",
        },
        Case {
            row: "6f",
            properties: "EnableKeyRotation: false\nTags:\n  - Key: kms-rotation-exception\n    Value: approved",
            deployed: deployed(None, exception("approved")),
            params: none,
            code: "EXCEPTION_MALFORMED",
        },
        Case {
            // Before deployment the tag's value is a parameter without a default; after it, the
            // tags cannot be read. Either way no exception can be proven.
            row: "6g",
            properties: "EnableKeyRotation: false\nTags:\n  - Key: kms-rotation-exception\n    Value: !Ref Waiver",
            deployed: deployed(None, ExceptionTag::Unreadable("AccessDeniedException".into())),
            params: none,
            code: "EXCEPTION_UNREADABLE",
        },
        Case {
            row: "6h",
            properties: "EnableKeyRotation: false",
            deployed: off(),
            params: none,
            code: "ROTATION_OFF",
        },
        Case {
            row: "6h",
            properties: "Description: rotation not set (CloudFormation's default is false)",
            deployed: off(),
            params: none,
            code: "ROTATION_OFF",
        },
        Case {
            row: "7a",
            properties: "EnableKeyRotation: true\nRotationPeriodInDays: 730",
            deployed: deployed(Some(730), ExceptionTag::Absent),
            params: max_365,
            code: "PERIOD_ABOVE_MAXIMUM",
        },
        Case {
            row: "7c",
            properties: "EnableKeyRotation: true",
            deployed: deployed(Some(365), ExceptionTag::Absent),
            params: max_365,
            code: "ROTATION_ON",
        },
        Case {
            // A new key's material is made at deployment: within any maximum age.
            row: "8a",
            properties: "EnableKeyRotation: true\nRotationPeriodInDays: 90",
            deployed: deployed(Some(90), ExceptionTag::Absent),
            params: material_age,
            code: "ROTATION_ON",
        },
        Case {
            row: "8c",
            properties: "Origin: EXTERNAL",
            deployed: Deployed {
                origin: OriginType::External,
                ..off()
            },
            params: material_age,
            code: "MATERIAL_AGE_OK",
        },
    ]
}

fn template(properties: &str) -> String {
    let indented: String = properties.lines().map(|l| format!("      {l}\n")).collect();
    format!("Parameters:\n  Waiver:\n    Type: String\nResources:\n  Key:\n    Type: AWS::KMS::Key\n    Properties:\n{indented}")
}

fn check_iac(case: &Case, params: &RuleParameters, today: NaiveDate) -> String {
    let keys = if case.properties.starts_with("resource") {
        let path = Path::new("case.tf");
        let file = terraform::parse_text(path, case.properties).expect("the case's module parses");
        terraform::read_module(&[file], &[path.to_path_buf()])
    } else {
        let root = yaml::parse(&template(case.properties)).expect("the case's template parses");
        cfn::read(Path::new("case.yaml"), &root).expect("the case's template reads")
    };
    let findings = assess_unit(&keys, params, today);
    assert_eq!(findings.len(), 1, "row {}", case.row);
    match &findings[0].outcome {
        Outcome::Verdict(v) => v.reason.code().to_owned(),
        Outcome::Unknown(u) => u.reason.code().to_owned(),
    }
}

/// The rule on the deployed key: the same loop as `evaluate.rs`, answered from `Deployed`.
fn rule(case: &Case, params: &RuleParameters, today: NaiveDate) -> String {
    let d = &case.deployed;
    let created = Utc
        .with_ymd_and_hms(TODAY.0, TODAY.1, TODAY.2, 0, 0, 0)
        .single();
    let facts = KeyFacts {
        key_state: d.state.clone(),
        key_spec: d.spec.clone(),
        origin: d.origin.clone(),
        created,
        ..KeyFacts::sample("1234abcd-12ab-34cd-56ef-1234567890ab")
    };
    let rotation = match d.period {
        Some(days) => RotationStatus::Enabled {
            period_days: Some(days),
            next_rotation: None,
        },
        None => RotationStatus::Disabled,
    };
    let material = KeyMaterial::LastRotated(None);
    let mut known = Known::default();
    for _ in 0..4 {
        match decide(&facts, known, params, today) {
            Step::Verdict(v) => return v.reason.code().to_owned(),
            Step::NeedRotationStatus => known.rotation = Some(&rotation),
            Step::NeedExceptionTag => known.exception = Some(&d.tag),
            Step::NeedKeyMaterial => known.material = Some(&material),
        }
    }
    panic!(
        "row {}: the decision asked for the same fact twice",
        case.row
    )
}

#[test]
fn the_rule_and_check_iac_give_the_same_code_on_every_row_a_template_reaches() {
    let today = NaiveDate::from_ymd_opt(TODAY.0, TODAY.1, TODAY.2).expect("a date");
    for case in cases() {
        let mut params = RuleParameters::default();
        (case.params)(&mut params);
        let iac = check_iac(&case, &params, today);
        let deployed = rule(&case, &params, today);
        assert_eq!(
            (iac.as_str(), deployed.as_str()),
            (case.code, case.code),
            "row {}: check-iac and the rule disagree",
            case.row
        );
    }
}

/// `docs/decision-table.md`'s check-iac column: a dash for a row a template cannot reach, else a
/// row this test walks.
#[test]
fn the_documents_check_iac_column_is_the_walked_rows() {
    let doc = include_str!("../../../docs/decision-table.md");
    let header = doc
        .lines()
        .find(|l| l.starts_with("| # |"))
        .expect("the decision table's header");
    let columns: Vec<&str> = header.split('|').map(str::trim).collect();
    let column = columns
        .iter()
        .position(|c| c.starts_with("check-iac"))
        .expect("a check-iac column");
    let walked: std::collections::BTreeSet<&str> = cases().iter().map(|c| c.row).collect();
    let mut rows = 0;
    for line in doc.lines().skip_while(|l| *l != header).skip(2) {
        if !line.starts_with('|') {
            break;
        }
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        let (row, cell) = (cells[1], cells[column]);
        rows += 1;
        if cell.starts_with('—') {
            assert!(
                !walked.contains(row),
                "row {row} is walked but documented as unreachable"
            );
        } else {
            assert!(
                walked.contains(row),
                "row {row}: the check-iac column names a verdict no test walks: {cell}"
            );
        }
    }
    assert!(rows >= 20, "{rows} rows read");
}
