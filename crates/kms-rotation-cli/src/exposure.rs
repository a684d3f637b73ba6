//! How far a KMS key policy lets principals in, pure: `public`, `cross_account`, `private`, or
//! `unknown` when the policy could not be read or parsed. `remediate` fixes the most exposed keys
//! first (the control: "starting with internet-exposed and production assets").
//!
//! The policy is read as the IAM policy grammar writes it: `Statement` an object or a list,
//! `Principal` `"*"` or an object of `AWS` / `Service` / `Federated` / `CanonicalUser` whose values
//! are a string or a list. Sources of the condition keys used:
//! - IAM User Guide, "AWS global condition context keys": `aws:PrincipalAccount`,
//!   `aws:PrincipalOrgID`, `aws:PrincipalOrgPaths`, `aws:PrincipalArn`, `aws:SourceAccount`,
//!   `aws:SourceArn`, `aws:SourceOrgID`, `aws:SourceOrgPaths`, `aws:SourceOwner`,
//!   `aws:PrincipalIsAWSService`; and "IAM JSON policy elements: Condition operators" for the
//!   operators (`ForAnyValue:`, `ForAllValues:`, `...IfExists`, and that a negated operator
//!   matches when the key is absent).
//! - KMS Developer Guide, "AWS KMS condition keys": `kms:CallerAccount`,
//!   `kms:EncryptionContext:aws:<service>:arn` (the service's resource ARN, as CloudTrail and
//!   CloudWatch Logs use it).
//! - KMS Developer Guide, "Default key policy": the statement `Enable IAM User Permissions` whose
//!   principal is the key's own account (`arn:aws:iam::<account>:root`): private.
//!
//! The rules, kept simple on purpose (this orders work; it is not an access analyzer):
//! - An `Allow` statement reaches the principals it names, narrowed by its conditions: `"*"` (or
//!   `{"AWS": "*"}`, also in a list) and `NotPrincipal` reach anyone; an account id or an IAM ARN
//!   reaches its account; a service principal (or a federated provider that is not an IAM ARN)
//!   reaches whoever uses the service, in any account (the "confused deputy"), so it counts as
//!   cross-account unless narrowed. A principal that is neither (the unique id KMS shows for a
//!   deleted IAM principal) reaches no one.
//! - A condition narrows a statement when its operator matches only when the key is present and
//!   equal (`StringEquals`, `StringEqualsIgnoreCase`, `StringLike`, `ArnEquals`, `ArnLike`, and their
//!   `ForAnyValue:` forms; not `...IfExists` nor `ForAllValues:`, which match when the key is
//!   absent) and its key names an account (`aws:PrincipalAccount`, `kms:CallerAccount`,
//!   `aws:SourceAccount`, `aws:SourceOwner`), an organization (`aws:PrincipalOrgID`,
//!   `aws:SourceOrgID`, `aws:PrincipalOrgPaths`, `aws:SourceOrgPaths`) or an ARN whose account is
//!   read (`aws:SourceArn`, `aws:PrincipalArn`, `kms:EncryptionContext:aws:*:arn`), with no
//!   wildcard in the account or organization. Other keys (`kms:ViaService`, `aws:SourceIp`,
//!   `aws:SourceVpce`, ...) do not narrow who the principal is.
//! - A `Deny` fences every `Allow` when it applies to every principal (`"*"`) for every action
//!   (`"*"` or `"kms:*"`, no `NotAction`, no `NotResource`) and its conditions are only negated
//!   account or organization restrictions (`StringNotEquals`, `StringNotLike`, `ArnNotEquals`,
//!   `ArnNotLike`, with or without `IfExists`) on the keys above, optionally with the usual
//!   exemption of AWS services (`Bool`/`BoolIfExists` `aws:PrincipalIsAWSService` `"false"`), which
//!   then leaves service principals unfenced. A `Deny` of every principal and action with no
//!   condition fences everything. Any other `Deny` (some actions only, other conditions) is not
//!   taken into account: it leaves the other actions or requests allowed.
//! - The key is `public` if some `Allow` still reaches anyone, `cross_account` if some `Allow`
//!   reaches another account (or an organization other than the one given, or any organization
//!   when none is given), `private` otherwise (a policy with no `Allow` included). Grants are not
//!   read.

use std::fmt;

use serde_json::Value;

/// How exposed a key is by its key policy. The order is the order of remediation: the most
/// exposed first, `unknown` after the exposed ones, `private` last.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Exposure {
    /// An `Allow` reaches any principal.
    Public,
    /// An `Allow` reaches principals of another account.
    CrossAccount,
    /// The policy could not be read or parsed.
    Unknown,
    /// Only principals of the key's own account (or organization, when given).
    Private,
}

impl Exposure {
    /// The name in reports: `public`, `cross_account`, `unknown`, `private`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Public => "public",
            Self::CrossAccount => "cross_account",
            Self::Unknown => "unknown",
            Self::Private => "private",
        }
    }
}

impl fmt::Display for Exposure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// As [`Exposure::as_str`] spells it (the `exposure` of `audit`'s and `remediate`'s JSON lines).
impl serde::Serialize for Exposure {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> serde::Deserialize<'de> for Exposure {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        [
            Self::Public,
            Self::CrossAccount,
            Self::Unknown,
            Self::Private,
        ]
        .into_iter()
        .find(|e| e.as_str() == text)
        .ok_or_else(|| serde::de::Error::custom(format!("unknown exposure {text:?}")))
    }
}

/// The exposure and why: which statement (index and Sid) and which principal or condition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Classification {
    pub exposure: Exposure,
    pub reason: String,
}

impl Classification {
    /// `unknown`, with why the policy could not be judged.
    pub fn unknown(reason: impl Into<String>) -> Self {
        Self {
            exposure: Exposure::Unknown,
            reason: reason.into(),
        }
    }
}

/// Who a statement lets in, from the narrowest.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Reach {
    Nobody,
    Account,
    /// Principals of these organizations, said how.
    Org(Vec<String>, String),
    /// Principals of other accounts, said how.
    Foreign(String),
    /// Any principal, said how.
    Anyone(String),
}

impl Reach {
    fn rank(&self) -> u8 {
        match self {
            Self::Nobody => 0,
            Self::Account => 1,
            Self::Org(..) => 2,
            Self::Foreign(_) => 3,
            Self::Anyone(_) => 4,
        }
    }

    /// The narrower of two reaches (the first on a tie).
    fn narrowed(self, other: Reach) -> Reach {
        if other.rank() < self.rank() {
            other
        } else {
            self
        }
    }
}

/// What is known of the key's owner.
struct Owner<'a> {
    account: &'a str,
    organization: Option<&'a str>,
}

impl Owner<'_> {
    /// The exposure of a reach, and what it is, in words.
    fn judge(&self, reach: &Reach) -> (Exposure, String) {
        match reach {
            Reach::Anyone(what) => (Exposure::Public, what.clone()),
            Reach::Foreign(what) => (Exposure::CrossAccount, what.clone()),
            Reach::Org(orgs, what) => match self.organization {
                Some(own) if orgs.iter().all(|o| o == own) => (Exposure::Private, what.clone()),
                Some(_) => (
                    Exposure::CrossAccount,
                    format!("{what}, not this account's organization"),
                ),
                None => (
                    Exposure::CrossAccount,
                    format!("{what}: other accounts of the organization"),
                ),
            },
            Reach::Nobody | Reach::Account => (Exposure::Private, String::new()),
        }
    }
}

/// Classify a key policy (the JSON text GetKeyPolicy returns) of a key of `account`, in
/// `organization` when known. See the module's documentation for the rules.
pub fn classify(policy: &str, account: &str, organization: Option<&str>) -> Classification {
    let owner = Owner {
        account,
        organization,
    };
    let doc: Value = match serde_json::from_str(policy) {
        Ok(v) => v,
        Err(e) => return Classification::unknown(format!("the key policy is not JSON: {e}")),
    };
    let statements: Vec<&Value> = match doc.get("Statement") {
        Some(Value::Array(list)) => list.iter().collect(),
        Some(one @ Value::Object(_)) => vec![one],
        _ => {
            return Classification::unknown(
                "the key policy has no Statement object or list".to_owned(),
            )
        }
    };
    let labelled: Vec<(String, &Value)> = statements
        .iter()
        .enumerate()
        .map(|(i, s)| (label(i, s), *s))
        .collect();
    let fences: Vec<Fence> = labelled
        .iter()
        .filter_map(|(l, s)| fence(s, &owner, l))
        .collect();

    let mut worst: Option<(Exposure, String)> = None;
    let mut fenced_note: Option<String> = None;
    let mut allows = 0;
    for (l, s) in &labelled {
        if s.get("Effect").and_then(Value::as_str) != Some("Allow") {
            continue;
        }
        allows += 1;
        let condition = restriction(s.get("Condition"), &owner, false);
        for p in principals(s, &owner) {
            let mut reach = p.reach.clone();
            if let Some(c) = &condition {
                reach = reach.narrowed(c.clone());
            }
            let open = reach.rank();
            for f in fences.iter().filter(|f| !(p.service && f.exempts_services)) {
                reach = reach.narrowed(f.reach.clone());
                if reach.rank() < open && fenced_note.is_none() {
                    fenced_note = Some(format!("{l}: {}, is fenced by {}", p.what, f.label));
                }
            }
            let (exposure, what) = owner.judge(&reach);
            if exposure != Exposure::Private && worst.as_ref().is_none_or(|(w, _)| exposure < *w) {
                worst = Some((exposure, format!("{l}: {what}")));
            }
        }
    }
    match worst {
        Some((exposure, reason)) => Classification { exposure, reason },
        None => Classification {
            exposure: Exposure::Private,
            reason: match (allows, fenced_note) {
                (0, _) => "no Allow statement".to_owned(),
                (_, Some(note)) => note,
                _ => match organization {
                    Some(org) => {
                        format!("every Allow is limited to account {account} or organization {org}")
                    }
                    None => format!("every Allow is limited to account {account}"),
                },
            },
        },
    }
}

/// `Statement[i]`, with its Sid when it has one.
fn label(i: usize, s: &Value) -> String {
    match s.get("Sid").and_then(Value::as_str) {
        Some(sid) if !sid.is_empty() => format!("Statement[{i}] (Sid {sid:?})"),
        _ => format!("Statement[{i}]"),
    }
}

/// A string or a list of strings, as the policy grammar allows.
fn strings(v: &Value) -> Vec<&str> {
    match v {
        Value::String(s) => vec![s.as_str()],
        Value::Array(list) => list.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    }
}

/// One principal of a statement, what it reaches and how it reads.
struct Principal {
    reach: Reach,
    what: String,
    service: bool,
}

/// The principals an `Allow` names (`NotPrincipal`: anyone).
fn principals(s: &Value, owner: &Owner<'_>) -> Vec<Principal> {
    if let Some(not) = s.get("NotPrincipal") {
        let what = format!("NotPrincipal {not} with Allow allows every principal but those");
        return vec![Principal {
            reach: Reach::Anyone(what.clone()),
            what,
            service: false,
        }];
    }
    let principal = match s.get("Principal") {
        Some(p) => p,
        None => return Vec::new(),
    };
    if principal.as_str() == Some("*") {
        let what = "Principal \"*\" (any principal)".to_owned();
        return vec![Principal {
            reach: Reach::Anyone(what.clone()),
            what,
            service: false,
        }];
    }
    let Some(map) = principal.as_object() else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for (kind, values) in map {
        for v in strings(values) {
            let (reach, what, service) = match kind.as_str() {
                "AWS" if v == "*" => {
                    let what = "Principal {\"AWS\": \"*\"} (any principal)".to_owned();
                    (Reach::Anyone(what.clone()), what, false)
                }
                "AWS" => {
                    let what = format!("principal {v}");
                    match account_of(v) {
                        Some(a) if a == owner.account => (Reach::Account, what, false),
                        Some(a) => (
                            Reach::Foreign(format!("{what} of account {a}")),
                            what,
                            false,
                        ),
                        // The unique id KMS shows for a deleted IAM principal: no one.
                        None => (Reach::Nobody, what, false),
                    }
                }
                "Federated" if account_of(v).is_some() => {
                    let what = format!("federated principal {v}");
                    match account_of(v) {
                        Some(a) if a == owner.account => (Reach::Account, what, false),
                        _ => (Reach::Foreign(what.clone()), what, false),
                    }
                }
                _ => {
                    let what = format!("{kind} principal {v}");
                    let reach = Reach::Foreign(format!(
                        "{what} with no condition on the source account or organization (any account's use of it reaches the key)"
                    ));
                    (reach, what, true)
                }
            };
            out.push(Principal {
                reach,
                what,
                service,
            });
        }
    }
    out
}

/// The account of a 12-digit account id or of an ARN (`arn:<partition>:<service>::<account>:...`).
fn account_of(v: &str) -> Option<&str> {
    let is_account = |a: &str| a.len() == 12 && a.bytes().all(|b| b.is_ascii_digit());
    if is_account(v) {
        return Some(v);
    }
    kms_rotation_core::arn::Arn::parse(v)
        .ok()
        .map(|arn| arn.account)
        .filter(|account| is_account(account))
}

/// What a condition key restricts.
enum KeyKind {
    Account,
    Org,
    OrgPath,
    Arn,
}

/// The condition keys that say who the caller is (compared lowercase: keys are case-insensitive).
fn key_kind(key: &str) -> Option<KeyKind> {
    let key = key.to_ascii_lowercase();
    Some(match key.as_str() {
        "aws:principalaccount" | "kms:calleraccount" | "aws:sourceaccount" | "aws:sourceowner" => {
            KeyKind::Account
        }
        "aws:principalorgid" | "aws:sourceorgid" => KeyKind::Org,
        "aws:principalorgpaths" | "aws:sourceorgpaths" => KeyKind::OrgPath,
        "aws:sourcearn" | "aws:principalarn" => KeyKind::Arn,
        k if k.starts_with("kms:encryptioncontext:aws:") && k.ends_with(":arn") => KeyKind::Arn,
        _ => return None,
    })
}

/// The narrowest restriction a `Condition` block puts on who the caller is: with positive
/// operators for an `Allow` (`negated` false), with negated ones for a `Deny` (`negated` true).
/// `None` when no entry restricts.
fn restriction(condition: Option<&Value>, owner: &Owner<'_>, negated: bool) -> Option<Reach> {
    let mut narrowest: Option<Reach> = None;
    for (operator, entries) in condition?.as_object()? {
        if !narrowing_operator(operator, negated) {
            continue;
        }
        let Some(entries) = entries.as_object() else {
            continue;
        };
        for (key, values) in entries {
            if let Some(reach) = key_restriction(key, &strings(values), owner) {
                narrowest = Some(match narrowest {
                    Some(n) => n.narrowed(reach),
                    None => reach,
                });
            }
        }
    }
    narrowest
}

/// Whether the operator restricts the caller to the values: it must not match when the key is
/// absent (Allow), or must match when the key is absent (Deny: negated operators do).
fn narrowing_operator(operator: &str, negated: bool) -> bool {
    let (any_value, op) = match operator.strip_prefix("ForAnyValue:") {
        Some(rest) => (true, rest),
        None => (false, operator),
    };
    if operator.starts_with("ForAllValues:") {
        return false;
    }
    if negated {
        let op = op.strip_suffix("IfExists").unwrap_or(op);
        !any_value
            && matches!(
                op,
                "StringNotEquals"
                    | "StringNotEqualsIgnoreCase"
                    | "StringNotLike"
                    | "ArnNotEquals"
                    | "ArnNotLike"
            )
    } else {
        matches!(
            op,
            "StringEquals" | "StringEqualsIgnoreCase" | "StringLike" | "ArnEquals" | "ArnLike"
        )
    }
}

/// What one condition key with these values restricts the caller to, if it does.
fn key_restriction(key: &str, values: &[&str], owner: &Owner<'_>) -> Option<Reach> {
    let kind = key_kind(key)?;
    if values.is_empty() {
        return None;
    }
    let wild = |s: &str| s.is_empty() || s.contains(['*', '?']);
    match kind {
        KeyKind::Account | KeyKind::Arn => {
            let accounts: Vec<&str> = values
                .iter()
                .map(|v| match kind {
                    KeyKind::Arn => account_of(v),
                    _ => (!wild(v)).then_some(*v),
                })
                .collect::<Option<_>>()?;
            let foreign: Vec<&str> = accounts
                .into_iter()
                .filter(|a| *a != owner.account)
                .collect();
            Some(if foreign.is_empty() {
                Reach::Account
            } else {
                Reach::Foreign(format!(
                    "a condition on {key} allows account(s) {}",
                    foreign.join(", ")
                ))
            })
        }
        KeyKind::Org | KeyKind::OrgPath => {
            let orgs: Vec<String> = values
                .iter()
                .map(|v| {
                    let org = match kind {
                        KeyKind::OrgPath => v.split('/').next().unwrap_or(""),
                        _ => v,
                    };
                    (!wild(org)).then(|| org.to_owned())
                })
                .collect::<Option<_>>()?;
            let what = format!("limited by {key} to {}", orgs.join(", "));
            Some(Reach::Org(orgs, what))
        }
    }
}

/// A `Deny` that bounds every `Allow`.
struct Fence {
    reach: Reach,
    /// It exempts AWS services (`aws:PrincipalIsAWSService` false): service principals pass.
    exempts_services: bool,
    label: String,
}

/// The fence a statement puts around every principal, if it is a `Deny` of every principal and
/// every action whose conditions are only negated account or organization restrictions.
fn fence(s: &Value, owner: &Owner<'_>, label: &str) -> Option<Fence> {
    if s.get("Effect").and_then(Value::as_str) != Some("Deny")
        || s.get("NotPrincipal").is_some()
        || s.get("NotAction").is_some()
        || s.get("NotResource").is_some()
    {
        return None;
    }
    let everyone = match s.get("Principal")? {
        Value::String(p) => p == "*",
        Value::Object(map) => map.get("AWS").is_some_and(|v| strings(v).contains(&"*")),
        _ => false,
    };
    let every_action = strings(s.get("Action")?)
        .iter()
        .any(|a| *a == "*" || a.eq_ignore_ascii_case("kms:*"));
    if !everyone || !every_action {
        return None;
    }
    let label = format!("the Deny of {label}");
    let Some(condition) = s.get("Condition") else {
        return Some(Fence {
            reach: Reach::Nobody,
            exempts_services: false,
            label,
        });
    };
    let mut exempts_services = false;
    for (operator, entries) in condition.as_object()? {
        for (key, values) in entries.as_object()? {
            let exemption = matches!(operator.as_str(), "Bool" | "BoolIfExists")
                && key.eq_ignore_ascii_case("aws:PrincipalIsAWSService")
                && strings(values) == ["false"];
            let restricts = narrowing_operator(operator, true)
                && key_restriction(key, &strings(values), owner).is_some();
            if exemption {
                exempts_services = true;
            } else if !restricts {
                // Another condition: the Deny applies to fewer requests than "everyone outside".
                return None;
            }
        }
    }
    let reach = restriction(Some(condition), owner, true)?;
    Some(Fence {
        reach,
        exempts_services,
        label,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const ACCOUNT: &str = "111122223333";
    const OTHER: &str = "444455556666";
    const ORG: &str = "o-a1b2c3d4e5";

    fn policy(statements: Value) -> String {
        json!({"Version": "2012-10-17", "Id": "key-policy", "Statement": statements}).to_string()
    }

    fn allow(principal: Value) -> Value {
        json!({"Effect": "Allow", "Principal": principal, "Action": "kms:*", "Resource": "*"})
    }

    fn with(mut statement: Value, field: &str, value: Value) -> Value {
        statement[field] = value;
        statement
    }

    /// The default key policy (KMS Developer Guide, "Default key policy").
    fn default_statement() -> Value {
        json!({
            "Sid": "Enable IAM User Permissions",
            "Effect": "Allow",
            "Principal": {"AWS": format!("arn:aws:iam::{ACCOUNT}:root")},
            "Action": "kms:*",
            "Resource": "*"
        })
    }

    fn deny_outside(operator: &str, key: &str, value: &str) -> Value {
        json!({
            "Sid": "DenyOutside",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "kms:*",
            "Resource": "*",
            "Condition": {operator: {key: value}}
        })
    }

    #[test]
    fn real_world_policies_are_classified_with_their_reason() {
        use Exposure::*;
        let admins = json!({
            "Sid": "Allow access for Key Administrators",
            "Effect": "Allow",
            "Principal": {"AWS": [format!("arn:aws:iam::{ACCOUNT}:role/KeyAdmin"), format!("arn:aws:iam::{ACCOUNT}:user/alice")]},
            "Action": ["kms:Create*", "kms:Describe*"],
            "Resource": "*"
        });
        let users = json!({
            "Sid": "Allow use of the key",
            "Effect": "Allow",
            "Principal": {"AWS": format!("arn:aws:iam::{ACCOUNT}:role/App")},
            "Action": ["kms:Encrypt", "kms:Decrypt"],
            "Resource": "*"
        });
        let other_role = json!({
            "Sid": "Allow an external account",
            "Effect": "Allow",
            "Principal": {"AWS": [format!("arn:aws:iam::{ACCOUNT}:role/App"), format!("arn:aws:iam::{OTHER}:role/Partner")]},
            "Action": "kms:Decrypt",
            "Resource": "*"
        });
        let caller_account = with(
            allow(json!({"AWS": "*"})),
            "Condition",
            json!({"StringEquals": {"kms:CallerAccount": ACCOUNT, "kms:ViaService": "ec2.us-east-1.amazonaws.com"}}),
        );
        let service = json!({
            "Sid": "AllowCloudTrail",
            "Effect": "Allow",
            "Principal": {"Service": "cloudtrail.amazonaws.com"},
            "Action": "kms:GenerateDataKey*",
            "Resource": "*",
            "Condition": {"StringEquals": {"aws:SourceAccount": ACCOUNT}}
        });
        let not_principal = json!({
            "Effect": "Allow",
            "NotPrincipal": {"AWS": format!("arn:aws:iam::{ACCOUNT}:role/Blocked")},
            "Action": "kms:Decrypt",
            "Resource": "*"
        });
        let open = with(allow(json!("*")), "Sid", json!("Open"));
        let cases: Vec<(&str, String, Option<&str>, Exposure, &str)> = vec![
            ("default key policy", policy(json!([default_statement()])), None, Private, "limited to account"),
            ("statement as an object", policy(default_statement()), None, Private, "limited to account"),
            ("administrators and users of the account", policy(json!([default_statement(), admins, users])), None, Private, "limited to account"),
            ("a role of another account", policy(json!([default_statement(), other_role])), None, CrossAccount, "Statement[1] (Sid \"Allow an external account\"): principal arn:aws:iam::444455556666:role/Partner of account 444455556666"),
            ("another account by id", policy(json!([allow(json!({"AWS": OTHER}))])), None, CrossAccount, "of account 444455556666"),
            ("* with kms:CallerAccount", policy(json!([caller_account])), None, Private, "limited to account"),
            ("* without a condition", policy(json!([default_statement(), open])), None, Public, "Statement[1] (Sid \"Open\"): Principal \"*\""),
            ("{AWS: [*]}", policy(json!([allow(json!({"AWS": ["*"]}))])), None, Public, "Statement[0]: Principal {\"AWS\": \"*\"}"),
            ("* with an IfExists condition does not narrow", policy(json!([with(allow(json!("*")), "Condition", json!({"StringEqualsIfExists": {"aws:PrincipalAccount": ACCOUNT}}))])), None, Public, "any principal"),
            ("* with an unrelated condition", policy(json!([with(allow(json!("*")), "Condition", json!({"StringEquals": {"kms:ViaService": "s3.us-east-1.amazonaws.com"}}))])), None, Public, "any principal"),
            ("* with a wildcard account", policy(json!([with(allow(json!("*")), "Condition", json!({"StringLike": {"aws:PrincipalAccount": "*"}}))])), None, Public, "any principal"),
            ("* limited to another account", policy(json!([with(allow(json!("*")), "Condition", json!({"StringEquals": {"aws:PrincipalAccount": [ACCOUNT, OTHER]}}))])), None, CrossAccount, "allows account(s) 444455556666"),
            ("* limited to the organization, known", policy(json!([with(allow(json!("*")), "Condition", json!({"StringEquals": {"aws:PrincipalOrgID": ORG}}))])), Some(ORG), Private, "limited to account"),
            ("* limited to an organization, not known", policy(json!([with(allow(json!("*")), "Condition", json!({"StringEquals": {"aws:PrincipalOrgID": ORG}}))])), None, CrossAccount, "other accounts of the organization"),
            ("* limited to another organization", policy(json!([with(allow(json!("*")), "Condition", json!({"ForAnyValue:StringLike": {"aws:PrincipalOrgPaths": "o-zzzzzzzzzz/r-ab12/*"}}))])), Some(ORG), CrossAccount, "not this account's organization"),
            ("service principal with aws:SourceAccount", policy(json!([default_statement(), service])), None, Private, "limited to account"),
            ("service principal with the trail's ARN", policy(json!([with(allow(json!({"Service": "cloudtrail.amazonaws.com"})), "Condition", json!({"StringLike": {"kms:EncryptionContext:aws:cloudtrail:arn": format!("arn:aws:cloudtrail:*:{ACCOUNT}:trail/*")}}))])), None, Private, "limited to account"),
            ("service principal without a condition", policy(json!([allow(json!({"Service": "logs.amazonaws.com"}))])), None, CrossAccount, "Service principal logs.amazonaws.com with no condition"),
            ("NotPrincipal with Allow", policy(json!([not_principal])), None, Public, "NotPrincipal"),
            ("Deny * unless the organization", policy(json!([open_statement(), deny_outside("StringNotEquals", "aws:PrincipalOrgID", ORG)])), Some(ORG), Private, "is fenced by the Deny of Statement[1] (Sid \"DenyOutside\")"),
            ("Deny * unless the organization, not known", policy(json!([open_statement(), deny_outside("StringNotEquals", "aws:PrincipalOrgID", ORG)])), None, CrossAccount, "other accounts of the organization"),
            ("Deny * unless the account", policy(json!([open_statement(), allow(json!({"AWS": OTHER})), deny_outside("StringNotEqualsIfExists", "aws:PrincipalAccount", ACCOUNT)])), None, Private, "fenced"),
            ("a Deny of some actions does not fence", policy(json!([open_statement(), with(deny_outside("StringNotEquals", "aws:PrincipalAccount", ACCOUNT), "Action", json!("kms:Decrypt"))])), None, Public, "any principal"),
            ("a Deny with another condition does not fence", policy(json!([open_statement(), with(deny_outside("StringNotEquals", "aws:PrincipalAccount", ACCOUNT), "Condition", json!({"StringNotEquals": {"aws:PrincipalAccount": ACCOUNT}, "IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}))])), None, Public, "any principal"),
            ("a Deny exempting AWS services leaves services", policy(json!([allow(json!({"Service": "logs.amazonaws.com"})), with(deny_outside("StringNotEquals", "aws:PrincipalAccount", ACCOUNT), "Condition", json!({"StringNotEquals": {"aws:PrincipalAccount": ACCOUNT}, "BoolIfExists": {"aws:PrincipalIsAWSService": "false"}}))])), None, CrossAccount, "logs.amazonaws.com"),
            ("only Deny statements", policy(json!([deny_outside("StringNotEquals", "aws:PrincipalAccount", ACCOUNT)])), None, Private, "no Allow statement"),
            ("a deleted principal's unique id", policy(json!([allow(json!({"AWS": "AROAEXAMPLEUNIQUEID01"}))])), None, Private, "limited to account"),
            ("malformed JSON", "{\"Statement\": [".to_owned(), None, Unknown, "not JSON"),
            ("no Statement", json!({"Version": "2012-10-17"}).to_string(), None, Unknown, "no Statement"),
        ];
        for (case, text, org, exposure, says) in cases {
            let got = classify(&text, ACCOUNT, org);
            assert_eq!(got.exposure, exposure, "{case}: {got:?}");
            assert!(
                got.reason.contains(says),
                "{case}: {:?} lacks {says:?}",
                got.reason
            );
        }
    }

    fn open_statement() -> Value {
        with(allow(json!("*")), "Sid", json!("Open"))
    }

    #[test]
    fn the_most_exposed_statement_is_reported() {
        let text = policy(json!([
            allow(json!({"AWS": OTHER})),
            allow(json!("*")),
            allow(json!({"AWS": format!("arn:aws:iam::{OTHER}:root")})),
        ]));
        let got = classify(&text, ACCOUNT, None);
        assert_eq!(got.exposure, Exposure::Public);
        assert!(got.reason.starts_with("Statement[1]:"), "{}", got.reason);
    }

    #[test]
    fn exposures_order_as_remediation_goes() {
        use Exposure::*;
        let mut all = [Private, Unknown, CrossAccount, Public];
        all.sort();
        assert_eq!(all, [Public, CrossAccount, Unknown, Private]);
        assert_eq!(
            all.map(Exposure::as_str),
            ["public", "cross_account", "unknown", "private"]
        );
    }

    #[test]
    fn accounts_are_read_from_ids_and_arns() {
        assert_eq!(account_of(ACCOUNT), Some(ACCOUNT));
        assert_eq!(
            account_of("arn:aws:sts::444455556666:assumed-role/R/s"),
            Some(OTHER)
        );
        assert_eq!(
            account_of("arn:aws-us-gov:iam::444455556666:root"),
            Some(OTHER)
        );
        assert_eq!(account_of("arn:aws:iam::*:root"), None);
        assert_eq!(account_of("AIDAEXAMPLE"), None);
    }
}
