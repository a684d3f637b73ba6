//! Amazon Resource Names: `arn:<partition>:<service>:<region>:<account>:<resource>`, the one
//! parser and formatter of the workspace.
//!
//! The fields borrow from the text they were parsed from (or that they are built from), so
//! reading one field of an ARN copies nothing. The resource is everything after the fifth colon
//! and may hold colons and slashes of its own (`key/<id>`, `assumed-role/<role>/<session>`,
//! `log-group:name:*`). The region is empty for global services (IAM, STS) and the account is
//! empty for some (S3) or `*` in a policy pattern: parsing keeps them as they are and leaves their
//! meaning to the caller.

use std::fmt;

/// An ARN, split into its six fields (the first is always `arn`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Arn<'a> {
    /// `aws`, `aws-cn`, `aws-us-gov`, ...: never empty.
    pub partition: &'a str,
    /// `kms`, `iam`, `sts`, ...: never empty.
    pub service: &'a str,
    /// Empty for global services.
    pub region: &'a str,
    /// A 12-digit account id, empty for some services, or `*` in a policy.
    pub account: &'a str,
    /// The rest, colons included.
    pub resource: &'a str,
}

/// Why a text is not an ARN.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not an ARN (arn:<partition>:<service>:<region>:<account>:<resource>): {0:?}")]
pub struct NotAnArn(pub String);

impl<'a> Arn<'a> {
    /// Split `text` into its fields: it starts with `arn:`, has six colon-separated fields (the
    /// last keeps any further colons) and names a partition and a service.
    pub fn parse(text: &'a str) -> Result<Self, NotAnArn> {
        let not = || NotAnArn(text.to_owned());
        let mut fields = text.splitn(6, ':');
        if fields.next() != Some("arn") {
            return Err(not());
        }
        let (Some(partition), Some(service), Some(region), Some(account), Some(resource)) = (
            fields.next(),
            fields.next(),
            fields.next(),
            fields.next(),
            fields.next(),
        ) else {
            return Err(not());
        };
        if partition.is_empty() || service.is_empty() {
            return Err(not());
        }
        Ok(Self {
            partition,
            service,
            region,
            account,
            resource,
        })
    }

    /// The ARN of an IAM role: `arn:<partition>:iam::<account>:role/<name>` (format it with
    /// `to_string`; `resource` is `role/<name>`).
    pub fn iam(partition: &'a str, account: &'a str, resource: &'a str) -> Self {
        Self {
            partition,
            service: "iam",
            region: "",
            account,
            resource,
        }
    }

    /// The key id of a KMS key ARN (`arn:...:kms:<region>:<account>:key/<id>`); `None` for any
    /// other ARN (an alias, another service) or an empty id.
    pub fn kms_key_id(&self) -> Option<&'a str> {
        if self.service != "kms" {
            return None;
        }
        self.resource
            .strip_prefix("key/")
            .filter(|id| !id.is_empty())
    }
}

impl fmt::Display for Arn<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "arn:{}:{}:{}:{}:{}",
            self.partition, self.service, self.region, self.account, self.resource
        )
    }
}

/// The ARN of a KMS key: `arn:<partition>:kms:<region>:<account>:key/<key_id>`.
pub fn kms_key_arn(partition: &str, region: &str, account: &str, key_id: &str) -> String {
    format!("arn:{partition}:kms:{region}:{account}:key/{key_id}")
}

/// The partition a Region belongs to (`cn-north-1` is in `aws-cn`); `aws` for any Region it
/// does not recognise.
pub fn partition_of_region(region: &str) -> &'static str {
    if region.starts_with("cn-") {
        "aws-cn"
    } else if region.starts_with("us-gov-") {
        "aws-us-gov"
    } else if region.starts_with("us-iso-") {
        "aws-iso"
    } else if region.starts_with("us-isob-") {
        "aws-iso-b"
    } else {
        "aws"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_arn_in_each_partition() {
        for (text, partition, region) in [
            (
                "arn:aws:kms:us-east-1:111122223333:key/1234abcd",
                "aws",
                "us-east-1",
            ),
            (
                "arn:aws-cn:kms:cn-north-1:111122223333:key/1234abcd",
                "aws-cn",
                "cn-north-1",
            ),
            (
                "arn:aws-us-gov:kms:us-gov-west-1:111122223333:key/1234abcd",
                "aws-us-gov",
                "us-gov-west-1",
            ),
        ] {
            let arn = Arn::parse(text).unwrap();
            assert_eq!(arn.partition, partition, "{text}");
            assert_eq!(arn.service, "kms");
            assert_eq!(arn.region, region);
            assert_eq!(arn.account, "111122223333");
            assert_eq!(arn.resource, "key/1234abcd");
            assert_eq!(arn.kms_key_id(), Some("1234abcd"));
            assert_eq!(arn.to_string(), text);
            assert_eq!(partition_of_region(region), partition);
        }
    }

    #[test]
    fn global_services_assumed_roles_and_wildcard_accounts() {
        let role = Arn::parse("arn:aws:sts::444455556666:assumed-role/Admin/session").unwrap();
        assert_eq!(
            (role.partition, role.service, role.region, role.account),
            ("aws", "sts", "", "444455556666")
        );
        assert_eq!(role.resource, "assumed-role/Admin/session");
        assert_eq!(role.kms_key_id(), None);

        let any = Arn::parse("arn:aws:iam::*:root").unwrap();
        assert_eq!(any.account, "*");
        assert_eq!(any.resource, "root");

        let bucket = Arn::parse("arn:aws:s3:::bucket/key").unwrap();
        assert_eq!((bucket.region, bucket.account), ("", ""));

        // The resource keeps its own colons.
        let logs = Arn::parse("arn:aws:logs:us-east-1:111122223333:log-group:g:*").unwrap();
        assert_eq!(logs.resource, "log-group:g:*");
        assert_eq!(
            logs.to_string(),
            "arn:aws:logs:us-east-1:111122223333:log-group:g:*"
        );
    }

    #[test]
    fn built_role_arns_format_as_iam_writes_them() {
        assert_eq!(
            Arn::iam("aws-us-gov", "111122223333", "role/Reader").to_string(),
            "arn:aws-us-gov:iam::111122223333:role/Reader"
        );
    }

    #[test]
    fn what_is_not_a_key_arn_or_not_an_arn() {
        let alias = Arn::parse("arn:aws:kms:us-east-1:1:alias/x").unwrap();
        assert_eq!(alias.kms_key_id(), None);
        assert_eq!(
            Arn::parse("arn:aws:kms:us-east-1:1:key/")
                .unwrap()
                .kms_key_id(),
            None
        );
        assert_eq!(
            Arn::parse("arn:aws:iam::1:key/k").unwrap().kms_key_id(),
            None
        );
        for text in [
            "",
            "AIDAEXAMPLE",
            "111122223333",
            "arn:aws:iam::1",
            "arn::iam::1:root",
            "arn:aws::::x",
            "urn:aws:iam::1:root",
        ] {
            assert_eq!(Arn::parse(text), Err(NotAnArn(text.to_owned())), "{text:?}");
        }
        assert_eq!(partition_of_region("eu-west-1"), "aws");
        assert_eq!(partition_of_region("us-isob-east-1"), "aws-iso-b");
    }
}
