//! `--shard K/N` and `muster report merge` against the real fleet: the shards of an audit
//! cover every host exactly once, and the merged report equals the unsharded one (times
//! aside); playbook runs honour the same split; bad merges are refused with a clear error.

mod fleet;

use fleet::show;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use fleet::Fleet;
use serde_json::Value;

fn data(p: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(p)
}

fn names(report: &Value) -> Vec<String> {
    report["hosts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["name"].as_str().unwrap().to_string())
        .collect()
}

/// A report without what differs between two runs of the same audit.
fn untimed(mut v: Value) -> Value {
    let m = v.as_object_mut().unwrap();
    m.remove("started");
    m.remove("duration_ms");
    v
}

#[test]
fn shards_cover_every_host_once_and_merge_to_the_unsharded_report() {
    let fleet = Fleet::debian(7);
    for h in ["host2", "host5"] {
        assert!(fleet.exec_on(h, "chmod 0644 /etc/shadow").status.success());
    }
    let policy = data("policies/generic.yml");
    let p = policy.to_str().unwrap();
    let dir = fleet.dir().join("shards");
    std::fs::create_dir_all(&dir).unwrap();

    let whole = fleet.run(&["audit", p, "--format", "json"]);
    assert_eq!(whole.status.code(), Some(2), "{}", show(&whole));
    let whole: Value = serde_json::from_slice(&whole.stdout).unwrap();
    assert_eq!(names(&whole).len(), 7);

    let mut seen: Vec<String> = Vec::new();
    let mut files = Vec::new();
    for k in 1..=3 {
        let path = dir.join(format!("shard-{k}.json"));
        let out = fleet.run(&[
            "--shard",
            &format!("{k}/3"),
            "audit",
            p,
            "-o",
            &format!("json={}", path.display()),
        ]);
        assert!(matches!(out.status.code(), Some(0 | 2)), "{}", show(&out));
        let shard: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        seen.extend(names(&shard));
        files.push(path.display().to_string());
    }
    let unique: BTreeSet<&String> = seen.iter().collect();
    assert_eq!(seen.len(), 7, "every host exactly once: {seen:?}");
    assert_eq!(
        unique.into_iter().cloned().collect::<Vec<_>>(),
        names(&whole),
        "the shards together are the fleet"
    );

    // Merged = unsharded (hosts in name order, summary and fleet score recomputed).
    let mut args = vec!["report", "merge"];
    args.extend(files.iter().map(String::as_str));
    let junit = dir.join("merged.xml");
    let junit_arg = format!("junit={}", junit.display());
    args.extend(["--format", "json", "-o", &junit_arg]);
    let merged = fleet.run(&args);
    assert_eq!(
        merged.status.code(),
        Some(2),
        "same exit code: {}",
        show(&merged)
    );
    let merged: Value = serde_json::from_slice(&merged.stdout).unwrap();
    assert_eq!(untimed(merged.clone()), untimed(whole.clone()));
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert_eq!(xml.matches("<testsuite ").count(), 7, "{xml}");

    // Playbook runs take the same split: each host pinged by exactly one shard.
    let mut pinged = BTreeSet::new();
    for k in 1..=3 {
        let out = fleet.run(&[
            "--shard",
            &format!("{k}/3"),
            "run",
            "-m",
            "command",
            "-a",
            "hostname",
            "--format",
            "json",
        ]);
        assert_eq!(out.status.code(), Some(0), "{}", show(&out));
        for line in String::from_utf8_lossy(&out.stdout).lines() {
            let v: Value = serde_json::from_str(line).unwrap();
            assert!(
                pinged.insert(v["host"].as_str().unwrap().to_string()),
                "twice: {v}"
            );
        }
    }
    assert_eq!(pinged.len(), 7);

    // Refusals: overlapping shards, another policy, a bad --shard.
    let out = fleet.run(&["report", "merge", &files[0], &files[0]]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    assert!(err.contains("shards must be disjoint"), "{err}");
    let other = dir.join("other.json");
    let mut v: Value = serde_json::from_str(&std::fs::read_to_string(&files[1]).unwrap()).unwrap();
    v["policies"][0]["version"] = Value::String("999".into());
    std::fs::write(&other, v.to_string()).unwrap();
    let out = fleet.run(&["report", "merge", &files[0], other.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("audits other policies"));
    std::fs::write(&other, "{\"schema\": \"something/else\"}").unwrap();
    let out = fleet.run(&["report", "merge", other.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a muster audit report"));
    for bad in ["0/3", "4/3", "1/0", "x"] {
        let out = fleet.run(&["--shard", bad, "ping"]);
        assert_eq!(out.status.code(), Some(1), "{bad}: {}", show(&out));
        assert!(String::from_utf8_lossy(&out.stderr).contains("expected K/N"));
    }
}
