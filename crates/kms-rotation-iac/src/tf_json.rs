//! Terraform's JSON syntax (`*.tf.json`), read into the same model as `.tf` files.
//!
//! Terraform "JSON Configuration Syntax"
//! (<https://developer.hashicorp.com/terraform/language/syntax/json>): the root object's
//! properties are the top-level block types; `resource` and `data` nest an object per label
//! (type, then name), `module` and `variable` one (the name), `locals` is an object of locals; a
//! label level may also be an array of such objects. In a block body every property is an
//! argument, its string values string templates (so `"${var.x}"` is the expression `var.x`),
//! except `variable`'s `default`, a literal value. A `"//"` property of a block body is a comment
//! and ignored.
//!
//! The file is translated into native syntax, one argument per line, and parsed by the `.tf`
//! reader; a table keeps each generated line's line in the JSON file, so findings point at the
//! JSON source. Nested blocks of a resource (`lifecycle`, `timeouts`, ...) do not bear on the
//! decision and are left out.

use super::yaml::{self, Kind, Node};
use super::IacError;

/// Whether `path` is a Terraform JSON file (`*.tf.json`).
pub(crate) fn is_tf_json(path: &std::path::Path) -> bool {
    path.file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.to_ascii_lowercase().ends_with(".tf.json"))
}

/// The nested blocks a resource or module body may have, which are not arguments.
const NESTED_BLOCKS: &[&str] = &[
    "lifecycle",
    "provisioner",
    "connection",
    "dynamic",
    "timeouts",
];

/// Native syntax for `text`, and for each of its lines (0-based) the line of the JSON file.
pub(crate) fn to_native(text: &str) -> Result<(String, Vec<usize>), IacError> {
    // Terraform reads strict JSON: anything else is refused as it would be.
    serde_json::from_str::<serde_json::Value>(text)?;
    let root = yaml::parse(text)?;
    let Kind::Map(top) = &root.kind else {
        return Err(IacError::Hcl(
            "the root of a .tf.json file must be an object".into(),
        ));
    };
    let mut out = Out::default();
    for entry in top {
        match entry.key.as_str() {
            "resource" | "data" => {
                for (labels, body) in labelled(&entry.value, 2, Vec::new()) {
                    out.block(&entry.key, &labels, body, Attrs::Arguments);
                }
            }
            "module" => {
                for (labels, body) in labelled(&entry.value, 1, Vec::new()) {
                    out.block("module", &labels, body, Attrs::Arguments);
                }
            }
            "variable" => {
                for (labels, body) in labelled(&entry.value, 1, Vec::new()) {
                    out.block("variable", &labels, body, Attrs::Default);
                }
            }
            "locals" => {
                for body in objects(&entry.value) {
                    out.block("locals", &[], body, Attrs::Arguments);
                }
            }
            // output, provider, terraform, "//": nothing the decision reads.
            _ => {}
        }
    }
    Ok((out.text, out.lines))
}

/// The objects of a block level: the object itself, or each of an array of objects.
fn objects(node: &Node) -> Vec<&Node> {
    match &node.kind {
        Kind::Map(_) => vec![node],
        Kind::Seq(items) => items.iter().flat_map(objects).collect(),
        _ => Vec::new(),
    }
}

/// The blocks under `node` with `depth` labels: each label an object property (`"//"` aside),
/// with its line.
fn labelled(
    node: &Node,
    depth: usize,
    above: Vec<(String, usize)>,
) -> Vec<(Vec<(String, usize)>, &Node)> {
    if depth == 0 {
        return objects(node)
            .into_iter()
            .map(|b| (above.clone(), b))
            .collect();
    }
    let mut out = Vec::new();
    for object in objects(node) {
        for e in object.entries().iter().filter(|e| e.key != "//") {
            let mut labels = above.clone();
            labels.push((e.key.clone(), e.key_line));
            out.extend(labelled(&e.value, depth - 1, labels));
        }
    }
    out
}

#[derive(Clone, Copy, PartialEq)]
enum Attrs {
    /// Every property an argument, its strings templates.
    Arguments,
    /// Only `default`, a literal value (a variable block).
    Default,
}

#[derive(Default)]
struct Out {
    text: String,
    lines: Vec<usize>,
}

impl Out {
    fn line(&mut self, text: &str, source: usize) {
        self.text.push_str(text);
        self.text.push('\n');
        self.lines.push(source);
    }

    fn block(&mut self, ident: &str, labels: &[(String, usize)], body: &Node, attrs: Attrs) {
        let at = labels.last().map_or(body.line, |l| l.1);
        let mut head = ident.to_owned();
        for (label, _) in labels {
            head.push(' ');
            head.push_str(&quote(label, true));
        }
        head.push_str(" {");
        self.line(&head, at);
        for e in body.entries() {
            let literal = match attrs {
                Attrs::Default if e.key == "default" => true,
                Attrs::Default => continue,
                Attrs::Arguments => false,
            };
            if e.key == "//" || NESTED_BLOCKS.contains(&e.key.as_str()) || !is_ident(&e.key) {
                continue;
            }
            let value = expr(&e.value, literal);
            self.line(&format!("{} = {value}", e.key), e.key_line);
        }
        self.line("}", at);
    }
}

fn is_ident(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_alphabetic() || c == '_')
        && chars.all(|c| c.is_alphanumeric() || c == '_' || c == '-')
}

/// A JSON value as a native expression on one line: strings as templates (or, when `literal`,
/// as plain strings), `"${expr}"` alone as `expr` itself.
fn expr(node: &Node, literal: bool) -> String {
    match &node.kind {
        Kind::Null => "null".into(),
        Kind::Scalar(s) => {
            if !literal {
                if let Some(inner) = single_interpolation(s) {
                    return format!("({inner})");
                }
            }
            quote(s, literal)
        }
        Kind::Seq(items) => format!(
            "[{}]",
            items
                .iter()
                .map(|i| expr(i, literal))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Kind::Map(entries) => format!(
            "{{ {} }}",
            entries
                .iter()
                .map(|e| format!("{} = {}", quote(&e.key, literal), expr(&e.value, literal)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// `inner` of a string that is exactly one interpolation `${inner}`, whose value is then the
/// expression's own (HCL: a template of a single interpolation is not converted to a string).
fn single_interpolation(s: &str) -> Option<&str> {
    let inner = s.strip_prefix("${")?.strip_suffix('}')?;
    let inner = inner.trim_start_matches('~').trim_end_matches('~');
    // One interpolation only: no other `${` and braces balanced throughout.
    let mut depth = 0i32;
    for c in inner.chars() {
        match c {
            '{' => depth += 1,
            '}' => {
                depth -= 1;
                if depth < 0 {
                    return None;
                }
            }
            _ => {}
        }
    }
    (depth == 0 && !inner.contains("${")).then_some(inner)
}

/// A quoted native string: escapes for `"`, `\` and control characters; template sequences
/// kept (or, when `literal`, escaped as `$${` and `%%{`).
fn quote(s: &str, literal: bool) -> String {
    let mut out = String::from("\"");
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => out.push_str(&format!("\\u{:04x}", c as u32)),
            '$' | '%' if literal && chars.peek() == Some(&'{') => {
                out.push(c);
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_become_native_syntax_with_their_json_lines() {
        let json = "{\n  \"//\": \"generated\",\n  \"variable\": {\n    \"rotate\": {\"default\": \"${x}\"}\n  },\n  \"resource\": {\n    \"aws_kms_key\": {\n      \"a\": {\n        \"//\": \"a comment\",\n        \"enable_key_rotation\": \"${var.rotate}\",\n        \"description\": \"key ${var.rotate}\",\n        \"tags\": {\"k\": \"v\"},\n        \"lifecycle\": {\"prevent_destroy\": true}\n      }\n    }\n  }\n}\n";
        let (text, lines) = to_native(json).unwrap();
        assert_eq!(
            text,
            "variable \"rotate\" {\ndefault = \"$${x}\"\n}\nresource \"aws_kms_key\" \"a\" {\nenable_key_rotation = (var.rotate)\ndescription = \"key ${var.rotate}\"\ntags = { \"k\" = \"v\" }\n}\n"
        );
        assert_eq!(lines, vec![4, 4, 4, 8, 10, 11, 12, 8]);
    }

    #[test]
    fn not_json_is_refused() {
        assert!(to_native("resource: {}\n").is_err());
        assert!(to_native("[]").is_err());
    }

    #[test]
    fn single_interpolations() {
        assert_eq!(single_interpolation("${var.x}"), Some("var.x"));
        assert_eq!(single_interpolation("${a}-${b}"), None);
        assert_eq!(single_interpolation("${{a=1}}"), Some("{a=1}"));
        assert_eq!(single_interpolation("x${a}"), None);
    }
}
