//! The kinds of key the rule's tests use, each with the verdict the rule must give it.

use crate::account::{Key, Rotation};

/// What a key is, and so what the rule must say about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    RotationOn,
    RotationOff,
    /// Rotation on every 730 days: NON_COMPLIANT when `maxRotationPeriodInDays` is below it.
    LongPeriod,
    ExceptionValid,
    ExceptionExpired,
    /// A tag value that looks like an exception but is not one.
    LooksLikeException,
    AwsManaged,
    Asymmetric,
    Hmac,
    Disabled,
    PendingDeletion,
    Imported,
    CustomKeyStore,
    /// GetKeyRotationStatus answers UnsupportedOperationException.
    Unsupported,
    /// GetKeyRotationStatus answers AccessDeniedException.
    RotationDenied,
    /// DescribeKey answers AccessDeniedException.
    DescribeDenied,
    /// Rotation off and ListResourceTags answers AccessDeniedException.
    TagsDenied,
    /// A multi-Region replica with rotation off.
    Replica,
}

impl Kind {
    pub const ALL: [Kind; 18] = [
        Kind::RotationOn,
        Kind::RotationOff,
        Kind::LongPeriod,
        Kind::ExceptionValid,
        Kind::ExceptionExpired,
        Kind::LooksLikeException,
        Kind::AwsManaged,
        Kind::Asymmetric,
        Kind::Hmac,
        Kind::Disabled,
        Kind::PendingDeletion,
        Kind::Imported,
        Kind::CustomKeyStore,
        Kind::Unsupported,
        Kind::RotationDenied,
        Kind::DescribeDenied,
        Kind::TagsDenied,
        Kind::Replica,
    ];

    /// The ComplianceType the rule must report, given `maxRotationPeriodInDays`.
    pub fn expected(self, max_period: Option<i32>) -> &'static str {
        match self {
            Kind::RotationOn => "COMPLIANT",
            Kind::LongPeriod => match max_period {
                Some(max) if max < 730 => "NON_COMPLIANT",
                _ => "COMPLIANT",
            },
            Kind::RotationOff
            | Kind::ExceptionExpired
            | Kind::LooksLikeException
            | Kind::RotationDenied
            | Kind::DescribeDenied
            | Kind::TagsDenied
            | Kind::Replica => "NON_COMPLIANT",
            Kind::ExceptionValid
            | Kind::AwsManaged
            | Kind::Asymmetric
            | Kind::Hmac
            | Kind::Disabled
            | Kind::PendingDeletion
            | Kind::Imported
            | Kind::CustomKeyStore
            | Kind::Unsupported => "NOT_APPLICABLE",
        }
    }

    /// A key of this kind: what KMS answers about it. Exception dates are relative to today.
    pub fn key(self, id: &str) -> Key {
        let today = chrono::Utc::now().date_naive();
        let env = || ("env".to_owned(), "prod".to_owned());
        let exception =
            |value: String| Some(vec![env(), ("kms-rotation-exception".to_owned(), value)]);
        let base = Key {
            tags: Some(vec![env()]),
            ..Key::new(id)
        };
        match self {
            Kind::RotationOn => Key {
                rotation: Rotation::On { period_days: 365 },
                ..base
            },
            Kind::LongPeriod => Key {
                rotation: Rotation::On { period_days: 730 },
                ..base
            },
            Kind::RotationOff => base,
            Kind::ExceptionValid => Key {
                tags: exception(format!(
                    "owner=team-payments expires={} ticket=SEC-42",
                    today + chrono::Duration::days(30)
                )),
                ..base
            },
            Kind::ExceptionExpired => Key {
                tags: exception(format!(
                    "owner=team-payments expires={}",
                    today - chrono::Duration::days(1)
                )),
                ..base
            },
            // Fullwidth digits in the date: looks like one, is not one.
            Kind::LooksLikeException => Key {
                tags: exception("owner=team-payments expires=２０９９-01-01".to_owned()),
                ..base
            },
            Kind::AwsManaged => Key {
                aws_managed: true,
                ..base
            },
            Kind::Asymmetric => Key {
                key_spec: "RSA_2048",
                key_usage: "SIGN_VERIFY",
                ..base
            },
            Kind::Hmac => Key {
                key_spec: "HMAC_256",
                key_usage: "GENERATE_VERIFY_MAC",
                ..base
            },
            Kind::Disabled => Key {
                key_state: "Disabled",
                ..base
            },
            Kind::PendingDeletion => Key {
                key_state: "PendingDeletion",
                ..base
            },
            Kind::Imported => Key {
                origin: "EXTERNAL",
                rotation: Rotation::Unsupported,
                ..base
            },
            Kind::CustomKeyStore => Key {
                origin: "AWS_CLOUDHSM",
                custom_key_store_id: Some("cks-1234567890abcdef0"),
                rotation: Rotation::Unsupported,
                ..base
            },
            Kind::Unsupported => Key {
                rotation: Rotation::Unsupported,
                ..base
            },
            Kind::RotationDenied => Key {
                rotation: Rotation::Denied,
                ..base
            },
            Kind::DescribeDenied => Key {
                describe_denied: true,
                ..base
            },
            Kind::TagsDenied => Key { tags: None, ..base },
            Kind::Replica => Key {
                replica: true,
                ..base
            },
        }
    }
}

/// A key id that looks like KMS's: a UUID made from `n`.
pub fn key_id(n: usize) -> String {
    format!("{:08x}-12ab-34cd-56ef-{:012x}", n, n * 7919)
}

/// An account of `n` keys, cycling through every kind.
pub fn account(n: usize) -> Vec<(String, Kind)> {
    (0..n)
        .map(|i| (key_id(i), Kind::ALL[i % Kind::ALL.len()]))
        .collect()
}
