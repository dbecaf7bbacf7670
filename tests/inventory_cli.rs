//! `muster inventory` end to end: the real binary on the fixtures in tests/data/inventory/.

use std::path::PathBuf;
use std::process::{Command, Output};

use serde_json::{json, Value};

fn data(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/inventory")
        .join(rel)
}

fn muster(args: &[&str]) -> Output {
    let dir = tempfile::tempdir().unwrap();
    Command::new(env!("CARGO_BIN_EXE_muster"))
        .args(args)
        .current_dir(dir.path())
        .env("NO_COLOR", "1")
        .output()
        .expect("run muster")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}
fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn ok(args: &[&str]) -> String {
    let o = muster(args);
    assert_eq!(o.status.code(), Some(0), "{args:?}\nstderr: {}", stderr(&o));
    stdout(&o)
}

/// Runs muster on a malformed inventory and checks exit 1, `file:line:col` and a help line.
fn fails_at(rel: &str, line_col: &str, message: &str) {
    let path = data(rel);
    let p = path.to_str().unwrap();
    let o = muster(&["-i", p, "inventory", "--list"]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{rel}: {err}");
    assert!(!err.contains("panicked"), "{rel}: {err}");
    assert!(
        err.contains(&format!("{p}:{line_col}")),
        "{rel}: wanted {line_col} in\n{err}"
    );
    assert!(err.contains(message), "{rel}: wanted `{message}` in\n{err}");
    assert!(err.contains("help:"), "{rel}: {err}");
    assert!(stdout(&o).is_empty(), "{rel}: nothing on stdout");
}

#[test]
fn list_of_a_directory_with_group_vars_and_host_vars() {
    let site = data("site");
    let out = ok(&["-i", site.to_str().unwrap(), "inventory", "--list"]);
    let j: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        j,
        json!({
            "_meta": {"hostvars": {
                "db1": {"ansible_host": "10.0.0.5", "env": "prod", "ntp_server": "ntp.example.com", "tier": "none"},
                "mail.example.com": {"ntp_server": "ntp.example.com", "tier": "none"},
                "stage-db": {"ansible_connection": "local", "ntp_server": "ntp.example.com", "tier": "none"},
                "web1": {"env": "prod", "http_port": 9090, "ntp_server": "ntp.example.com", "tier": "web"},
                "web2": {"env": "prod", "http_port": 8080, "ntp_server": "ntp.example.com", "tier": "web"},
                "web3": {"ansible_port": 2222, "ansible_user": "deploy", "env": "prod",
                         "ntp_server": "ntp.example.com", "tier": "web"}
            }},
            "all": {"children": ["prod", "staging", "ungrouped"]},
            "db": {"hosts": ["db1"]},
            "prod": {"children": ["db", "web"]},
            "staging": {"hosts": ["stage-db", "web3"]},
            "ungrouped": {"hosts": ["mail.example.com"]},
            "web": {"hosts": ["web1", "web2", "web3"]}
        })
    );
    // keys come out sorted, as ansible-inventory prints them
    let first_keys: Vec<&str> = out
        .lines()
        .filter(|l| l.starts_with("  \""))
        .map(|l| l.trim().split('"').nth(1).unwrap())
        .collect();
    assert_eq!(
        first_keys,
        ["_meta", "all", "db", "prod", "staging", "ungrouped", "web"]
    );
}

#[test]
fn graph_from_all_and_from_a_group() {
    let site = data("site");
    let s = site.to_str().unwrap();
    assert_eq!(
        ok(&["-i", s, "inventory", "--graph"]),
        "@all:\n  |--@prod:\n  |  |--@db:\n  |  |  |--db1\n  |  |--@web:\n  |  |  |--web1\n  |  |  |--web2\n  |  |  |--web3\n  |--@staging:\n  |  |--stage-db\n  |  |--web3\n  |--@ungrouped:\n  |  |--mail.example.com\n"
    );
    assert_eq!(
        ok(&["-i", s, "inventory", "--graph", "web"]),
        "@web:\n  |--web1\n  |--web2\n  |--web3\n"
    );
    let o = muster(&["-i", s, "inventory", "--graph", "nosuchgroup"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("nosuchgroup"));
}

#[test]
fn host_shows_merged_vars() {
    let site = data("site");
    let s = site.to_str().unwrap();
    let j: Value = serde_json::from_str(&ok(&["-i", s, "inventory", "--host", "web1"])).unwrap();
    // host_vars/ beats the INI host line; group_vars/web beats group_vars/all beats [web:vars]
    assert_eq!(
        j,
        json!({"env": "prod", "http_port": 9090, "ntp_server": "ntp.example.com", "tier": "web"})
    );
    let j: Value = serde_json::from_str(&ok(&["-i", s, "inventory", "--host", "web3"])).unwrap();
    assert_eq!(j["ansible_port"], json!(2222));
    // the implicit localhost: local connection plus the `all` vars
    let j: Value =
        serde_json::from_str(&ok(&["-i", s, "inventory", "--host", "localhost"])).unwrap();
    assert_eq!(j["ansible_connection"], json!("local"));
    assert_eq!(j["ntp_server"], json!("ntp.example.com"));
    let o = muster(&["-i", s, "inventory", "--host", "nosuchhost"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(!stderr(&o).contains("panicked"));
}

#[test]
fn a_single_file_and_several_sources() {
    let ini = data("site/10-hosts.ini");
    let yml = data("site/20-extra.yml");
    let out = ok(&[
        "-i",
        ini.to_str().unwrap(),
        "-i",
        yml.to_str().unwrap(),
        "inventory",
        "--list",
    ]);
    let j: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(j["staging"]["hosts"], json!(["stage-db", "web3"]));
    assert_eq!(j["web"]["hosts"], json!(["web1", "web2", "web3"]));
}

#[test]
fn no_inventory_means_local_localhost() {
    let j: Value = serde_json::from_str(&ok(&["inventory", "--list"])).unwrap();
    assert_eq!(
        j,
        json!({
            "_meta": {"hostvars": {"localhost": {"ansible_connection": "local"}}},
            "all": {"children": ["ungrouped"]},
            "ungrouped": {"hosts": ["localhost"]}
        })
    );
}

#[test]
fn malformed_yaml() {
    fails_at("bad/bad_yaml.yml", "5:9", "invalid YAML");
}

#[test]
fn unknown_child_group() {
    fails_at(
        "bad/unknown_child.ini",
        "6:1",
        "unknown child group `database`",
    );
}

#[test]
fn bad_host_range() {
    fails_at("bad/bad_range.yml", "5:9", "bad host range `[01:x]`");
}

#[test]
fn unknown_connection_type() {
    fails_at(
        "bad/bad_connection.ini",
        "2:25",
        "unsupported connection type \"docker\"",
    );
}

#[test]
fn bad_port() {
    fails_at("bad/bad_port.yml", "4:21", "between 1 and 65535");
}

#[test]
fn hosts_written_as_a_list() {
    fails_at(
        "bad/hosts_list.yml",
        "3:5",
        "must be a mapping with host names as keys",
    );
}

#[test]
fn misspelt_group_key() {
    fails_at(
        "bad/unknown_key.yml",
        "4:7",
        "unknown key `host` in group `web`",
    );
}

#[test]
fn cycle_in_children() {
    fails_at("bad/cycle.ini", "5:1", "creates a cycle");
}

#[test]
fn missing_inventory_source() {
    let o = muster(&["-i", "/no/such/inventory", "inventory", "--list"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("/no/such/inventory"));
    assert!(!stderr(&o).contains("panicked"));
}
