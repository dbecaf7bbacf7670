//! What the readers of muster's reports read them with, for the tests that check them that
//! way: headless Chromium for the HTML pages, the official SARIF 2.1.0 JSON Schema.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Output;

use serde_json::Value;

/// A browser to test the HTML report in: Debian's `chromium` (installed by `.ci/run`).
pub fn chromium() -> PathBuf {
    for c in ["chromium", "chromium-browser", "google-chrome"] {
        for dir in ["/usr/bin", "/usr/local/bin", "/snap/bin"] {
            let p = Path::new(dir).join(c);
            if p.exists() {
                return p;
            }
        }
    }
    panic!("the HTML report is tested in headless Chromium: install it (`apt-get install chromium`; `bash .ci/run` does)");
}

/// Runs headless Chromium on a page: `--dump-dom` gives the DOM after its scripts ran.
pub fn headless(page: &str, args: &[&str]) -> Output {
    let profile = tempfile::tempdir().unwrap();
    let mut cmd = std::process::Command::new(chromium());
    cmd.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--no-first-run",
        "--hide-scrollbars",
        "--virtual-time-budget=3000",
    ])
    .arg(format!("--user-data-dir={}", profile.path().display()))
    .args(args)
    .arg(page)
    .env("HOME", profile.path());
    let out = cmd.output().expect("run chromium");
    assert!(
        out.status.success(),
        "chromium failed on {page}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// The opening tags in `dom` whose text matches `re` (attribute-level assertions on the DOM
/// Chromium serialised after the page's script ran).
pub fn tags<'a>(dom: &'a str, re: &str) -> Vec<&'a str> {
    regex::Regex::new(re)
        .unwrap()
        .find_iter(dom)
        .map(|m| m.as_str())
        .collect()
}

/// The official SARIF 2.1.0 JSON schema, as the serde-sarif crate (a dependency, so
/// always in the cargo registry when this test builds) ships it.
pub fn sarif_schema() -> Value {
    let home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| dirs_home().join(".cargo"));
    let pattern = format!(
        "{}/registry/src/*/serde-sarif-*/src/schema.json",
        home.display()
    );
    let path = glob::glob(&pattern)
        .unwrap()
        .flatten()
        .next()
        .unwrap_or_else(|| panic!("no SARIF schema at {pattern}"));
    let mut schema: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    // The 2.1.0 schema's `language` patterns have a stray `]` (a known erratum) that a
    // strict regex engine refuses; they constrain a property muster does not write.
    for def in ["run", "toolComponent"] {
        let at = format!("/definitions/{def}/properties/language/pattern");
        if let Some(p) = schema.pointer_mut(&at) {
            *p = Value::String("^[a-zA-Z]{2}(-[a-zA-Z]{2})?$".into());
        }
    }
    schema
}

pub fn dirs_home() -> PathBuf {
    PathBuf::from(std::env::var("HOME").unwrap_or_else(|_| "/root".into()))
}

/// One line of the Prometheus text exposition format (node-exporter's textfile collector):
/// `name{k="v",...} value` → (name, labels, value); None for comments and blank lines; any
/// other line fails the test. Label values are unescaped (`\\`, `\"`, `\n`).
pub fn prom_line(line: &str) -> Option<(String, BTreeMap<String, String>, f64)> {
    if line.is_empty() || line.starts_with('#') {
        return None;
    }
    let (head, value) = line.rsplit_once(' ').expect("a value");
    let value: f64 = value.parse().unwrap_or_else(|_| panic!("value in {line}"));
    let (name, labels) = match head.split_once('{') {
        None => (head.to_string(), BTreeMap::new()),
        Some((n, rest)) => {
            let body = rest.strip_suffix('}').expect("closing brace");
            let mut labels = BTreeMap::new();
            let mut chars = body.chars().peekable();
            while chars.peek().is_some() {
                let key: String = chars.by_ref().take_while(|&c| c != '=').collect();
                assert!(
                    key.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
                        && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
                    "label name `{key}` in {line}"
                );
                assert_eq!(chars.next(), Some('"'), "quoted label in {line}");
                let mut v = String::new();
                loop {
                    match chars.next().expect("unterminated label value") {
                        '\\' => match chars.next().unwrap() {
                            'n' => v.push('\n'),
                            c => v.push(c),
                        },
                        '"' => break,
                        c => v.push(c),
                    }
                }
                labels.insert(key, v);
                if chars.peek() == Some(&',') {
                    chars.next();
                }
            }
            (n.to_string(), labels)
        }
    };
    assert!(
        name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_' || c == ':')
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':'),
        "metric name {name}"
    );
    Some((name, labels, value))
}

/// What a Markdown renderer makes of a document (pulldown-cmark, CommonMark with GitHub's
/// tables): its headings, tables (rows of cell texts, the header first), raw HTML blocks and
/// fenced code blocks (language, text).
#[derive(Debug, Default)]
pub struct MarkdownOutline {
    pub headings: Vec<(u8, String)>,
    pub tables: Vec<Vec<Vec<String>>>,
    pub html: Vec<String>,
    pub code: Vec<(String, String)>,
}

pub fn markdown_outline(md: &str) -> MarkdownOutline {
    use pulldown_cmark::{CodeBlockKind, Event, Options, Parser, Tag, TagEnd};
    let mut out = MarkdownOutline::default();
    let mut text: Option<String> = None;
    let mut row: Vec<String> = Vec::new();
    let mut code: Option<(String, String)> = None;
    for ev in Parser::new_ext(md, Options::ENABLE_TABLES) {
        match ev {
            Event::Start(Tag::Heading { .. }) | Event::Start(Tag::TableCell) => {
                text = Some(String::new())
            }
            Event::End(TagEnd::Heading(level)) => out
                .headings
                .push((level as u8, text.take().unwrap_or_default())),
            Event::Start(Tag::Table(_)) => out.tables.push(Vec::new()),
            Event::End(TagEnd::TableCell) => row.push(text.take().unwrap_or_default()),
            Event::End(TagEnd::TableHead) | Event::End(TagEnd::TableRow) => {
                if let Some(t) = out.tables.last_mut() {
                    t.push(std::mem::take(&mut row));
                }
            }
            Event::Start(Tag::CodeBlock(kind)) => {
                let lang = match kind {
                    CodeBlockKind::Fenced(l) => l.to_string(),
                    CodeBlockKind::Indented => String::new(),
                };
                code = Some((lang, String::new()));
            }
            Event::End(TagEnd::CodeBlock) => out.code.extend(code.take()),
            Event::Html(h) | Event::InlineHtml(h) => out.html.push(h.to_string()),
            Event::Text(t) | Event::Code(t) => {
                if let Some((_, c)) = code.as_mut() {
                    c.push_str(&t);
                } else if let Some(s) = text.as_mut() {
                    s.push_str(&t);
                }
            }
            _ => {}
        }
    }
    out
}

/// Fails the test unless `sarif` is valid against the official SARIF 2.1.0 schema.
pub fn assert_valid_sarif(sarif: &Value) {
    let schema = sarif_schema();
    let validator = jsonschema::validator_for(&schema).expect("SARIF schema compiles");
    let errors: Vec<String> = validator
        .iter_errors(sarif)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "SARIF invalid: {errors:#?}");
}
