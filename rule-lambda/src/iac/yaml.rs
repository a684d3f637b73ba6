//! YAML (and JSON, which the same parser reads) into a tree that keeps line numbers, with
//! CloudFormation's short-form tags turned into their long form: `!Ref X` is `{Ref: X}`,
//! `!GetAtt A.B` is `{Fn::GetAtt: [A, B]}`, `!Sub ...` is `{Fn::Sub: ...}`, and so on.

use std::collections::HashMap;

use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser, Tag};
use yaml_rust2::scanner::{Marker, TScalarStyle};

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

/// Parse one YAML or JSON document. The error says where and what.
pub(crate) fn parse(text: &str) -> Result<Node, String> {
    let mut builder = Builder::default();
    let mut parser = Parser::new_from_str(text);
    parser
        .load(&mut builder, false)
        .map_err(|e| e.to_string())?;
    if let Some(e) = builder.error {
        return Err(e);
    }
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
    },
    Map {
        node_line: usize,
        anchor: usize,
        tag: Option<Tag>,
        entries: Vec<Entry>,
        key: Option<(String, usize)>,
    },
}

#[derive(Default)]
struct Builder {
    stack: Vec<Frame>,
    anchors: HashMap<usize, Node>,
    root: Option<Node>,
    error: Option<String>,
}

impl Builder {
    fn push(&mut self, node: Node) {
        match self.stack.last_mut() {
            None => self.root = Some(node),
            Some(Frame::Seq { items, .. }) => items.push(node),
            Some(Frame::Map { entries, key, .. }) => match key.take() {
                None => {
                    let text = match &node.kind {
                        Kind::Scalar(s) => s.clone(),
                        Kind::Null => String::new(),
                        _ => "?".to_owned(),
                    };
                    *key = Some((text, node.line));
                }
                Some((k, key_line)) => entries.push(Entry {
                    key: k,
                    key_line,
                    value: node,
                }),
            },
        }
    }

    fn finish(&mut self, node: Node, anchor: usize, tag: Option<Tag>) {
        let node = short_form(node, tag);
        if anchor > 0 {
            self.anchors.insert(anchor, node.clone());
        }
        self.push(node);
    }
}

impl MarkedEventReceiver for Builder {
    fn on_event(&mut self, ev: Event, mark: Marker) {
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
                self.finish(Node { line, kind }, anchor, tag);
            }
            Event::SequenceStart(anchor, tag) => self.stack.push(Frame::Seq {
                node_line: line,
                anchor,
                tag,
                items: Vec::new(),
            }),
            Event::MappingStart(anchor, tag) => self.stack.push(Frame::Map {
                node_line: line,
                anchor,
                tag,
                entries: Vec::new(),
                key: None,
            }),
            Event::SequenceEnd | Event::MappingEnd => match self.stack.pop() {
                Some(Frame::Seq {
                    node_line,
                    anchor,
                    tag,
                    items,
                }) => self.finish(
                    Node {
                        line: node_line,
                        kind: Kind::Seq(items),
                    },
                    anchor,
                    tag,
                ),
                Some(Frame::Map {
                    node_line,
                    anchor,
                    tag,
                    entries,
                    ..
                }) => self.finish(
                    Node {
                        line: node_line,
                        kind: Kind::Map(entries),
                    },
                    anchor,
                    tag,
                ),
                None => {}
            },
            Event::Alias(id) => match self.anchors.get(&id).cloned() {
                Some(node) => self.push(Node { line, ..node }),
                None => {
                    self.error
                        .get_or_insert_with(|| format!("line {line}: alias to an unknown anchor"));
                }
            },
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
        assert!(e.contains("line"), "{e}");
    }
}
