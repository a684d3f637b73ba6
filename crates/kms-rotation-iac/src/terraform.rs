//! Terraform source: `aws_kms_key`, `aws_kms_external_key`, `aws_kms_replica_key` and
//! `aws_kms_replica_external_key` of one module (the `.tf` files of one directory).
//!
//! Resources with `count` are one key per index (`aws_kms_key.this[0]`), with `for_each` one per
//! key (`aws_kms_key.this["k"]`), as in the plan; `module` blocks are read here (their source,
//! and each instance's arguments evaluated in the caller) and followed by [`super::tf_modules`].
//!
//! Resolved: literals, `var.x` with a default (noted in the message) or passed by the module call,
//! `local.x`, `count.index`, `each.key` and
//! `each.value` of a `for_each` over a known map or set, conditionals whose condition is known or
//! whose branches agree, string templates of known parts, `merge`, `toset`, `tomap`, `tobool`,
//! `tonumber`, `tostring`. Unknown: a variable without a default (its value comes from the plan's
//! inputs, which source does not show), attributes of other resources, other functions.
//! A root module's variables take the values of its var files ([`super::tf_vars`]) first.
//! Provider `default_tags` are not read: check the plan JSON for those.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use hcl_edit::expr::{
    BinaryOp, BinaryOperator, Conditional, Expression, FuncCall, Object, ObjectKey, Traversal,
    TraversalOperator, UnaryOperator,
};
use hcl_edit::structure::{Block, Body, Structure};
use hcl_edit::template::{Element, Template};
use hcl_edit::Span;

use super::value::{tag_map, Val};
use super::{Fact, IacError, KeyKind, KeyProps, KeyResource, ReplicaProps, Tags, Unknowable};

const KEY_TYPES: &[&str] = &[
    "aws_kms_key",
    "aws_kms_external_key",
    "aws_kms_replica_key",
    "aws_kms_replica_external_key",
];

/// One parsed `.tf` file.
pub(crate) struct SourceFile {
    pub path: PathBuf,
    body: Body,
    lines: LineIndex,
}

/// Parse one `.tf` file.
pub(crate) fn parse_file(path: &Path) -> Result<SourceFile, IacError> {
    let text = super::read_text(path)?;
    if super::tf_json::is_tf_json(path) {
        let (native, lines) = super::tf_json::to_native(&text)?;
        let mut file = parse_text(path, &native)?;
        file.lines.source = Some(lines);
        return Ok(file);
    }
    parse_text(path, &text)
}

/// Whether `path` is Terraform source of a module: `*.tf` (native syntax) or `*.tf.json`
/// (JSON syntax; Terraform "JSON Configuration Syntax").
pub(crate) fn is_source(path: &Path) -> bool {
    path.extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("tf"))
        || super::tf_json::is_tf_json(path)
}

pub(crate) fn parse_text(path: &Path, text: &str) -> Result<SourceFile, IacError> {
    let body = hcl_edit::parser::parse_body(text).map_err(|e| IacError::Hcl(e.to_string()))?;
    Ok(SourceFile {
        path: path.to_owned(),
        body,
        lines: LineIndex::new(text),
    })
}

/// The keys declared in `report` (files of one module), with every file of the module (`all`)
/// giving the variables and locals; the module is a root (its variables at their defaults).
#[cfg(test)]
pub(crate) fn read_module(all: &[SourceFile], report: &[PathBuf]) -> Vec<KeyResource> {
    read_scope(all, report, &Scope::default()).0
}

/// Where a module's files are read: at the root (`prefix` empty, no inputs) or as the instance
/// of a module call (`prefix` `module.kms[0].`, the call's arguments as `inputs`).
#[derive(Default)]
pub(crate) struct Scope<'s> {
    pub prefix: String,
    pub inputs: Option<&'s Inputs>,
}

/// The arguments of one module call instance, evaluated in the caller: the called module's
/// variables take them instead of their defaults.
pub(crate) struct Inputs {
    values: HashMap<String, Val>,
    /// The call's address (`module.kms[0]`) and place (`main.tf:3`), for the messages.
    call: String,
    at: String,
    /// For a root module's values (var files, `--var`): where each was set, for the message.
    origins: Option<HashMap<String, String>>,
}

impl Inputs {
    /// The values of a root module's variables, each with where it was set (the last setting
    /// of each name wins, as in Terraform).
    pub(crate) fn root(values: Vec<(String, Val, String)>) -> Self {
        let mut out = HashMap::new();
        let mut origins = HashMap::new();
        for (name, value, origin) in values {
            out.insert(name.clone(), value);
            origins.insert(name, origin);
        }
        Self {
            values: out,
            call: String::new(),
            at: String::new(),
            origins: Some(origins),
        }
    }

    /// A value and where it was set.
    #[cfg(test)]
    pub(crate) fn value_of(&self, name: &str) -> Option<(Val, String)> {
        let origin = self.origins.as_ref()?.get(name)?.clone();
        Some((self.values.get(name)?.clone(), origin))
    }
}

/// The names of the variables the module's files declare.
pub(crate) fn declared_variables(files: &[SourceFile]) -> Vec<String> {
    files
        .iter()
        .flat_map(|f| blocks(&f.body, "variable"))
        .filter_map(|b| match b.labels.as_slice() {
            [name] => Some(name.as_str().to_owned()),
            _ => None,
        })
        .collect()
}

/// The assignments of a variable definitions file in native syntax (`terraform.tfvars`,
/// `*.auto.tfvars`, `-var-file`): `name = value` only, each value a literal (Terraform evaluates
/// them without variables or functions), with its line.
pub(crate) fn parse_vars(text: &str) -> Result<Vec<(String, Val, usize)>, IacError> {
    let file = parse_text(Path::new(""), text)?;
    let module = Module::new(&[], None);
    let mut out = Vec::new();
    for s in file.body.iter() {
        let line = file.lines.line_of(s.span());
        let Structure::Attribute(a) = s else {
            return Err(IacError::Hcl(format!(
                "line {line}: a block, where a variable definitions file has only name = value"
            )));
        };
        let mut notes = Vec::new();
        let v = Eval::new(&module, Each::None, line, &mut notes).expr(&a.value);
        if let Some(u) = v.first_unknown() {
            return Err(IacError::Hcl(format!(
                "line {line}: {} is not a literal value ({}); Terraform evaluates variable definitions without variables",
                a.key.as_str(),
                u.what
            )));
        }
        out.push((a.key.as_str().to_owned(), v, line));
    }
    Ok(out)
}

/// A `module` block of the files read: its `source` (a literal string, as Terraform requires),
/// and one instance per `count`/`for_each` instance, each with its arguments.
pub(crate) struct ModuleCall {
    pub name: String,
    /// The call's address without instance key (`module.a[0].module.kms`).
    pub address: String,
    pub source: Fact<String>,
    pub version: Option<String>,
    pub file: PathBuf,
    pub line: usize,
    pub instances: Vec<CallInstance>,
}

/// One instance of a module call: its address and the arguments it passes.
pub(crate) struct CallInstance {
    pub address: String,
    pub inputs: Inputs,
    /// What was assumed to evaluate the arguments (a caller's variable at its default).
    pub notes: Vec<String>,
}

/// The `module` arguments that are meta-arguments, not the called module's variables.
const CALL_META: &[&str] = &[
    "source",
    "version",
    "count",
    "for_each",
    "providers",
    "depends_on",
];

/// The keys declared in `report` (files of one module) and its module calls, with every file of
/// the module (`all`) giving the variables and locals.
pub(crate) fn read_scope(
    all: &[SourceFile],
    report: &[PathBuf],
    scope: &Scope<'_>,
) -> (Vec<KeyResource>, Vec<ModuleCall>) {
    let module = Module::new(all, scope.inputs);
    let mut keys = Vec::new();
    let mut calls = Vec::new();
    for file in all.iter().filter(|f| report.contains(&f.path)) {
        for block in blocks(&file.body, "resource") {
            let [rtype, name] = block.labels.as_slice() else {
                continue;
            };
            let (rtype, name) = (rtype.as_str(), name.as_str());
            if KEY_TYPES.contains(&rtype) {
                keys.extend(resource(&module, file, block, rtype, name, &scope.prefix));
            }
        }
        for block in blocks(&file.body, "module") {
            if let [name] = block.labels.as_slice() {
                calls.push(module_call(
                    &module,
                    file,
                    block,
                    name.as_str(),
                    &scope.prefix,
                ));
            }
        }
    }
    (keys, calls)
}

fn module_call(
    module: &Module<'_>,
    file: &SourceFile,
    block: &Block,
    name: &str,
    prefix: &str,
) -> ModuleCall {
    let line = file.lines.line_of(block.span());
    let address = format!("{prefix}module.{name}");
    let literal = |key: &str| match block.body.get_attribute(key).map(|a| &a.value) {
        Some(Expression::String(s)) => Some(Ok(s.value().clone())),
        Some(_) => Some(Err(Unknowable::new(
            line,
            format!("the {key} of {address} is not a literal string, as Terraform requires"),
        ))),
        None => None,
    };
    let source = literal("source")
        .unwrap_or_else(|| Err(Unknowable::new(line, format!("{address} has no source"))));
    let version = literal("version").and_then(Result::ok);
    let mut notes = Vec::new();
    let mut instances = Vec::new();
    for (instance, each) in instances_of(module, file, block, &address, &mut notes) {
        let mut notes = notes.clone();
        let mut values = HashMap::new();
        for s in block.body.iter() {
            let Structure::Attribute(a) = s else {
                continue;
            };
            if CALL_META.contains(&a.key.as_str()) {
                continue;
            }
            let at = file.lines.line_of(a.span());
            let v = Eval::new(module, each.clone(), at, &mut notes).expr(&a.value);
            values.insert(a.key.as_str().to_owned(), v);
        }
        instances.push(CallInstance {
            inputs: Inputs {
                values,
                call: instance.clone(),
                at: format!("{}:{line}", file.path.display()),
                origins: None,
            },
            address: instance,
            notes,
        });
    }
    ModuleCall {
        name: name.to_owned(),
        address,
        source,
        version,
        file: file.path.clone(),
        line,
        instances,
    }
}

fn blocks<'a>(body: &'a Body, ident: &'a str) -> impl Iterator<Item = &'a Block> {
    body.iter().filter_map(move |s| match s {
        Structure::Block(b) if b.ident.as_str() == ident => Some(b),
        _ => None,
    })
}

struct Module<'a> {
    variables: HashMap<&'a str, Option<&'a Expression>>,
    locals: HashMap<&'a str, &'a Expression>,
    /// The arguments of the call that instantiates this module, if it is not the root.
    inputs: Option<&'a Inputs>,
}

impl<'a> Module<'a> {
    fn new(files: &'a [SourceFile], inputs: Option<&'a Inputs>) -> Self {
        let mut variables = HashMap::new();
        let mut locals = HashMap::new();
        for file in files {
            for v in blocks(&file.body, "variable") {
                if let [name] = v.labels.as_slice() {
                    let default = v.body.get_attribute("default").map(|a| &a.value);
                    variables.insert(name.as_str(), default);
                }
            }
            for l in blocks(&file.body, "locals") {
                for s in l.body.iter() {
                    if let Structure::Attribute(a) = s {
                        locals.insert(a.key.as_str(), &a.value);
                    }
                }
            }
        }
        Self {
            variables,
            locals,
            inputs,
        }
    }
}

/// `each.key` and `each.value` (or `count.index`) of one instance.
#[derive(Clone)]
enum Each {
    None,
    Known { key: String, value: Val },
    Unknown(Unknowable),
    Index(i64),
}

/// A known `count` above this is not expanded: its instances are checked as one, alike.
const MAX_COUNT_INSTANCES: i64 = 256;

/// The instances of a resource or module call at `address`: one per `count` index
/// (`address[0]`), one per `for_each` key (`address["k"]`), or the block itself. `count = 0`
/// gives none. A `count` or `for_each` not known before deployment gives one instance, noted.
fn instances_of(
    module: &Module<'_>,
    file: &SourceFile,
    block: &Block,
    address: &str,
    notes: &mut Vec<String>,
) -> Vec<(String, Each)> {
    let mut instances: Vec<(String, Each)> = Vec::new();
    if let Some(count) = block.body.get_attribute("count") {
        let at = file.lines.line_of(count.span());
        let mut eval = Eval::new(module, Each::None, at, notes);
        match eval.expr(&count.value).integer(at, "count") {
            Ok(Some(n)) if n <= 0 => return Vec::new(),
            Ok(Some(n)) if n <= MAX_COUNT_INSTANCES => {
                return (0..n)
                    .map(|i| (format!("{address}[{i}]"), Each::Index(i)))
                    .collect()
            }
            Ok(Some(n)) => eval.note(format!("{address}: count = {n}, every instance alike")),
            _ => eval.note(format!("{address}: count is known only at plan time")),
        }
        instances.push((address.to_owned(), Each::None));
    } else if let Some(for_each) = block.body.get_attribute("for_each") {
        let at = file.lines.line_of(for_each.span());
        match Eval::new(module, Each::None, at, notes).expr(&for_each.value) {
            Val::Map(entries) => {
                for (k, v) in entries {
                    instances.push((
                        format!("{address}[{k:?}]"),
                        Each::Known { key: k, value: v },
                    ))
                }
            }
            Val::Seq(items) => {
                for item in items {
                    match item {
                        Val::Str(s) => instances.push((
                            format!("{address}[{s:?}]"),
                            Each::Known {
                                key: s.clone(),
                                value: Val::Str(s),
                            },
                        )),
                        _ => {
                            instances.push((
                                address.to_owned(),
                                Each::Unknown(Unknowable::new(
                                    at,
                                    "for_each is not a set of strings",
                                )),
                            ));
                            break;
                        }
                    }
                }
            }
            Val::Unknown(u) => instances.push((
                address.to_owned(),
                Each::Unknown(Unknowable::new(
                    at,
                    format!(
                        "each.value: the for_each collection is not known before deployment ({})",
                        u.what
                    ),
                )),
            )),
            _ => instances.push((
                address.to_owned(),
                Each::Unknown(Unknowable::new(at, "for_each is not a map or set")),
            )),
        }
    } else {
        instances.push((address.to_owned(), Each::None));
    }
    instances
}

fn resource(
    module: &Module<'_>,
    file: &SourceFile,
    block: &Block,
    rtype: &str,
    name: &str,
    prefix: &str,
) -> Vec<KeyResource> {
    let line = file.lines.line_of(block.span());
    let address = format!("{prefix}{rtype}.{name}");
    let mut notes = Vec::new();
    let instances = instances_of(module, file, block, &address, &mut notes);
    instances
        .into_iter()
        .map(|(instance, each)| {
            let mut attrs = Attributes {
                module,
                file,
                block,
                line,
                each,
                notes: notes.clone(),
            };
            let tags = {
                let (v, at) = attrs.get("tags");
                tag_map(&v, at, "tags")
            };
            let kind = match rtype {
                "aws_kms_key" => KeyKind::Key(attrs.kms_key(tags)),
                "aws_kms_external_key" | "aws_kms_replica_external_key" => {
                    KeyKind::Key(attrs.external_key(tags))
                }
                _ => KeyKind::Replica(attrs.replica(prefix, tags)),
            };
            KeyResource {
                name: instance,
                resource_type: rtype.to_owned(),
                file: file.path.clone(),
                line,
                kind,
                notes: attrs.notes,
                via: Vec::new(),
            }
        })
        .collect()
}

/// The attributes of one instance of a key resource, evaluated with its `each` (or
/// `count.index`); the notes of its evaluation, the resource's first.
struct Attributes<'a> {
    module: &'a Module<'a>,
    file: &'a SourceFile,
    block: &'a Block,
    /// The resource block's line.
    line: usize,
    each: Each,
    notes: Vec<String>,
}

impl Attributes<'_> {
    /// The line of attribute `key`, or the block's when it is not set.
    fn line_of(&self, key: &str) -> usize {
        self.block
            .body
            .get_attribute(key)
            .map_or(self.line, |a| self.file.lines.line_of(a.span()))
    }

    /// The value of attribute `key` (absent when not set), with its line.
    fn get(&mut self, key: &str) -> (Val, usize) {
        let at = self.line_of(key);
        match self.block.body.get_attribute(key) {
            Some(a) => (
                Eval::new(self.module, self.each.clone(), at, &mut self.notes).expr(&a.value),
                at,
            ),
            None => (Val::Absent, at),
        }
    }

    fn boolean(&mut self, key: &str, default: bool) -> Fact<bool> {
        let (v, at) = self.get(key);
        v.boolean(at, key).map(|b| b.unwrap_or(default))
    }

    fn string(&mut self, key: &str, default: &str) -> Fact<String> {
        let (v, at) = self.get(key);
        v.string(at, key)
            .map(|s| s.unwrap_or_else(|| default.to_owned()))
    }

    /// `aws_kms_key`: key material from KMS, or from an external key store with `xks_key_id`.
    fn kms_key(&mut self, tags: Fact<Tags>) -> KeyProps {
        let xks = self.get("xks_key_id").0.string(self.line, "xks_key_id");
        let store_line = self.line_of("custom_key_store_id");
        let store = self
            .get("custom_key_store_id")
            .0
            .string(store_line, "custom_key_store_id");
        let origin = match &xks {
            Ok(Some(_)) => Ok("EXTERNAL_KEY_STORE".to_owned()),
            Ok(None) => Ok("AWS_KMS".to_owned()),
            Err(u) => Err(u.clone()),
        };
        let (period, at) = self.get("rotation_period_in_days");
        KeyProps {
            key_spec: self.string("customer_master_key_spec", "SYMMETRIC_DEFAULT"),
            origin,
            custom_key_store_id: store,
            enabled: self.boolean("is_enabled", true),
            rotation_enabled: self.boolean("enable_key_rotation", false),
            rotation_period_days: period.integer(at, "rotation_period_in_days"),
            tags,
        }
    }

    /// `aws_kms_external_key` and `aws_kms_replica_external_key`: imported key material, which
    /// never rotates automatically.
    fn external_key(&mut self, tags: Fact<Tags>) -> KeyProps {
        KeyProps {
            key_spec: self.string("key_spec", "SYMMETRIC_DEFAULT"),
            origin: Ok("EXTERNAL".to_owned()),
            custom_key_store_id: Ok(None),
            enabled: self.boolean("enabled", true),
            rotation_enabled: Ok(false),
            rotation_period_days: Ok(None),
            tags,
        }
    }

    /// `aws_kms_replica_key`: it rotates with its primary.
    fn replica(&mut self, prefix: &str, tags: Fact<Tags>) -> ReplicaProps {
        ReplicaProps {
            primary: primary_of(
                self.block,
                &self.each,
                self.line_of("primary_key_arn"),
                prefix,
            ),
            enabled: self.boolean("enabled", true),
            tags,
        }
    }
}

/// `primary_key_arn = aws_kms_key.NAME.arn` (or `aws_kms_key.NAME[KEY].arn`): the primary's
/// address in this module.
fn primary_of(block: &Block, each: &Each, line: usize, prefix: &str) -> Fact<String> {
    let outside = || {
        Unknowable::new(
            line,
            "primary_key_arn is not an aws_kms_key of this module: the replica rotates with its primary, which is checked where it is declared",
        )
    };
    let Some(Expression::Traversal(t)) = block
        .body
        .get_attribute("primary_key_arn")
        .map(|a| &a.value)
    else {
        return Err(outside());
    };
    let Expression::Variable(root) = &t.expr else {
        return Err(outside());
    };
    if root.as_str() != "aws_kms_key" {
        return Err(outside());
    }
    let ops: Vec<&TraversalOperator> = t.operators.iter().map(|o| o.value()).collect();
    match ops.as_slice() {
        [TraversalOperator::GetAttr(name), TraversalOperator::GetAttr(attr)]
            if attr.as_str() == "arn" =>
        {
            Ok(format!("{prefix}aws_kms_key.{}", name.as_str()))
        }
        [TraversalOperator::GetAttr(name), TraversalOperator::Index(index), TraversalOperator::GetAttr(attr)]
            if attr.as_str() == "arn" =>
        {
            let mut notes = Vec::new();
            let empty = Module {
                variables: HashMap::new(),
                locals: HashMap::new(),
                inputs: None,
            };
            match Eval::new(&empty, each.clone(), line, &mut notes).expr(index) {
                // A number indexes a `count` instance (`[0]`), a string a `for_each` key.
                Val::Str(k)
                    if matches!(index, Expression::Number(_))
                        || (matches!(each, Each::Index(_)) && k.parse::<i64>().is_ok()) =>
                {
                    Ok(format!("{prefix}aws_kms_key.{}[{k}]", name.as_str()))
                }
                Val::Str(k) => Ok(format!("{prefix}aws_kms_key.{}[{k:?}]", name.as_str())),
                Val::Unknown(u) => Err(u),
                _ => Err(outside()),
            }
        }
        _ => Err(outside()),
    }
}

/// Byte offsets to 1-based lines.
struct LineIndex {
    starts: Vec<usize>,
    /// For text translated from another file (`.tf.json`): each line's line in that file.
    source: Option<Vec<usize>>,
}

impl LineIndex {
    fn new(text: &str) -> Self {
        let mut starts = vec![0];
        starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        Self {
            starts,
            source: None,
        }
    }
    fn line_of(&self, span: Option<std::ops::Range<usize>>) -> usize {
        let offset = span.map_or(0, |s| s.start);
        let line = match self.starts.binary_search(&offset) {
            Ok(i) => i + 1,
            Err(i) => i,
        };
        match &self.source {
            Some(map) => map.get(line.saturating_sub(1)).copied().unwrap_or(1),
            None => line,
        }
    }
}

const MAX_DEPTH: usize = 64;

/// Evaluates an expression as far as the source allows; every unknown is at `line`.
struct Eval<'m, 'n> {
    module: &'m Module<'m>,
    each: Each,
    line: usize,
    notes: &'n mut Vec<String>,
    depth: usize,
}

impl<'m, 'n> Eval<'m, 'n> {
    fn new(module: &'m Module<'m>, each: Each, line: usize, notes: &'n mut Vec<String>) -> Self {
        Self {
            module,
            each,
            line,
            notes,
            depth: 0,
        }
    }

    fn note(&mut self, note: String) {
        if !self.notes.contains(&note) {
            self.notes.push(note);
        }
    }

    fn unknown(&self, what: impl Into<String>) -> Val {
        Val::Unknown(Unknowable::new(self.line, what))
    }

    fn expr(&mut self, e: &Expression) -> Val {
        if self.depth > MAX_DEPTH {
            return self.unknown("expression nested too deeply to read");
        }
        self.depth += 1;
        let v = self.expr_inner(e);
        self.depth -= 1;
        v
    }

    fn expr_inner(&mut self, e: &Expression) -> Val {
        match e {
            Expression::Null(_) => Val::Absent,
            Expression::Bool(b) => Val::Str(b.value().to_string()),
            Expression::Number(n) => Val::Str(n.value().to_string()),
            Expression::String(s) => Val::Str(s.value().clone()),
            Expression::Array(a) => Val::Seq(a.iter().map(|i| self.expr(i)).collect()),
            Expression::Object(o) => self.object(o),
            Expression::StringTemplate(t) => self.template(t),
            Expression::HeredocTemplate(h) => self.template(&h.template),
            Expression::Parenthesis(p) => self.expr(p.inner()),
            Expression::Variable(v) => self.unknown(format!("{} is not a value", v.as_str())),
            Expression::Conditional(c) => self.conditional(c),
            Expression::FuncCall(f) => self.func_call(f),
            Expression::Traversal(t) => self.traversal(t),
            Expression::UnaryOp(u) => match (u.operator.value(), self.expr(&u.expr)) {
                (UnaryOperator::Not, v) => match v.boolean(self.line, "operand of !") {
                    Ok(Some(b)) => Val::Str((!b).to_string()),
                    Err(u) => Val::Unknown(u),
                    Ok(None) => self.unknown("! of null"),
                },
                (_, Val::Unknown(u)) => Val::Unknown(u),
                _ => self.unknown("an arithmetic expression"),
            },
            Expression::BinaryOp(b) => self.binary(b),
            Expression::ForExpr(_) => self.unknown(
                "a for expression is not evaluated by check-iac; check the plan JSON instead",
            ),
        }
    }

    /// `{ key = value, (expr) = value }`: a map, unknown when a computed key is.
    fn object(&mut self, o: &Object) -> Val {
        let mut entries = Vec::new();
        for (k, v) in o.iter() {
            let key = match k {
                ObjectKey::Ident(i) => i.as_str().to_owned(),
                ObjectKey::Expression(e) => match self.expr(e) {
                    Val::Str(s) => s,
                    Val::Unknown(u) => return Val::Unknown(u),
                    _ => return self.unknown("an object key that is not a string"),
                },
            };
            let value = self.expr(v.expr());
            entries.push((key, value));
        }
        Val::Map(entries)
    }

    /// `cond ? yes : no`: the branch the condition picks, or both when they agree.
    fn conditional(&mut self, c: &Conditional) -> Val {
        let cond = self.expr(&c.cond_expr).boolean(self.line, "condition");
        match cond {
            Ok(Some(true)) => self.expr(&c.true_expr),
            Ok(Some(false)) => self.expr(&c.false_expr),
            _ => {
                let (yes, no) = (self.expr(&c.true_expr), self.expr(&c.false_expr));
                if yes == no && yes.is_known() {
                    yes
                } else {
                    let why = match cond {
                        Err(u) => u.what,
                        _ => "the condition is not a boolean".into(),
                    };
                    self.unknown(format!(
                        "a conditional whose condition is not known before deployment: {why}"
                    ))
                }
            }
        }
    }

    /// The functions a key's attributes use (`merge`, the conversions); any other is unknown.
    fn func_call(&mut self, f: &FuncCall) -> Val {
        let name = f.name.name.as_str();
        let args: Vec<Val> = f.args.iter().map(|a| self.expr(a)).collect();
        if let Some(u) = args.iter().find_map(Val::first_unknown) {
            return Val::Unknown(u.clone());
        }
        match (name, args.as_slice()) {
            ("merge", _) => {
                let mut out: Vec<(String, Val)> = Vec::new();
                for arg in args {
                    match arg {
                        Val::Map(entries) => {
                            for (k, v) in entries {
                                out.retain(|(ok, _)| ok != &k);
                                out.push((k, v));
                            }
                        }
                        Val::Absent => {}
                        _ => return self.unknown("merge() of a value that is not a map"),
                    }
                }
                Val::Map(out)
            }
            ("toset" | "tolist", [Val::Seq(items)]) => Val::Seq(items.clone()),
            ("tomap", [m @ Val::Map(_)]) => m.clone(),
            ("tobool" | "tostring" | "tonumber", [v @ Val::Str(_)]) => v.clone(),
            _ => self.unknown(format!(
                "{name}() is not evaluated by check-iac; check the plan JSON (terraform show -json) instead"
            )),
        }
    }

    /// `var.x`, `local.x`, `each.key`, `count.index` (or any expression), then its attributes
    /// and indexes.
    fn traversal(&mut self, t: &Traversal) -> Val {
        let mut ops = t.operators.iter().map(|o| o.value());
        let mut value = match &t.expr {
            Expression::Variable(root) => self.traversal_root(root.as_str(), ops.next()),
            other => self.expr(other),
        };
        for op in ops {
            value = match (op, value) {
                (_, Val::Unknown(u)) => return Val::Unknown(u),
                (TraversalOperator::GetAttr(name), v) => v.get(name.as_str()),
                (TraversalOperator::Index(i), v) => {
                    let index = self.expr(i);
                    index_into(v, index, self.line)
                }
                (TraversalOperator::LegacyIndex(i), v) => {
                    index_into(v, Val::Str(i.value().to_string()), self.line)
                }
                _ => return self.unknown("a splat expression"),
            };
        }
        value
    }

    /// The value a traversal starts from: `root` and its first operator (`var.NAME`, ...).
    fn traversal_root(&mut self, root: &str, first: Option<&TraversalOperator>) -> Val {
        match root {
            "var" => match first {
                Some(TraversalOperator::GetAttr(name)) => self.variable(name.as_str()),
                _ => self.unknown("var without a name"),
            },
            "local" => match first {
                Some(TraversalOperator::GetAttr(name)) => self.local(name.as_str()),
                _ => self.unknown("local without a name"),
            },
            "each" => match (first, &self.each) {
                (Some(TraversalOperator::GetAttr(a)), Each::Known { key, value }) => {
                    match a.as_str() {
                        "key" => Val::Str(key.clone()),
                        "value" => value.clone(),
                        other => self.unknown(format!("each.{other}")),
                    }
                }
                (_, Each::Unknown(u)) => Val::Unknown(u.clone()),
                _ => self.unknown("each outside a for_each"),
            },
            "count" => match (first, &self.each) {
                (Some(TraversalOperator::GetAttr(a)), Each::Index(i)) if a.as_str() == "index" => {
                    Val::Str(i.to_string())
                }
                _ => self.unknown("count.index: instances are checked alike"),
            },
            other => self.unknown(format!("{other}.* is an attribute known only after apply")),
        }
    }

    /// `==`, `!=`, `&&` and `||` over known values; arithmetic and ordering are unknown.
    fn binary(&mut self, b: &BinaryOp) -> Val {
        let (l, r) = (self.expr(&b.lhs_expr), self.expr(&b.rhs_expr));
        if let Some(u) = l.first_unknown().or(r.first_unknown()) {
            return Val::Unknown(u.clone());
        }
        match b.operator.value() {
            BinaryOperator::Eq => Val::Str((l == r).to_string()),
            BinaryOperator::NotEq => Val::Str((l != r).to_string()),
            op @ (BinaryOperator::And | BinaryOperator::Or) => {
                match (
                    l.boolean(self.line, "operand"),
                    r.boolean(self.line, "operand"),
                ) {
                    (Ok(Some(a)), Ok(Some(c))) => Val::Str(
                        if *op == BinaryOperator::And {
                            a && c
                        } else {
                            a || c
                        }
                        .to_string(),
                    ),
                    _ => self.unknown("a boolean operator over non-booleans"),
                }
            }
            _ => self.unknown("an arithmetic or ordering expression"),
        }
    }

    fn template(&mut self, t: &Template) -> Val {
        let mut out = String::new();
        for element in t.iter() {
            match element {
                Element::Literal(s) => out.push_str(s.value()),
                Element::Interpolation(i) => match self.expr(&i.expr) {
                    Val::Str(s) => out.push_str(&s),
                    Val::Unknown(u) => return Val::Unknown(u),
                    _ => return self.unknown("an interpolation of a value that is not a string"),
                },
                Element::Directive(_) => {
                    return self.unknown("a template directive is not evaluated by check-iac")
                }
            }
        }
        Val::Str(out)
    }

    fn variable(&mut self, name: &str) -> Val {
        if let Some(inputs) = self.module.inputs {
            if let (Some(v), Some(origins)) = (inputs.values.get(name), &inputs.origins) {
                let origin = origins.get(name).map_or("", String::as_str);
                match v {
                    Val::Str(s) => self.note(format!("variable {name} = {s:?} from {origin}")),
                    _ => self.note(format!("variable {name} from {origin}")),
                }
                return v.clone();
            }
            if let Some(v) = inputs.values.get(name) {
                // An unknown argument is unknown here, at this line, naming the call.
                return relocate(
                    v,
                    self.line,
                    &format!(
                        "variable {name} is passed by {} ({})",
                        inputs.call, inputs.at
                    ),
                );
            }
        }
        match self.module.variables.get(name) {
            Some(Some(default)) => {
                let saved = std::mem::replace(&mut self.each, Each::None);
                let v = self.expr(default);
                self.each = saved;
                if let Val::Str(s) = &v {
                    self.note(format!("variable {name} taken at its default {s:?}"));
                } else if v.is_known() {
                    self.note(format!("variable {name} taken at its default"));
                }
                v
            }
            Some(None) => match self.module.inputs {
                Some(inputs) if inputs.origins.is_none() => self.unknown(format!(
                    "variable {name} has no default and {} ({}) does not pass it",
                    inputs.call, inputs.at
                )),
                _ => self.unknown(format!(
                    "variable {name} has no default and no var file sets it: its value is set at plan time (give it with --var-file or --var)"
                )),
            },
            None => self.unknown(format!("variable {name} is not declared in this module")),
        }
    }

    fn local(&mut self, name: &str) -> Val {
        match self.module.locals.get(name) {
            Some(expr) => self.expr(expr),
            None => self.unknown(format!("local {name} is not declared in this module")),
        }
    }
}

/// A value passed into a module, with its unknowns moved to `line` of the module and their
/// reason prefixed with where the value comes from.
fn relocate(v: &Val, line: usize, from: &str) -> Val {
    match v {
        Val::Unknown(u) => Val::Unknown(Unknowable::new(line, format!("{from}: {}", u.what))),
        Val::Seq(items) => Val::Seq(items.iter().map(|i| relocate(i, line, from)).collect()),
        Val::Map(entries) => Val::Map(
            entries
                .iter()
                .map(|(k, v)| (k.clone(), relocate(v, line, from)))
                .collect(),
        ),
        other => other.clone(),
    }
}

fn index_into(v: Val, index: Val, line: usize) -> Val {
    match (v, index) {
        (_, Val::Unknown(u)) => Val::Unknown(u),
        (m @ Val::Map(_), Val::Str(k)) => m.get(&k),
        (Val::Seq(items), Val::Str(i)) => i
            .parse::<usize>()
            .ok()
            .and_then(|i| items.into_iter().nth(i))
            .unwrap_or(Val::Absent),
        _ => Val::Unknown(Unknowable::new(
            line,
            "an index into a value that is not a collection",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(text: &str) -> Vec<KeyResource> {
        let file = parse_text(Path::new("main.tf"), text).unwrap();
        read_module(&[file], &[PathBuf::from("main.tf")])
    }

    fn props(k: &KeyResource) -> &KeyProps {
        match &k.kind {
            KeyKind::Key(p) => p,
            KeyKind::Replica(_) => panic!("not a key"),
        }
    }

    #[test]
    fn literals_defaults_and_lines() {
        let k = keys("\n\nresource \"aws_kms_key\" \"a\" {\n  enable_key_rotation = true\n  rotation_period_in_days = 90\n}\n");
        assert_eq!(k[0].name, "aws_kms_key.a");
        assert_eq!(k[0].line, 3);
        let p = props(&k[0]);
        assert_eq!(p.rotation_enabled, Ok(true));
        assert_eq!(p.rotation_period_days, Ok(Some(90)));
        assert_eq!(p.key_spec, Ok("SYMMETRIC_DEFAULT".into()));
    }

    #[test]
    fn variables_locals_and_conditionals() {
        let k = keys("variable \"rotate\" {\n  default = true\n}\nvariable \"env\" {}\nlocals {\n  tags = { team = \"x\" }\n}\nresource \"aws_kms_key\" \"a\" {\n  enable_key_rotation = var.rotate\n  rotation_period_in_days = var.env == \"prod\" ? 90 : 365\n  tags = merge(local.tags, { n = \"${var.rotate}-y\" })\n}\n");
        let p = props(&k[0]);
        assert_eq!(p.rotation_enabled, Ok(true));
        assert!(k[0].notes.iter().any(|n| n.contains("variable rotate")));
        let u = p.rotation_period_days.clone().unwrap_err();
        assert_eq!(u.line, 10);
        assert!(u.what.contains("variable env has no default"), "{u:?}");
        let tags = p.tags.clone().unwrap();
        assert_eq!(
            tags,
            vec![
                ("team".into(), Ok("x".into())),
                ("n".into(), Ok("true-y".into()))
            ]
        );
    }

    #[test]
    fn for_each_over_a_known_map_gives_one_key_per_instance() {
        let k = keys("resource \"aws_kms_key\" \"k\" {\n  for_each = { a = 90, b = 400 }\n  enable_key_rotation = true\n  rotation_period_in_days = each.value\n}\nresource \"aws_kms_replica_key\" \"r\" {\n  for_each = toset([\"a\"])\n  primary_key_arn = aws_kms_key.k[each.key].arn\n}\n");
        assert_eq!(k.len(), 3);
        assert_eq!(k[1].name, "aws_kms_key.k[\"b\"]");
        assert_eq!(props(&k[1]).rotation_period_days, Ok(Some(400)));
        let KeyKind::Replica(r) = &k[2].kind else {
            panic!()
        };
        assert_eq!(r.primary, Ok("aws_kms_key.k[\"a\"]".into()));
    }

    #[test]
    fn count_gives_one_key_per_index_with_its_count_index() {
        let k = keys("resource \"aws_kms_key\" \"k\" {\n  count = 2\n  enable_key_rotation = count.index == 0\n}\nresource \"aws_kms_replica_key\" \"r\" {\n  primary_key_arn = aws_kms_key.k[1].arn\n}\n");
        let names: Vec<&str> = k.iter().map(|k| k.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "aws_kms_key.k[0]",
                "aws_kms_key.k[1]",
                "aws_kms_replica_key.r"
            ]
        );
        assert_eq!(props(&k[0]).rotation_enabled, Ok(true));
        assert_eq!(props(&k[1]).rotation_enabled, Ok(false));
        let KeyKind::Replica(r) = &k[2].kind else {
            panic!()
        };
        assert_eq!(r.primary, Ok("aws_kms_key.k[1]".into()));
    }

    #[test]
    fn count_zero_creates_nothing() {
        assert!(keys("resource \"aws_kms_key\" \"k\" {\n  count = 0\n}\n").is_empty());
    }
}
