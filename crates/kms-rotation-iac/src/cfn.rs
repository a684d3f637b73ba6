//! CloudFormation templates: `AWS::KMS::Key` and `AWS::KMS::ReplicaKey`, with the intrinsic
//! functions resolved as far as the template alone allows.
//!
//! Resolved: `Ref` to a parameter with a default (noted in the message), `AWS::NoValue`,
//! `Fn::If` whose two branches agree, `Fn::Sub`, `Fn::Join`, `Fn::FindInMap` and `Fn::Select`
//! over known values. Unknown: a parameter without a default, pseudo parameters, `Fn::If` whose
//! branches differ (the condition is evaluated at deployment), attributes of resources, imports.

use std::collections::HashMap;
use std::path::Path;

use super::cfn_foreach as foreach;
use super::cfn_params::{Given, ParameterValues};
use super::value::{tag_list, Val};
use super::yaml::{Entry, Kind, Node};
use super::{Fact, IacError, KeyKind, KeyProps, KeyResource, ReplicaProps, Unknowable};

use super::{CFN_KEY as KEY, CFN_REPLICA_KEY as REPLICA_KEY};

/// A template has a `Resources` mapping (the one section CloudFormation requires).
pub(crate) fn looks_like_template(root: &Node) -> bool {
    matches!(root.get("Resources").map(|r| &r.kind), Some(Kind::Map(_)))
}

/// The KMS keys of a template, its parameters at their defaults.
#[cfg(test)]
pub(crate) fn read(path: &Path, root: &Node) -> Result<Vec<KeyResource>, IacError> {
    read_with(path, root, &ParameterValues::default())
}

/// The KMS keys of a template deployed with the parameter values `supplied` (the others at their
/// defaults), its `Fn::ForEach` loops expanded ([`super::cfn_foreach`]).
pub(crate) fn read_with(
    path: &Path,
    root: &Node,
    supplied: &ParameterValues,
) -> Result<Vec<KeyResource>, IacError> {
    let Some(declared) = root.get("Resources") else {
        return Err(IacError::Template("no Resources section".into()));
    };
    let first = Context::new(root, supplied);
    first.check_supplied()?;
    let expanded = expand_loops(root, declared, &first)?;
    let resources = expanded.as_ref().map_or(declared, |e| &e.resources);
    let mut ctx = Context::new(root, supplied);
    ctx.resources = Some(resources);
    let mut keys = Vec::new();
    for entry in resources.entries() {
        let Some(resource_type) = entry.value.get("Type").and_then(Node::as_str) else {
            continue;
        };
        if resource_type != KEY && resource_type != REPLICA_KEY {
            continue;
        }
        // A generated resource says which loop and values made it.
        let notes = expanded
            .as_ref()
            .and_then(|e| e.origin.get(&entry.key))
            .into_iter()
            .cloned()
            .collect();
        keys.push(key_resource(
            &ctx,
            path,
            entry,
            resource_type,
            resources,
            notes,
        ));
    }
    for unknown in expanded.iter().flat_map(|e| &e.unknown) {
        keys.push(unknown_loop(path, unknown));
    }
    Ok(keys)
}

/// The template's `Fn::ForEach` loops expanded, when it has any (and declares the transform they
/// need); `None` when it has none.
fn expand_loops(
    root: &Node,
    declared: &Node,
    ctx: &Context<'_>,
) -> Result<Option<foreach::Expanded>, IacError> {
    if !foreach::has_loops(declared) {
        return Ok(None);
    }
    if !foreach::declares_transform(root) {
        return Err(IacError::Template(format!(
            "uses Fn::ForEach without `Transform: {}`, which CloudFormation requires for it",
            foreach::LANGUAGE_EXTENSIONS
        )));
    }
    foreach::expand(declared, &|node: &Node| ctx.collection(node)).map(Some)
}

/// One `AWS::KMS::Key` or `AWS::KMS::ReplicaKey` resource, its properties resolved in `ctx`; only
/// the properties the decision reads are resolved (and so noted).
fn key_resource(
    ctx: &Context<'_>,
    path: &Path,
    entry: &Entry,
    resource_type: &str,
    resources: &Node,
    mut notes: Vec<String>,
) -> KeyResource {
    let resource = &entry.value;
    let line = entry.key_line;
    let props = resource.get("Properties");
    let props_line = props.map_or(line, |p| p.line);
    let mut field = |name: &str| -> (Val, usize) {
        match props.and_then(|p| p.get(name)) {
            Some(node) => (ctx.resolve(node, &mut notes), node.line),
            None => (Val::Absent, props_line),
        }
    };
    let boolean = |(v, at): (Val, usize), name: &str, default: bool| -> Fact<bool> {
        v.boolean(at, name).map(|b| b.unwrap_or(default))
    };
    let string = |(v, at): (Val, usize), name: &str, default: &str| -> Fact<String> {
        v.string(at, name)
            .map(|s| s.unwrap_or_else(|| default.to_owned()))
    };
    let tags = {
        let (v, at) = field("Tags");
        tag_list(&v, at, "Tags")
    };
    let enabled = boolean(field("Enabled"), "Enabled", true);
    let kind = if resource_type == KEY {
        let (period, at) = field("RotationPeriodInDays");
        KeyKind::Key(KeyProps {
            key_spec: string(field("KeySpec"), "KeySpec", "SYMMETRIC_DEFAULT"),
            origin: string(field("Origin"), "Origin", "AWS_KMS"),
            // AWS::KMS::Key has no custom key store property.
            custom_key_store_id: Ok(None),
            enabled,
            rotation_enabled: boolean(field("EnableKeyRotation"), "EnableKeyRotation", false),
            rotation_period_days: period.integer(at, "RotationPeriodInDays"),
            tags,
        })
    } else {
        KeyKind::Replica(ReplicaProps {
            primary: primary_of(resource, resources, props_line),
            enabled: boolean(field("Enabled"), "Enabled", true),
            tags,
        })
    };
    if let Some(condition) = resource.get("Condition").and_then(Node::as_str) {
        notes.push(format!("created only when condition {condition} is true"));
    }
    KeyResource {
        name: entry.key.clone(),
        resource_type: resource_type.to_owned(),
        file: path.to_owned(),
        line,
        kind,
        notes,
        via: Vec::new(),
    }
}

/// The row of a loop whose collection is known only at deployment: every fact of its keys is
/// unknown, for that reason (the decision then reports it UNKNOWN, naming the loop).
fn unknown_loop(path: &Path, unknown: &foreach::UnknownLoop) -> KeyResource {
    let why = Unknowable::new(
        unknown.why.line,
        format!(
            "{} creates {} for each item of a collection that is not known before deployment ({}); pass the parameter's value with --parameters or --parameter",
            unknown.name, unknown.output_key, unknown.why.what
        ),
    );
    let props = KeyProps {
        key_spec: Err(why.clone()),
        origin: Err(why.clone()),
        custom_key_store_id: Err(why.clone()),
        enabled: Err(why.clone()),
        rotation_enabled: Err(why.clone()),
        rotation_period_days: Err(why.clone()),
        tags: Err(why.clone()),
    };
    let kind = if unknown.resource_type == REPLICA_KEY {
        KeyKind::Replica(ReplicaProps {
            primary: Err(why.clone()),
            enabled: Err(why.clone()),
            tags: Err(why),
        })
    } else {
        KeyKind::Key(props)
    };
    KeyResource {
        name: unknown.name.clone(),
        resource_type: unknown.resource_type.clone(),
        file: path.to_owned(),
        line: unknown.line,
        kind,
        notes: Vec::new(),
        via: Vec::new(),
    }
}

/// A replica's primary, when it is a key of this template (`!GetAtt Primary.Arn`).
fn primary_of(resource: &Node, resources: &Node, line: usize) -> Fact<String> {
    let arn = resource
        .get("Properties")
        .and_then(|p| p.get("PrimaryKeyArn"));
    let at = arn.map_or(line, |n| n.line);
    let target = arn
        .and_then(|n| n.get("Fn::GetAtt"))
        .and_then(|g| match &g.kind {
            Kind::Seq(items) if items.len() == 2 && items[1].as_str() == Some("Arn") => {
                items[0].as_str()
            }
            Kind::Scalar(s) => s.strip_suffix(".Arn"),
            _ => None,
        });
    match target {
        Some(name)
            if resources
                .get(name)
                .and_then(|r| r.get("Type"))
                .and_then(Node::as_str)
                == Some(KEY) =>
        {
            Ok(name.to_owned())
        }
        _ => Err(Unknowable::new(
            at,
            "PrimaryKeyArn is not a key of this template: the replica rotates with its primary, which is checked where it is declared",
        )),
    }
}

/// What the template says about itself: parameters and their defaults, mappings, resources; and
/// the parameter values it is deployed with.
struct Context<'a> {
    /// Each declared parameter's declaration (`Type`, `Default`).
    parameters: HashMap<&'a str, &'a Node>,
    supplied: &'a ParameterValues,
    mappings: Option<&'a Node>,
    resources: Option<&'a Node>,
    conditions: Option<&'a Node>,
}

/// Deep enough for any real template; deeper nesting is reported unknown, never a stack overflow.
const MAX_DEPTH: usize = 64;

impl<'a> Context<'a> {
    fn new(root: &'a Node, supplied: &'a ParameterValues) -> Self {
        let parameters = root
            .get("Parameters")
            .map(|p| {
                p.entries()
                    .iter()
                    .map(|e| (e.key.as_str(), &e.value))
                    .collect()
            })
            .unwrap_or_default();
        Self {
            parameters,
            supplied,
            mappings: root.get("Mappings"),
            resources: root.get("Resources"),
            conditions: root.get("Conditions"),
        }
    }

    /// A value given for a parameter the template does not declare is refused, as CloudFormation
    /// refuses it (CreateStack: `ValidationError: Parameters: [X] do not exist in the template`).
    fn check_supplied(&self) -> Result<(), IacError> {
        let undeclared: Vec<String> = self
            .supplied
            .keys()
            .into_iter()
            .filter(|s| !self.parameters.contains_key(s.key.as_str()))
            .map(|s| format!("{} (from {})", s.key, s.source))
            .collect();
        if undeclared.is_empty() {
            return Ok(());
        }
        Err(IacError::Parameter(format!(
            "parameter {} not declared in this template's Parameters; CloudFormation refuses the stack (\"Parameters: [...] do not exist in the template\")",
            undeclared.join(", ")
        )))
    }

    /// A loop's collection: a list of strings, or a `CommaDelimitedList` parameter.
    fn collection(&self, node: &Node) -> Result<(Vec<String>, Vec<String>), Unknowable> {
        let mut notes = Vec::new();
        match self.resolve(node, &mut notes) {
            Val::Seq(items) => items
                .into_iter()
                .map(|item| match item {
                    Val::Str(s) => Ok(s),
                    Val::Unknown(u) => Err(u),
                    _ => Err(Unknowable::new(
                        node.line,
                        "an item of the collection is not a string",
                    )),
                })
                .collect::<Result<Vec<_>, _>>()
                .map(|items| (items, notes)),
            Val::Unknown(u) => Err(u),
            _ => Err(Unknowable::new(
                node.line,
                "the collection is not a list or a CommaDelimitedList parameter",
            )),
        }
    }

    fn resolve(&self, node: &Node, notes: &mut Vec<String>) -> Val {
        self.resolve_at(node, notes, 0)
    }

    fn resolve_at(&self, node: &Node, notes: &mut Vec<String>, depth: usize) -> Val {
        if depth > MAX_DEPTH {
            return Val::Unknown(Unknowable::new(node.line, "nested too deeply to read"));
        }
        match &node.kind {
            Kind::Null => Val::Absent,
            Kind::Scalar(s) => Val::Str(s.clone()),
            Kind::Seq(items) => Val::Seq(
                items
                    .iter()
                    .map(|i| self.resolve_at(i, notes, depth + 1))
                    .collect(),
            ),
            Kind::Map(entries) => {
                if let [only] = entries.as_slice() {
                    if only.key == "Ref" || only.key.starts_with("Fn::") {
                        return self.intrinsic(&only.key, &only.value, node.line, notes, depth);
                    }
                }
                Val::Map(
                    entries
                        .iter()
                        .map(|e| (e.key.clone(), self.resolve_at(&e.value, notes, depth + 1)))
                        .collect(),
                )
            }
        }
    }

    fn intrinsic(
        &self,
        name: &str,
        arg: &Node,
        line: usize,
        notes: &mut Vec<String>,
        depth: usize,
    ) -> Val {
        let args: &[Node] = match &arg.kind {
            Kind::Seq(items) => items,
            _ => std::slice::from_ref(arg),
        };
        match name {
            "Ref" => match arg.as_str() {
                Some(target) => self.reference(target, line, notes, depth),
                None => unknown_at(line, "Ref to something that is not a name"),
            },
            "Fn::If" => self.fn_if(args, line, notes, depth),
            "Fn::Sub" => self.sub(args, line, notes, depth),
            "Fn::Join" => self.join(args, line, notes, depth),
            "Fn::FindInMap" => self.find_in_map(args, line, notes, depth),
            "Fn::Select" => self.select(args, line, notes, depth),
            other => unknown_at(line, format!("{other} is evaluated only at deployment")),
        }
    }

    /// `Fn::If [condition, yes, no]`: the branch the condition picks, or both when they agree.
    fn fn_if(&self, args: &[Node], line: usize, notes: &mut Vec<String>, depth: usize) -> Val {
        let [condition, yes, no] = args else {
            return unknown_at(
                line,
                "Fn::If needs [condition, value if true, value if false]",
            );
        };
        let name = condition.as_str().unwrap_or("?");
        match self.condition(name, line, notes, depth + 1) {
            Ok(true) => self.resolve_at(yes, notes, depth + 1),
            Ok(false) => self.resolve_at(no, notes, depth + 1),
            Err(why) => {
                let (yes, no) = (
                    self.resolve_at(yes, notes, depth + 1),
                    self.resolve_at(no, notes, depth + 1),
                );
                if yes == no && yes.is_known() {
                    yes
                } else {
                    unknown_at(
                        line,
                        format!(
                            "depends on condition {name}, which is evaluated at deployment ({})",
                            why.what
                        ),
                    )
                }
            }
        }
    }

    /// `Fn::Join [delimiter, list]` over strings.
    fn join(&self, args: &[Node], line: usize, notes: &mut Vec<String>, depth: usize) -> Val {
        let [delimiter, list] = args else {
            return unknown_at(line, "Fn::Join needs [delimiter, list]");
        };
        let delimiter = self.resolve_at(delimiter, notes, depth + 1);
        let list = self.resolve_at(list, notes, depth + 1);
        match (delimiter, list) {
            (Val::Str(d), Val::Seq(items)) => {
                let mut parts = Vec::new();
                for item in items {
                    match item {
                        Val::Str(s) => parts.push(s),
                        Val::Unknown(u) => return Val::Unknown(u),
                        _ => return unknown_at(line, "Fn::Join over a value that is not a string"),
                    }
                }
                Val::Str(parts.join(&d))
            }
            (Val::Unknown(u), _) | (_, Val::Unknown(u)) => Val::Unknown(u),
            _ => unknown_at(line, "Fn::Join over a value that is not a list"),
        }
    }

    /// `Fn::FindInMap [map, top-level key, second-level key]` in the template's Mappings.
    fn find_in_map(
        &self,
        args: &[Node],
        line: usize,
        notes: &mut Vec<String>,
        depth: usize,
    ) -> Val {
        let [map, top, second] = args else {
            return unknown_at(
                line,
                "Fn::FindInMap needs [map, top-level key, second-level key]",
            );
        };
        let mut keys = Vec::new();
        for k in [map, top, second] {
            match self.resolve_at(k, notes, depth + 1) {
                Val::Str(s) => keys.push(s),
                Val::Unknown(u) => return Val::Unknown(u),
                _ => return unknown_at(line, "Fn::FindInMap with a key that is not a string"),
            }
        }
        match self
            .mappings
            .and_then(|m| m.get(&keys[0]))
            .and_then(|m| m.get(&keys[1]))
            .and_then(|m| m.get(&keys[2]))
        {
            Some(found) => self.resolve_at(found, notes, depth + 1),
            None => unknown_at(
                line,
                format!(
                    "Fn::FindInMap {}.{}.{} is not in the template's Mappings",
                    keys[0], keys[1], keys[2]
                ),
            ),
        }
    }

    /// `Fn::Select [index, list]`.
    fn select(&self, args: &[Node], line: usize, notes: &mut Vec<String>, depth: usize) -> Val {
        let [index, list] = args else {
            return unknown_at(line, "Fn::Select needs [index, list]");
        };
        match (
            self.resolve_at(index, notes, depth + 1),
            self.resolve_at(list, notes, depth + 1),
        ) {
            (Val::Str(i), Val::Seq(items)) => i
                .parse::<usize>()
                .ok()
                .and_then(|i| items.into_iter().nth(i))
                .unwrap_or_else(|| {
                    unknown_at(line, format!("Fn::Select index {i} is out of range"))
                }),
            (Val::Unknown(u), _) | (_, Val::Unknown(u)) => Val::Unknown(u),
            _ => unknown_at(line, "Fn::Select over a value that is not a list"),
        }
    }

    /// A named condition, when every value it compares is known (parameters at their defaults).
    fn condition(
        &self,
        name: &str,
        line: usize,
        notes: &mut Vec<String>,
        depth: usize,
    ) -> Fact<bool> {
        match self.conditions.and_then(|c| c.get(name)) {
            Some(node) => self.condition_expr(node, line, notes, depth + 1),
            None => Err(Unknowable::new(line, format!("no condition named {name}"))),
        }
    }

    fn condition_expr(
        &self,
        node: &Node,
        line: usize,
        notes: &mut Vec<String>,
        depth: usize,
    ) -> Fact<bool> {
        if depth > MAX_DEPTH {
            return Err(Unknowable::new(line, "condition nested too deeply to read"));
        }
        let [only] = node.entries() else {
            return Err(Unknowable::new(
                line,
                "a condition that is not a condition function",
            ));
        };
        let args: &[Node] = match &only.value.kind {
            Kind::Seq(items) => items,
            _ => std::slice::from_ref(&only.value),
        };
        match only.key.as_str() {
            "Condition" => {
                self.condition(only.value.as_str().unwrap_or("?"), line, notes, depth + 1)
            }
            "Fn::Equals" => {
                let [a, b] = args else {
                    return Err(Unknowable::new(line, "Fn::Equals needs two values"));
                };
                let (a, b) = (
                    self.resolve_at(a, notes, depth + 1),
                    self.resolve_at(b, notes, depth + 1),
                );
                match a.first_unknown().or(b.first_unknown()) {
                    Some(u) => Err(u.clone()),
                    None => Ok(a == b),
                }
            }
            "Fn::Not" => match args {
                [c] => self.condition_expr(c, line, notes, depth + 1).map(|b| !b),
                _ => Err(Unknowable::new(line, "Fn::Not needs one condition")),
            },
            op @ ("Fn::And" | "Fn::Or") => {
                let mut values = Vec::new();
                for c in args {
                    values.push(self.condition_expr(c, line, notes, depth + 1)?);
                }
                Ok(if op == "Fn::And" {
                    values.iter().all(|v| *v)
                } else {
                    values.iter().any(|v| *v)
                })
            }
            other => Err(Unknowable::new(
                line,
                format!("{other} is not a condition function"),
            )),
        }
    }

    fn reference(&self, target: &str, line: usize, notes: &mut Vec<String>, depth: usize) -> Val {
        if target == "AWS::NoValue" {
            return Val::Absent;
        }
        let note = |notes: &mut Vec<String>, note: String| {
            if !notes.contains(&note) {
                notes.push(note);
            }
        };
        match self.parameters.get(target) {
            Some(declared) => {
                let kind = declared
                    .get("Type")
                    .and_then(Node::as_str)
                    .unwrap_or("String");
                if kind.starts_with(SSM_PARAMETER) {
                    return typed(Val::Absent, kind, target, line);
                }
                let value = match self.supplied.get(target) {
                    Some(s) => match &s.given {
                        Given::Value(v) => {
                            note(notes, format!("parameter {target} = {v:?} from {}", s.source));
                            Val::Str(v.clone())
                        }
                        Given::Previous => {
                            return Val::Unknown(Unknowable::new(
                                line,
                                format!("parameter {target} keeps the stack's previous value (UsePreviousValue in {}): known only at deployment", s.source),
                            ))
                        }
                    },
                    None => match declared.get("Default") {
                        Some(default) => {
                            let value = self.resolve_at(default, notes, depth + 1);
                            if let Val::Str(s) = &value {
                                note(notes, format!("parameter {target} taken at its default {s:?}"));
                            }
                            value
                        }
                        None => {
                            return Val::Unknown(Unknowable::new(
                                line,
                                format!("parameter {target} has no default: its value is known only at deployment"),
                            ))
                        }
                    },
                };
                typed(value, kind, target, line)
            }
            None if target.starts_with("AWS::") => Val::Unknown(Unknowable::new(
                line,
                format!("pseudo parameter {target} is known only at deployment"),
            )),
            None if self.resources.and_then(|r| r.get(target)).is_some() => Val::Unknown(
                Unknowable::new(line, format!("Ref {target} is known only after deployment")),
            ),
            None => Val::Unknown(Unknowable::new(
                line,
                format!("Ref {target}: no parameter or resource of that name"),
            )),
        }
    }

    /// `Fn::Sub`: `${Name}` from the variable map, a parameter or a pseudo parameter; `${!x}` is
    /// the literal `${x}`.
    fn sub(&self, args: &[Node], line: usize, notes: &mut Vec<String>, depth: usize) -> Val {
        let (template, vars) = match args {
            [t] => (t, None),
            [t, vars] => (t, Some(vars)),
            _ => {
                return Val::Unknown(Unknowable::new(
                    line,
                    "Fn::Sub needs a string or [string, variables]",
                ))
            }
        };
        let Some(mut rest) = template.as_str() else {
            return Val::Unknown(Unknowable::new(
                line,
                "Fn::Sub of a value that is not a string",
            ));
        };
        let mut out = String::new();
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            let Some(end) = after.find('}') else {
                out.push_str(&rest[start..]);
                rest = "";
                break;
            };
            let name = &after[..end];
            if let Some(literal) = name.strip_prefix('!') {
                out.push_str("${");
                out.push_str(literal);
                out.push('}');
            } else {
                let value = match vars.and_then(|v| v.get(name)) {
                    Some(node) => self.resolve_at(node, notes, depth + 1),
                    None if name.contains('.') => Val::Unknown(Unknowable::new(
                        line,
                        format!("${{{name}}} is an attribute known only after deployment"),
                    )),
                    None => self.reference(name, line, notes, depth),
                };
                match value {
                    Val::Str(s) => out.push_str(&s),
                    Val::Unknown(u) => return Val::Unknown(u),
                    _ => {
                        return Val::Unknown(Unknowable::new(
                            line,
                            format!("${{{name}}} is not a string"),
                        ))
                    }
                }
            }
            rest = &after[end + 1..];
        }
        out.push_str(rest);
        Val::Str(out)
    }
}

/// A parameter's value as its type makes it: a list for `CommaDelimitedList` and `List<...>`
/// (split at commas, each item trimmed of spaces); unknown for Systems Manager parameter types,
/// whose value is the name of a parameter resolved at deployment (CloudFormation User Guide,
/// "CloudFormation template Parameters syntax", and "Use CloudFormation-supplied parameter types").
const SSM_PARAMETER: &str = "AWS::SSM::Parameter::Value<";

/// A value not known before deployment, at `line`.
fn unknown_at(line: usize, what: impl Into<String>) -> Val {
    Val::Unknown(Unknowable::new(line, what))
}

fn typed(value: Val, kind: &str, name: &str, line: usize) -> Val {
    if kind.starts_with(SSM_PARAMETER) {
        return Val::Unknown(Unknowable::new(
            line,
            format!("parameter {name} ({kind}) is read from Systems Manager Parameter Store at deployment"),
        ));
    }
    match value {
        Val::Str(s) if kind == "CommaDelimitedList" || kind.starts_with("List<") => Val::Seq(
            s.split(',')
                .map(|item| Val::Str(item.trim().to_owned()))
                .collect(),
        ),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::yaml::parse;

    fn keys(text: &str) -> Vec<KeyResource> {
        read(Path::new("t.yaml"), &parse(text).unwrap()).unwrap()
    }

    fn props(k: &KeyResource) -> &KeyProps {
        match &k.kind {
            KeyKind::Key(p) => p,
            KeyKind::Replica(_) => panic!("not a key"),
        }
    }

    #[test]
    fn defaults_and_literals() {
        let k = keys("Resources:\n  K:\n    Type: AWS::KMS::Key\n    Properties:\n      EnableKeyRotation: true\n      RotationPeriodInDays: 180\n");
        assert_eq!(k[0].line, 2);
        let p = props(&k[0]);
        assert_eq!(p.key_spec, Ok("SYMMETRIC_DEFAULT".into()));
        assert_eq!(p.origin, Ok("AWS_KMS".into()));
        assert_eq!(p.rotation_enabled, Ok(true));
        assert_eq!(p.rotation_period_days, Ok(Some(180)));
        assert_eq!(p.enabled, Ok(true));
    }

    #[test]
    fn parameters_with_and_without_defaults() {
        let k = keys("Parameters:\n  Rotate:\n    Type: String\n    Default: 'true'\n  Period:\n    Type: Number\nResources:\n  K:\n    Type: AWS::KMS::Key\n    Properties:\n      EnableKeyRotation: !Ref Rotate\n      RotationPeriodInDays: !Ref Period\n");
        let p = props(&k[0]);
        assert_eq!(p.rotation_enabled, Ok(true));
        assert_eq!(
            k[0].notes,
            vec!["parameter Rotate taken at its default \"true\""]
        );
        let u = p.rotation_period_days.clone().unwrap_err();
        assert_eq!(u.line, 12);
        assert!(u.what.contains("parameter Period has no default"), "{u:?}");
    }

    #[test]
    fn if_is_known_only_when_both_branches_agree() {
        let k = keys("Parameters:\n  Env:\n    Type: String\nConditions:\n  Prod: !Equals [!Ref Env, prod]\nResources:\n  K:\n    Type: AWS::KMS::Key\n    Properties:\n      EnableKeyRotation: !If [Prod, true, false]\n      KeySpec: !If [Prod, SYMMETRIC_DEFAULT, SYMMETRIC_DEFAULT]\n");
        let p = props(&k[0]);
        let u = p.rotation_enabled.clone().unwrap_err();
        assert!(u.what.contains("condition Prod"), "{u:?}");
        assert!(u.what.contains("parameter Env has no default"), "{u:?}");
        assert_eq!(u.line, 10);
        assert_eq!(p.key_spec, Ok("SYMMETRIC_DEFAULT".into()));
    }

    #[test]
    fn conditions_on_known_values_are_evaluated() {
        let k = keys("Parameters:\n  Env:\n    Type: String\n    Default: dev\nConditions:\n  Prod: !Equals [!Ref Env, prod]\n  NotProd: !Not [!Condition Prod]\n  Both: !And [!Condition NotProd, !Equals [a, a]]\nResources:\n  K:\n    Type: AWS::KMS::Key\n    Properties:\n      EnableKeyRotation: !If [Prod, false, true]\n      RotationPeriodInDays: !If [Both, 90, 365]\n");
        let p = props(&k[0]);
        assert_eq!(p.rotation_enabled, Ok(true));
        assert_eq!(p.rotation_period_days, Ok(Some(90)));
    }

    #[test]
    fn sub_join_findinmap_and_novalue() {
        let k = keys("Parameters:\n  Owner:\n    Type: String\n    Default: alice\nMappings:\n  Env:\n    prod:\n      Rotate: 'true'\nResources:\n  K:\n    Type: AWS::KMS::Key\n    Properties:\n      EnableKeyRotation: !FindInMap [Env, prod, Rotate]\n      RotationPeriodInDays: !Ref AWS::NoValue\n      Tags:\n        - Key: kms-rotation-exception\n          Value: !Sub 'owner=${Owner} expires=${Year}-01-01'\n        - Key: j\n          Value: !Join ['-', [a, b]]\n");
        let p = props(&k[0]);
        assert_eq!(p.rotation_enabled, Ok(true));
        assert_eq!(p.rotation_period_days, Ok(None));
        let tags = p.tags.clone().unwrap();
        assert!(tags[0].1.clone().unwrap_err().what.contains("Year"));
        assert_eq!(tags[1].1, Ok("a-b".into()));
    }

    #[test]
    fn replica_follows_a_primary_of_the_template_only() {
        let k = keys("Parameters:\n  Arn:\n    Type: String\nResources:\n  P:\n    Type: AWS::KMS::Key\n  R:\n    Type: AWS::KMS::ReplicaKey\n    Properties:\n      PrimaryKeyArn: !GetAtt P.Arn\n  S:\n    Type: AWS::KMS::ReplicaKey\n    Properties:\n      PrimaryKeyArn: !Ref Arn\n");
        let KeyKind::Replica(r) = &k[1].kind else {
            panic!()
        };
        assert_eq!(r.primary, Ok("P".into()));
        let KeyKind::Replica(s) = &k[2].kind else {
            panic!()
        };
        assert_eq!(s.primary.clone().unwrap_err().line, 14);
    }

    fn with_values(text: &str, pairs: &[&str]) -> Result<Vec<KeyResource>, IacError> {
        let mut values = ParameterValues::default();
        for p in pairs {
            values.add_pair(p, "prod.json").unwrap();
        }
        read_with(Path::new("t.yaml"), &parse(text).unwrap(), &values)
    }

    const ROTATE: &str = "Parameters:\n  Rotate:\n    Type: String\n    Default: 'true'\nResources:\n  K:\n    Type: AWS::KMS::Key\n    Properties:\n      EnableKeyRotation: !Ref Rotate\n";

    #[test]
    fn supplied_values_replace_defaults_and_say_where_they_come_from() {
        let k = with_values(ROTATE, &["Rotate=false"]).unwrap();
        assert_eq!(props(&k[0]).rotation_enabled, Ok(false));
        assert_eq!(
            k[0].notes,
            vec!["parameter Rotate = \"false\" from prod.json"]
        );
    }

    #[test]
    fn use_previous_value_is_unknown_and_undeclared_parameters_are_refused() {
        let mut values = ParameterValues::default();
        let dir = std::env::temp_dir().join(format!("cfn-prev-{}.json", std::process::id()));
        std::fs::write(
            &dir,
            r#"[{"ParameterKey": "Rotate", "UsePreviousValue": true}]"#,
        )
        .unwrap();
        values.read_file(&dir).unwrap();
        std::fs::remove_file(&dir).unwrap();
        let k = read_with(Path::new("t.yaml"), &parse(ROTATE).unwrap(), &values).unwrap();
        let u = props(&k[0]).rotation_enabled.clone().unwrap_err();
        assert!(u.what.contains("UsePreviousValue"), "{u:?}");
        let err = with_values(ROTATE, &["Rotation=false"]).unwrap_err();
        assert!(matches!(err, IacError::Parameter(_)));
        assert!(
            err.to_string()
                .contains("Rotation (from prod.json) not declared"),
            "{err}"
        );
    }

    #[test]
    fn list_and_ssm_parameter_types() {
        let t = "Transform: AWS::LanguageExtensions\nParameters:\n  Names:\n    Type: CommaDelimitedList\n    Default: 'a, b'\n  Flag:\n    Type: AWS::SSM::Parameter::Value<String>\n    Default: /kms/rotate\nResources:\n  'Fn::ForEach::Keys':\n    - N\n    - !Ref Names\n    - 'Key${N}':\n        Type: AWS::KMS::Key\n        Properties:\n          EnableKeyRotation: !Ref Flag\n";
        let k = with_values(t, &[]).unwrap();
        assert_eq!(
            k.iter().map(|k| k.name.as_str()).collect::<Vec<_>>(),
            ["Keya", "Keyb"]
        );
        let u = props(&k[0]).rotation_enabled.clone().unwrap_err();
        assert!(u.what.contains("Systems Manager"), "{u:?}");
        assert!(
            k[1].notes[0].starts_with("created by Fn::ForEach::Keys with N = \"b\""),
            "{:?}",
            k[1].notes
        );
        // The values given replace the default list.
        let k = with_values(t, &["Names=x,y,z"]).unwrap();
        assert_eq!(k.len(), 3);
    }

    #[test]
    fn a_loop_over_an_unknown_collection_is_one_unknown_row() {
        let t = "Transform: [AWS::LanguageExtensions, AWS::Serverless-2016-10-31]\nParameters:\n  Names:\n    Type: CommaDelimitedList\nResources:\n  'Fn::ForEach::Keys':\n    - N\n    - !Ref Names\n    - 'Key${N}':\n        Type: AWS::KMS::Key\n        Properties:\n          EnableKeyRotation: true\n";
        let k = with_values(t, &[]).unwrap();
        assert_eq!(k.len(), 1);
        assert_eq!((k[0].name.as_str(), k[0].line), ("Fn::ForEach::Keys", 6));
        let u = props(&k[0]).rotation_enabled.clone().unwrap_err();
        assert!(
            u.what.contains("Fn::ForEach::Keys creates Key${N}"),
            "{u:?}"
        );
        assert!(u.what.contains("parameter Names has no default"), "{u:?}");
        // Without the transform, CloudFormation refuses the template.
        let err = with_values(
            &t.replacen(
                "Transform: [AWS::LanguageExtensions, AWS::Serverless-2016-10-31]\n",
                "",
                1,
            ),
            &[],
        )
        .unwrap_err();
        assert!(err.to_string().contains("AWS::LanguageExtensions"), "{err}");
    }
}
