//! YAML with source positions.
//!
//! A small tree built from yaml-rust2's marked event parser. Every node knows the 1-based line
//! and column where it starts, so errors about a user's file can point at the exact spot.
//! Plain (unquoted) scalars are resolved as Ansible's PyYAML does (YAML 1.1: `yes`/`no`/`on`/`off`
//! are booleans, `0755` is octal, `1:30` is sexagesimal); quoted scalars are always strings.
//! Explicit tags are kept (`!vault`, `!unsafe`), anchors and aliases work (an alias is a copy of
//! the anchored node), and merge keys (`<<: *base`) are merged as PyYAML merges them.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::LazyLock;

use regex::Regex;
use yaml_rust2::parser::{Event, Parser, Tag};
use yaml_rust2::scanner::{Marker, TScalarStyle};

use crate::error::{Error, Location, Result};

/// A YAML node and where it starts (1-based line and column).
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub value: Value,
    pub line: usize,
    pub col: usize,
    /// An explicit tag as written (`!vault`, `!unsafe`, `!!str`), if any.
    pub tag: Option<String>,
}

/// The value of a YAML node.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Seq(Vec<Node>),
    /// Key/value pairs in document order (keys are unique).
    Map(Vec<(Node, Node)>),
}

/// Deepest nesting accepted; deeper documents are refused rather than risking the stack.
const MAX_DEPTH: usize = 256;
/// Most nodes a document may expand to through aliases (guards against "billion laughs").
const MAX_NODES: usize = 2_000_000;

/// Parses YAML text. `None` for an empty document (nothing, or only a null).
///
/// Vault data is decrypted with the run's vault passwords (see `crate::vault`): a whole
/// vaulted text (`$ANSIBLE_VAULT;...`) is decrypted and then parsed, and a `!vault` scalar
/// becomes its plaintext (keeping the tag). Both are registered as secrets.
pub fn parse_str(text: &str, file: &Path) -> Result<Option<Node>> {
    if crate::vault::is_vaulted(text) {
        let plain = crate::vault::decrypt_file_text(text, file)?;
        let root = Builder::new(file, &plain)
            .run(&plain)
            .map_err(|e| crate::vault::in_decrypted(e, file))?;
        if let Some(root) = &root {
            crate::vault::register_node(root);
        }
        return Ok(root);
    }
    Builder::new(file, text).run(text)
}

/// Reads and parses a YAML file (a file that is not UTF-8 is an error at its first bad byte).
pub fn parse_file(path: &Path) -> Result<Option<Node>> {
    let text = crate::error::read_text(path)?;
    parse_str(&text, path)
}

/// What PyYAML refuses before parsing, refused the same way here: characters YAML does not
/// allow in a stream (control characters, such as the NUL bytes of a binary or UTF-16 file)
/// and a `%YAML` directive of another major version. A leading byte order mark is dropped.
fn precheck<'t>(text: &'t str, file: &Path) -> Result<&'t str> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let allowed = |c: char| {
        matches!(c, '\t' | '\n' | '\r' | ' '..='~' | '\u{85}' | '\u{a0}'..='\u{d7ff}' | '\u{e000}'..='\u{fffd}')
            || c >= '\u{10000}'
    };
    if let Some(at) = text.find(|c: char| !allowed(c)) {
        let before = &text[..at];
        let line = before.matches('\n').count() + 1;
        let col = before[before.rfind('\n').map_or(0, |i| i + 1)..]
            .chars()
            .count()
            + 1;
        let c = text[at..].chars().next().unwrap_or('\0');
        return Err(Error::at(
            Location::new(file, line, col),
            format!("invalid YAML: control character U+{:04X} is not allowed in a YAML file", c as u32),
        )
        .with_help("remove it; a binary file, or text saved as UTF-16, cannot be read here (save it as UTF-8)"));
    }
    for (i, line) in text.lines().enumerate() {
        if line.starts_with("---")
            || !(line.starts_with('%') || line.starts_with('#') || line.trim().is_empty())
        {
            break;
        }
        if let Some(rest) = line.strip_prefix("%YAML") {
            let version = rest.trim();
            let major = version.split('.').next().unwrap_or("");
            if major != "1" {
                // The version's column (just past the line when it is missing).
                let col = 6 + rest.chars().take_while(|c| matches!(c, ' ' | '\t')).count();
                return Err(Error::at(
                    Location::new(file, i + 1, col),
                    format!("invalid YAML: `%YAML {version}` is not a YAML version muster reads (version 1.* is required)"),
                )
                .with_help("write `%YAML 1.2` (or `%YAML 1.1`), or remove the directive"));
            }
        }
    }
    Ok(text)
}

/// Where yaml-rust2's marks are in the text as people (and `Error::render`) count: yaml-rust2
/// also breaks lines at a lone `\r`, and marks the end of the stream on a line past the last
/// one. Each of its lines is mapped to the `\n`-line it lies on and the column it starts at;
/// a position past the end of a line or of the text is placed just after its last character.
struct LineMap {
    /// For each yaml-rust2 line: (1-based line, 0-based column where it starts).
    starts: Vec<(usize, usize)>,
    /// The length in characters of each `\n`-line (without the `\r` of a `\r\n`).
    lens: Vec<usize>,
    /// The lines a person sees: all but the empty one after a final newline.
    visible: usize,
}

impl LineMap {
    fn new(text: &str) -> LineMap {
        let mut starts = vec![(1, 0)];
        let mut lens = vec![];
        let (mut line, mut col) = (1, 0);
        let mut chars = text.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '\r' if chars.peek() == Some(&'\n') => {
                    chars.next();
                    lens.push(col);
                    (line, col) = (line + 1, 0);
                    starts.push((line, 0));
                }
                '\n' => {
                    lens.push(col);
                    (line, col) = (line + 1, 0);
                    starts.push((line, 0));
                }
                '\r' => {
                    col += 1;
                    starts.push((line, col));
                }
                _ => col += 1,
            }
        }
        lens.push(col);
        let visible = if text.ends_with('\n') {
            lens.len() - 1
        } else {
            lens.len()
        }
        .max(1);
        LineMap {
            starts,
            lens,
            visible,
        }
    }

    /// The text's 1-based (line, column) of yaml-rust2's 1-based line and 0-based column.
    fn place(&self, line: usize, col: usize) -> (usize, usize) {
        let end = (self.visible, self.lens[self.visible - 1] + 1);
        match self.starts.get(line.max(1) - 1) {
            Some(&(l, start)) if l <= self.visible => {
                (l, (start + col + 1).min(self.lens[l - 1] + 1))
            }
            _ => end,
        }
    }
}

impl Node {
    pub fn new(value: Value, line: usize, col: usize) -> Node {
        Node {
            value,
            line,
            col,
            tag: None,
        }
    }

    /// The node as JSON. Map keys that are not strings become their text (`1` -> `"1"`);
    /// floats JSON cannot hold (`.inf`, `.nan`) become null.
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::Value as J;
        match &self.value {
            Value::Null => J::Null,
            Value::Bool(b) => J::Bool(*b),
            Value::Int(i) => J::from(*i),
            Value::Float(f) => serde_json::Number::from_f64(*f)
                .map(J::Number)
                .unwrap_or(J::Null),
            Value::Str(s) => J::String(s.clone()),
            Value::Seq(items) => J::Array(items.iter().map(Node::to_json).collect()),
            Value::Map(pairs) => {
                let mut m = serde_json::Map::new();
                for (k, v) in pairs {
                    m.insert(k.key_text(), v.to_json());
                }
                J::Object(m)
            }
        }
    }

    /// The text a node has when used as a mapping key (as Python's `str()` would give it,
    /// except booleans and null, which are spelled as JSON spells them).
    pub fn key_text(&self) -> String {
        match &self.value {
            Value::Str(s) => s.clone(),
            Value::Null => "null".into(),
            Value::Bool(b) => b.to_string(),
            Value::Int(i) => i.to_string(),
            Value::Float(f) => format_float(*f),
            Value::Seq(_) | Value::Map(_) => self.to_json().to_string(),
        }
    }

    /// Where the node starts, in `file`.
    pub fn loc(&self, file: &Path) -> Location {
        Location::new(file, self.line, self.col)
    }

    /// The value under a string key, when this node is a mapping.
    pub fn get(&self, key: &str) -> Option<&Node> {
        match &self.value {
            Value::Map(pairs) => pairs
                .iter()
                .find(|(k, _)| k.as_str() == Some(key))
                .map(|(_, v)| v),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match &self.value {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_map(&self) -> Option<&[(Node, Node)]> {
        match &self.value {
            Value::Map(pairs) => Some(pairs),
            _ => None,
        }
    }

    pub fn as_seq(&self) -> Option<&[Node]> {
        match &self.value {
            Value::Seq(items) => Some(items),
            _ => None,
        }
    }

    pub fn is_null(&self) -> bool {
        matches!(self.value, Value::Null)
    }

    /// A scalar's text (strings as they are, numbers and booleans spelled out); None for
    /// null, lists and mappings.
    pub fn scalar_text(&self) -> Option<String> {
        match &self.value {
            Value::Str(s) => Some(s.clone()),
            Value::Bool(_) | Value::Int(_) | Value::Float(_) => Some(self.key_text()),
            _ => None,
        }
    }

    /// What kind of value this is, for messages ("expected a mapping, found a list").
    pub fn type_name(&self) -> &'static str {
        match &self.value {
            Value::Null => "null",
            Value::Bool(_) => "boolean",
            Value::Int(_) => "integer",
            Value::Float(_) => "float",
            Value::Str(_) => "string",
            Value::Seq(_) => "list",
            Value::Map(_) => "mapping",
        }
    }

    fn count(&self) -> usize {
        1 + match &self.value {
            Value::Seq(items) => items.iter().map(Node::count).sum(),
            Value::Map(pairs) => pairs.iter().map(|(k, v)| k.count() + v.count()).sum(),
            _ => 0,
        }
    }
}

fn format_float(f: f64) -> String {
    if f.is_nan() {
        ".nan".into()
    } else if f.is_infinite() {
        if f > 0.0 { ".inf" } else { "-.inf" }.into()
    } else if f == f.trunc() && f.abs() < 1e16 {
        format!("{f:.1}")
    } else {
        f.to_string()
    }
}

// ---------------------------------------------------------------------------------------------
// Scalar resolution (PyYAML's YAML 1.1 implicit resolvers)

static BOOL_RE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^(?:yes|Yes|YES|no|No|NO|true|True|TRUE|false|False|FALSE|on|On|ON|off|Off|OFF)$")
        .unwrap()
});
static INT_RE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"^(?:[-+]?0b[0-1_]+|[-+]?0[0-7_]+|[-+]?(?:0|[1-9][0-9_]*)|[-+]?0x[0-9a-fA-F_]+|[-+]?[1-9][0-9_]*(?::[0-5]?[0-9])+)$",
    )
    .unwrap()
});
static FLOAT_RE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+][0-9]+)?|\.[0-9_]+(?:[eE][-+][0-9]+)?|[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+\.[0-9_]*|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$",
    )
    .unwrap()
});

/// Resolves an untagged plain scalar as PyYAML does.
pub fn resolve_plain(s: &str) -> Value {
    match s {
        "" | "~" | "null" | "Null" | "NULL" => return Value::Null,
        _ => {}
    }
    if BOOL_RE.is_match(s) {
        return Value::Bool(matches!(
            s,
            "yes" | "Yes" | "YES" | "true" | "True" | "TRUE" | "on" | "On" | "ON"
        ));
    }
    if INT_RE.is_match(s) {
        if let Some(i) = parse_int(s) {
            return Value::Int(i);
        }
        return Value::Str(s.to_string());
    }
    if FLOAT_RE.is_match(s) {
        if let Some(f) = parse_float(s) {
            return Value::Float(f);
        }
    }
    Value::Str(s.to_string())
}

/// A YAML 1.1 integer (the text already matched the resolver); None when it overflows.
fn parse_int(s: &str) -> Option<i64> {
    let t: String = s.chars().filter(|c| *c != '_').collect();
    let (neg, body) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, &t[..]),
    };
    let magnitude: i128 = if let Some(b) = body.strip_prefix("0b") {
        i128::from_str_radix(b, 2).ok()?
    } else if let Some(h) = body.strip_prefix("0x") {
        i128::from_str_radix(h, 16).ok()?
    } else if body.contains(':') {
        let mut acc: i128 = 0;
        for part in body.split(':') {
            acc = acc
                .checked_mul(60)?
                .checked_add(part.parse::<i128>().ok()?)?;
        }
        acc
    } else if body.len() > 1 && body.starts_with('0') {
        i128::from_str_radix(&body[1..], 8).ok()?
    } else {
        body.parse::<i128>().ok()?
    };
    let v = if neg { -magnitude } else { magnitude };
    i64::try_from(v).ok()
}

fn parse_float(s: &str) -> Option<f64> {
    let t: String = s.chars().filter(|c| *c != '_').collect();
    let lower = t.to_ascii_lowercase();
    let (neg, body) = match lower.as_bytes().first() {
        Some(b'-') => (true, &lower[1..]),
        Some(b'+') => (false, &lower[1..]),
        _ => (false, &lower[..]),
    };
    let v = if body == ".inf" {
        f64::INFINITY
    } else if body == ".nan" {
        f64::NAN
    } else if body.contains(':') {
        let mut acc = 0.0f64;
        for part in body.split(':') {
            acc = acc * 60.0 + part.parse::<f64>().ok()?;
        }
        acc
    } else {
        let b = if body.starts_with('.') {
            format!("0{body}")
        } else {
            body.to_string()
        };
        let b = b.replace(".e", ".0e");
        let b = if b.ends_with('.') { format!("{b}0") } else { b };
        b.parse::<f64>().ok()?
    };
    Some(if neg { -v } else { v })
}

/// The tag as written: `!vault`, `!!str`, or the full form for other handles.
fn tag_text(tag: &Tag) -> String {
    if tag.handle == "tag:yaml.org,2002:" {
        format!("!!{}", tag.suffix)
    } else {
        format!("{}{}", tag.handle, tag.suffix)
    }
}

/// The value of a tagged scalar: core tags convert, any other tag leaves the text a string.
fn resolve_tagged(text: &str, tag: &str, plain: bool) -> std::result::Result<Value, String> {
    match tag {
        "!!str" => Ok(Value::Str(text.to_string())),
        "!!null" => Ok(Value::Null),
        "!!bool" => match resolve_plain(text) {
            Value::Bool(b) => Ok(Value::Bool(b)),
            _ => Err(format!("`{text}` is not a boolean")),
        },
        "!!int" => match resolve_plain(text) {
            Value::Int(i) => Ok(Value::Int(i)),
            _ => Err(format!("`{text}` is not an integer")),
        },
        "!!float" => match resolve_plain(text) {
            Value::Float(f) => Ok(Value::Float(f)),
            Value::Int(i) => Ok(Value::Float(i as f64)),
            _ => Err(format!("`{text}` is not a float")),
        },
        // The non-specific tag `!` on a plain scalar makes it a string, as in PyYAML.
        _ if plain && tag == "!" => Ok(Value::Str(text.to_string())),
        _ => Ok(Value::Str(text.to_string())),
    }
}

// ---------------------------------------------------------------------------------------------
// Tree building

enum Frame {
    Seq {
        line: usize,
        col: usize,
        anchor: usize,
        tag: Option<String>,
        items: Vec<Node>,
    },
    Map {
        line: usize,
        col: usize,
        anchor: usize,
        tag: Option<String>,
        pairs: Vec<(Node, Node)>,
        /// Which of `pairs` are merge keys (`<<`).
        merge: Vec<bool>,
        key: Option<(Node, bool)>,
    },
}

struct Builder<'a> {
    file: &'a Path,
    /// The text being parsed (to place errors inside `!vault` values).
    src: &'a str,
    stack: Vec<Frame>,
    anchors: HashMap<usize, (Node, usize)>,
    root: Option<Node>,
    nodes: usize,
    lines: LineMap,
}

impl<'a> Builder<'a> {
    fn new(file: &'a Path, src: &'a str) -> Self {
        Builder {
            file,
            src,
            stack: Vec::new(),
            anchors: HashMap::new(),
            root: None,
            nodes: 0,
            lines: LineMap::new(""),
        }
    }

    fn err(&self, line: usize, col: usize, msg: impl Into<String>) -> Error {
        Error::at(Location::new(self.file, line, col), msg.into())
    }

    fn run(mut self, text: &str) -> Result<Option<Node>> {
        let text = precheck(text, self.file)?;
        self.lines = LineMap::new(text);
        // The parser is driven event by event (not through `load`), so that a malformed input
        // can only produce an error, and so a second document can be refused.
        let mut parser = Parser::new_from_str(text);
        let mut documents = 0usize;
        loop {
            let (ev, mark) = match parser.next_token() {
                Ok(x) => x,
                Err(e) => {
                    let m = e.marker();
                    let (line, col) = self.lines.place(m.line(), m.col());
                    if e.info().contains("recursion limit") {
                        return Err(self
                            .err(line, col, "invalid YAML: nested too deeply (recursion limit exceeded)")
                            .with_help(format!("flatten the structure: muster reads at most {MAX_DEPTH} levels of lists and mappings")));
                    }
                    return Err(self
                        .err(line, col, format!("invalid YAML: {}", e.info()))
                        .with_help("check the indentation, quoting and `:` / `-` markers here"));
                }
            };
            let (line, col) = self.lines.place(mark.line(), mark.col());
            match ev {
                Event::StreamStart | Event::Nothing => {}
                Event::StreamEnd => break,
                Event::DocumentStart => {
                    documents += 1;
                    if documents > 1 {
                        return Err(self
                            .err(line, col, "expected one YAML document, found another one here")
                            .with_help("this file must hold a single document; remove the extra `---` and what follows, or split it into files"));
                    }
                }
                Event::DocumentEnd => {}
                Event::Alias(id) => {
                    let Some((node, count)) = self.anchors.get(&id) else {
                        return Err(self
                            .err(line, col, "alias refers to an anchor that is not complete yet (a recursive alias)")
                            .with_help("an alias `*name` may only refer to a node that was finished before it"));
                    };
                    self.nodes += count;
                    if self.nodes > MAX_NODES {
                        return Err(self
                            .err(line, col, "the document expands to too many nodes through aliases")
                            .with_help("aliases that refer to aliases multiply the document's size; use fewer"));
                    }
                    let mut copy = node.clone();
                    relocate(&mut copy, line, col);
                    self.complete(copy, false, 0)?;
                }
                Event::Scalar(text, style, anchor, tag) => {
                    self.nodes += 1;
                    let plain = style == TScalarStyle::Plain;
                    let tag = tag.as_ref().map(tag_text);
                    let value = match &tag {
                        None if plain => resolve_plain(&text),
                        None => Value::Str(text.clone()),
                        Some(t) if t == "!vault" => {
                            Value::Str(self.open_vault(&text, style, line, col)?)
                        }
                        Some(t) => resolve_tagged(&text, t, plain).map_err(|m| {
                            self.err(line, col, format!("invalid YAML: {m} (tagged {t})"))
                                .with_help(format!(
                                    "give a value of the tag's type, or remove the `{t}` tag"
                                ))
                        })?,
                    };
                    let (line, col) = self.scalar_position(&text, plain, tag.is_none(), mark);
                    let is_merge = plain && tag.is_none() && text == "<<";
                    let node = Node {
                        value,
                        line,
                        col,
                        tag,
                    };
                    self.complete(node, is_merge, anchor)?;
                }
                Event::SequenceStart(anchor, tag) => {
                    self.push(line, col)?;
                    self.stack.push(Frame::Seq {
                        line,
                        col,
                        anchor,
                        tag: tag.as_ref().map(tag_text),
                        items: Vec::new(),
                    });
                }
                Event::MappingStart(anchor, tag) => {
                    self.push(line, col)?;
                    self.stack.push(Frame::Map {
                        line,
                        col,
                        anchor,
                        tag: tag.as_ref().map(tag_text),
                        pairs: Vec::new(),
                        merge: Vec::new(),
                        key: None,
                    });
                }
                Event::SequenceEnd => match self.stack.pop() {
                    Some(Frame::Seq {
                        line,
                        col,
                        anchor,
                        tag,
                        items,
                    }) => {
                        let node = Node {
                            value: Value::Seq(items),
                            line,
                            col,
                            tag,
                        };
                        self.complete(node, false, anchor)?;
                    }
                    _ => return Err(self.err(line, col, "invalid YAML: unexpected end of a list")),
                },
                Event::MappingEnd => match self.stack.pop() {
                    Some(Frame::Map {
                        line,
                        col,
                        anchor,
                        tag,
                        pairs,
                        merge,
                        ..
                    }) => {
                        let pairs = self.finish_map(pairs, merge)?;
                        let node = Node {
                            value: Value::Map(pairs),
                            line,
                            col,
                            tag,
                        };
                        self.complete(node, false, anchor)?;
                    }
                    _ => {
                        return Err(self.err(
                            line,
                            col,
                            "invalid YAML: unexpected end of a mapping",
                        ))
                    }
                },
            }
        }
        Ok(self.root.filter(|n| !(n.is_null() && n.tag.is_none())))
    }

    /// Decrypts a `!vault` scalar that starts at (line, col). Errors inside a block scalar
    /// are placed on the line and column of the file they come from.
    fn open_vault(
        &self,
        text: &str,
        style: TScalarStyle,
        line: usize,
        col: usize,
    ) -> Result<String> {
        let block = matches!(style, TScalarStyle::Literal | TScalarStyle::Folded);
        let src_lines: Vec<&str> = if block {
            self.src.lines().collect()
        } else {
            Vec::new()
        };
        let text_lines: Vec<&str> = text.lines().collect();
        let place = |l: usize, c: usize| -> (usize, usize) {
            if l == 0 {
                return (line, col);
            }
            // A block scalar is marked at its first line of content.
            let want = text_lines.get(l - 1).map(|t| t.trim());
            let Some(src) = src_lines.get(line + l - 2) else {
                return (line, col);
            };
            match want {
                Some(w) if !w.is_empty() && src.trim() == w => {
                    let indent = src.chars().take_while(|c| c.is_whitespace()).count();
                    let text_indent = text_lines[l - 1]
                        .chars()
                        .take_while(|c| c.is_whitespace())
                        .count();
                    (line + l - 1, indent + c.saturating_sub(text_indent))
                }
                _ => (line, col),
            }
        };
        crate::vault::decrypt_value(text, self.file, &place)
    }

    fn push(&self, line: usize, col: usize) -> Result<()> {
        if self.stack.len() >= MAX_DEPTH {
            return Err(self
                .err(
                    line,
                    col,
                    format!("YAML nested more than {MAX_DEPTH} levels deep"),
                )
                .with_help("flatten the structure"));
        }
        Ok(())
    }

    /// yaml-rust2 marks an empty plain scalar at the next token; such a value is placed at
    /// its key instead, which is where a person looks for it.
    fn scalar_position(
        &self,
        text: &str,
        plain: bool,
        untagged: bool,
        mark: Marker,
    ) -> (usize, usize) {
        let here = self.lines.place(mark.line(), mark.col());
        if plain && untagged && text.is_empty() {
            if let Some(Frame::Map {
                key: Some((k, _)), ..
            }) = self.stack.last()
            {
                return (k.line, k.col);
            }
        }
        here
    }

    /// A finished node goes into its parent (or becomes the root).
    fn complete(&mut self, node: Node, is_merge: bool, anchor: usize) -> Result<()> {
        if anchor != 0 {
            let count = node.count();
            self.anchors.insert(anchor, (node.clone(), count));
        }
        match self.stack.last_mut() {
            None => {
                self.root = Some(node);
            }
            Some(Frame::Seq { items, .. }) => items.push(node),
            Some(Frame::Map {
                line,
                col,
                pairs,
                merge,
                key,
                ..
            }) => match key.take() {
                None => {
                    // A block mapping is marked after its first key; start it at the key.
                    if pairs.is_empty() && (node.line, node.col) < (*line, *col) {
                        *line = node.line;
                        *col = node.col;
                    }
                    *key = Some((node, is_merge));
                }
                Some((k, m)) => {
                    pairs.push((k, node));
                    merge.push(m);
                }
            },
        }
        Ok(())
    }

    /// Applies merge keys and refuses duplicate keys.
    fn finish_map(&self, pairs: Vec<(Node, Node)>, merge: Vec<bool>) -> Result<Vec<(Node, Node)>> {
        let mut seen: HashSet<String> = HashSet::new();
        let mut merged: Vec<(Node, Node)> = Vec::new();
        let mut own: Vec<(Node, Node)> = Vec::new();
        for ((k, v), is_merge) in pairs.into_iter().zip(merge) {
            if is_merge {
                match &v.value {
                    Value::Map(p) => merged.extend(p.iter().cloned()),
                    Value::Seq(items) => {
                        // Earlier mappings in the list win: add them last.
                        let mut sub = Vec::new();
                        for item in items {
                            match &item.value {
                                Value::Map(p) => sub.push(p.clone()),
                                _ => {
                                    return Err(self
                                        .err(item.line, item.col, format!("invalid YAML: a merge key `<<` takes mappings, found a {}", item.type_name()))
                                        .with_help("write `<<: *anchor` or `<<: [*a, *b]` with anchors of mappings"))
                                }
                            }
                        }
                        for p in sub.into_iter().rev() {
                            merged.extend(p);
                        }
                    }
                    _ => {
                        return Err(self
                            .err(v.line, v.col, format!("invalid YAML: a merge key `<<` takes a mapping or a list of mappings, found a {}", v.type_name()))
                            .with_help("write `<<: *anchor` where the anchor names a mapping"))
                    }
                }
                continue;
            }
            let text = key_identity(&k);
            if !seen.insert(text) {
                return Err(self
                    .err(
                        k.line,
                        k.col,
                        format!("duplicate key `{}` in this mapping", k.key_text()),
                    )
                    .with_help(
                        "each key may appear once in a mapping; remove or rename one of them",
                    ));
            }
            own.push((k, v));
        }
        if merged.is_empty() {
            return Ok(own);
        }
        // PyYAML puts merged pairs first, then the mapping's own; later entries win but keep
        // the position of the first.
        let mut out: Vec<(Node, Node)> = Vec::new();
        let mut index: HashMap<String, usize> = HashMap::new();
        for (k, v) in merged.into_iter().chain(own) {
            let id = key_identity(&k);
            match index.get(&id) {
                Some(&i) => out[i].1 = v,
                None => {
                    index.insert(id, out.len());
                    out.push((k, v));
                }
            }
        }
        Ok(out)
    }
}

/// What makes two keys the same key.
fn key_identity(k: &Node) -> String {
    match &k.value {
        Value::Str(s) => format!("s:{s}"),
        _ => format!("{}:{}", k.type_name(), k.to_json()),
    }
}

/// An alias copy starts where the alias is written.
fn relocate(node: &mut Node, line: usize, col: usize) {
    node.line = line;
    node.col = col;
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn p(text: &str) -> Node {
        parse_str(text, Path::new("t.yml")).unwrap().unwrap()
    }
    fn perr(text: &str) -> (String, Option<(usize, usize)>) {
        match parse_str(text, Path::new("t.yml")) {
            Err(Error::Input { loc, msg, .. }) => (msg, loc.map(|l| (l.line, l.col))),
            other => panic!("expected an input error, got {other:?}"),
        }
    }

    #[test]
    fn yaml11_scalars() {
        let n = p("a: yes\nb: No\nc: on\nd: OFF\ne: y\nf: ~\ng:\nh: null\ni: 0755\nj: 0x1F\nk: -1_000\nl: 1:30\nm: 1.5\nn: .inf\no: -.Inf\np: 0o17\nq: 09\nr: 1e3\ns: 1.0e+3\nt: True\nu: 0b101\nv: +12\nw: 1.\n");
        let j = n.to_json();
        assert_eq!(j["a"], json!(true));
        assert_eq!(j["b"], json!(false));
        assert_eq!(j["c"], json!(true));
        assert_eq!(j["d"], json!(false));
        assert_eq!(j["e"], json!("y"));
        assert_eq!(j["f"], json!(null));
        assert_eq!(j["g"], json!(null));
        assert_eq!(j["h"], json!(null));
        assert_eq!(j["i"], json!(493));
        assert_eq!(j["j"], json!(31));
        assert_eq!(j["k"], json!(-1000));
        assert_eq!(j["l"], json!(90));
        assert_eq!(j["m"], json!(1.5));
        assert_eq!(j["p"], json!("0o17"));
        assert_eq!(j["q"], json!("09"));
        assert_eq!(j["r"], json!("1e3"));
        assert_eq!(j["s"], json!(1000.0));
        assert_eq!(j["t"], json!(true));
        assert_eq!(j["u"], json!(5));
        assert_eq!(j["v"], json!(12));
        assert_eq!(j["w"], json!(1.0));
        assert!(matches!(n.get("n").unwrap().value, Value::Float(f) if f == f64::INFINITY));
        assert!(matches!(n.get("o").unwrap().value, Value::Float(f) if f == f64::NEG_INFINITY));
        assert!(matches!(resolve_plain(".nan"), Value::Float(f) if f.is_nan()));
    }

    #[test]
    fn quoted_scalars_are_strings() {
        let j = p("a: 'yes'\nb: \"12\"\nc: \"\"\nd: 'null'\n").to_json();
        assert_eq!(j, json!({"a": "yes", "b": "12", "c": "", "d": "null"}));
    }

    #[test]
    fn positions_are_one_based() {
        let n = p("all:\n  hosts:\n    web1:\n      x: 1\n  vars: [a, 'b']\n");
        assert_eq!((n.line, n.col), (1, 1));
        let all = n.get("all").unwrap();
        assert_eq!((all.line, all.col), (2, 3));
        let hosts = all.get("hosts").unwrap();
        assert_eq!((hosts.line, hosts.col), (3, 5));
        let (k, v) = &hosts.as_map().unwrap()[0];
        assert_eq!((k.line, k.col), (3, 5));
        assert_eq!((v.line, v.col), (4, 7));
        let x = v.get("x").unwrap();
        assert_eq!((x.line, x.col), (4, 10));
        let vars = all.get("vars").unwrap();
        assert_eq!((vars.line, vars.col), (5, 9));
        assert_eq!(vars.as_seq().unwrap()[1].col, 13);
        // an empty value sits at its key
        let n = p("a:\n  b:\n  c: 1\n");
        let b = n.get("a").unwrap().get("b").unwrap();
        assert!(b.is_null());
        assert_eq!((b.line, b.col), (2, 3));
    }

    #[test]
    fn tags_are_kept() {
        // (`!vault` values are decrypted: see the tests of `crate::vault`.)
        let n = p("secret: !custom |\n  some\n  text\nraw: !unsafe '{{ x }}'\nn: !!str 12\ni: !!int \"7\"\n");
        let s = n.get("secret").unwrap();
        assert_eq!(s.tag.as_deref(), Some("!custom"));
        assert_eq!(s.as_str(), Some("some\ntext\n"));
        let r = n.get("raw").unwrap();
        assert_eq!(r.tag.as_deref(), Some("!unsafe"));
        assert_eq!(r.as_str(), Some("{{ x }}"));
        assert_eq!(n.get("n").unwrap().value, Value::Str("12".into()));
        assert_eq!(n.get("i").unwrap().value, Value::Int(7));
        assert!(perr("i: !!int abc\n").0.contains("not an integer"));
    }

    #[test]
    fn anchors_aliases_and_merge_keys() {
        let j = p("base: &b {x: 1, y: 2}\nlist: &l [1, 2]\nc:\n  <<: *b\n  y: 3\n  z: *l\nd:\n  <<: [{x: 10}, {x: 20, w: 5}]\n").to_json();
        assert_eq!(j["c"], json!({"x": 1, "y": 3, "z": [1, 2]}));
        assert_eq!(j["d"], json!({"x": 10, "w": 5}));
        // own keys win even when written before the merge
        let j = p("b: &b {x: 1}\nc: {x: 2, <<: *b}\n").to_json();
        assert_eq!(j["c"], json!({"x": 2}));
        // a quoted "<<" is an ordinary key
        let j = p("c: {'<<': 1}\n").to_json();
        assert_eq!(j["c"], json!({"<<": 1}));
        assert!(perr("a: &a 1\nb:\n  <<: *a\n").0.contains("merge key"));
    }

    #[test]
    fn alias_node_is_placed_at_the_alias() {
        let n = p("a: &x hello\nb: *x\n");
        let b = n.get("b").unwrap();
        assert_eq!(b.as_str(), Some("hello"));
        assert_eq!((b.line, b.col), (2, 4));
    }

    #[test]
    fn duplicate_keys_point_at_the_second() {
        let (msg, loc) = perr("a: 1\nb: 2\na: 3\n");
        assert!(msg.contains("duplicate key `a`"), "{msg}");
        assert_eq!(loc, Some((3, 1)));
    }

    #[test]
    fn syntax_errors_have_positions() {
        let (msg, loc) = perr("a: [1\nb: 2\n");
        assert!(msg.starts_with("invalid YAML:"), "{msg}");
        assert_eq!(loc.unwrap().0, 2);
        let (msg, loc) = perr("a:\n  - x\n b: 1\n");
        assert!(msg.starts_with("invalid YAML:"), "{msg}");
        assert_eq!(loc.unwrap().0, 3);
        let (_, loc) = perr("a: *nope\n");
        assert_eq!(loc.unwrap().0, 1);
    }

    #[test]
    fn one_document_only() {
        let (msg, loc) = perr("a: 1\n---\nb: 2\n");
        assert!(msg.contains("expected one YAML document"), "{msg}");
        assert_eq!(loc.unwrap().0, 2);
        assert!(parse_str("---\na: 1\n...\n", Path::new("t"))
            .unwrap()
            .is_some());
    }

    #[test]
    fn empty_documents_are_none() {
        for text in ["", "# only a comment\n", "---\n", "~\n", "\n\n"] {
            assert!(
                parse_str(text, Path::new("t")).unwrap().is_none(),
                "{text:?}"
            );
        }
    }

    #[test]
    fn recursion_and_bombs_are_refused() {
        assert!(parse_str("a: &a [*a]\n", Path::new("t")).is_err());
        let deep = "[".repeat(1000);
        assert!(parse_str(&deep, Path::new("t")).is_err());
        let mut bomb = String::from("a: &a [x, x, x, x, x, x, x, x, x, x]\n");
        let mut prev = 'a';
        for c in 'b'..='k' {
            bomb.push_str(&format!(
                "{c}: &{c} [*{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}]\n"
            ));
            prev = c;
        }
        let (msg, _) = perr(&bomb);
        assert!(msg.contains("too many nodes"), "{msg}");
    }

    #[test]
    fn helpers() {
        let n = p("s: x\ni: 3\nl: []\nm: {}\n1: one\n");
        assert_eq!(n.get("s").unwrap().type_name(), "string");
        assert_eq!(n.get("i").unwrap().type_name(), "integer");
        assert_eq!(n.get("l").unwrap().type_name(), "list");
        assert_eq!(n.get("m").unwrap().type_name(), "mapping");
        assert_eq!(n.get("i").unwrap().scalar_text().as_deref(), Some("3"));
        assert_eq!(n.to_json()["1"], json!("one"));
        let loc = n.get("s").unwrap().loc(Path::new("f.yml"));
        assert_eq!(loc.to_string(), "f.yml:1:4");
    }

    #[test]
    fn what_pyyaml_refuses_before_parsing() {
        // A byte order mark is dropped: positions are those a person sees.
        let n = p("\u{feff}a: 1\nb: x\n");
        assert_eq!(n.get("b").map(|b| (b.line, b.col)), Some((2, 4)));
        // Control characters (a binary file, UTF-16 read as UTF-8) are refused where they are.
        let (msg, loc) = perr("a: 1\nb: x\u{0}y\n");
        assert!(msg.contains("control character U+0000"), "{msg}");
        assert_eq!(loc, Some((2, 5)));
        assert!(perr("a: \u{7f}\n").0.contains("U+007F"));
        assert!(parse_str("a: \"tab\there\"\r\nb: \u{e9}\u{1F600}\n", Path::new("t")).is_ok());
        // Another major version of YAML.
        let (msg, loc) = perr("%YAML 2.0\n---\na: 1\n");
        assert!(msg.contains("%YAML 2.0"), "{msg}");
        assert_eq!(loc, Some((1, 7)));
        assert!(parse_str("%YAML 1.1\n---\na: 1\n", Path::new("t")).is_ok());
    }

    #[test]
    fn errors_at_the_end_are_on_the_last_line() {
        let (_, loc) = perr("a: [1, 2\n");
        assert_eq!(loc, Some((1, 9)));
        let (msg, _) = perr(&"[".repeat(10_000));
        assert!(msg.contains("nested"), "{msg}");
    }

    #[test]
    fn never_panics_on_garbage() {
        for text in [
            "{",
            "}",
            "[",
            "]",
            ":",
            "- - -",
            "? ? ?",
            "&",
            "*",
            "!",
            "%YAML 1.1\n",
            "a: |\n b\nc",
            "\t- a",
            "'",
            "\"\\",
            "a: b: c",
            "- a\nb: c",
            "@x",
            "`",
            "{a: [}",
            "--- |\n  x\n--- y",
            "a: !<tag:x> 1",
            "<<: 1",
            "? a\n? a\n",
        ] {
            let _ = parse_str(text, Path::new("t"));
        }
    }
}
