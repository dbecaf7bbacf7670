//! Property-based fuzzing of every parser of untrusted input (issue 8).
//!
//! Inventories (YAML and INI) and host patterns, YAML, playbooks and task files (with the
//! checks of `muster validate`), policies, waivers, vars files, ansible.cfg, known_hosts,
//! ssh_config, `-e` values, `k=v` arguments, vault envelopes, templates and conditions, the fact
//! script's output, and every command output a check or a module reads on the controller (each
//! parser on its own, and each built-in check end to end on every platform) are fed:
//!
//! - arbitrary text (any Unicode, and text biased towards the characters that mean something
//!   to these formats);
//! - real samples (tests/data, plus the hand-written shapes below) mutated by inserting,
//!   deleting, duplicating and swapping lines and characters, and by splicing in hostile
//!   tokens (huge numbers, quotes, brackets, BOMs, NULs...);
//! - prefixes of every sample (truncated output): every length when the samples of a parser
//!   have at most `MUSTER_FUZZ_CASES` of them, else that many spread evenly (plus the first and
//!   last few of each sample).
//!
//! The properties: no panic, ever; where the error type has a position, it lies within the
//! input; deeply nested input is an error, never a stack overflow; the shell quoting makes
//! `sh` see exactly the bytes it was given.
//!
//! Bounded for CI: every property runs `MUSTER_FUZZ_CASES` cases (3000 by default: the whole
//! file takes about 45 s in a debug build on two cores; the slow ones, PBKDF2 and `sh`, run a
//! quarter of that, the checks end to end and task files half). For a longer hunt by hand:
//!
//! ```text
//! MUSTER_FUZZ_CASES=100000 cargo test --release --test fuzz_parsers
//! ```
//!
//! (about 11 minutes on one core; `PROPTEST_RNG_SEED=N` replays a run; under `CI` the seed is
//! fixed, by hand it is random.) Failure persistence
//! is off: proptest's `proptest-regressions/` seed files are opaque, tied to the generators'
//! shapes, and would be written into the checkout by CI. Instead, every crash found is fixed
//! and its minimal input kept below as a named `#[test]` with the input as a literal (the
//! `regression_*` tests). A failing property prints the generated input and a greedily shrunk
//! one to paste there.

use std::collections::HashMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::LazyLock;

use muster::error::Error;
use muster::inventory::Inventory;
use muster::policy::checks::{self, CheckCtx, ProbeOut};
use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed, TestRunner};
use serde_json::{json, Map, Value};

// ============================================================================ the harness

/// Cases per property when `MUSTER_FUZZ_CASES` is not set.
const DEFAULT_CASES: u32 = 3000;

fn cases() -> u32 {
    std::env::var("MUSTER_FUZZ_CASES")
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(DEFAULT_CASES)
}

/// The seed of the inputs: `PROPTEST_RNG_SEED` when set (to replay a run); else fixed under
/// CI, so that the gate judges the change and not a new random draw (a CI run once failed on a
/// df line the previous draws had never produced); else random, so every run by hand hunts
/// somewhere new.
fn seed() -> RngSeed {
    if let Some(n) = std::env::var("PROPTEST_RNG_SEED")
        .ok()
        .and_then(|v| v.trim().parse().ok())
    {
        return RngSeed::Fixed(n);
    }
    if std::env::var_os("CI").is_some_and(|v| !v.is_empty() && v != "false") {
        return RngSeed::Fixed(CI_SEED);
    }
    RngSeed::Random
}

/// The seed CI uses.
const CI_SEED: u64 = 0x6d75_7374_6572;

fn runner(cases: u32) -> TestRunner {
    TestRunner::new(Config {
        cases,
        failure_persistence: None,
        max_shrink_iters: 4096,
        rng_seed: seed(),
        ..Config::default()
    })
}

/// Runs `f` on `cases` inputs of `strategy`; a panic (or failed assertion) is a failure,
/// reported with proptest's shrunk input and with a greedy shrink of our own on top.
fn check<F>(name: &str, cases: u32, strategy: impl Strategy<Value = String>, f: F)
where
    F: Fn(&str),
{
    let result = quietly(|| {
        runner(cases).run(&strategy, |s| {
            f(&s);
            Ok(())
        })
    });
    if let Err(e) = result {
        let input = match &e {
            proptest::test_runner::TestError::Fail(_, v) => v.clone(),
            proptest::test_runner::TestError::Abort(_) => String::new(),
        };
        let small = shrink(&input, &f);
        let why = panic_message(&f, &small).unwrap_or_default();
        panic!("{name}: {e}\n\nshrunk input: {small:?}\npanics with: {why}");
    }
}

thread_local! {
    /// Set while a panic is expected (proptest's runs and our shrinking): the message, and the
    /// backtrace `RUST_BACKTRACE` asks for, would be thousands of lines and most of the time.
    static QUIET: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Runs `f` with this thread's panics silenced (other threads' are printed as usual).
fn quietly<T>(f: impl FnOnce() -> T) -> T {
    static HOOK: std::sync::Once = std::sync::Once::new();
    HOOK.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !QUIET.with(|q| q.get()) {
                default(info)
            }
        }));
    });
    let before = QUIET.with(|q| q.replace(true));
    let out = f();
    QUIET.with(|q| q.set(before));
    out
}

/// Whether `f` panics on `s`.
fn panics<F: Fn(&str)>(f: &F, s: &str) -> bool {
    panic_message(f, s).is_some()
}

/// The message `f` panics with on `s`, if it panics.
fn panic_message<F: Fn(&str)>(f: &F, s: &str) -> Option<String> {
    let payload = quietly(|| catch_unwind(AssertUnwindSafe(|| f(s)))).err()?;
    Some(
        payload
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_default(),
    )
}

/// Greedy delta debugging: drops lines, then ever smaller runs of characters, while the
/// input still fails.
fn shrink<F: Fn(&str)>(input: &str, f: &F) -> String {
    if !panics(f, input) {
        return input.to_string();
    }
    let mut cur: Vec<char> = input.chars().collect();
    let mut budget = 20_000usize;
    let mut chunk = cur.len().max(1);
    while chunk >= 1 && budget > 0 {
        let mut i = 0;
        let mut progress = false;
        while i < cur.len() && budget > 0 {
            budget -= 1;
            let end = (i + chunk).min(cur.len());
            let mut cand = cur.clone();
            cand.drain(i..end);
            let s: String = cand.iter().collect();
            if panics(f, &s) {
                cur = cand;
                progress = true;
            } else {
                i += chunk;
            }
        }
        if !progress {
            if chunk == 1 {
                break;
            }
            chunk /= 2;
        }
    }
    cur.into_iter().collect()
}

/// Calls `f` on every prefix of every seed (at every character boundary), or, when that
/// is more than `budget` calls, on evenly spread prefixes of each seed plus its first and last
/// 4. A panic names the seed and the length.
fn every_prefix<F: Fn(&str)>(name: &str, seeds: &[String], budget: usize, f: F) {
    let bounds: Vec<Vec<usize>> = seeds
        .iter()
        .map(|seed| {
            seed.char_indices()
                .map(|(i, _)| i)
                .chain(std::iter::once(seed.len()))
                .collect()
        })
        .collect();
    let total: usize = bounds.iter().map(Vec::len).sum();
    let step = total.div_ceil(budget.max(1)).max(1);
    for (n, (seed, bounds)) in seeds.iter().zip(&bounds).enumerate() {
        let last = bounds.len();
        for (k, &at) in bounds.iter().enumerate() {
            if k % step != 0 && k >= 4 && k + 4 < last {
                continue;
            }
            let prefix = &seed[..at];
            if panics(&f, prefix) {
                let small = shrink(prefix, &f);
                let why = panic_message(&f, &small).unwrap_or_default();
                panic!("{name}: panics on seed #{n} cut at byte {at}: {prefix:?}\n\nshrunk input: {small:?}\npanics with: {why}");
            }
        }
    }
}

/// Prefixes tried per sample set: every one in a long run, a spread in CI.
fn prefix_budget() -> usize {
    (cases() as usize).max(800)
}

/// Characters that mean something to at least one of the formats fuzzed here.
const SPECIAL: &str = "\n\n\n\t\r :=-[]{}()<>\"'`\\#!&*?@|,;%$~^/._+0123456789";

/// Tokens spliced into samples.
const TOKENS: &[&str] = &[
    "\n",
    "\r\n",
    "\t",
    " ",
    ":",
    ": ",
    "=",
    "- ",
    "-",
    "[",
    "]",
    "{",
    "}",
    "(",
    ")",
    "\"",
    "'",
    "`",
    "\\",
    "#",
    "!",
    "&",
    "*",
    "?",
    "@",
    "|",
    ",",
    ";",
    "%",
    "$",
    "~",
    "<",
    ">",
    "/",
    "0",
    "-1",
    "+1",
    "1.5",
    "1e999",
    "NaN",
    "inf",
    "18446744073709551616",
    "99999999999999999999",
    "4294967296",
    "65536",
    "65535",
    "2147483648",
    "9223372036854775808",
    "\u{0}",
    "\u{7f}",
    "\u{feff}",
    "\u{85}",
    "\u{2028}",
    "é",
    "😀",
    "\u{200b}",
    "\u{3000}",
    "ǅ",
    "İ",
    "[1:3]",
    "[a:c]",
    "[0:99999999]",
    "[",
    "[:",
    "[1:",
    "{{",
    "}}",
    "{%",
    "%}",
    "&a ",
    "*a",
    "<<: ",
    "!!str ",
    "!vault |",
    "!unsafe ",
    "---\n",
    "...\n",
    "@@",
    "0x",
    "0o",
    "0b",
    "1_0",
    "null",
    "true",
    "yes",
    "no",
    "~/",
    "%h",
    "%%",
    "${X}",
    "'''",
    "\"\"\"",
    "\\x",
    "\\u12",
    "|1|",
    "$ANSIBLE_VAULT;1.1;AES256\n",
    "@@muster:",
    "@@muster-probe:0@@\n",
    "* ",
    "Inst ",
];

/// One character biased towards the special ones, with any Unicode scalar now and then.
fn text_char() -> impl Strategy<Value = char> {
    let special: Vec<char> = SPECIAL.chars().collect();
    prop_oneof![
        6 => proptest::char::range(' ', '~'),
        4 => proptest::sample::select(special),
        1 => any::<char>(),
    ]
}

/// Arbitrary text: `.*` with newlines, or text built from the special characters and tokens.
fn arb_text() -> BoxedStrategy<String> {
    prop_oneof![
        "(?s).{0,200}",
        proptest::collection::vec(
            prop_oneof![
                4 => text_char().prop_map(String::from),
                1 => proptest::sample::select(TOKENS).prop_map(String::from),
            ],
            0..120
        )
        .prop_map(|v| v.concat()),
    ]
    .boxed()
}

/// One edit of a sample.
#[derive(Debug, Clone)]
enum Mutation {
    InsertChar(usize, char),
    InsertToken(usize, &'static str),
    ReplaceChar(usize, char),
    Delete(usize, usize),
    Duplicate(usize, usize),
    Truncate(usize),
    DeleteLine(usize),
    DuplicateLine(usize, usize),
    SwapLines(usize, usize),
    Indent(usize, usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    use Mutation::*;
    let pos = any::<usize>();
    prop_oneof![
        (pos, text_char()).prop_map(|(p, c)| InsertChar(p, c)),
        (pos, proptest::sample::select(TOKENS)).prop_map(|(p, t)| InsertToken(p, t)),
        (pos, text_char()).prop_map(|(p, c)| ReplaceChar(p, c)),
        (pos, 1usize..40).prop_map(|(p, n)| Delete(p, n)),
        (pos, 1usize..60).prop_map(|(p, n)| Duplicate(p, n)),
        pos.prop_map(Truncate),
        pos.prop_map(DeleteLine),
        (pos, 1usize..4).prop_map(|(p, n)| DuplicateLine(p, n)),
        (pos, any::<usize>()).prop_map(|(a, b)| SwapLines(a, b)),
        (pos, 0usize..9).prop_map(|(p, n)| Indent(p, n)),
    ]
}

fn apply(seed: &str, ms: &[Mutation]) -> String {
    let mut cs: Vec<char> = seed.chars().collect();
    for m in ms {
        let at = |p: usize, len: usize| p % (len + 1);
        match *m {
            Mutation::InsertChar(p, c) => {
                let i = at(p, cs.len());
                cs.insert(i, c);
            }
            Mutation::InsertToken(p, t) => {
                let i = at(p, cs.len());
                cs.splice(i..i, t.chars());
            }
            Mutation::ReplaceChar(p, c) => {
                if !cs.is_empty() {
                    let i = p % cs.len();
                    cs[i] = c;
                }
            }
            Mutation::Delete(p, n) => {
                let i = at(p, cs.len());
                let e = (i + n).min(cs.len());
                cs.drain(i..e);
            }
            Mutation::Duplicate(p, n) => {
                let i = at(p, cs.len());
                let e = (i + n).min(cs.len());
                let dup: Vec<char> = cs[i..e].to_vec();
                cs.splice(e..e, dup);
            }
            Mutation::Truncate(p) => {
                let i = at(p, cs.len());
                cs.truncate(i);
            }
            Mutation::DeleteLine(_)
            | Mutation::DuplicateLine(..)
            | Mutation::SwapLines(..)
            | Mutation::Indent(..) => {
                let s: String = cs.iter().collect();
                let mut lines: Vec<String> = s.split('\n').map(String::from).collect();
                let n = lines.len();
                match *m {
                    Mutation::DeleteLine(p) => {
                        lines.remove(p % n);
                    }
                    Mutation::DuplicateLine(p, k) => {
                        let l = lines[p % n].clone();
                        for _ in 0..k {
                            lines.insert(p % n, l.clone());
                        }
                    }
                    Mutation::SwapLines(a, b) => lines.swap(a % n, b % n),
                    Mutation::Indent(p, k) => {
                        let l = &mut lines[p % n];
                        *l = format!("{}{}", " ".repeat(k), l.trim_start());
                    }
                    _ => unreachable!(),
                }
                cs = lines.join("\n").chars().collect();
            }
        }
    }
    cs.into_iter().collect()
}

/// A sample with a few edits.
fn mutated(seeds: &[String]) -> BoxedStrategy<String> {
    let seeds = seeds.to_vec();
    assert!(!seeds.is_empty());
    (0..seeds.len(), proptest::collection::vec(mutation(), 1..6))
        .prop_map(move |(i, ms)| apply(&seeds[i], &ms))
        .boxed()
}

/// Arbitrary text one time in four, a mutated sample otherwise.
fn inputs(seeds: &[String]) -> BoxedStrategy<String> {
    if seeds.is_empty() {
        return arb_text();
    }
    prop_oneof![1 => arb_text(), 3 => mutated(seeds)].boxed()
}

/// The whole treatment for a text parser: mutated samples and arbitrary text, then every
/// prefix of every sample.
fn fuzz<F: Fn(&str)>(name: &str, seeds: &[String], f: F) {
    let t = std::time::Instant::now();
    check(name, cases(), inputs(seeds), &f);
    let random = t.elapsed();
    every_prefix(name, seeds, prefix_budget(), &f);
    eprintln!(
        "{name}: {} cases in {random:.1?}, prefixes of {} samples in {:.1?}",
        cases(),
        seeds.len(),
        t.elapsed() - random
    );
}

fn data(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

/// The text of sample files, by path relative to the crate (a directory: its files,
/// recursively, that are UTF-8 and hold at most 64 KiB).
fn samples(paths: &[&str]) -> Vec<String> {
    fn walk(p: &Path, out: &mut Vec<String>) {
        if p.is_dir() {
            let mut entries: Vec<PathBuf> = std::fs::read_dir(p)
                .unwrap()
                .map(|e| e.unwrap().path())
                .collect();
            entries.sort();
            for e in entries {
                walk(&e, out);
            }
        } else if let Ok(bytes) = std::fs::read(p) {
            if bytes.len() <= 64 * 1024 {
                if let Ok(s) = String::from_utf8(bytes) {
                    out.push(s);
                }
            }
        }
    }
    let mut out = vec![];
    for rel in paths {
        let p = data(rel);
        assert!(p.exists(), "missing sample {}", p.display());
        walk(&p, &mut out);
    }
    out
}

fn strs(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

/// Asserts that a 1-based position lies within `text`: on one of its lines, at most one
/// column past the end of that line (lines split on `\n`, columns in characters).
fn assert_within(text: &str, line: usize, col: usize, what: &str) {
    let lines: Vec<&str> = text.split('\n').collect();
    assert!(
        line >= 1 && line <= lines.len(),
        "{what}: line {line} is outside the input ({} lines): {text:?}",
        lines.len()
    );
    let len = lines[line - 1].chars().count();
    assert!(
        col >= 1 && col <= len + 1,
        "{what}: column {col} is outside line {line} ({len} characters: {:?}) of {text:?}",
        lines[line - 1]
    );
}

/// For a loader of user files: an input error must name a position, and the position must
/// be within the text (when the error is about that file).
fn assert_located(e: &Error, text: &str, file: &Path, what: &str) {
    match e {
        Error::Input { loc: Some(loc), .. } if loc.file == file => {
            assert_within(text, loc.line, loc.col, what);
        }
        Error::Input { loc: None, msg, .. } => {
            panic!("{what}: an input error without a position: {msg}\ninput: {text:?}")
        }
        _ => {}
    }
}

/// A scratch directory for loaders that only read files.
static SCRATCH: LazyLock<tempfile::TempDir> = LazyLock::new(|| tempfile::tempdir().unwrap());

/// Writes `text` to a fresh file named `name` in its own directory under the scratch one.
fn scratch_file(name: &str, text: &str) -> PathBuf {
    let dir = tempfile::tempdir_in(SCRATCH.path()).unwrap().keep();
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

// ============================================================================ YAML

fn yaml_samples() -> Vec<String> {
    let mut s = samples(&[
        "tests/data/inventory",
        "tests/data/policies",
        "tests/data/playbooks/semantics/blocks.yml",
        "tests/data/playbooks/semantics/loops.yml",
        "tests/data/playbooks/semantics/vars.yml",
        "tests/data/malformed/playbook",
        "tests/data/malformed/waivers",
        "tests/data/malformed/policy",
        "policies",
    ]);
    s.extend(strs(&[
        "base: &b {x: 1, y: [1, 2]}\nderived:\n  <<: *b\n  z: !unsafe '{{ x }}'\nlist: [a, 'b', \"c\\n\", 0755, 1:30, yes, ~, .inf, 1e3]\n",
        "%YAML 1.1\n---\nkey: |\n  block\n  text\nfolded: >-\n  a\n  b\n? complex\n: value\n",
        "- !vault |\n  $ANSIBLE_VAULT;1.1;AES256\n  3132\n- [ {a: [b, {c: d}]}, \"\\u00e9\" ]\n",
    ]));
    s
}

#[test]
fn yaml_parse_str() {
    let file = Path::new("fuzz.yml");
    fuzz("yaml::parse_str", &yaml_samples(), |text| {
        if let Err(e) = muster::yaml::parse_str(text, file) {
            assert_located(&e, text, file, "yaml::parse_str");
        }
    });
}

/// Nesting far past the limit, in every way YAML nests: an error, never a stack overflow.
#[test]
fn yaml_deep_nesting_is_an_error() {
    let file = Path::new("deep.yml");
    let n = 100_000;
    let deep = [
        "[".repeat(n),
        "{".repeat(n),
        format!("{}1{}", "[".repeat(n), "]".repeat(n)),
        format!("{}1{}", "{a: ".repeat(n), "}".repeat(n)),
        "- ".repeat(n) + "x\n",
        (0..5_000)
            .map(|i| format!("{}a:\n", " ".repeat(i)))
            .collect::<String>(),
        (0..5_000)
            .map(|i| format!("{}-\n", " ".repeat(i)))
            .collect::<String>(),
        "? ".repeat(n) + "x\n",
        "!!map {".repeat(n),
        "&a [".repeat(n),
    ];
    for text in &deep {
        match muster::yaml::parse_str(text, file) {
            Ok(_) => panic!("{}...: nesting this deep must be an error", &text[..40]),
            Err(e) => assert_located(&e, text, file, "deep yaml"),
        }
    }
    // Aliases that expand exponentially ("billion laughs") are refused too.
    let mut laughs = String::from("a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n");
    for i in 1..20 {
        let p = i - 1;
        laughs.push_str(&format!(
            "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
        ));
    }
    assert!(muster::yaml::parse_str(&laughs, file).is_err());
}

// ============================================================================ inventories

fn inventory_samples() -> Vec<String> {
    let mut s = samples(&["tests/data/inventory", "tests/data/malformed/inventory"]);
    s.extend(strs(&[
        "[web]\nweb[01:03].example.com ansible_port=2222 tags='[\"a\", 1]'\nweb9:2200 x=\"{'k': (1, 2.5, None)}\"\n\n[db:vars]\nport=5432\n[db]\ndb1 ansible_host=10.0.0.1\n[prod:children]\nweb\ndb\n[all:vars]\nansible_user=deploy\n",
        "all:\n  hosts:\n    solo:\n  children:\n    web:\n      hosts:\n        web[a:c]:\n          ansible_port: 22\n      vars: {http_port: 80}\n    prod:\n      children:\n        web:\n",
        "[ungrouped]\n[::1]:2222\n[fe80::1%eth0]\nlocalhost ansible_connection=local\n# comment\n; comment\n",
    ]));
    s
}

/// Every host the inventory knows.
fn all_hosts(inv: &Inventory) -> Vec<String> {
    inv.hosts().map(String::from).collect()
}

#[test]
fn inventory_from_text() {
    let seeds = inventory_samples();
    for name in ["hosts.yml", "hosts.ini", "hosts"] {
        let file = PathBuf::from(name);
        fuzz(&format!("Inventory::from_text({name})"), &seeds, |text| {
            match Inventory::from_text(text, &file) {
                Err(e) => assert_located(&e, text, &file, "inventory"),
                Ok(inv) => {
                    // Whatever loaded must answer the questions the commands ask.
                    let _ = inv.to_list_json();
                    let _ = inv.graph("all");
                    for h in inv.hosts().take(20) {
                        let _ = inv.host_vars(h);
                        let _ = inv.groups_of(h);
                    }
                }
            }
        });
    }
}

/// A deep chain of child groups, and ranges near the host limit, stay errors or answers.
#[test]
fn inventory_deep_children_and_big_ranges() {
    let n = 20_000;
    let mut ini = String::new();
    for i in 0..n {
        ini.push_str(&format!("[g{i}:children]\ng{}\n", i + 1));
    }
    ini.push_str(&format!("[g{n}]\nleaf\n"));
    let inv = Inventory::from_text(&ini, Path::new("deep.ini")).unwrap();
    assert_eq!(inv.select("g0").unwrap(), vec!["leaf".to_string()]);
    let _ = inv.graph("all");
    let _ = inv.host_vars("leaf");
    for text in [
        "[web]\nw[0:99999999]\n",
        "[web]\nw[0:99999999999999999999999]\n",
        "[web]\nw[0:9][0:9][0:9][0:9][0:9][0:9][0:9][0:9][0:9][0:9][0:9][0:9][0:9][0:9][0:9][0:9][0:9][0:9]\n",
        "[web]\nw[0:1:99999999999999999999999]\n",
    ] {
        assert!(Inventory::from_text(text, Path::new("big.ini")).is_err(), "{text}");
    }
    // Python literals nested past any sane depth.
    for n in [1_000, 100_000] {
        let v = format!("[web]\nw x={}\n", "[".repeat(n));
        let _ = Inventory::from_text(&v, Path::new("deep.ini"));
        let v = format!("[web]\nw x={}1{}\n", "(".repeat(n), ")".repeat(n));
        let _ = Inventory::from_text(&v, Path::new("deep.ini"));
        let _ = muster::inventory::parse_ini_value(&"{1: [".repeat(n));
    }
}

#[test]
fn ini_values() {
    let seeds = strs(&[
        "1",
        "-1.5e3",
        "0x1f",
        "0o17",
        "True",
        "None",
        "'it''s'",
        "\"a\\nb\\x41\\u00e9\"",
        "[1, 'two', [3.0, None]]",
        "{'a': 1, \"b\": [True, False]}",
        "1, 2,",
        "(1,)",
        "()",
        "b'bytes'",
        "u'text'",
        "r'\\d'",
        "1_000",
        "1j",
        "--1",
        "+1",
        "{1, 2}",
        "{}",
        "[]",
    ]);
    fuzz("inventory::parse_ini_value", &seeds, |text| {
        let _ = muster::inventory::parse_ini_value(text);
    });
}

fn pattern_inventory() -> Inventory {
    Inventory::from_text(
        "[web]\nweb[01:12].example.com\nweb-a\n[db]\ndb[1:3]\n10.0.0.[1:4]\n[prod:children]\nweb\ndb\n[stage]\nweb01.example.com\nstage[a:c]\n",
        Path::new("patterns.ini"),
    )
    .unwrap()
}

#[test]
fn inventory_select_patterns() {
    let inv = pattern_inventory();
    let hosts = all_hosts(&inv);
    let seeds = strs(&[
        "all",
        "*",
        "web:&prod:!web03.example.com",
        "web[0:2],db[-1]",
        "~web0[1-3]\\..*",
        "web*.example.com:!~.*3.*",
        "prod:!stage",
        "10.0.0.*",
        "web[1:]",
        "db[:1]",
        "&web",
        "!db",
        "stage[a:b],ungrouped",
        "web01.example.com,db1 db2",
        "~(",
        "[",
        "web[5]",
    ]);
    fuzz("Inventory::select", &seeds, |pattern| {
        if pattern.contains('@') {
            // `@FILE` reads a file of patterns: not what is fuzzed here.
            return;
        }
        if let Ok(picked) = inv.select(pattern) {
            for h in &picked {
                assert!(hosts.contains(h), "{pattern:?} selected unknown host {h:?}");
            }
        }
    });
}

// ============================================================================ known_hosts, ssh_config

fn known_hosts_samples() -> Vec<String> {
    let mut s = samples(&["tests/data/malformed/known_hosts"]);
    s.extend(strs(&[
        "# fleet\nweb1.example.com,10.0.0.1 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBXIEDH+WzeFWdcxufDxLx6dsSqWwJ/LL4lf+0Sb+XTm comment\n[web2]:2222 ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBG+kMFOS853Uf3K9LJtrWjBHRSldPP/3K1VyJdVd22p8nPfh9UV8adp6zAwWWXzUEcQipM7eTA0JKXRF7xKLYdQ=\n@cert-authority *.example.com,!bad.example.com ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBXIEDH+WzeFWdcxufDxLx6dsSqWwJ/LL4lf+0Sb+XTm\n@revoked * ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBXIEDH+WzeFWdcxufDxLx6dsSqWwJ/LL4lf+0Sb+XTm\n|1|F1E1KeoE/eEWhi10WpGv4OdiO6Y=|3988QV0VE8wmZL7suNrYQLITLCg= ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBXIEDH+WzeFWdcxufDxLx6dsSqWwJ/LL4lf+0Sb+XTm\n",
    ]));
    s
}

#[test]
fn known_hosts_parse() {
    use muster::transport::known_hosts::{match_pattern, KnownHosts};
    let file = PathBuf::from("known_hosts");
    fuzz("KnownHosts::parse", &known_hosts_samples(), |text| {
        match KnownHosts::parse(text, &file) {
            Err(e) => assert_located(&e, text, &file, "known_hosts"),
            Ok(kh) => {
                for (h, p) in [("web1.example.com", 22), ("web2", 2222), ("10.0.0.1", 22)] {
                    let _ = kh.key_types_for(h, p);
                    let _ = kh.has_cert_authority_for(h, p);
                }
            }
        }
        // Each line's first field as a pattern, against a few names.
        for line in text.lines().take(8) {
            if let Some(pat) = line.split_whitespace().next() {
                for h in ["web1.example.com", "[web2]:2222", "", "*", "é"] {
                    let _ = match_pattern(h, pat);
                }
            }
        }
    });
}

fn ssh_config_samples() -> Vec<String> {
    let mut s = samples(&["tests/data/malformed/ssh_config"]);
    s.extend(strs(&[
        "# defaults\nHost web* !web3 \"quoted name\"\n  HostName %h.example.com\n  User deploy\n  Port 2222\n  IdentityFile ~/.ssh/id_%u_%h %d/%r\n  ProxyJump bastion@jump:22,other\n  ConnectTimeout 1m30s\n  StrictHostKeyChecking accept-new\n  UserKnownHostsFile ${HOME}/kh \"/a b/kh\"\nMatch host db*,!db2 user root originalhost x exec \"true\"\n  Port=2200\nMatch all\n  IdentitiesOnly yes\nInclude extra.conf *.conf\nHost *\n  User=last\n",
    ]));
    s
}

#[test]
fn ssh_config_parse() {
    use muster::transport::ssh_config::{ResolveEnv, SshConfig};
    let file = PathBuf::from("ssh_config");
    // Relative Includes are looked up here.
    let ssh_dir = tempfile::tempdir().unwrap();
    std::fs::write(
        ssh_dir.path().join("extra.conf"),
        "Host extra\n  Port 2022\n",
    )
    .unwrap();
    let env = ResolveEnv {
        home: ssh_dir.path().to_path_buf(),
        local_user: "me".into(),
        local_host: "here".into(),
        uid: 1000,
    };
    fuzz("SshConfig::parse", &ssh_config_samples(), |text| {
        let reads_elsewhere = text.lines().any(|l| {
            l.to_ascii_lowercase().contains("include") && l.contains(['/', '~', '$', '%', '\\'])
        });
        if reads_elsewhere {
            // An Include outside the scratch ssh directory reads other files.
            return;
        }
        match SshConfig::parse_in(text, &file, ssh_dir.path()) {
            Err(e) => assert_located(&e, text, &file, "ssh_config"),
            Ok(cfg) => {
                for h in ["web1", "db2", "", "%", "quoted name"] {
                    let _ = cfg.resolve_in(h, &env);
                }
            }
        }
    });
}

// ============================================================================ -e, vault, quoting

#[test]
fn extra_vars() {
    let seeds = strs(&[
        "a=1 b='two words' c=\"x=y\" d=",
        "{\"a\": [1, 2], \"b\": {\"c\": null}}",
        "{a: 1, b: [x, y]}",
        "---\na: 1\nb: {c: d}\n",
        "key=value\\ with\\ escapes k2='it''s'",
        "{'a': 1}",
        "x==1 =y k",
    ]);
    fuzz("parse_extra_vars", &seeds, |arg| {
        if arg.trim_start().starts_with('@') {
            // `@FILE` reads a file: covered by the YAML loader.
            return;
        }
        let _ = muster::engine::vars::parse_extra_vars(arg);
    });
}

#[test]
fn kv_arguments() {
    let seeds = strs(&[
        "src=a dest='/tmp/x y' mode=0644 force=yes",
        "echo \"hello world\" chdir=/tmp creates=/x",
        "msg='{{ a }} b' var=x",
        "k=\"unterminated",
        "a\\=b c='d\\'e'",
        "cmd={{ 'a=b' }} x={% raw %}y{% endraw %}",
    ]);
    fuzz("playbook::kv", &seeds, |s| {
        let _ = muster::playbook::kv::split_args(s);
        let _ = muster::playbook::kv::parse_kv(s, false, &[]);
        let _ = muster::playbook::kv::parse_kv(s, true, &["chdir", "creates", "removes"]);
    });
}

static VAULT_SEEDS: LazyLock<Vec<String>> = LazyLock::new(|| {
    use muster::config::Secret;
    let pw = Secret::new("fuzz-password");
    vec![
        muster::vault::encrypt(b"secret: value\n", &pw, None).unwrap(),
        muster::vault::encrypt(b"", &pw, Some("prod")).unwrap(),
        muster::vault::encrypt(&[b'x'; 100], &pw, None).unwrap(),
        "$ANSIBLE_VAULT;1.2;AES256;dev\n6162\n".to_string(),
        "  $ANSIBLE_VAULT;1.1;AES256\n  3132\n  3334\n".to_string(),
    ]
});

#[test]
fn vault_envelopes() {
    use muster::config::Secret;
    use muster::vault::VaultError;
    let right = Secret::new("fuzz-password");
    // The parser on its own: no panic, and a position within the text.
    fuzz("vault::parse", &VAULT_SEEDS, |text| {
        if let Err(VaultError::Format { line, col, .. }) = muster::vault::parse(text) {
            let t = text.strip_prefix('\u{feff}').unwrap_or(text);
            assert_within(t, line, col, "vault::parse");
        }
    });
    // Decryption (PBKDF2 is slow in any build: fewer cases) with the right password and a
    // random one: whatever a damaged envelope holds, an error or bytes, never a panic.
    let strategy =
        (inputs(&VAULT_SEEDS), "(?s).{0,20}").prop_map(|(text, pw)| format!("{pw}\u{0}{text}"));
    check("vault::decrypt", (cases() / 4).max(16), strategy, |both| {
        let (pw, text) = both.split_once('\u{0}').unwrap_or(("", both));
        let Ok(env) = muster::vault::parse(text) else {
            return;
        };
        let _ = env.open(&[Secret::new(pw)]);
        let _ = env.open(&[Secret::new(pw), right.clone()]);
    });
}

/// `printf %s <quoted>` through a real `sh` prints the word exactly.
#[test]
fn quote_round_trips_through_sh() {
    use muster::transport::quote::quote;
    let hostile = strs(&[
        "'; rm -rf / #",
        "$(id)",
        "`id`",
        "${HOME}",
        "a\nb\n",
        "*",
        "?[a]*",
        "'",
        "''",
        "\\'",
        "\"$(printf x)\"",
        "-n",
        "--",
        "%s%d%%",
        "\\n\\t",
        "\u{1}\u{1b}[31m\u{7f}",
        "é😀\u{200b}",
        "~root",
        "a'b'c''",
        " leading and trailing ",
        "!!",
        "a;b|c&d>e<f",
    ]);
    let sh = |word: &str| {
        let out = std::process::Command::new("/bin/sh")
            .arg("-c")
            .arg(format!("printf %s {}", quote(word)))
            .output()
            .unwrap();
        assert!(out.status.success(), "{word:?}: {out:?}");
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            word,
            "quote({word:?}) = {}",
            quote(word)
        );
    };
    for w in &hostile {
        sh(w);
    }
    // No NUL: no argv can carry one. Spawning sh is slow: a quarter of the cases.
    let words = proptest::collection::vec(
        prop_oneof![
            3 => text_char().prop_filter("no NUL", |c| *c != '\0').prop_map(String::from),
            1 => proptest::sample::select(TOKENS)
                .prop_filter("no NUL", |t| !t.contains('\0'))
                .prop_map(String::from),
            1 => any::<char>().prop_filter("no NUL", |c| *c != '\0').prop_map(String::from),
        ],
        0..40,
    )
    .prop_map(|v| v.concat());
    check(
        "quote",
        (cases() / 4).max(16),
        prop_oneof![words, mutated(&hostile)].prop_filter("no NUL", |s| !s.contains('\0')),
        sh,
    );
}

// ============================================================================ playbooks, policies, waivers, ansible.cfg

fn playbook_samples() -> Vec<String> {
    let mut s = samples(&[
        "tests/data/playbooks/semantics/blocks.yml",
        "tests/data/playbooks/semantics/handlers.yml",
        "tests/data/playbooks/semantics/loops.yml",
        "tests/data/playbooks/semantics/keywords.yml",
        "tests/data/playbooks/semantics/register.yml",
        "tests/data/playbooks/semantics/tags.yml",
        "tests/data/playbooks/semantics/vars.yml",
        "tests/data/malformed/playbook",
    ]);
    s.extend(strs(&[
        "- hosts: all\n  gather_facts: no\n  vars: {a: 1}\n  tasks:\n    - name: one\n      copy: src=a dest=/tmp/b mode=0644\n      when: a == 1\n      loop: [1, 2]\n      register: r\n      notify: h\n    - block:\n        - command: echo {{ item }}\n          changed_when: false\n      rescue:\n        - debug: msg=x\n  handlers:\n    - name: h\n      service: {name: x, state: restarted}\n",
    ]));
    s
}

/// Loading, then the checks `muster validate` adds (Jinja syntax of every template and
/// condition, module arguments).
#[test]
fn playbook_loader() {
    let templar = muster::template::Templar::new();
    fuzz("Loader::load_playbook", &playbook_samples(), |text| {
        let path = scratch_file("site.yml", text);
        let mut loader = muster::playbook::Loader::new(vec![]);
        match loader.load_playbook(&path) {
            Err(e) => assert_located(&e, text, &path, "playbook"),
            Ok(pb) => {
                for play in &pb.plays {
                    if let Err(e) = muster::playbook::check::check_play(&templar, play, None) {
                        assert_located(&e, text, &path, "playbook check");
                    }
                }
            }
        }
        let _ = std::fs::remove_dir_all(path.parent().unwrap());
    });
}

/// Task files (what roles and `import_tasks` read).
#[test]
fn task_files() {
    let seeds = samples(&[
        "tests/data/playbooks/semantics/tasks",
        "tests/data/playbooks/baseline/roles",
    ]);
    let templar = muster::template::Templar::new();
    check(
        "Loader::load_task_file",
        cases() / 2,
        inputs(&seeds),
        |text| {
            let path = scratch_file("main.yml", text);
            let mut loader = muster::playbook::Loader::new(vec![]);
            match loader.load_task_file(&path, None) {
                Err(e) => assert_located(&e, text, &path, "task file"),
                Ok(tasks) => {
                    if let Err(e) = muster::playbook::check::check_tasks(&templar, &tasks, None) {
                        assert_located(&e, text, &path, "task file check");
                    }
                }
            }
            let _ = std::fs::remove_dir_all(path.parent().unwrap());
        },
    );
}

/// Jinja templates and conditions: syntax errors are placed inside the text.
#[test]
fn templates() {
    use muster::template::{Origin, Templar};
    let t = Templar::new();
    let seeds = strs(&[
        "{{ a | default('x') }} and {% if b is defined %}{{ b.c[0] }}{% else %}none{% endif %}",
        "{% for i in range(3) %}{{ loop.index }}{{ i | string }}{% endfor %}\n{# comment #}",
        "{{ lookup('env', 'HOME') }} {{ x | regex_replace('^a(.*)$', '\\1') | to_nice_yaml }}",
        "ansible_distribution == 'Debian' and (x | int) > 3 or y is version('1.2', '>=')",
        "{{ {'a': [1, 2.5, none, true]} | dict2items | map(attribute='key') | list }}",
        "{% raw %}{{ not a template }}{% endraw %}{{ '%s' | format(1) }}",
    ]);
    // In a file, as templates are: positions are clamped to the file's lines (a template's
    // text need not lie in its file as written: folded scalars, quotes, block indentation).
    let file = scratch_file("template.j2", "");
    fuzz("Templar syntax", &seeds, |text| {
        std::fs::write(&file, text).unwrap();
        let origin = Origin::new(&file, 1, 1);
        for r in [
            t.check_syntax(text, &origin),
            t.check_file_syntax(text, &origin),
            t.check_expr_syntax(text, &origin),
        ] {
            if let Err(e) = r {
                assert_located(&e, text, &file, "template");
            }
        }
        let _ = t.referenced_vars(text);
        let _ = t.referenced_vars_expr(text);
    });
}

/// Command-line values read as text: `--shard K/N`, report formats.
#[test]
fn cli_values() {
    let seeds = strs(&[
        "1/3",
        " 2 / 2 ",
        "0/0",
        "18446744073709551615/18446744073709551615",
        "json",
        "MD",
        "prom",
    ]);
    fuzz("Shard / Format", &seeds, |t| {
        let _ = muster::config::Shard::parse(t);
        let _ = muster::report::Format::parse(t);
    });
}

#[test]
fn policy_loader() {
    let seeds = samples(&[
        "policies",
        "tests/data/policies",
        "tests/data/malformed/policy",
    ]);
    fuzz("Policy::load", &seeds, |text| {
        let path = scratch_file("policy.yml", text);
        if let Err(e) = muster::policy::Policy::load(&path) {
            assert_located(&e, text, &path, "policy");
        }
        let _ = std::fs::remove_dir_all(path.parent().unwrap());
    });
}

#[test]
fn waivers_loader() {
    let mut seeds = samples(&["tests/data/malformed/waivers"]);
    seeds.push("- control: ssh-root\n  hosts: \"web*:!web3\"\n  reason: legacy app needs it\n  owner: ops@example.com\n  expires: 2030-02-28\n- control: '*'\n  hosts: [db1, db2]\n  reason: x\n  expires: \"2024-02-29\"\n".into());
    fuzz("waivers::load", &seeds, |text| {
        let path = scratch_file("waivers.yml", text);
        match muster::policy::waivers::load(&path) {
            Err(e) => assert_located(&e, text, &path, "waivers"),
            Ok(ws) => {
                for w in &ws {
                    let _ = w.matches("ssh-root", "web1");
                    let _ = w.expired("2026-01-01");
                }
            }
        }
        let _ = std::fs::remove_dir_all(path.parent().unwrap());
    });
}

#[test]
fn vars_files() {
    // (no prefixes: the YAML under it has them, and this one writes a file per input)
    check("load_vars_file", cases(), inputs(&yaml_samples()), |text| {
        let path = scratch_file("vars.yml", text);
        if let Err(e) = muster::playbook::load_vars_file(&path) {
            assert_located(&e, text, &path, "vars file");
        }
        let _ = std::fs::remove_dir_all(path.parent().unwrap());
    });
}

#[test]
fn ansible_cfg() {
    let mut seeds = samples(&["tests/data/malformed/ansible_cfg"]);
    seeds.retain(|s| !s.contains("hosts:"));
    seeds.push("[defaults]\ninventory = ./inventory, other.ini\nroles_path = roles:~/roles\nremote_user = deploy\nforks = 20\nhost_key_checking = False\n# comment\n; comment\n[privilege_escalation]\nbecome = yes\nbecome_user: root\nbecome_method = sudo\n  continued\n".into());
    fuzz("load_ansible_cfg", &seeds, |text| {
        let path = scratch_file("ansible.cfg", text);
        if let Err(e) = muster::engine::vars::load_ansible_cfg(&path) {
            assert_located(&e, text, &path, "ansible.cfg");
        }
        let _ = std::fs::remove_dir_all(path.parent().unwrap());
    });
}

// ============================================================================ facts

#[test]
fn fact_script_output() {
    let seeds = samples(&["tests/data/facts"]);
    fuzz("facts::parse", &seeds, |text| {
        let _ = muster::facts::parse(text);
    });
}

#[test]
fn windows_facts() {
    let seeds = strs(&[
        "#< CLIXML\n{\"system\":\"Win32NT\",\"os_family\":\"Windows\",\"distribution_version\":\"10.0.22631\",\"date_time\":{\"epoch\":\"1700000000\"},\"muster_packages\":[{\"DisplayName\":\"7-Zip\",\"DisplayVersion\":\"23.01\"}]}",
        "{\"system\":\"Win32NT\",\"muster_packages\":\"one\"}",
    ]);
    fuzz("parse_windows_facts", &seeds, |text| {
        let _ = muster::policy::audit::parse_windows_facts(text);
    });
}

// ============================================================================ command outputs

/// Hand-written outputs of the tools whose samples live in unit tests (from the shapes the
/// tools' documentation and the unit tests show), by the name the fuzzers below use.
fn outputs(kind: &str) -> Vec<String> {
    let v: &[&str] = match kind {
        "lsblk" => &[
            "{\"blockdevices\": [{\"name\": \"nvme0n1\", \"path\": \"/dev/nvme0n1\", \"type\": \"disk\", \"fstype\": null, \"mountpoint\": null, \"rm\": false, \"children\": [{\"name\": \"nvme0n1p3\", \"type\": \"part\", \"fstype\": \"crypto_LUKS\", \"pkname\": \"nvme0n1\", \"children\": [{\"name\": \"cryptroot\", \"path\": \"/dev/mapper/cryptroot\", \"type\": \"crypt\", \"fstype\": \"ext4\", \"mountpoints\": [\"/\", null], \"rm\": \"0\"}]}]}]}",
        ],
        "luks" => &[
            "@@status /dev/mapper/cryptroot\n/dev/mapper/cryptroot is active and is in use.\n  type:    LUKS2\n  cipher:  aes-xts-plain64\n  keysize: 512 bits\n  device:  /dev/nvme0n1p3\n  mode:    read/write\n@@dump /dev/sda2\nLUKS header information for /dev/sda2\n\nVersion:       \t1\nCipher name:   \taes\nCipher mode:   \txts-plain64\nHash spec:     \tsha256\n",
            "type: PLAIN\ncipher: aes-cbc-essiv:sha256\ndevice: /dev/sdb1\n",
        ],
        "fdesetup" => &[
            "FileVault is On.\n",
            "FileVault is Off.\n",
            "FileVault is On.\nEncryption in progress: Percent completed = 42.5\n",
            "FileVault is Off, but will be enabled after the next restart.\n",
            "FileVault is On, but needs to be restarted to finish.\n",
            "Decryption in progress: Percent completed = 12 %\n",
        ],
        "bitlocker" => &[
            "[{\"MountPoint\":\"C:\",\"VolumeType\":0,\"VolumeStatus\":1,\"ProtectionStatus\":1,\"EncryptionPercentage\":100,\"EncryptionMethod\":7},{\"MountPoint\":\"D:\",\"VolumeType\":\"Data\",\"VolumeStatus\":\"2\",\"ProtectionStatus\":\"Off\",\"EncryptionPercentage\":\"55.5\",\"EncryptionMethod\":99}]",
            "\u{feff}{\"MountPoint\":\"C:\",\"VolumeType\":\"OperatingSystem\",\"VolumeStatus\":\"FullyDecrypted\",\"ProtectionStatus\":0,\"EncryptionPercentage\":0,\"EncryptionMethod\":0}",
        ],
        "manage_bde" => &[
            "BitLocker Drive Encryption: Configuration Tool version 10.0\nVolume C: [OS]\n    Conversion Status:    Fully Encrypted\n    Percentage Encrypted: 100.0%\n    Protection Status:    Protection On\n",
        ],
        "crypttab" => &["# <target> <source> <key> <options>\ncryptroot UUID=1234-abcd none luks,discard\nswap /dev/sda3 /dev/urandom swap\n"],
        "firewalld" => &[
            "state: running\ndefault: public\n@@zone public\npublic (active)\n  target: default\n  interfaces: eth0\n  services: ssh dhcpv6-client cockpit custom\n  ports: 8080/tcp 60000-61000/udp\n  rich rules:\n@@zone drop\ndrop\n  target: DROP\n  services: \n  ports: \n",
            "state: not running\n",
        ],
        "alf" => &[
            "Firewall is enabled. (State = 1)\nBlock all INCOMING connections: disabled\nStealth mode enabled\n",
            "Firewall is disabled. (State = 0)\nFirewall has block all state set to enabled.\nFirewall stealth mode is off\n",
            "Firewall is blocking all non-essential incoming connections. (State = 2)\n",
        ],
        "pf" => &["Status: Enabled for 0 days 00:01:02           Debug: Urgent\n", "Status: Disabled\n"],
        "profiles" => &[
            "[{\"Name\":\"Domain\",\"Enabled\":1,\"DefaultInboundAction\":4},{\"Name\":\"Private\",\"Enabled\":\"True\",\"DefaultInboundAction\":\"NotConfigured\"},{\"Name\":\"Public\",\"Enabled\":2,\"DefaultInboundAction\":null}]",
            "{\"Name\":\"Public\",\"Enabled\":false,\"DefaultInboundAction\":\"Allow\"}",
        ],
        "sshd" => &[
            "port 22\naddressfamily any\nlistenaddress 0.0.0.0:22\npermitrootlogin without-password\npasswordauthentication no\nmaxauthtries 6\nx11forwarding yes\nciphers chacha20-poly1305@openssh.com,aes256-gcm@openssh.com\nauthorizedkeysfile .ssh/authorized_keys .ssh/authorized_keys2\nsubsystem sftp /usr/lib/openssh/sftp-server\n",
        ],
        "stat" => &["644 root root 1234 regular file\n", "600 0 42 0 directory\n"],
        "sysctl" => &["net.ipv4.ip_forward = 0\nnet.ipv4.conf.all.rp_filter = 1\nkernel.randomize_va_space=2\nsysctl: cannot stat /proc/sys/x: No such file or directory\n"],
        "passwd" => &[
            "root:x:0:0:root:/root:/bin/bash\ndaemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n--\n!\n",
            "alice:x:1000:1000:Alice,,,:/home/alice:/bin/zsh\n--\n$\n",
        ],
        "shadow" => &["root:!:19700:0:99999:7:::\nalice:$6$salt$hash:19000::::::\nbob::::::::\n"],
        "group" => &["root:x:0:\nsudo:x:27:alice,bob\nusers:x:100:\n"],
        "softwareupdate" => &[
            "Software Update Tool\n\nFinding available software\nSoftware Update found the following new or updated software:\n* Label: macOS Sonoma 14.5-23F79\n\tTitle: macOS Sonoma 14.5, Version: 14.5, Size: 1234K, Recommended: YES, Action: restart,\n* Label: Safari17.5\n\tTitle: Safari, Version: 17.5, Size: 1K, Recommended: YES,\n",
            "   * Security Update 2019-001-10.13.6\n\tSecurity Update 2019-001 (10.13.6), 1955118K [recommended] [restart]\n",
        ],
        "windows_updates" => &[
            "[{\"Title\":\"2024-05 Cumulative Update\",\"MsrcSeverity\":\"Critical\",\"Categories\":[\"Security Updates\"]},{\"Title\":\"Defender\",\"MsrcSeverity\":null,\"Categories\":\"Definition Updates\"}]",
            "#< CLIXML\n{\"Title\":\"x\"}",
            "",
        ],
        "windows_uninstall" => &["[{\"DisplayName\":\"7-Zip 23.01 (x64)\",\"DisplayVersion\":\"23.01\"},{\"DisplayName\":null},{\"DisplayVersion\":\"1\"}]"],
        "pkgutil" => &["package-id: com.apple.pkg.Core\nversion: 14.5.0.1.1\nvolume: /\nlocation: /\ninstall-time: 1700000000\n"],
        "dnf_updateinfo" => &[
            "FEDORA-2024-abc Important/Sec. openssl-libs-1:3.0.7-27.el9.x86_64\nRHSA-2024:1234 security CVE-2024-1 kernel-5.14.0-427.el9.x86_64\n",
        ],
        "apk_version" => &["Installed:                                Available:\nmusl-1.2.4-r2                           < 1.2.4-r3\nbusybox-1.36.1-r5                       < 1.36.1-r7\n"],
        "dates" => &[
            "2024-05-14 09:13:03 +0000\n",
            "2024-05-14T09:13:03Z",
            "2024-05-14T09:13:03.1234567+02:00",
            "1700000000",
            "Start-Date: 2024-05-14  09:13:03\nCommandline: apt-get upgrade\nUpgrade: a:amd64 (1, 2)\nEnd-Date: 2024-05-14  09:14:03\n",
        ],
        "service_show" => &[
            "Id=ssh.service\nNames=ssh.service sshd.service\nLoadState=loaded\nActiveState=active\nSubState=running\nUnitFileState=enabled\nMainPID=1234\n",
            "Id=nope.service\nLoadState=not-found\nActiveState=inactive\nSubState=dead\nUnitFileState=\n",
            "LoadState=masked\nActiveState=inactive\n",
        ],
        "units" => &[
            "ssh.service loaded active running OpenBSD Secure Shell server\n● nope.service not-found inactive dead nope.service\ncron.service loaded inactive dead Regular background program processing daemon\n",
            "ssh.service enabled enabled\ngetty@.service enabled enabled\nmasked.service masked enabled\n",
        ],
        "openrc" => &[
            "Runlevel: default\n sshd                                   [  started  ]\n crond                                  [  stopped  ]\nDynamic Runlevel: needed/wanted\n",
            "                sshd | boot default\n               crond |\n",
        ],
        "sysv" => &[
            " [ + ]  cron\n [ - ]  ssh\n [ ? ]  hwclock.sh\n",
            "/etc/rc2.d/S01cron\n/etc/rc0.d/K01ssh\n/etc/rcS.d/S01x\n/etc/rc2.d/K\n",
        ],
        "package_facts" => &[
            "@@apt\nii \tbash\t5.2.15-2+b2\tamd64\n@@rpm\nbash\t0:5.1.8-6.el9\tx86_64\n@@apk\nmusl-1.2.4-r2\n",
        ],
        "getent" => &["root:x:0:0:root:/root:/bin/bash\nlocalhost 127.0.0.1 ::1\n\nssh 22/tcp\n"],
        "sections" => &["\n@@mustertag:a\nbody a\nmore\n\n@@mustertag:b.stat\n644 root root\n\n@@mustertag:b\nfile\n"],
        "fileops" => &[
            "@U 0022\n@I uid=1000(alice) gid=1000(alice) groups=1000(alice),27(sudo)\n@S0 81a4|1000|1000|12|1700000000|1700000001|1700000002|1234|2049|1|alice|alice|/etc/x\n@H0 da39a3ee5e6b4b0d3255bfef95601890afd80709  -\n@A0 rw\n@L0 /target\n@R0 /source\n@E0 41ed|0|0|4096|1|2|3|4|5|2|root|root|/etc/x/sub\n@X1\n@T extra line\n@D\nfile content\nwith @S0 lines\n",
        ],
        "mount" => &["/dev/sda1 / ext4 rw,relatime 0 1\nUUID=abc /home\\040x xfs defaults 0 2\n# comment\ntmpfs /tmp tmpfs nosuid,nodev\n"],
        "authorized_keys" => &[
            "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBXIEDH+WzeFWdcxufDxLx6dsSqWwJ/LL4lf+0Sb+XTm alice@laptop\nfrom=\"10.0.0.0/8\",no-pty,command=\"echo \\\"hi\\\"\" ssh-rsa AAAAB3NzaC1yc2E= bob\n# comment\n",
        ],
        "find" => &["81a4|0|0|12|1700000000|1700000001|1700000002|1234|2049|1|root|root|/etc/x\n41ed|0|0|4096|1|2|3|4|5|2|root|root|/etc/a|b\n"],
        "lsmod" => &["Module                  Size  Used by\nnf_tables             123  4 nft_ct\nbr_netfilter           16  0\n", "kernel/net/bridge/br_netfilter.ko\n"],
        "ufw_conf" => &["# /etc/default/ufw\nIPV6=yes\nDEFAULT_INPUT_POLICY=\"DROP\"\nLOGLEVEL=low\nENABLED=yes\n", "-A ufw-before-input -j ACCEPT\nSkipping adding existing rule\nRules updated\n"],
        "sysctl_conf" => &["# comment\nnet.ipv4.ip_forward = 1\n net.ipv6.conf.all.disable_ipv6=0\nkernel.x\n"],
        "versions" => &["1:2.3.4-5ubuntu1~22.04", "2.0~rc1+dfsg-1", "1.2.3-r4", "0:5.1.8-6.el9", "10.0.22631", "1.2.3a.4^git~5", "1.0.0-alpha.1+build"],
        "apt_periodic" => &["APT::Periodic \"\";\nAPT::Periodic::Update-Package-Lists \"1\";\nAPT::Periodic::Unattended-Upgrade \"1\";\nunattended-upgrades=ii \n"],
        _ => panic!("no sample outputs for {kind}"),
    };
    strs(v)
}

#[test]
fn disk_encryption_parsers() {
    use muster::policy::checks::disk_encryption::*;
    let mut lsblk = samples(&[
        "tests/data/checks/disk/lsblk-debian12-default.json",
        "tests/data/checks/disk/lsblk-debian12-loop-luks.json",
        "tests/data/checks/disk/lsblk-debian12-old-columns.json",
    ]);
    lsblk.extend(outputs("lsblk"));
    fuzz("parse_lsblk", &lsblk, |t| {
        if let Ok(roots) = parse_lsblk(t) {
            let _ = locate(&roots, "/");
            let _ = locate(&roots, "/home");
            let _ = paths_to(&roots, &|d: &BlockDev| d.kind == "crypt");
        }
    });
    let mut luks = samples(&["tests/data/checks/disk/luksdump-luks2-pbkdf2.txt"]);
    luks.extend(outputs("luks"));
    fuzz("luks parsers", &luks, |t| {
        let _ = parse_luks_dump(t);
        let _ = parse_crypt_status(t);
        let _ = parse_luks_probe(t);
    });
    fuzz("parse_fdesetup", &outputs("fdesetup"), |t| {
        let _ = parse_fdesetup(t);
    });
    fuzz("parse_bitlocker", &outputs("bitlocker"), |t| {
        let _ = parse_bitlocker(t);
    });
}

#[test]
fn firewall_parsers() {
    use muster::policy::checks::firewall::*;
    let nft = samples(&[
        "tests/data/checks/firewall/nft-debian12-stock.json",
        "tests/data/checks/firewall/nft-drop-ssh.json",
        "tests/data/checks/firewall/nft-reject-sets-ranges.json",
        "tests/data/checks/firewall/nft-firewalld-shape.json",
        "tests/data/checks/firewall/nft-ufw-inactive-plus-inet-drop.json",
        "tests/data/checks/firewall/nft-ufw-active.json",
    ]);
    fuzz("parse_nft", &nft, |t| {
        let _ = parse_nft(t);
    });
    let ipt = samples(&[
        "tests/data/checks/firewall/iptables-S-INPUT-drop.txt",
        "tests/data/checks/firewall/iptables-S-INPUT-empty.txt",
        "tests/data/checks/firewall/iptables-S-ufw-active.txt",
        "tests/data/checks/firewall/iptables-S-ufw-inactive-inet-drop.txt",
        "tests/data/checks/firewall/iptables-nonroot.stderr.txt",
    ]);
    fuzz("parse_iptables", &ipt, |t| {
        let _ = parse_iptables(t, "ip");
        let _ = parse_iptables(t, "ip6");
    });
    let ufw = samples(&[
        "tests/data/checks/firewall/ufw-status-verbose-active.txt",
        "tests/data/checks/firewall/ufw-status-verbose-inactive.txt",
        "tests/data/checks/firewall/ufw-nonroot.txt",
    ]);
    fuzz("parse_ufw", &ufw, |t| {
        let _ = parse_ufw(t);
    });
    let mut fwd = outputs("firewalld");
    fwd.extend(samples(&[
        "tests/data/checks/firewall/firewall-cmd-state-nodbus.txt",
    ]));
    fuzz("parse_firewalld", &fwd, |t| {
        let _ = parse_firewalld(t);
    });
    fuzz("parse_socketfilterfw", &outputs("alf"), |t| {
        let _ = parse_socketfilterfw(t);
    });
    fuzz("parse_net_firewall_profiles", &outputs("profiles"), |t| {
        let _ = parse_net_firewall_profiles(t);
    });
    let ports = strs(&[
        "22",
        "22/tcp",
        "60000:61000/udp",
        "80,443/tcp",
        "ssh",
        "1-65535/sctp",
        "0/tcp",
        "65536",
    ]);
    fuzz("PortSpec::parse_str", &ports, |t| {
        let _ = PortSpec::parse_str(t);
        let _ = PortSpec::parse(&json!(t));
    });
}

#[test]
fn sshd_and_batch_parsers() {
    fuzz("parse_sshd_t", &outputs("sshd"), |t| {
        let _ = checks::generic::parse_sshd_t(t);
    });
    let probes: Vec<checks::Probe> = (0..3)
        .map(|i| checks::Probe::new(format!("p{i}"), "true"))
        .collect();
    let batch = strs(&[
        "@@muster-probe:0@@\nout 0\n\n@@muster-rc:0:0@@\n@@muster-probe:1@@\nout 1\r\n@@muster-rc:1:127@@\n@@muster-probe:2@@\n\n@@muster-rc:2:-1@@\n@@muster-err:0@@\nerr\n@@muster-err:1@@\n\n@@muster-err:2@@\n@@muster-end@@\n",
    ]);
    fuzz("parse_batch", &batch, |t| {
        let _ = checks::parse_batch(&probes, t);
        let _ = checks::parse_batch(&[], t);
    });
}

#[test]
fn apps_and_updates_parsers() {
    use muster::policy::checks::{apps, updates};
    let mut pkg_lists = samples(&["tests/data/checks/apps", "tests/data/packages"]);
    pkg_lists.extend(outputs("pkgutil"));
    pkg_lists.extend(outputs("windows_uninstall"));
    fuzz("apps parsers", &pkg_lists, |t| {
        let _ = apps::parse_dpkg(t);
        let _ = apps::parse_rpm(t);
        let _ = apps::parse_apk(t);
        let _ = apps::parse_manual(t);
        let _ = apps::parse_system_profiler(t);
        let _ = apps::parse_pkgutil(t);
        let _ = apps::parse_windows_uninstall(t);
    });
    let versions = outputs("versions");
    let pairs = inputs(&versions);
    check(
        "apps::older / cmp_for",
        cases(),
        (pairs.clone(), pairs).prop_map(|(a, b)| format!("{a}\u{0}{b}")),
        |both| {
            let (a, b) = both.split_once('\u{0}').unwrap_or((both, ""));
            for src in ["dpkg", "rpm", "apk", "macos-app", "pkgutil", "windows"] {
                let _ = apps::older(src, a, b);
            }
            for m in [
                "apt", "dnf", "yum", "apk", "loose", "semver", "strict", "pip",
            ] {
                let _ = muster::template::version::cmp_for(m, a, b);
            }
            let _ = muster::modules::pkgparse::rpmvercmp(a, b);
            let _ = muster::modules::pkgparse::evr_cmp(a, b);
            let _ = muster::modules::pkgparse::split_deb_version(a);
            let _ = muster::modules::pkgparse::split_apk_pkgver(a);
            let _ = updates::split_apk(a);
        },
    );
    let mut upd = samples(&[
        "tests/data/checks/updates",
        "tests/data/packages/apt-get-s-upgrade.txt",
    ]);
    for k in [
        "softwareupdate",
        "windows_updates",
        "dnf_updateinfo",
        "apk_version",
        "apt_periodic",
        "dates",
    ] {
        upd.extend(outputs(k));
    }
    fuzz("updates parsers", &upd, |t| {
        let _ = updates::parse_apt(t);
        let _ = updates::parse_dnf_check_update(t);
        let _ = updates::parse_dnf_updateinfo(t);
        let _ = updates::parse_apk_version(t);
        let _ = updates::parse_softwareupdate(t);
        let _ = updates::parse_windows_updates(t);
        let _ = updates::json_list(t);
        let _ = updates::parse_apt_periodic(t);
        let _ = updates::kv(t);
        for l in t.lines().take(4) {
            let _ = updates::parse_time(l);
        }
        let _ = updates::parse_time(t);
    });
}

#[test]
fn module_output_parsers() {
    use muster::modules::*;
    let pkgs = samples(&[
        "tests/data/packages",
        "tests/data/checks/apps/debian12-dpkg-query.txt",
    ]);
    fuzz("pkgparse", &pkgs, |t| {
        let _ = pkgparse::parse_dpkg_query(t);
        let _ = pkgparse::parse_rpm_qa(t);
        let _ = pkgparse::parse_apk_info(t);
        let _ = pkgparse::parse_apk_list(t);
        let _ = pkgparse::parse_apt_policy(t);
        let _ = pkgparse::parse_apt_sim(t);
        let _ = pkgparse::parse_control_fields(t);
        let _ = pkgparse::parse_dnf_list(t);
        let _ = pkgparse::sections(t);
        let _ = pkgparse::split_pin(t);
        for m in ["apt", "dnf", "apk", "package"] {
            let _ = pkgparse::PkgState::parse(m, Some(t));
        }
    });
    fuzz("package_facts::parse", &outputs("package_facts"), |t| {
        let _ = package_facts::parse(t);
    });
    let mut passwd = outputs("passwd");
    passwd.extend(outputs("shadow"));
    passwd.extend(outputs("group"));
    passwd.extend(outputs("getent"));
    fuzz("user/getent parsers", &passwd, |t| {
        for l in t.lines().take(8) {
            let _ = user::parse_passwd(l);
            let _ = user::parse_shadow(l);
        }
        let _ = user::parse_groups(t);
        let _ = user::edit_entry(t, "alice", |f| f.push("x".into()));
        for db in ["passwd", "group", "hosts", "services"] {
            let _ = getent::parse(db, None, t);
            let _ = getent::parse(db, Some(":"), t);
            let _ = getent::parse(db, Some(""), t);
        }
    });
    fuzz("service show", &outputs("service_show"), |t| {
        let _ = service::parse_show(t);
        let _ = service::observe_systemd(t, "enabled\n");
        let _ = service::observe_systemd(t, t);
        let _ = service::systemd_enabled(t);
        let _ = service::openrc_runlevels(t, "sshd");
        let _ = service::sysv_links_enabled(t);
        let _ = service::chkconfig_enabled(t);
        let _ = service::pattern_running(t, "sshd");
    });
    let mut svc = outputs("units");
    svc.extend(outputs("openrc"));
    svc.extend(outputs("sysv"));
    fuzz("service_facts", &svc, |t| {
        let mut out = Map::new();
        service_facts::parse_systemd(t, t, &mut out);
        service_facts::parse_openrc(t, t, &mut out);
        service_facts::parse_sysv(t, t, &mut out);
        let mut s = std::collections::BTreeMap::new();
        for k in [
            "sd.units",
            "sd.files",
            "or.status",
            "or.update",
            "sv.all",
            "sv.links",
        ] {
            s.insert(k.to_string(), t.to_string());
        }
        let _ = service_facts::parse(&s);
    });
    let sections = sysutil::Sections::new();
    let marker = sections
        .script()
        .split('\'')
        .find(|w| w.starts_with("@@muster"))
        .map(String::from);
    let seeds: Vec<String> = outputs("sections")
        .into_iter()
        .map(|s| match &marker {
            Some(m) => s.replace("@@mustertag", m),
            None => s,
        })
        .collect();
    fuzz("sysutil::Sections::parse", &seeds, |t| {
        let s = sections.parse(t);
        let _ = sysutil::file_now(&s, "b");
    });
    let reqs = vec![
        fileops::ProbeReq::new("/etc/x"),
        fileops::ProbeReq::new("/etc/y/"),
    ];
    fuzz("fileops::parse_probe", &outputs("fileops"), |t| {
        let _ = fileops::parse_probe(t.as_bytes(), &reqs);
        let _ = fileops::parse_probe(t.as_bytes(), &[]);
        let _ = fileops::diff_text(t.as_bytes());
    });
    let mut lines = outputs("mount");
    lines.extend(outputs("authorized_keys"));
    lines.extend(outputs("find"));
    lines.extend(outputs("lsmod"));
    lines.extend(outputs("ufw_conf"));
    lines.extend(outputs("sysctl_conf"));
    fuzz("line parsers", &lines, |t| {
        for l in t.lines().take(8) {
            let _ = mount::parse_entry(l);
            let _ = mount::unescape(l);
            let _ = authorized_key::parse_key(l);
            let _ = find::entry(l);
            let _ = find::parse_age(l);
            let _ = find::parse_size(l);
        }
        let _ = mount::is_mounted(t, "/home x");
        let _ = mount::edit(t, "/", None);
        let _ = modprobe::is_loaded(t, t, "br_netfilter");
        let _ = ufw::conf_value(t, "DEFAULT_INPUT_POLICY");
        let _ = ufw::policy_word(t);
        let _ = ufw::status_word(t);
        let _ = ufw::dry_run_exists(t);
        let _ = ufw::logging_changes(t, "low");
        let _ = sysctl::file_value(t, "net.ipv4.ip_forward");
        let _ = sysctl::edit(t, "net.ipv4.ip_forward", Some("1"));
        let _ = sysctl::live_differs(t, "1");
    });
}

// ============================================================================ checks, end to end

/// Facts of each platform a check tells apart.
fn platforms() -> Vec<Map<String, Value>> {
    let f = |v: Value| v.as_object().unwrap().clone();
    vec![
        f(
            json!({"system": "Linux", "os_family": "Debian", "distribution": "Debian", "distribution_version": "12", "pkg_mgr": "apt", "service_mgr": "systemd", "date_time": {"epoch": "1700000000"}}),
        ),
        f(
            json!({"system": "Linux", "os_family": "RedHat", "distribution": "RedHat", "distribution_version": "9.4", "pkg_mgr": "dnf", "service_mgr": "systemd", "date_time": {"epoch": "1700000000"}}),
        ),
        f(
            json!({"system": "Linux", "os_family": "Alpine", "distribution": "Alpine", "distribution_version": "3.20.0", "pkg_mgr": "apk", "service_mgr": "openrc"}),
        ),
        f(
            json!({"system": "Darwin", "os_family": "Darwin", "distribution": "MacOSX", "distribution_version": "14.5", "pkg_mgr": "homebrew"}),
        ),
        f(
            json!({"system": "Win32NT", "os_family": "Windows", "distribution": "Microsoft Windows 11 Pro", "distribution_version": "10.0.22631", "date_time": {"epoch": "1700000000"}}),
        ),
        f(json!({"system": "FreeBSD", "os_family": "FreeBSD", "distribution_version": "14.1"})),
    ]
}

/// Each built-in check kind with arguments that reach its parsers.
fn check_specs() -> Vec<(&'static str, Value)> {
    vec![
        ("disk_encryption", json!({"scope": "system"})),
        ("disk_encryption", json!({"scope": "all_fixed"})),
        (
            "firewall",
            json!({"enabled": true, "default_inbound": "deny", "allowed_inbound_ports": [22, "60000:61000/udp", "ssh"]}),
        ),
        ("firewall", json!({})),
        (
            "updates",
            json!({"pending_security": {"warn": 1, "fail": 5}, "days_since_update": {"warn": 14, "fail": 45}, "reboot_required": false}),
        ),
        ("updates", json!({"auto_updates": true})),
        (
            "updates",
            json!({"min_os_version": {"debian": "12", "macos": "14.4", "windows": "10.0.19045", "rhel": "9"}}),
        ),
        (
            "apps",
            json!({"deny": ["*torrent*", "telnetd"], "min_versions": {"openssl": "3.0.0", "bash": "1:5"}}),
        ),
        ("apps", json!({"scope": "apps", "allow": ["*"]})),
        (
            "sshd",
            json!({"permitrootlogin": ["no", "prohibit-password"], "maxauthtries": {"max": 4}, "x11forwarding": false, "ciphers": "aes256-gcm@openssh.com"}),
        ),
        (
            "file",
            json!({"path": "/etc/shadow", "owner": "root", "group": "shadow", "max_mode": "0640", "contains": "^root:", "not_contains": "^[^:]+::"}),
        ),
        ("file", json!({"path": "/etc/motd", "exists": false})),
        (
            "command",
            json!({"cmd": "true", "rc": 0, "stdout": "^ok", "stdout_not": "bad", "stderr": "^$"}),
        ),
        (
            "service",
            json!({"name": "ssh", "running": true, "enabled": true}),
        ),
        (
            "sysctl",
            json!({"net.ipv4.ip_forward": 0, "kernel.randomize_va_space": "2"}),
        ),
        (
            "package",
            json!({"name": "openssh-server", "min_version": "1:9.0"}),
        ),
        ("package", json!({"name": "telnetd", "state": "absent"})),
        (
            "user",
            json!({"name": "root", "exists": true, "shell": "/bin/bash", "locked": true}),
        ),
    ]
}

/// Sample outputs for a probe, by its key (every sample when the key is not known here).
fn probe_samples(key: &str) -> Vec<String> {
    static ALL: LazyLock<HashMap<&'static str, Vec<String>>> = LazyLock::new(|| {
        let mut m: HashMap<&'static str, Vec<String>> = HashMap::new();
        let mut lsblk = samples(&["tests/data/checks/disk/lsblk-debian12-loop-luks.json"]);
        lsblk.extend(outputs("lsblk"));
        m.insert("lsblk", lsblk);
        m.insert("luks", outputs("luks"));
        m.insert("crypttab", outputs("crypttab"));
        m.insert("fdesetup", outputs("fdesetup"));
        m.insert("bitlocker", outputs("bitlocker"));
        m.insert("manage_bde", outputs("manage_bde"));
        m.insert(
            "nft",
            samples(&[
                "tests/data/checks/firewall/nft-drop-ssh.json",
                "tests/data/checks/firewall/nft-reject-sets-ranges.json",
            ]),
        );
        m.insert(
            "ufw",
            samples(&["tests/data/checks/firewall/ufw-status-verbose-active.txt"]),
        );
        m.insert(
            "iptables",
            samples(&[
                "tests/data/checks/firewall/iptables-S-INPUT-drop.txt",
                "tests/data/checks/firewall/iptables-S-ufw-active.txt",
            ]),
        );
        m.insert("firewalld", outputs("firewalld"));
        m.insert("alf", outputs("alf"));
        m.insert("pf", outputs("pf"));
        m.insert("profiles", outputs("profiles"));
        m.insert("sshd", outputs("sshd"));
        m.insert("stat", outputs("stat"));
        m.insert("content", outputs("shadow"));
        m.insert("cmd", strs(&["ok\n", "bad\n", ""]));
        m.insert("svc", outputs("service_show"));
        m.insert("sysctl", outputs("sysctl"));
        m.insert(
            "pkg",
            samples(&[
                "tests/data/packages/dpkg-query.txt",
                "tests/data/packages/rpm-qa.txt",
                "tests/data/packages/apk-info-v.txt",
            ]),
        );
        m.insert("user", outputs("passwd"));
        let mut upd = samples(&["tests/data/checks/updates"]);
        for k in [
            "softwareupdate",
            "windows_updates",
            "dnf_updateinfo",
            "apk_version",
            "apt_periodic",
            "dates",
        ] {
            upd.extend(outputs(k));
        }
        m.insert("updates", upd);
        let mut apps = samples(&["tests/data/checks/apps"]);
        apps.extend(outputs("pkgutil"));
        apps.extend(outputs("windows_uninstall"));
        m.insert("inventory", apps);
        m.insert(
            "manual",
            samples(&["tests/data/checks/apps/debian12-apt-mark-showmanual.txt"]),
        );
        m
    });
    for (k, v) in ALL.iter() {
        if key.contains(k) || k.contains(key) {
            return v.clone();
        }
    }
    ALL.values().flatten().cloned().collect()
}

/// Every built-in check, on every platform, judging damaged outputs of its probes (and odd
/// exit codes): a finding every time, never a panic. This covers the parsers of every probe
/// and the judgement code between them.
#[test]
fn checks_judge_damaged_probe_outputs() {
    let facts = platforms();
    /// A check, the facts of a platform, and its probes' keys with their sample outputs.
    type Job = (
        Box<dyn checks::Check>,
        Map<String, Value>,
        Vec<(String, Vec<String>)>,
    );
    let mut jobs: Vec<Job> = vec![];
    for (kind, args) in check_specs() {
        let build = checks::builtin(kind).unwrap();
        for f in &facts {
            let check = match build(&args) {
                Ok(c) => c,
                Err(checks::Invalid(m, _)) => panic!("{kind} {args}: {m}"),
            };
            let probes = check.probes(f);
            if probes.is_empty() {
                continue;
            }
            let keyed = probes
                .iter()
                .map(|p| (p.key.clone(), probe_samples(&p.key)))
                .collect();
            jobs.push((check, f.clone(), keyed));
        }
    }
    assert!(
        jobs.len() > 30,
        "only {} check/platform pairs have probes",
        jobs.len()
    );
    // One case: a job, then per probe a damaged sample (or arbitrary text), a stderr and an
    // exit code (for up to 8 probes).
    let n = jobs.len();
    let per_case = (cases() / 2).max(16);
    let strategy = (
        0..n,
        proptest::collection::vec(
            (
                0usize..1000,
                prop_oneof![Just(0i64), Just(1), Just(127), Just(-1), any::<i64>()],
                prop_oneof![3 => proptest::collection::vec(mutation(), 0..5).prop_map(Some), 1 => Just(None)],
                arb_text(),
                arb_text(),
            ),
            8,
        ),
        // now and then one fact as odd as the fact script's output can make it
        proptest::option::weighted(0.2, (0usize..5, arb_text())),
    );
    let started = std::time::Instant::now();
    let mut runner = runner(per_case);
    let result = quietly(|| {
        runner.run(&strategy, |(job, outs, odd_fact)| {
            let (check, facts, keyed) = &jobs[job];
            let mut facts = facts.clone();
            if let Some((k, text)) = odd_fact {
                let (key, value) = match k {
                    0 => ("distribution_version", json!(text)),
                    1 => ("distribution", json!(text)),
                    2 => ("date_time", json!({"epoch": text})),
                    3 => ("os_family", json!(text)),
                    _ => ("system_drive", json!(text)),
                };
                facts.insert(key.into(), value);
            }
            let facts = &facts;
            let mut out = HashMap::new();
            for ((key, seeds), (pick, rc, edits, text, stderr)) in keyed.iter().zip(outs) {
                let stdout = match (edits, seeds.is_empty()) {
                    (Some(ms), false) => apply(&seeds[pick % seeds.len()], &ms),
                    _ => text,
                };
                out.insert(key.clone(), ProbeOut { rc, stdout, stderr });
            }
            let vars = json!({});
            let ctx = CheckCtx {
                facts,
                vars: &vars,
                out: &out,
            };
            let finding = catch_unwind(AssertUnwindSafe(|| check.evaluate(&ctx)));
            match finding {
                Ok(_) => Ok(()),
                Err(p) => Err(TestCaseError::fail(format!(
                    "check panicked ({}) on facts {} with outputs {out:#?}",
                    p.downcast_ref::<String>()
                        .map(String::as_str)
                        .or_else(|| p.downcast_ref::<&str>().copied())
                        .unwrap_or("?"),
                    Value::Object(facts.clone())
                ))),
            }
        })
    });
    if let Err(e) = result {
        panic!("{e}");
    }
    eprintln!(
        "checks: {per_case} cases over {n} check/platform pairs in {:.1?}",
        started.elapsed()
    );
    // Prefixes of the first sample of each probe (the parsers' own tests above try them all).
    for (check, facts, keyed) in &jobs {
        for (key, seeds) in keyed {
            for seed in seeds.iter().take(1) {
                let mut at = 0;
                while at <= seed.len() {
                    if seed.is_char_boundary(at) {
                        let mut out = HashMap::new();
                        for (k, s) in keyed {
                            let text = if k == key {
                                &seed[..at]
                            } else {
                                s.first().map(String::as_str).unwrap_or("")
                            };
                            out.insert(
                                k.clone(),
                                ProbeOut {
                                    rc: 0,
                                    stdout: text.to_string(),
                                    stderr: String::new(),
                                },
                            );
                        }
                        let vars = json!({});
                        let ctx = CheckCtx {
                            facts,
                            vars: &vars,
                            out: &out,
                        };
                        if quietly(|| catch_unwind(AssertUnwindSafe(|| check.evaluate(&ctx))))
                            .is_err()
                        {
                            panic!(
                                "check panicked with probe {key} cut at {at}: {:?}",
                                &seed[..at]
                            );
                        }
                    }
                    at += 1 + seed.len() / 16;
                }
            }
        }
    }
}

// ============================================================================ regressions
//
// The minimal inputs of every crash the fuzzers above found, kept as plain tests.

/// Asserts `muster::yaml::parse_str` refuses `text` with a position inside it.
fn yaml_error_within(text: &str) {
    let file = Path::new("r.yml");
    match muster::yaml::parse_str(text, file) {
        Ok(v) => panic!("{text:?} parsed: {v:?}"),
        Err(e) => assert_located(&e, text, file, "yaml"),
    }
}

/// `%YAML` without a version was placed at column 7 of a 5-character line.
#[test]
fn regression_yaml_directive_without_version() {
    yaml_error_within("%YAML");
    yaml_error_within("%YAML\n---\na: 1\n");
}

/// yaml-rust2 breaks lines at a lone `\r` too; positions were on the wrong line.
#[test]
fn regression_yaml_lone_carriage_return() {
    yaml_error_within("a\r0a:\n ");
    yaml_error_within("¡\rAA:\nA");
}

/// An empty scalar at the end of a text without a final newline was marked on a line past
/// the end (found through the waivers and inventory loaders).
#[test]
fn regression_yaml_empty_scalar_at_end_of_text() {
    yaml_error_within("!!float");
    let root = muster::yaml::parse_str("-", Path::new("r.yml"))
        .unwrap()
        .unwrap();
    let muster::yaml::Value::Seq(items) = &root.value else {
        panic!("{root:?}")
    };
    assert_eq!((items[0].line, items[0].col), (1, 2));
    for (name, text) in [
        ("waivers.yml", "-"),
        ("waivers.yml", "- control: x\n  reason:"),
    ] {
        let path = scratch_file(name, text);
        let e = muster::policy::waivers::load(&path).unwrap_err();
        assert_located(&e, text, &path, "waivers");
    }
    let e = Inventory::from_text("s: !", Path::new("hosts.yml")).unwrap_err();
    assert_located(&e, "s: !", Path::new("hosts.yml"), "inventory");
}

/// A /etc/rcN.d link name with a multi-byte character in its first three bytes was sliced
/// inside the character.
#[test]
fn regression_sysv_link_name_not_ascii() {
    let mut out = Map::new();
    muster::modules::service_facts::parse_sysv(
        " [ + ]  Aࠀ\n",
        "/Aࠀ\n/etc/rc2.d/Sé1cron\n",
        &mut out,
    );
    assert!(out.contains_key("Aࠀ"));
}

/// A line that is just `@` in the file probe's output: the tag was sliced past the end.
#[test]
fn regression_file_probe_bare_at_line() {
    use muster::modules::fileops::{parse_probe, ProbeReq};
    let p = parse_probe(
        b"@\n@S0 81a4|0|0|1|1|2|3|4|5|1|root|root|/x\n",
        &[ProbeReq::new("/x")],
    )
    .unwrap();
    assert!(p.stats[0].is_some());
}

/// A `when:` that is not valid Jinja was placed three columns right of its text (the `{{ `
/// it was wrapped in), past the end of the line (found through a policy's remediation tasks,
/// checked with playbook::check as `muster validate` checks playbooks).
#[test]
fn regression_when_syntax_error_column() {
    let text = "name: l\ncontrols:\n  - id: w\n    check:\n     command: {cmd: x}\n    remediate:\n      - name: r\n        command: x\n        when: m n";
    let path = scratch_file("policy.yml", text);
    let e = muster::policy::Policy::load(&path).map(|_| ()).unwrap_err();
    assert_located(&e, text, &path, "policy");
    let Error::Input { loc: Some(loc), .. } = &e else {
        unreachable!()
    };
    // at the `n` the parser did not expect
    assert_eq!((loc.line, loc.col), (9, 17), "{e:?}");
}

/// A template error in a check's arguments was placed at the control's position shifted by
/// the error's offset in the argument, off the control's line.
#[test]
fn regression_check_argument_template_error_position() {
    let text = "name: e\ncontrols:\n  - id: S\n    check:\n     firewall: t{{ts }\n";
    let path = scratch_file("policy.yml", text);
    let e = muster::policy::Policy::load(&path).map(|_| ()).unwrap_err();
    assert_located(&e, text, &path, "policy");
}

/// A template error in a folded (multi-line) scalar was placed on the scalar's first line at
/// the error's offset in the folded text, past the end of that line.
#[test]
fn regression_template_error_in_folded_scalar() {
    let text = "name: e\ncontrols:\n  - id: S\n    check:\n     command: {cmd: x}\n    remediate:\n      - name: s\n        ansible.builtin.shell: e\n         {%";
    let path = scratch_file("policy.yml", text);
    let e = muster::policy::Policy::load(&path).map(|_| ()).unwrap_err();
    assert_located(&e, text, &path, "policy");
}

/// An octal escape above `\377` in /proc/mounts overflowed a byte (a panic in debug builds,
/// a wrong character in release ones).
#[test]
fn regression_mounts_octal_escape_overflow() {
    let _ = muster::facts::parse("@@muster:uname@@\n2\n@@muster:mounts@@\nc c \\634 0");
    let _ = muster::facts::parse(
        "@@muster:uname@@\nLinux\n@@muster:mounts@@\n/dev/sda1 /a\\777\\040b ext4 rw 0 0\n",
    );
}

/// A condition starting with a newline was checked trimmed but placed as if untrimmed: one
/// line too high.
#[test]
fn regression_condition_with_leading_newline() {
    use muster::template::{Origin, Templar};
    let file = PathBuf::from("no-such-file.yml");
    let text = "\n{%0";
    let e = Templar::new()
        .check_expr_syntax(text, &Origin::new(&file, 1, 1))
        .unwrap_err();
    assert_located(&e, text, &file, "condition");
}

/// `df -k` on FreeBSD with a block count whose bytes (× 1024) overflow u64: the size saturates
/// instead of a panic (found by a CI run of `fact_script_output`).
#[test]
fn regression_df_size_overflows_u64() {
    let text = "@@muster:uname@@\nN\n@@muster:sysctl@@\n@@muster:mount@@\n on / (zfs, \n\
                @@muster:df@@\n\nt 24748364827191124 0 4 % /";
    let _ = muster::facts::parse(text);
    // The real FreeBSD sample with its root file system grown past 16 EiB.
    let real = std::fs::read_to_string(data("tests/data/facts/freebsd-141-zfs.txt")).unwrap();
    let row = real
        .lines()
        .find(|l| l.starts_with("zroot/ROOT/default ") && l.ends_with('/'))
        .expect("the sample's df row of /");
    let text = real.replace(
        row,
        "zroot/ROOT/default 24748364827191124 0 18446744073709551615 0% /",
    );
    let f = muster::facts::parse(&text).unwrap();
    let mounts = f["mounts"].as_array().expect("mounts");
    let root = mounts
        .iter()
        .find(|m| m["mount"] == "/")
        .unwrap_or_else(|| panic!("no / in {f:#?}"));
    assert_eq!(root["size_total"], serde_json::json!(u64::MAX));
    assert_eq!(root["size_available"], serde_json::json!(u64::MAX));
}
