//! Terraform plan JSON (`terraform show -json PLANFILE`): the keys of `resource_changes` that the
//! plan creates, updates or keeps, with the values Terraform computed. A value in
//! `after_unknown` is known only after apply; a replica's primary is found by its ARN or, when
//! that is unknown, by the reference in `configuration`.
//!
//! Terraform "JSON Output Format" (<https://developer.hashicorp.com/terraform/internals/json-format>):
//! `resource_changes` lists every resource instance of every module, each under its full address
//! (`module.a.module.b.aws_kms_key.k[0]`) with its `module_address`; `planned_values.root_module`
//! nests called modules' resources under `child_modules` (recursively), where a value not known
//! until apply is omitted. A plan without `resource_changes` is read from `planned_values`, child
//! modules to any depth (bounded by [`MAX_CHILD_DEPTH`]), an omitted attribute unknown.

use std::path::Path;

use serde_json::Value;

use super::value::{tag_map, Val};
use super::{Fact, IacError, KeyKind, KeyProps, KeyResource, ReplicaProps, Unknowable};

const KEY_TYPES: &[&str] = &[
    "aws_kms_key",
    "aws_kms_external_key",
    "aws_kms_replica_key",
    "aws_kms_replica_external_key",
];

/// A plan has a `format_version` and `resource_changes` or `planned_values`.
pub(crate) fn looks_like_plan(value: &Value) -> bool {
    value.get("format_version").is_some()
        && (value.get("resource_changes").is_some() || value.get("planned_values").is_some())
}

/// Child modules nested deeper than this in `planned_values` are refused (as module calls
/// deeper than [`super::tf_modules::MAX_MODULE_DEPTH`] are).
pub(crate) const MAX_CHILD_DEPTH: usize = 64;

/// `planned_values` as `resource_changes`: one change per resource of the root module and of its
/// child modules at any depth, an attribute the values omit unknown until apply.
fn from_planned_values(plan: &Value) -> Result<Vec<Value>, IacError> {
    fn walk(module: &Value, depth: usize, out: &mut Vec<Value>) -> Result<(), IacError> {
        if depth > MAX_CHILD_DEPTH {
            return Err(IacError::Limit(format!(
                "planned_values nests child modules more than {MAX_CHILD_DEPTH} deep"
            )));
        }
        for r in module
            .get("resources")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let values = r.get("values").cloned().unwrap_or(Value::Null);
            // Omitted = unknown until apply: every attribute the reader asks for and the values
            // do not carry.
            let mut unknown = serde_json::Map::new();
            for name in ATTRIBUTES {
                if values.get(name).is_none() {
                    unknown.insert((*name).to_owned(), Value::Bool(true));
                }
            }
            let mut change = r.clone();
            if let Some(o) = change.as_object_mut() {
                o.remove("values");
                if let Some(m) = module.get("address").filter(|_| depth > 0) {
                    o.insert("module_address".into(), m.clone());
                }
                o.insert(
                    "change".into(),
                    serde_json::json!({"after": values, "after_unknown": unknown}),
                );
            }
            out.push(change);
        }
        for child in module
            .get("child_modules")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            walk(child, depth + 1, out)?;
        }
        Ok(())
    }
    let mut out = Vec::new();
    if let Some(root) = plan.pointer("/planned_values/root_module") {
        walk(root, 0, &mut out)?;
    }
    Ok(out)
}

/// The attributes of the key types that the reader asks for.
const ATTRIBUTES: &[&str] = &[
    "customer_master_key_spec",
    "key_spec",
    "xks_key_id",
    "custom_key_store_id",
    "is_enabled",
    "enabled",
    "enable_key_rotation",
    "rotation_period_in_days",
    "tags",
    "tags_all",
    "primary_key_arn",
    "arn",
];

pub(crate) fn read(path: &Path, text: &str, plan: &Value) -> Result<Vec<KeyResource>, IacError> {
    let planned;
    let changes = match plan.get("resource_changes") {
        None => {
            planned = from_planned_values(plan)?;
            &planned
        }
        Some(Value::Array(changes)) => changes,
        Some(_) => return Err(IacError::Plan("resource_changes is not a list".into())),
    };
    let live: Vec<&Value> = changes
        .iter()
        .filter(|c| c.get("mode").and_then(Value::as_str) == Some("managed"))
        .filter(|c| {
            c.get("type")
                .and_then(Value::as_str)
                .is_some_and(|t| KEY_TYPES.contains(&t))
        })
        .filter(|c| c.pointer("/change/after").is_some_and(|a| !a.is_null()))
        .collect();
    live.iter()
        .map(|change| key_of(path, text, plan, &live, change))
        .collect()
}

/// The key of one resource change that the plan keeps.
fn key_of(
    path: &Path,
    text: &str,
    plan: &Value,
    live: &[&Value],
    change: &Value,
) -> Result<KeyResource, IacError> {
    let address = change
        .get("address")
        .and_then(Value::as_str)
        .ok_or_else(|| IacError::Plan("a resource change without an address".into()))?;
    let rtype = change
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let after = Planned {
        address,
        line: line_of(text, address),
        after: change.pointer("/change/after").unwrap_or(&Value::Null),
        after_unknown: change
            .pointer("/change/after_unknown")
            .unwrap_or(&Value::Null),
    };
    let line = after.line;
    // tags_all has the provider's default_tags too, as the key will carry them.
    let tags = match after.get("tags_all") {
        Val::Absent => tag_map(&after.get("tags"), line, "tags"),
        all => tag_map(&all, line, "tags_all"),
    };
    let kind = match rtype {
        "aws_kms_key" => KeyKind::Key(KeyProps {
            key_spec: after.string("customer_master_key_spec", "SYMMETRIC_DEFAULT"),
            origin: after.get("xks_key_id").string(line, "xks_key_id").map(|x| {
                if x.is_some() {
                    "EXTERNAL_KEY_STORE"
                } else {
                    "AWS_KMS"
                }
                .to_owned()
            }),
            custom_key_store_id: after
                .get("custom_key_store_id")
                .string(line, "custom_key_store_id")
                .map(|s| s.filter(|s| !s.is_empty())),
            enabled: after.boolean("is_enabled", true),
            rotation_enabled: after.boolean("enable_key_rotation", false),
            rotation_period_days: after
                .get("rotation_period_in_days")
                .integer(line, "rotation_period_in_days"),
            tags,
        }),
        "aws_kms_replica_key" => KeyKind::Replica(ReplicaProps {
            primary: primary_of(plan, live, change, address, line),
            enabled: after.boolean("enabled", true),
            tags,
        }),
        _ => KeyKind::Key(KeyProps {
            key_spec: after.string("key_spec", "SYMMETRIC_DEFAULT"),
            origin: Ok("EXTERNAL".into()),
            custom_key_store_id: Ok(None),
            enabled: after.boolean("enabled", true),
            rotation_enabled: Ok(false),
            rotation_period_days: Ok(None),
            tags,
        }),
    };
    Ok(KeyResource {
        name: address.to_owned(),
        resource_type: rtype.to_owned(),
        file: path.to_owned(),
        line,
        kind,
        notes: Vec::new(),
        via: Vec::new(),
    })
}

/// A resource change's planned values: `after`, with what `after_unknown` says is known only
/// after apply.
struct Planned<'a> {
    address: &'a str,
    /// The change's line in the plan file.
    line: usize,
    after: &'a Value,
    after_unknown: &'a Value,
}

impl Planned<'_> {
    fn get(&self, name: &str) -> Val {
        if self.after_unknown.get(name) == Some(&Value::Bool(true)) {
            return Val::Unknown(Unknowable::new(
                self.line,
                format!("{}: {name} is known only after apply", self.address),
            ));
        }
        Val::from(self.after.get(name).unwrap_or(&Value::Null))
    }

    fn boolean(&self, name: &str, default: bool) -> Fact<bool> {
        self.get(name)
            .boolean(self.line, name)
            .map(|b| b.unwrap_or(default))
    }

    fn string(&self, name: &str, default: &str) -> Fact<String> {
        self.get(name)
            .string(self.line, name)
            .map(|s| s.unwrap_or_else(|| default.to_owned()))
    }
}

/// The line of `"address": "<address>"` (plans are often one line: then 1).
fn line_of(text: &str, address: &str) -> usize {
    let quoted = serde_json::to_string(address).unwrap_or_default();
    text.match_indices(&quoted)
        .map(|(i, _)| i)
        .find(|&i| text[..i].trim_end().ends_with(':'))
        .map_or(1, |i| text[..i].matches('\n').count() + 1)
}

/// The call names of a module address, `module.a["x.y"].module.b[0]` -> `[a, b]`: instance keys
/// are skipped whole, so a `for_each` key holding a period is not taken for a separator.
fn call_names(address: &str) -> Vec<&str> {
    let mut names = Vec::new();
    let mut rest = address;
    while let Some(after) = rest.strip_prefix("module.") {
        let end = after.find(['[', '.']).unwrap_or(after.len());
        names.push(&after[..end]);
        rest = &after[end..];
        if rest.starts_with('[') {
            // Skip to the matching `]`, outside any quoted key (with `\"` escapes).
            let (mut quoted, mut escaped, mut close) = (false, false, rest.len());
            for (i, c) in rest.char_indices().skip(1) {
                match c {
                    _ if escaped => escaped = false,
                    '\\' if quoted => escaped = true,
                    '"' => quoted = !quoted,
                    ']' if !quoted => {
                        close = i + 1;
                        break;
                    }
                    _ => {}
                }
            }
            rest = &rest[close..];
        }
        rest = rest.strip_prefix('.').unwrap_or(rest);
    }
    names
}

/// The primary of a replica: the key whose planned ARN is `primary_key_arn`, or the key the
/// configuration references (`aws_kms_key.p.arn`), in the replica's module and instance.
fn primary_of(
    plan: &Value,
    live: &[&Value],
    change: &Value,
    address: &str,
    line: usize,
) -> Fact<String> {
    let outside = || {
        Unknowable::new(
            line,
            format!("{address}: primary_key_arn is not a key of this plan: the replica rotates with its primary, which is checked where it is planned"),
        )
    };
    let address_of = |c: &Value| c.get("address").and_then(Value::as_str).map(str::to_owned);
    if let Some(arn) = change
        .pointer("/change/after/primary_key_arn")
        .and_then(Value::as_str)
    {
        return live
            .iter()
            .find(|c| c.pointer("/change/after/arn").and_then(Value::as_str) == Some(arn))
            .and_then(|c| address_of(c))
            .ok_or_else(outside);
    }
    // The configuration of the replica's module.
    let mut module = plan.pointer("/configuration/root_module");
    let module_address = change.get("module_address").and_then(Value::as_str);
    if let Some(m) = module_address {
        for name in call_names(m) {
            module = module
                .and_then(|md| md.get("module_calls"))
                .and_then(|calls| calls.get(name))
                .and_then(|c| c.get("module"));
        }
    }
    let own = format!(
        "{}.{}",
        change
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or_default(),
        change
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or_default()
    );
    let reference = module
        .and_then(|m| m.get("resources"))
        .and_then(Value::as_array)
        .and_then(|rs| {
            rs.iter()
                .find(|r| r.get("address").and_then(Value::as_str) == Some(&own))
        })
        .and_then(|r| r.pointer("/expressions/primary_key_arn/references"))
        .and_then(Value::as_array)
        .and_then(|refs| {
            refs.iter()
                .filter_map(Value::as_str)
                .find(|r| r.starts_with("aws_kms_key.") && r.matches('.').count() == 1)
        })
        .ok_or_else(outside)?;
    let prefix = module_address.map(|m| format!("{m}.")).unwrap_or_default();
    let base = format!("{prefix}{reference}");
    let index = change
        .get("index")
        .map(|i| format!("[{i}]"))
        .unwrap_or_default();
    let candidates: Vec<String> = live.iter().filter_map(|c| address_of(c)).collect();
    [format!("{base}{index}"), base]
        .into_iter()
        .find(|a| candidates.contains(a))
        .ok_or_else(outside)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn module_addresses_split_into_call_names_whatever_their_keys() {
        assert_eq!(
            call_names(r#"module.a["eu.prod"].module.b[0].module.c"#),
            ["a", "b", "c"]
        );
        assert_eq!(call_names(r#"module.a["x]".y"]"#), ["a"]);
        assert_eq!(call_names("module.solo"), ["solo"]);
    }

    #[test]
    fn planned_values_nested_too_deep_are_refused() {
        let mut module = serde_json::json!({"resources": []});
        for _ in 0..=MAX_CHILD_DEPTH {
            module = serde_json::json!({"address": "module.m", "child_modules": [module]});
        }
        let plan =
            serde_json::json!({"format_version": "1.2", "planned_values": {"root_module": module}});
        assert!(matches!(
            read(Path::new("p.json"), "", &plan),
            Err(IacError::Limit(_))
        ));
    }
}
