//! The parameter values a CloudFormation stack is deployed with, read as the AWS CLI reads them,
//! so that a template is decided for those values rather than for its defaults.
//!
//! - `aws cloudformation create-stack --parameters file://params.json` (also `update-stack`,
//!   `create-change-set`): a JSON list of the API's `Parameter` structures, `ParameterKey` with
//!   `ParameterValue` or `UsePreviousValue` (CloudFormation API reference, `Parameter` data type;
//!   botocore's model `cloudformation/2010-05-15/service-2.json`, shape `Parameter`, whose
//!   members are exactly `ParameterKey`, `ParameterValue`, `UsePreviousValue`, `ResolvedValue`).
//! - `aws cloudformation deploy --parameter-overrides Key=Value ...`, and its JSON file forms
//!   (AWS CLI v2, `awscli/customizations/cloudformation/deploy.py`: a list of `"Key=Value"`
//!   strings, the `ParameterKey`/`ParameterValue` list, or CodePipeline's template configuration
//!   `{"Parameters": {"Key": "Value"}}`). On the command line, `--parameter Key=Value`.
//!
//! Values are strings, as the API takes them; `UsePreviousValue` keeps the stack's current value,
//! which cannot be known before deployment. A later source overrides an earlier one, as a later
//! `Key=Value` does in `deploy`.

use std::path::Path;

use serde_json::Value;

/// Where a parameter's value comes from, and what it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Supplied {
    pub key: String,
    pub given: Given,
    /// The file, or `--parameter`: named in the message.
    pub source: String,
}

/// A value, or the stack's previous one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Given {
    Value(String),
    /// `UsePreviousValue: true`: the value the stack has now, known only at deployment.
    Previous,
}

/// Every parameter value given for the run, in order (the last one for a key wins).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ParameterValues {
    values: Vec<Supplied>,
}

/// The members of the API's `Parameter` structure (botocore's model).
const PARAMETER_MEMBERS: [&str; 4] = [
    "ParameterKey",
    "ParameterValue",
    "UsePreviousValue",
    "ResolvedValue",
];

impl ParameterValues {
    /// The value given for `key`, if any: the last one.
    pub(crate) fn get(&self, key: &str) -> Option<&Supplied> {
        self.values.iter().rev().find(|s| s.key == key)
    }

    /// Each parameter given, once (the last value of each key).
    pub(crate) fn keys(&self) -> Vec<&Supplied> {
        let mut out: Vec<&Supplied> = Vec::new();
        for s in &self.values {
            if !out.iter().any(|o| o.key == s.key) {
                out.push(self.get(&s.key).unwrap_or(s));
            }
        }
        out
    }

    /// `Key=Value` from the command line (`deploy --parameter-overrides` shorthand: split at the
    /// first `=`).
    pub fn add_pair(&mut self, pair: &str, source: &str) -> Result<(), String> {
        let (key, value) = split_pair(pair).ok_or_else(|| {
            format!("{pair:?} is not Key=Value (as `aws cloudformation deploy --parameter-overrides` takes it)")
        })?;
        self.push(key, Given::Value(value.to_owned()), source);
        Ok(())
    }

    /// A parameters file, in any of the forms the AWS CLI reads. The error says what is wrong;
    /// the caller names the file.
    pub fn read_file(&mut self, path: &Path) -> Result<(), String> {
        let text = super::read_text(path).map_err(|e| e.to_string())?;
        let source = path.display().to_string();
        let json: Value = serde_json::from_str(&text).map_err(|e| {
            format!("not valid JSON ({e}); a parameters file is JSON, as `file://` gives it to the AWS CLI")
        })?;
        for (key, given) in parse(&json)? {
            self.push(&key, given, &source);
        }
        Ok(())
    }

    fn push(&mut self, key: &str, given: Given, source: &str) {
        self.values.push(Supplied {
            key: key.to_owned(),
            given,
            source: source.to_owned(),
        });
    }
}

fn split_pair(pair: &str) -> Option<(&str, &str)> {
    pair.split_once('=').filter(|(k, _)| !k.is_empty())
}

const FORMS: &str = "expected a list of {\"ParameterKey\": ..., \"ParameterValue\": ...} (create-stack --parameters), a list of \"Key=Value\" strings or {\"Parameters\": {\"Key\": \"Value\"}} (deploy --parameter-overrides)";

/// The parameters of one file's JSON.
fn parse(json: &Value) -> Result<Vec<(String, Given)>, String> {
    match json {
        Value::Object(map) => {
            let Some(Value::Object(params)) = map.get("Parameters") else {
                return Err(format!(
                    "an object without a \"Parameters\" object: {FORMS}"
                ));
            };
            params
                .iter()
                .map(|(k, v)| match v {
                    Value::String(s) => Ok((k.clone(), Given::Value(s.clone()))),
                    other => Err(format!(
                        "Parameters.{k} is {other}, not a string: CloudFormation takes parameter values as strings"
                    )),
                })
                .collect()
        }
        Value::Array(items) if items.iter().all(Value::is_string) => items
            .iter()
            .map(|item| {
                let text = item.as_str().unwrap_or_default();
                split_pair(text)
                    .map(|(k, v)| (k.to_owned(), Given::Value(v.to_owned())))
                    .ok_or_else(|| format!("{text:?} is not \"Key=Value\""))
            })
            .collect(),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .map(|(i, p)| structure(i, p))
            .collect(),
        _ => Err(FORMS.to_owned()),
    }
}

/// One `Parameter` structure of a create-stack list.
fn structure(i: usize, item: &Value) -> Result<(String, Given), String> {
    let Value::Object(map) = item else {
        return Err(format!(
            "item {i} is neither a Parameter object nor \"Key=Value\": {FORMS}"
        ));
    };
    if let Some(other) = map
        .keys()
        .find(|k| !PARAMETER_MEMBERS.contains(&k.as_str()))
    {
        return Err(format!(
            "item {i}: unknown member {other:?} (a Parameter has ParameterKey, ParameterValue, UsePreviousValue, ResolvedValue)"
        ));
    }
    let Some(Value::String(key)) = map.get("ParameterKey") else {
        return Err(format!("item {i} has no ParameterKey string"));
    };
    let previous = match map.get("UsePreviousValue") {
        None => false,
        Some(Value::Bool(b)) => *b,
        Some(other) => {
            return Err(format!(
                "{key}: UsePreviousValue is {other}, not true or false"
            ))
        }
    };
    match (map.get("ParameterValue"), previous) {
        (Some(Value::String(_)), true) => Err(format!(
            "{key}: UsePreviousValue true with a ParameterValue (the API says: if you specify true, do not specify a parameter value)"
        )),
        (Some(Value::String(v)), false) => Ok((key.clone(), Given::Value(v.clone()))),
        (None, true) => Ok((key.clone(), Given::Previous)),
        (None, false) => Err(format!(
            "{key}: neither ParameterValue nor UsePreviousValue true"
        )),
        (Some(other), _) => Err(format!(
            "{key}: ParameterValue is {other}, not a string: CloudFormation takes parameter values as strings"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn values(j: Value) -> Result<Vec<(String, Given)>, String> {
        parse(&j)
    }

    #[test]
    fn the_three_file_forms_of_the_cli() {
        let v = |s: &str| Given::Value(s.into());
        assert_eq!(
            values(
                json!([{"ParameterKey": "Rotate", "ParameterValue": "false"},
                          {"ParameterKey": "Owner", "UsePreviousValue": true}])
            ),
            Ok(vec![
                ("Rotate".into(), v("false")),
                ("Owner".into(), Given::Previous)
            ])
        );
        assert_eq!(
            values(json!(["Rotate=false", "Tag=a=b"])),
            Ok(vec![
                ("Rotate".into(), v("false")),
                ("Tag".into(), v("a=b"))
            ])
        );
        assert_eq!(
            values(json!({"Parameters": {"Rotate": "true"}, "Tags": {"team": "x"}})),
            Ok(vec![("Rotate".into(), v("true"))])
        );
    }

    #[test]
    fn malformed_files_say_what_is_wrong() {
        for (bad, says) in [
            (json!({"Rotate": "true"}), "\"Parameters\""),
            (
                json!([{"ParameterKey": "R", "ParameterValue": false}]),
                "not a string",
            ),
            (json!([{"ParameterKey": "R"}]), "neither"),
            (
                json!([{"ParameterKey": "R", "ParameterValue": "x", "UsePreviousValue": true}]),
                "do not specify",
            ),
            (json!([{"Key": "R", "Value": "x"}]), "unknown member"),
            (json!(["Rotate"]), "not \"Key=Value\""),
            (json!({"Parameters": {"Period": 90}}), "not a string"),
            (json!("Rotate=true"), "expected"),
        ] {
            let err = values(bad.clone()).unwrap_err();
            assert!(err.contains(says), "{bad}: {err}");
        }
    }

    #[test]
    fn the_last_value_wins_and_pairs_split_at_the_first_equals() {
        let mut p = ParameterValues::default();
        p.add_pair("A=1", "--parameter").unwrap();
        p.add_pair("A=x=y", "--parameter").unwrap();
        assert_eq!(p.get("A").unwrap().given, Given::Value("x=y".into()));
        assert_eq!(p.keys().len(), 1);
        assert!(p.add_pair("=1", "--parameter").is_err());
        assert!(p.add_pair("A", "--parameter").is_err());
    }
}
