//! The simulated account: its keys (what KMS answers about each), their aliases, the keys deleted
//! since the last run, and the results Config already holds. One model for every user: the tests
//! build it from [`crate::Kind`]s, the benchmark from its own mix of keys.

use std::collections::HashMap;

pub const ACCOUNT: &str = "123456789012";
pub const REGION: &str = "us-east-1";

/// CreationDate of every key (and alias): 2026-01-15.
pub const CREATION_DATE: f64 = 1_768_465_800.0;

/// The ARN of a key id of the account.
pub fn key_arn(id: &str) -> String {
    format!("arn:aws:kms:{REGION}:{ACCOUNT}:key/{id}")
}

/// What GetKeyRotationStatus answers for a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rotation {
    /// `KeyRotationEnabled: true`, this period, and a NextRotationDate 30 days ahead.
    On { period_days: i32 },
    /// `KeyRotationEnabled: false`.
    Off,
    /// UnsupportedOperationException (imported material, custom key store, ...).
    Unsupported,
    /// AccessDeniedException.
    Denied,
}

/// One key, as KMS describes it.
#[derive(Debug, Clone, PartialEq)]
pub struct Key {
    pub id: String,
    /// `KeyManager` AWS (an AWS managed key, with an `alias/aws/...` alias) or CUSTOMER.
    pub aws_managed: bool,
    pub key_spec: &'static str,
    pub key_usage: &'static str,
    /// `KeyState`: Enabled, Disabled, PendingDeletion, ...
    pub key_state: &'static str,
    /// `Origin`: AWS_KMS, EXTERNAL, AWS_CLOUDHSM, ...
    pub origin: &'static str,
    pub custom_key_store_id: Option<&'static str>,
    /// A multi-Region replica (its primary in us-west-2).
    pub replica: bool,
    pub rotation: Rotation,
    /// DescribeKey answers AccessDeniedException.
    pub describe_denied: bool,
    /// ListResourceTags: the key's tags (TagKey, TagValue), or `None` for AccessDeniedException.
    pub tags: Option<Vec<(String, String)>>,
}

impl Key {
    /// A customer managed symmetric key, Enabled, KMS-generated material, rotation off, no tags.
    pub fn new(id: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            aws_managed: false,
            key_spec: "SYMMETRIC_DEFAULT",
            key_usage: "ENCRYPT_DECRYPT",
            key_state: "Enabled",
            origin: "AWS_KMS",
            custom_key_store_id: None,
            replica: false,
            rotation: Rotation::Off,
            describe_denied: false,
            tags: Some(Vec::new()),
        }
    }
}

/// One alias, as ListAliases lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alias {
    /// `alias/...`.
    pub name: String,
    /// The key it names (its index in [`Account::keys`]); `None` for a predefined alias of an
    /// AWS managed key that is not created yet.
    pub target: Option<usize>,
}

/// The services whose AWS managed keys the account holds, in the order its AWS managed keys take
/// them (`alias/aws/s3` for the first, ...); past the end, the names repeat with a number
/// (`alias/aws/s3-2`).
pub const AWS_SERVICES: &[&str] = &[
    "s3",
    "ebs",
    "rds",
    "lambda",
    "dynamodb",
    "secretsmanager",
    "ssm",
    "sns",
    "sqs",
    "kinesis",
    "redshift",
    "elasticfilesystem",
    "backup",
    "glue",
    "logs",
    "acm",
];

/// Predefined aliases KMS lists for AWS managed keys not created yet: no TargetKeyId.
pub const PREDEFINED_ALIASES: &[&str] =
    &["alias/aws/connect", "alias/aws/lightsail", "alias/aws/xray"];

/// One customer key in this many has a customer alias (`alias/app-<n>`).
pub const CUSTOMER_ALIAS_EVERY: usize = 4;

/// The account.
#[derive(Debug, Clone, Default)]
pub struct Account {
    keys: Vec<Key>,
    by_id: HashMap<String, usize>,
    deleted: Vec<String>,
    aliases: Vec<Alias>,
    history: Vec<(String, &'static str)>,
}

impl Account {
    /// An account of these keys, listed by ListKeys in this order. Its aliases: every AWS managed
    /// key has one `alias/aws/<service>` ([`AWS_SERVICES`]), one customer key in
    /// [`CUSTOMER_ALIAS_EVERY`] has `alias/app-<n>`, and the [`PREDEFINED_ALIASES`] name no key.
    pub fn new(keys: Vec<Key>) -> Self {
        // The last of two equal ids wins, as a map built from the list would have it.
        let by_id = keys
            .iter()
            .enumerate()
            .map(|(i, k)| (k.id.clone(), i))
            .collect();
        let mut aliases: Vec<Alias> = PREDEFINED_ALIASES
            .iter()
            .map(|name| Alias {
                name: (*name).to_owned(),
                target: None,
            })
            .collect();
        let (mut aws, mut customer) = (0, 0);
        for (i, key) in keys.iter().enumerate() {
            if key.aws_managed {
                let service = AWS_SERVICES[aws % AWS_SERVICES.len()];
                let name = match aws / AWS_SERVICES.len() {
                    0 => format!("alias/aws/{service}"),
                    n => format!("alias/aws/{service}-{}", n + 1),
                };
                aliases.push(Alias {
                    name,
                    target: Some(i),
                });
                aws += 1;
            } else {
                if customer % CUSTOMER_ALIAS_EVERY == 0 {
                    aliases.push(Alias {
                        name: format!("alias/app-{}", customer / CUSTOMER_ALIAS_EVERY + 1),
                        target: Some(i),
                    });
                }
                customer += 1;
            }
        }
        aliases.sort_by(|a, b| a.name.cmp(&b.name));
        Self {
            keys,
            by_id,
            aliases,
            ..Self::default()
        }
    }

    /// Keys deleted since the last run: ListKeys does not list them and KMS answers
    /// NotFoundException, but Config may still hold results for them ([`Account::with_history`]).
    pub fn with_deleted(mut self, ids: Vec<String>) -> Self {
        self.deleted = ids;
        self
    }

    /// The results Config holds from earlier runs (resource id, ComplianceType), which
    /// GetComplianceDetailsByConfigRule answers in this order.
    pub fn with_history(mut self, results: Vec<(String, &'static str)>) -> Self {
        self.history = results;
        self
    }

    pub fn keys(&self) -> &[Key] {
        &self.keys
    }

    pub fn aliases(&self) -> &[Alias] {
        &self.aliases
    }

    pub fn history(&self) -> &[(String, &'static str)] {
        &self.history
    }

    /// The index of a key id, or of a key ARN ending in one.
    pub fn index(&self, id: &str) -> Option<usize> {
        let id = id.rsplit('/').next().unwrap_or(id);
        self.by_id.get(id).copied()
    }

    pub fn key(&self, id: &str) -> Option<&Key> {
        self.index(id).map(|i| &self.keys[i])
    }

    /// The position of an id among every id the account knows: its live keys (`0..keys`), then
    /// the deleted ones.
    pub fn position(&self, id: &str) -> Option<usize> {
        self.index(id).or_else(|| {
            let id = id.rsplit('/').next().unwrap_or(id);
            let j = self.deleted.iter().position(|d| d == id)?;
            Some(self.keys.len() + j)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aliases_name_aws_managed_keys_a_share_of_customer_keys_and_predefined_ones() {
        let keys: Vec<Key> = (0..40)
            .map(|i| Key {
                aws_managed: i < 20,
                ..Key::new(format!("k{i}"))
            })
            .collect();
        let account = Account::new(keys);
        let names: Vec<&str> = account.aliases().iter().map(|a| a.name.as_str()).collect();
        // 20 AWS managed keys: 16 services, then 4 with a number.
        assert!(names.contains(&"alias/aws/s3"));
        assert!(names.contains(&"alias/aws/s3-2"));
        assert!(names.contains(&"alias/aws/rds-2"));
        let aws: Vec<&Alias> = account
            .aliases()
            .iter()
            .filter(|a| a.target.is_some_and(|i| i < 20))
            .collect();
        assert_eq!(aws.len(), 20);
        assert!(aws.iter().all(|a| a.name.starts_with("alias/aws/")));
        // 20 customer keys, one in 4 with an alias.
        let customer: Vec<&Alias> = account
            .aliases()
            .iter()
            .filter(|a| a.target.is_some_and(|i| i >= 20))
            .collect();
        assert_eq!(customer.len(), 5);
        assert!(customer.iter().all(|a| a.name.starts_with("alias/app-")));
        let predefined: Vec<&Alias> = account
            .aliases()
            .iter()
            .filter(|a| a.target.is_none())
            .collect();
        assert_eq!(predefined.len(), PREDEFINED_ALIASES.len());
        assert!(predefined.iter().all(|a| a.name.starts_with("alias/aws/")));
        // Unique names, sorted.
        let mut sorted = names.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted, names);
    }

    #[test]
    fn ids_are_found_by_id_or_arn_and_deleted_ones_after_the_live_keys() {
        let account =
            Account::new(vec![Key::new("a"), Key::new("b")]).with_deleted(vec!["c".into()]);
        assert_eq!(account.index("b"), Some(1));
        assert_eq!(account.index(&key_arn("a")), Some(0));
        assert_eq!(account.index("c"), None);
        assert_eq!(account.position("c"), Some(2));
        assert_eq!(account.position("d"), None);
    }
}
