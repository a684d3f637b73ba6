//! Values read from a template, after resolving what can be resolved before deployment.

/// A value that cannot be known before deployment (a parameter without a default, a variable, a
/// condition, an attribute of another resource), or that the source gets wrong; `line` is where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unknowable {
    pub line: usize,
    pub what: String,
}

impl Unknowable {
    pub(crate) fn new(line: usize, what: impl Into<String>) -> Self {
        Self {
            line,
            what: what.into(),
        }
    }
}

/// Known, or why not.
pub(crate) type Fact<T> = Result<T, Unknowable>;

/// A resolved value. Scalars are kept as their text (`true`, `365`): CloudFormation and Terraform
/// both accept `"true"` where a boolean is expected.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Val {
    /// Not set (missing, `null`, or CloudFormation's `AWS::NoValue`): the default applies.
    Absent,
    Str(String),
    Seq(Vec<Val>),
    Map(Vec<(String, Val)>),
    Unknown(Unknowable),
}

/// A JSON value (a plan's attribute, a `.tfvars.json` value) as a template value: scalars as their
/// text, as the readers of source take them; `null` absent.
impl From<&serde_json::Value> for Val {
    fn from(v: &serde_json::Value) -> Self {
        use serde_json::Value;
        match v {
            Value::Null => Val::Absent,
            Value::Bool(b) => Val::Str(b.to_string()),
            Value::Number(n) => Val::Str(n.to_string()),
            Value::String(s) => Val::Str(s.clone()),
            Value::Array(items) => Val::Seq(items.iter().map(Val::from).collect()),
            Value::Object(m) => {
                Val::Map(m.iter().map(|(k, v)| (k.clone(), Val::from(v))).collect())
            }
        }
    }
}

impl Val {
    /// No unknown anywhere inside.
    pub(crate) fn is_known(&self) -> bool {
        match self {
            Val::Absent | Val::Str(_) => true,
            Val::Seq(items) => items.iter().all(Val::is_known),
            Val::Map(entries) => entries.iter().all(|(_, v)| v.is_known()),
            Val::Unknown(_) => false,
        }
    }

    /// The first unknown inside, if any.
    pub(crate) fn first_unknown(&self) -> Option<&Unknowable> {
        match self {
            Val::Unknown(u) => Some(u),
            Val::Seq(items) => items.iter().find_map(Val::first_unknown),
            Val::Map(entries) => entries.iter().find_map(|(_, v)| v.first_unknown()),
            _ => None,
        }
    }

    /// A field of a map; `Absent` when missing or when `self` is not a map.
    pub(crate) fn get(&self, name: &str) -> Val {
        match self {
            Val::Map(entries) => entries
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
                .unwrap_or(Val::Absent),
            Val::Unknown(u) => Val::Unknown(u.clone()),
            _ => Val::Absent,
        }
    }

    /// The text of a scalar; `None` when absent.
    pub(crate) fn string(&self, line: usize, name: &str) -> Fact<Option<String>> {
        match self {
            Val::Absent => Ok(None),
            Val::Str(s) => Ok(Some(s.clone())),
            Val::Unknown(u) => Err(u.clone()),
            _ => Err(Unknowable::new(line, format!("{name} is not a string"))),
        }
    }

    /// A boolean (`true`/`false`, any case, as text or YAML/HCL literal); `None` when absent.
    pub(crate) fn boolean(&self, line: usize, name: &str) -> Fact<Option<bool>> {
        match self.string(line, name)? {
            None => Ok(None),
            Some(s) if s.eq_ignore_ascii_case("true") => Ok(Some(true)),
            Some(s) if s.eq_ignore_ascii_case("false") => Ok(Some(false)),
            Some(s) => Err(Unknowable::new(
                line,
                format!("{name} is {s:?}, not a boolean"),
            )),
        }
    }

    /// An integer; `None` when absent.
    pub(crate) fn integer(&self, line: usize, name: &str) -> Fact<Option<i64>> {
        match self.string(line, name)? {
            None => Ok(None),
            Some(s) => s
                .trim()
                .parse()
                .map(Some)
                .map_err(|_| Unknowable::new(line, format!("{name} is {s:?}, not an integer"))),
        }
    }
}

/// Tags as CloudFormation writes them: a list of `{Key, Value}`.
pub(crate) fn tag_list(val: &Val, line: usize, name: &str) -> Fact<super::Tags> {
    match val {
        Val::Absent => Ok(Vec::new()),
        Val::Unknown(u) => Err(u.clone()),
        Val::Seq(items) => {
            let mut tags = Vec::new();
            for item in items {
                if let Val::Absent = item {
                    continue;
                }
                let key = item
                    .get("Key")
                    .string(line, &format!("{name} Key"))?
                    .ok_or_else(|| Unknowable::new(line, format!("a tag in {name} has no Key")))?;
                let value = item
                    .get("Value")
                    .string(line, &format!("tag {key}"))
                    .map(Option::unwrap_or_default);
                tags.push((key, value));
            }
            Ok(tags)
        }
        _ => Err(Unknowable::new(
            line,
            format!("{name} is not a list of Key/Value"),
        )),
    }
}

/// Tags as Terraform writes them: a map.
pub(crate) fn tag_map(val: &Val, line: usize, name: &str) -> Fact<super::Tags> {
    match val {
        Val::Absent => Ok(Vec::new()),
        Val::Unknown(u) => Err(u.clone()),
        Val::Map(entries) => Ok(entries
            .iter()
            .map(|(k, v)| {
                (
                    k.clone(),
                    v.string(line, &format!("tag {k}"))
                        .map(Option::unwrap_or_default),
                )
            })
            .collect()),
        _ => Err(Unknowable::new(line, format!("{name} is not a map"))),
    }
}
