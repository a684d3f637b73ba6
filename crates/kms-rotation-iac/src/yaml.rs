//! YAML (and JSON, which the same parser reads) into a tree that keeps line numbers, with
//! CloudFormation's short-form tags turned into their long form: `!Ref X` is `{Ref: X}`,
//! `!GetAtt A.B` is `{Fn::GetAtt: [A, B]}`, `!Sub ...` is `{Fn::Sub: ...}`, and so on.
//!
//! Aliases are expanded into copies, under a budget ([`MAX_ALIAS_NODES`]): ten levels of anchors
//! each naming the one before ten times (a "billion laughs" file of under a kilobyte) would
//! otherwise expand to 10^10 nodes. The budget is counted before anything is copied.

use std::collections::HashMap;

use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser, Tag};
use yaml_rust2::scanner::{Marker, TScalarStyle};

/// How many nodes aliases may copy into one document, in all. A CloudFormation template is at most
/// 1 MB (CloudFormation quotas, "Template body size in an Amazon S3 object"), so it holds well under
/// a million nodes even before any alias; real templates use a handful of aliases, if any.
pub(crate) const MAX_ALIAS_NODES: usize = 1_000_000;

/// A node with the 1-based line where it starts.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Node {
    pub line: usize,
    pub kind: Kind,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Kind {
    Null,
    Scalar(String),
    Seq(Vec<Node>),
    Map(Vec<Entry>),
}

/// A mapping entry; `key_line` is where the key is written (a resource's logical ID).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Entry {
    pub key: String,
    pub key_line: usize,
    pub value: Node,
}

impl Node {
    pub(crate) fn get(&self, key: &str) -> Option<&Node> {
        self.entry(key).map(|e| &e.value)
    }
    pub(crate) fn entry(&self, key: &str) -> Option<&Entry> {
        match &self.kind {
            Kind::Map(entries) => entries.iter().find(|e| e.key == key),
            _ => None,
        }
    }
    pub(crate) fn entries(&self) -> &[Entry] {
        match &self.kind {
            Kind::Map(entries) => entries,
            _ => &[],
        }
    }
    pub(crate) fn as_str(&self) -> Option<&str> {
        match &self.kind {
            Kind::Scalar(s) => Some(s),
            _ => None,
        }
    }
}

/// Why a document was not read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ParseError {
    /// Not YAML (or JSON): where and what.
    Syntax(String),
    /// Over a bound ([`MAX_ALIAS_NODES`]): where and which.
    Limit(String),
}

/// Parse one YAML or JSON document. The error says where and what.
pub(crate) fn parse(text: &str) -> Result<Node, ParseError> {
    let mut builder = Builder::default();
    let mut parser = Parser::new_from_str(text);
    let parsed = parser.load(&mut builder, false);
    // A bound reached stops the reading first; the parser's own error comes after it.
    if let Some(e) = builder.error {
        return Err(e);
    }
    parsed.map_err(|e| ParseError::Syntax(e.to_string()))?;
    Ok(builder.root.unwrap_or(Node {
        line: 1,
        kind: Kind::Null,
    }))
}

enum Frame {
    Seq {
        node_line: usize,
        anchor: usize,
        tag: Option<Tag>,
        items: Vec<Node>,
        /// Nodes in this subtree so far, itself included.
        size: usize,
    },
    Map {
        node_line: usize,
        anchor: usize,
        tag: Option<Tag>,
        entries: Vec<Entry>,
        key: Option<(String, usize)>,
        size: usize,
    },
}

#[derive(Default)]
struct Builder {
    stack: Vec<Frame>,
    /// Each anchored node with the number of nodes in it.
    anchors: HashMap<usize, (Node, usize)>,
    root: Option<Node>,
    /// Nodes copied by aliases so far.
    alias_nodes: usize,
    error: Option<ParseError>,
}

impl Builder {
    /// Add a finished node of `size` nodes to its parent.
    fn push(&mut self, node: Node, size: usize) {
        match self.stack.last_mut() {
            None => self.root = Some(node),
            Some(Frame::Seq {
                items, size: total, ..
            }) => {
                *total = total.saturating_add(size);
                items.push(node);
            }
            Some(Frame::Map {
                entries,
                key,
                size: total,
                ..
            }) => match key.take() {
                None => {
                    let text = match &node.kind {
                        Kind::Scalar(s) => s.clone(),
                        Kind::Null => String::new(),
                        _ => "?".to_owned(),
                    };
                    *key = Some((text, node.line));
                }
                Some((k, key_line)) => {
                    *total = total.saturating_add(size);
                    entries.push(Entry {
                        key: k,
                        key_line,
                        value: node,
                    });
                }
            },
        }
    }

    fn finish(&mut self, node: Node, size: usize, anchor: usize, tag: Option<Tag>) {
        let node = short_form(node, tag);
        if anchor > 0 {
            self.anchors.insert(anchor, (node.clone(), size));
        }
        self.push(node, size);
    }

    /// An alias: a copy of its anchor's node, when the budget allows it.
    fn alias(&mut self, id: usize, line: usize) {
        let Some((node, size)) = self.anchors.get(&id) else {
            self.error = Some(ParseError::Syntax(format!(
                "line {line}: alias to an unknown anchor"
            )));
            return;
        };
        let size = *size;
        self.alias_nodes = self.alias_nodes.saturating_add(size);
        if self.alias_nodes > MAX_ALIAS_NODES {
            self.error = Some(ParseError::Limit(format!(
                "line {line}: aliases expand to more than {MAX_ALIAS_NODES} nodes (a YAML alias bomb?); refused before expanding"
            )));
            return;
        }
        let copy = Node {
            line,
            ..node.clone()
        };
        self.push(copy, size);
    }
}

impl MarkedEventReceiver for Builder {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        // After an error nothing more is built: the parser may still be reading the rest.
        if self.error.is_some() {
            return;
        }
        let line = mark.line().max(1);
        match ev {
            Event::Scalar(value, style, anchor, tag) => {
                let null = style == TScalarStyle::Plain
                    && tag.is_none()
                    && matches!(value.as_str(), "" | "~" | "null" | "Null" | "NULL");
                let kind = if null {
                    Kind::Null
                } else {
                    Kind::Scalar(value)
                };
                self.finish(Node { line, kind }, 1, anchor, tag);
            }
            Event::SequenceStart(anchor, tag) => self.stack.push(Frame::Seq {
                node_line: line,
                anchor,
                tag,
                items: Vec::new(),
                size: 1,
            }),
            Event::MappingStart(anchor, tag) => self.stack.push(Frame::Map {
                node_line: line,
                anchor,
                tag,
                entries: Vec::new(),
                key: None,
                size: 1,
            }),
            Event::SequenceEnd | Event::MappingEnd => match self.stack.pop() {
                Some(Frame::Seq {
                    node_line,
                    anchor,
                    tag,
                    items,
                    size,
                }) => self.finish(
                    Node {
                        line: node_line,
                        kind: Kind::Seq(items),
                    },
                    size,
                    anchor,
                    tag,
                ),
                Some(Frame::Map {
                    node_line,
                    anchor,
                    tag,
                    entries,
                    size,
                    ..
                }) => self.finish(
                    Node {
                        line: node_line,
                        kind: Kind::Map(entries),
                    },
                    size,
                    anchor,
                    tag,
                ),
                None => {}
            },
            Event::Alias(id) => self.alias(id, line),
            _ => {}
        }
    }
}

/// `!Name value` into `{Fn::Name: value}` (`!Ref` and `!Condition` keep their names). Other
/// tags (`!!str`, custom ones) leave the node as it is.
fn short_form(node: Node, tag: Option<Tag>) -> Node {
    let Some(tag) = tag else { return node };
    if tag.handle != "!" || tag.suffix.is_empty() {
        return node;
    }
    let line = node.line;
    let key = match tag.suffix.as_str() {
        "Ref" | "Condition" => tag.suffix.clone(),
        other => format!("Fn::{other}"),
    };
    // `!GetAtt Resource.Attribute` is the string form of `[Resource, Attribute]`.
    let value = match (&node.kind, key.as_str()) {
        (Kind::Scalar(s), "Fn::GetAtt") => match s.split_once('.') {
            Some((resource, attribute)) => Node {
                line,
                kind: Kind::Seq(vec![
                    Node {
                        line,
                        kind: Kind::Scalar(resource.to_owned()),
                    },
                    Node {
                        line,
                        kind: Kind::Scalar(attribute.to_owned()),
                    },
                ]),
            },
            None => node,
        },
        _ => node,
    };
    Node {
        line,
        kind: Kind::Map(vec![Entry {
            key,
            key_line: line,
            value,
        }]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_forms_become_long_forms_with_lines() {
        let root = parse("A:\n  B: !Ref P\n  C: !GetAtt K.Arn\n  D: !If [c, 1, 2]\n").unwrap();
        let a = root.get("A").unwrap();
        assert_eq!(a.get("B").unwrap().get("Ref").unwrap().as_str(), Some("P"));
        assert_eq!(a.get("B").unwrap().line, 2);
        let getatt = a.get("C").unwrap().get("Fn::GetAtt").unwrap();
        assert!(matches!(&getatt.kind, Kind::Seq(items) if items[0].as_str() == Some("K")));
        assert!(a.get("D").unwrap().get("Fn::If").is_some());
        assert_eq!(a.entry("D").unwrap().key_line, 4);
    }

    #[test]
    fn json_with_tabs_parses() {
        let root = parse("{\n\t\"A\": {\n\t\t\"B\": true\n\t}\n}\n").unwrap();
        assert_eq!(
            root.get("A").unwrap().get("B").unwrap().as_str(),
            Some("true")
        );
        assert_eq!(root.entry("A").unwrap().key_line, 2);
    }

    #[test]
    fn errors_say_where() {
        let e = parse("A: [1, 2\nB: 3\n").unwrap_err();
        assert!(
            matches!(&e, ParseError::Syntax(m) if m.contains("line")),
            "{e:?}"
        );
    }

    /// Ten levels of anchors, each a list naming the one before ten times: 10^10 nodes.
    fn alias_bomb(levels: usize) -> String {
        let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for level in 1..levels {
            let prev = format!("*a{}", level - 1);
            let items = [prev.as_str(); 10].join(", ");
            text.push_str(&format!("a{level}: &a{level} [{items}]\n"));
        }
        text
    }

    #[test]
    fn an_alias_bomb_is_refused_before_it_is_expanded() {
        let text = alias_bomb(10);
        assert!(text.len() < 1_000, "{}", text.len());
        let e = parse(&text).unwrap_err();
        assert!(
            matches!(&e, ParseError::Limit(m) if m.contains("1000000 nodes") && m.starts_with("line ")),
            "{e:?}"
        );
    }

    #[test]
    fn aliases_within_the_budget_are_expanded() {
        // 10^5 nodes copied in all: well under the budget, so read as written.
        let root = parse(&alias_bomb(5)).unwrap();
        let Kind::Seq(items) = &root.get("a4").unwrap().kind else {
            panic!("a4 is a list")
        };
        assert_eq!(items.len(), 10);
        assert_eq!(items[0].line, 5, "a copy takes the alias's line");
        let Kind::Seq(inner) = &items[9].kind else {
            panic!("a copy of a3")
        };
        assert_eq!(inner.len(), 10);
    }

    #[test]
    fn the_budget_counts_every_copy_of_a_subtree() {
        // One anchor of 1,001 nodes copied 1,000 times is just over the budget.
        let items = vec!["x"; 1_000].join(", ");
        let aliases = vec!["*big"; 1_000].join(", ");
        let text = format!("big: &big [{items}]\ncopies: [{aliases}]\n");
        assert!(matches!(parse(&text), Err(ParseError::Limit(_))));
        let fewer = vec!["*big"; 999].join(", ");
        assert!(parse(&format!("big: &big [{items}]\ncopies: [{fewer}]\n")).is_ok());
    }
}
