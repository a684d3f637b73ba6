//! `Fn::ForEach` (the `AWS::LanguageExtensions` transform) in a template's Resources, expanded as
//! CloudFormation documents it (CloudFormation Template Reference, "Fn::ForEach", and "Examples
//! of Fn::ForEach in the Resources section"):
//!
//! ```yaml
//! 'Fn::ForEach::UniqueLoopName':
//!   - Identifier
//!   - [Value1, Value2]          # or !Ref a CommaDelimitedList parameter
//!   - 'OutputKey${Identifier}': OutputValue
//! ```
//!
//! For each item of the collection the fragment is copied with `${Identifier}` replaced by the
//! item and `&{Identifier}` by the item without its non-alphanumeric characters, in the output
//! keys and in `Fn::Sub` strings, and `Ref: Identifier` replaced by the item. Loops nest (a
//! fragment may hold another loop) and may appear inside a resource's properties.
//!
//! A collection that cannot be known before deployment (a parameter without a default or
//! value) creates keys that cannot be named: each such loop whose fragment declares a KMS key is
//! returned as an [`UnknownLoop`], reported as a row of its own, never nothing.
//!
//! Bounded: at most [`MAX_GENERATED_RESOURCES`] resources and [`MAX_GENERATED_NODES`] copied
//! nodes per template; beyond, the template is refused with the loop named.

use std::collections::HashMap;

use super::yaml::{Entry, Kind, Node};
use super::{IacError, Unknowable};

/// The prefix of a loop's key.
pub(crate) const FOR_EACH: &str = "Fn::ForEach::";
/// The transform that a template using `Fn::ForEach` must declare.
pub(crate) const LANGUAGE_EXTENSIONS: &str = "AWS::LanguageExtensions";

/// The most resources loops may generate in one template: ten times CloudFormation's quota of
/// 500 resources per template (CloudFormation User Guide, "Understand CloudFormation quotas";
/// the Fn::ForEach page: the quotas apply to the resultant template).
pub(crate) const MAX_GENERATED_RESOURCES: usize = 5_000;
/// The most nodes loops may copy in one template (the YAML reader's alias budget).
pub(crate) const MAX_GENERATED_NODES: usize = super::yaml::MAX_ALIAS_NODES;

/// A loop whose collection is not known before deployment, and whose fragment declares a key.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct UnknownLoop {
    /// `Fn::ForEach::Name`.
    pub name: String,
    pub line: usize,
    /// The key type its fragment declares.
    pub resource_type: String,
    /// The fragment's logical-ID template (`Key${Name}`).
    pub output_key: String,
    pub why: Unknowable,
}

/// The Resources section with every loop expanded.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Expanded {
    pub resources: Node,
    pub unknown: Vec<UnknownLoop>,
    /// For each generated resource: the loop and the identifiers' values, for the message.
    pub origin: HashMap<String, String>,
}

/// The values of a loop's collection with what was assumed to read them (a parameter's value and
/// where it comes from), or why they cannot be known. Given the collection's node (with the
/// enclosing loops' identifiers already replaced).
pub(crate) type Collection<'a> =
    &'a dyn Fn(&Node) -> Result<(Vec<String>, Vec<String>), Unknowable>;

/// Whether any key under `node` is a loop.
pub(crate) fn has_loops(node: &Node) -> bool {
    match &node.kind {
        Kind::Map(entries) => entries
            .iter()
            .any(|e| e.key.starts_with(FOR_EACH) || has_loops(&e.value)),
        Kind::Seq(items) => items.iter().any(has_loops),
        _ => false,
    }
}

/// Whether the template declares the `AWS::LanguageExtensions` transform (a name or a list).
pub(crate) fn declares_transform(root: &Node) -> bool {
    match root.get("Transform").map(|t| &t.kind) {
        Some(Kind::Scalar(s)) => s == LANGUAGE_EXTENSIONS,
        Some(Kind::Seq(items)) => items
            .iter()
            .any(|i| i.as_str() == Some(LANGUAGE_EXTENSIONS)),
        _ => false,
    }
}

/// Expand every loop of `resources` (a Resources mapping).
pub(crate) fn expand(resources: &Node, collection: Collection) -> Result<Expanded, IacError> {
    let mut expander = Expander {
        collection,
        resources: 0,
        nodes: 0,
        unknown: Vec::new(),
        origin: HashMap::new(),
    };
    let mut out = Vec::new();
    expander.resources_level(resources.entries(), &[], &[], None, &mut out)?;
    Ok(Expanded {
        resources: Node {
            line: resources.line,
            kind: Kind::Map(out),
        },
        unknown: expander.unknown,
        origin: expander.origin,
    })
}

/// An identifier and the item it stands for.
type Bindings = [(String, String)];

struct Expander<'a> {
    collection: Collection<'a>,
    resources: usize,
    nodes: usize,
    unknown: Vec<UnknownLoop>,
    origin: HashMap<String, String>,
}

/// A loop's three arguments.
struct Loop<'n> {
    identifier: &'n str,
    collection: &'n Node,
    fragment: &'n Node,
}

fn parse_loop(entry: &Entry) -> Result<Loop<'_>, IacError> {
    let malformed = |what: &str| {
        IacError::Template(format!(
            "{} (line {}): {what}; Fn::ForEach takes [Identifier, Collection, {{OutputKey: OutputValue}}]",
            entry.key, entry.key_line
        ))
    };
    let Kind::Seq(args) = &entry.value.kind else {
        return Err(malformed("not a list"));
    };
    let [identifier, collection, fragment] = args.as_slice() else {
        return Err(malformed("not three arguments"));
    };
    let identifier = identifier
        .as_str()
        .filter(|s| !s.is_empty())
        .ok_or_else(|| malformed("the identifier is not a string"))?;
    if !matches!(fragment.kind, Kind::Map(_)) {
        return Err(malformed("the fragment is not a mapping"));
    }
    Ok(Loop {
        identifier,
        collection,
        fragment,
    })
}

impl Expander<'_> {
    /// Entries of the Resources section (logical IDs), or of a loop's fragment there.
    fn resources_level(
        &mut self,
        entries: &[Entry],
        bindings: &Bindings,
        assumed: &[String],
        outer: Option<&str>,
        out: &mut Vec<Entry>,
    ) -> Result<(), IacError> {
        for entry in entries {
            if entry.key.starts_with(FOR_EACH) {
                let looped = parse_loop(entry)?;
                let outer = outer.unwrap_or(&entry.key);
                match self.items(&looped, bindings) {
                    Ok((items, notes)) => {
                        let mut assumed = assumed.to_vec();
                        for n in notes {
                            if !assumed.contains(&n) {
                                assumed.push(n);
                            }
                        }
                        for item in items {
                            let inner = with(bindings, looped.identifier, &item);
                            self.resources_level(
                                looped.fragment.entries(),
                                &inner,
                                &assumed,
                                Some(outer),
                                out,
                            )?;
                        }
                    }
                    Err(why) => self.unknown_loop(entry, &looped, why),
                }
                continue;
            }
            let key = substitute(&entry.key, bindings);
            if !bindings.is_empty() {
                self.resources += 1;
                if self.resources > MAX_GENERATED_RESOURCES {
                    return Err(IacError::Limit(format!(
                        "{} generates more than {MAX_GENERATED_RESOURCES} resources, the most check-iac expands (CloudFormation allows 500 in a template)",
                        outer.unwrap_or(FOR_EACH)
                    )));
                }
            }
            let value = self.body(&entry.value, bindings, outer)?;
            if out.iter().any(|o| o.key == key) {
                return Err(IacError::Template(format!(
                    "{} (line {}) generates the logical ID {key} twice, or one the template already declares; CloudFormation refuses it",
                    outer.unwrap_or(&entry.key),
                    entry.key_line
                )));
            }
            if let Some(name) = outer {
                let values: Vec<String> = bindings
                    .iter()
                    .map(|(id, v)| format!("{id} = {v:?}"))
                    .collect();
                let mut note = format!("created by {name} with {}", values.join(", "));
                for a in assumed {
                    note.push_str("; ");
                    note.push_str(a);
                }
                self.origin.insert(key.clone(), note);
            }
            out.push(Entry {
                key,
                key_line: entry.key_line,
                value,
            });
        }
        Ok(())
    }

    /// The collection's items.
    fn items(
        &mut self,
        looped: &Loop,
        bindings: &Bindings,
    ) -> Result<(Vec<String>, Vec<String>), Unknowable> {
        let node = self.copy(looped.collection, bindings);
        (self.collection)(&node)
    }

    fn unknown_loop(&mut self, entry: &Entry, looped: &Loop, why: Unknowable) {
        if self.unknown.iter().any(|u| u.name == entry.key) {
            return;
        }
        if let Some((output_key, resource_type)) = key_in(looped.fragment) {
            self.unknown.push(UnknownLoop {
                name: entry.key.clone(),
                line: entry.key_line,
                resource_type,
                output_key,
                why,
            });
        }
    }

    /// A value with the identifiers replaced and the loops inside it expanded.
    fn body(
        &mut self,
        node: &Node,
        bindings: &Bindings,
        outer: Option<&str>,
    ) -> Result<Node, IacError> {
        if !bindings.is_empty() {
            self.nodes += 1;
            if self.nodes > MAX_GENERATED_NODES {
                return Err(IacError::Limit(format!(
                    "{} copies more than {MAX_GENERATED_NODES} nodes, the most check-iac expands",
                    outer.unwrap_or(FOR_EACH)
                )));
            }
        }
        let kind = match &node.kind {
            Kind::Null => Kind::Null,
            Kind::Scalar(s) => Kind::Scalar(s.clone()),
            Kind::Seq(items) => Kind::Seq(
                items
                    .iter()
                    .map(|i| self.body(i, bindings, outer))
                    .collect::<Result<_, _>>()?,
            ),
            Kind::Map(entries) => {
                if let Some(replaced) = replaced(entries, bindings, node.line) {
                    return Ok(replaced);
                }
                let mut out = Vec::new();
                for entry in entries {
                    if entry.key.starts_with(FOR_EACH) {
                        let looped = parse_loop(entry)?;
                        if let Ok((items, _)) = self.items(&looped, bindings) {
                            for item in items {
                                let inner = with(bindings, looped.identifier, &item);
                                for e in looped.fragment.entries() {
                                    out.push(Entry {
                                        key: substitute(&e.key, &inner),
                                        key_line: e.key_line,
                                        value: self.body(&e.value, &inner, outer)?,
                                    });
                                }
                            }
                            continue;
                        }
                    }
                    out.push(Entry {
                        key: substitute(&entry.key, bindings),
                        key_line: entry.key_line,
                        value: self.body(&entry.value, bindings, outer)?,
                    });
                }
                Kind::Map(out)
            }
        };
        Ok(Node {
            line: node.line,
            kind,
        })
    }

    /// A copy with the identifiers replaced, no loop expanded (a collection).
    fn copy(&self, node: &Node, bindings: &Bindings) -> Node {
        match &node.kind {
            Kind::Map(entries) => replaced(entries, bindings, node.line).unwrap_or_else(|| Node {
                line: node.line,
                kind: Kind::Map(
                    entries
                        .iter()
                        .map(|e| Entry {
                            key: e.key.clone(),
                            key_line: e.key_line,
                            value: self.copy(&e.value, bindings),
                        })
                        .collect(),
                ),
            }),
            Kind::Seq(items) => Node {
                line: node.line,
                kind: Kind::Seq(items.iter().map(|i| self.copy(i, bindings)).collect()),
            },
            _ => node.clone(),
        }
    }
}

/// `Ref: Identifier` is the item; `Fn::Sub` has the identifiers replaced in its string.
fn replaced(entries: &[Entry], bindings: &Bindings, line: usize) -> Option<Node> {
    let [only] = entries else { return None };
    match (only.key.as_str(), &only.value.kind) {
        ("Ref", Kind::Scalar(name)) => {
            bindings
                .iter()
                .rev()
                .find(|(id, _)| id == name)
                .map(|(_, v)| Node {
                    line,
                    kind: Kind::Scalar(v.clone()),
                })
        }
        ("Fn::Sub", Kind::Scalar(s)) if !bindings.is_empty() => Some(Node {
            line,
            kind: Kind::Map(vec![Entry {
                key: only.key.clone(),
                key_line: only.key_line,
                value: Node {
                    line: only.value.line,
                    kind: Kind::Scalar(substitute(s, bindings)),
                },
            }]),
        }),
        ("Fn::Sub", Kind::Seq(items)) if !bindings.is_empty() && !items.is_empty() => {
            let mut items = items.clone();
            if let Kind::Scalar(s) = &items[0].kind {
                items[0].kind = Kind::Scalar(substitute(s, bindings));
            }
            Some(Node {
                line,
                kind: Kind::Map(vec![Entry {
                    key: only.key.clone(),
                    key_line: only.key_line,
                    value: Node {
                        line: only.value.line,
                        kind: Kind::Seq(items),
                    },
                }]),
            })
        }
        _ => None,
    }
}

/// `${Identifier}` is the item, `&{Identifier}` the item's letters and digits only.
pub(crate) fn substitute(text: &str, bindings: &Bindings) -> String {
    let mut out = text.to_owned();
    for (id, value) in bindings.iter().rev() {
        if !out.contains(id.as_str()) {
            continue;
        }
        let alnum: String = value.chars().filter(char::is_ascii_alphanumeric).collect();
        out = out
            .replace(&format!("${{{id}}}"), value)
            .replace(&format!("&{{{id}}}"), &alnum);
    }
    out
}

fn with(bindings: &Bindings, id: &str, item: &str) -> Vec<(String, String)> {
    let mut inner = bindings.to_vec();
    inner.push((id.to_owned(), item.to_owned()));
    inner
}

/// The first KMS key a fragment (or a loop inside it) declares: its logical-ID template and type.
fn key_in(fragment: &Node) -> Option<(String, String)> {
    fragment.entries().iter().find_map(|e| {
        if e.key.starts_with(FOR_EACH) {
            return match &e.value.kind {
                Kind::Seq(args) if args.len() == 3 => key_in(&args[2]),
                _ => None,
            };
        }
        let t = e.value.get("Type").and_then(Node::as_str)?;
        (t == super::CFN_KEY || t == super::CFN_REPLICA_KEY).then(|| (e.key.clone(), t.to_owned()))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::yaml::parse;

    fn literal(node: &Node) -> Result<(Vec<String>, Vec<String>), Unknowable> {
        match &node.kind {
            Kind::Seq(items) => Ok((
                items
                    .iter()
                    .filter_map(|i| i.as_str().map(str::to_owned))
                    .collect(),
                Vec::new(),
            )),
            _ => Err(Unknowable::new(node.line, "not a literal list")),
        }
    }

    fn expanded(text: &str) -> Result<Expanded, IacError> {
        let root = parse(text).unwrap();
        expand(root.get("Resources").unwrap(), &literal)
    }

    fn names(e: &Expanded) -> Vec<&str> {
        e.resources
            .entries()
            .iter()
            .map(|e| e.key.as_str())
            .collect()
    }

    #[test]
    fn dollar_and_ampersand_forms_ref_and_sub() {
        let e = expanded("Resources:\n  Plain:\n    Type: AWS::S3::Bucket\n  'Fn::ForEach::Keys':\n    - Name\n    - [logs, app-data]\n    - 'Key&{Name}':\n        Type: AWS::KMS::Key\n        Properties:\n          Description: !Ref Name\n          Alias: !Sub 'alias/${Name}'\n").unwrap();
        assert_eq!(names(&e), ["Plain", "Keylogs", "Keyappdata"]);
        let second = &e.resources.entries()[2];
        assert_eq!(second.key_line, 7);
        let props = second.value.get("Properties").unwrap();
        assert_eq!(props.get("Description").unwrap().as_str(), Some("app-data"));
        assert_eq!(
            props.get("Alias").unwrap().get("Fn::Sub").unwrap().as_str(),
            Some("alias/app-data")
        );
        assert_eq!(
            e.origin["Keyappdata"],
            "created by Fn::ForEach::Keys with Name = \"app-data\""
        );
    }

    #[test]
    fn nested_loops_and_loops_in_properties() {
        let e = expanded("Resources:\n  'Fn::ForEach::Outer':\n    - Env\n    - [Dev, Prod]\n    - 'Fn::ForEach::Inner':\n        - App\n        - [A, B]\n        - '${Env}${App}Key':\n            Type: AWS::KMS::Key\n            Properties:\n              'Fn::ForEach::Props':\n                - P\n                - [EnableKeyRotation]\n                - '${P}': true\n").unwrap();
        assert_eq!(names(&e), ["DevAKey", "DevBKey", "ProdAKey", "ProdBKey"]);
        let props = e.resources.entries()[3].value.get("Properties").unwrap();
        assert_eq!(
            props.get("EnableKeyRotation").unwrap().as_str(),
            Some("true")
        );
        assert_eq!(
            e.origin["ProdBKey"],
            "created by Fn::ForEach::Outer with Env = \"Prod\", App = \"B\""
        );
    }

    #[test]
    fn an_unknown_collection_is_a_row_only_when_it_makes_keys() {
        let e = expanded("Resources:\n  'Fn::ForEach::Keys':\n    - Name\n    - !Ref Names\n    - 'Key${Name}':\n        Type: AWS::KMS::Key\n  'Fn::ForEach::Buckets':\n    - Name\n    - !Ref Names\n    - 'B${Name}':\n        Type: AWS::S3::Bucket\n").unwrap();
        assert!(names(&e).is_empty());
        assert_eq!(e.unknown.len(), 1);
        assert_eq!(e.unknown[0].name, "Fn::ForEach::Keys");
        assert_eq!(e.unknown[0].output_key, "Key${Name}");
        assert_eq!(e.unknown[0].line, 2);
    }

    #[test]
    fn duplicates_and_malformed_loops_are_refused() {
        let dup = expanded("Resources:\n  Keya:\n    Type: AWS::KMS::Key\n  'Fn::ForEach::K':\n    - N\n    - [a]\n    - 'Key${N}':\n        Type: AWS::KMS::Key\n").unwrap_err();
        assert!(dup.to_string().contains("Keya twice"), "{dup}");
        let bad = expanded("Resources:\n  'Fn::ForEach::K':\n    - N\n    - [a]\n").unwrap_err();
        assert!(bad.to_string().contains("not three arguments"), "{bad}");
    }

    #[test]
    fn the_number_of_generated_resources_is_bounded() {
        // 10 x 10 x 10 x 10 = 10,000 keys from a few lines: refused, the loop named.
        let list = "[a, b, c, d, e, f, g, h, i, j]";
        let text = format!("Resources:\n  'Fn::ForEach::L1':\n    - A\n    - {list}\n    - 'Fn::ForEach::L2':\n        - B\n        - {list}\n        - 'Fn::ForEach::L3':\n            - C\n            - {list}\n            - 'Fn::ForEach::L4':\n                - D\n                - {list}\n                - 'K${{A}}${{B}}${{C}}${{D}}':\n                    Type: AWS::KMS::Key\n");
        let err = expanded(&text).unwrap_err();
        assert!(matches!(err, IacError::Limit(_)), "{err}");
        assert!(
            err.to_string()
                .contains("Fn::ForEach::L1 generates more than 5000"),
            "{err}"
        );
    }
}
