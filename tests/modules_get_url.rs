//! `get_url` against a real HTTP server on 127.0.0.1 and a real fleet host: the controller
//! downloads, the host receives the file atomically; checksums decide idempotency.

mod fleet;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use fleet::Fleet;

/// Serves `body` for every GET (bounded: at most 50 requests, then the thread ends).
fn serve(body: &'static [u8]) -> (String, Arc<AtomicUsize>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!(
        "http://127.0.0.1:{}/files/tool.bin",
        l.local_addr().unwrap().port()
    );
    let hits = Arc::new(AtomicUsize::new(0));
    let h = hits.clone();
    std::thread::spawn(move || {
        for stream in l.incoming().take(50) {
            let Ok(mut s) = stream else { continue };
            let mut buf = [0u8; 4096];
            let n = s.read(&mut buf).unwrap_or(0);
            let req = String::from_utf8_lossy(&buf[..n]);
            h.fetch_add(1, Ordering::SeqCst);
            let (status, payload): (&str, &[u8]) = if req.starts_with("GET /files/tool.bin") {
                ("200 OK", body)
            } else {
                ("404 Not Found", b"nope")
            };
            let _ = write!(
                s,
                "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                payload.len()
            );
            let _ = s.write_all(payload);
        }
    });
    (url, hits)
}

fn sha256(b: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(b)
        .iter()
        .map(|x| format!("{x:02x}"))
        .collect()
}

#[test]
fn downloads_on_the_controller_and_converges() {
    static BODY: &[u8] = b"\x7fELF pretend binary\x00\x01\x02 with bytes\n";
    let (url, hits) = serve(BODY);
    let fleet = Fleet::debian(1);
    let dir = tempfile::tempdir().unwrap();
    let pb = dir.path().join("get.yml");
    let sum = sha256(BODY);
    std::fs::write(
        &pb,
        format!(
            "- hosts: all\n  gather_facts: false\n  tasks:\n    - name: fetch the tool\n      get_url:\n        url: {url}\n        dest: /opt/\n        mode: \"0750\"\n        checksum: \"sha256:{sum}\"\n"
        ),
    )
    .unwrap();
    let run = |sub: &str| {
        fleet
            .muster()
            .arg("-i")
            .arg(fleet.inventory())
            .arg("--known-hosts")
            .arg(fleet.known_hosts())
            .arg(sub)
            .arg(&pb)
            .output()
            .unwrap()
    };
    let check = run("check");
    assert_eq!(
        check.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&check.stdout)
    );
    assert!(
        fleet.upper_file("host1", "/opt/tool.bin").is_none(),
        "check mode wrote the file"
    );
    let first = run("apply");
    let out = String::from_utf8_lossy(&first.stdout).to_string();
    assert_eq!(first.status.code(), Some(0), "{out}");
    assert!(out.contains("changed: [host1]"), "{out}");
    assert_eq!(
        fleet.upper_file("host1", "/opt/tool.bin").as_deref(),
        Some(BODY)
    );
    let mode = fleet.exec_on("host1", "stat -c %a /opt/tool.bin");
    assert_eq!(String::from_utf8_lossy(&mode.stdout).trim(), "750");
    // In sync by checksum: no download at all.
    let before = hits.load(Ordering::SeqCst);
    let second = run("apply");
    assert!(String::from_utf8_lossy(&second.stdout).contains("ok: [host1]"));
    assert_eq!(
        hits.load(Ordering::SeqCst),
        before,
        "a matching checksum must not download again"
    );

    // The controller keeps no copy of the download, check mode included.
    let left: Vec<_> = std::fs::read_dir(std::env::temp_dir())
        .unwrap()
        .flatten()
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with(".muster-get_url-")
        })
        .collect();
    assert!(
        left.is_empty(),
        "downloads left on the controller: {left:?}"
    );
    // A wrong checksum is refused and the host keeps its file.
    std::fs::write(&pb, format!("- hosts: all\n  gather_facts: false\n  tasks:\n    - get_url:\n        url: {url}\n        dest: /opt/other.bin\n        checksum: \"sha256:{}\"\n", "0".repeat(64))).unwrap();
    let bad = run("apply");
    let text = String::from_utf8_lossy(&bad.stdout).to_string();
    assert_eq!(bad.status.code(), Some(3), "{text}");
    assert!(text.contains("did not match"), "{text}");
    assert!(fleet.upper_file("host1", "/opt/other.bin").is_none());
}
