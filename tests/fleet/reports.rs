//! What the readers of muster's reports read them with, for the tests that check them that
//! way: headless Chromium for the HTML pages, the official SARIF 2.1.0 JSON Schema.

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

/// The official SARIF 2.1.0 JSON schema, as the serde-sarif crate (a dev-dependency, so
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
