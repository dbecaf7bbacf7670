//! Ansible Vault end to end: the real binary encrypts, decrypts and views vault files, reads
//! what the real ansible-vault wrote (and ansible-vault reads what muster wrote), decrypts
//! vaulted vars during a local playbook run without ever printing them, and refuses a wrong
//! or missing password with a clear message that shows neither password nor secret.

mod fleet;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::Value;

const PASSWORD: &str = "correct horse battery staple";

/// muster with no vault password from the environment, no colour, in `dir`.
fn muster(dir: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_muster"));
    c.current_dir(dir)
        .env("NO_COLOR", "1")
        .env_remove("MUSTER_VAULT_PASSWORD_FILE")
        .env_remove("MUSTER_VAULT_PASSWORD")
        .env_remove("ANSIBLE_VAULT_PASSWORD_FILE")
        .stdin(Stdio::null());
    c
}

fn run(dir: &Path, args: &[&str]) -> Output {
    muster(dir).args(args).output().expect("run muster")
}

fn show(o: &Output) -> String {
    format!(
        "exit {:?}\n--- stdout\n{}\n--- stderr\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn ok(dir: &Path, args: &[&str]) -> Output {
    let o = run(dir, args);
    assert_eq!(o.status.code(), Some(0), "{args:?}\n{}", show(&o));
    o
}

/// The decrypted value of `var` for localhost of the inventory `inv` in `dir`, as a task
/// uses it: written by a task to a file and read back (muster prints vault values only as
/// `********`).
fn revealed(dir: &Path, var: &str) -> String {
    let dest = dir.join(format!("revealed-{var}"));
    let _ = std::fs::remove_file(&dest);
    let play = dir.join(format!("reveal-{var}.yml"));
    std::fs::write(
        &play,
        format!(
            "- hosts: all\n  gather_facts: false\n  tasks:\n    - copy:\n        \
             content: \"{{{{ {var} }}}}\"\n        dest: {}\n",
            dest.display()
        ),
    )
    .unwrap();
    ok(
        dir,
        &[
            "--vault-password-file",
            "pw",
            "-i",
            "inv",
            "apply",
            play.to_str().unwrap(),
        ],
    );
    std::fs::read_to_string(&dest).unwrap()
}

/// A scratch directory with the password in `pw`.
fn scratch() -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    std::fs::write(d.path().join("pw"), format!("{PASSWORD}\n")).unwrap();
    d
}

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o7777
}

fn assert_vault_text(text: &str) {
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("$ANSIBLE_VAULT;1.1;AES256"), "{text}");
    for l in lines {
        assert!(
            l.len() <= 80 && !l.is_empty() && l.chars().all(|c| c.is_ascii_hexdigit()),
            "body line `{l}` in\n{text}"
        );
    }
    assert!(text.ends_with('\n'));
}

#[test]
fn encrypt_view_decrypt_round_trip() {
    let d = scratch();
    let dir = d.path();
    let plain = "db_password: round-trip-secret\nport: 5432\n";
    let f = dir.join("secrets.yml");
    std::fs::write(&f, plain).unwrap();
    std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o640)).unwrap();

    let o = ok(
        dir,
        &[
            "--vault-password-file",
            "pw",
            "vault",
            "encrypt",
            "secrets.yml",
        ],
    );
    assert!(stderr(&o).contains("Encryption successful"), "{}", show(&o));
    let vaulted = std::fs::read_to_string(&f).unwrap();
    assert_vault_text(&vaulted);
    assert!(!vaulted.contains("round-trip-secret"));
    assert_eq!(mode(&f), 0o640, "mode kept");
    // no temporary file left beside it
    let names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names.len(), 2, "{names:?}");

    // encrypting again is refused and leaves the file alone
    let o = run(
        dir,
        &[
            "--vault-password-file",
            "pw",
            "vault",
            "encrypt",
            "secrets.yml",
        ],
    );
    assert_eq!(o.status.code(), Some(1), "{}", show(&o));
    assert!(
        stderr(&o).contains("already vault-encrypted"),
        "{}",
        show(&o)
    );
    assert_eq!(std::fs::read_to_string(&f).unwrap(), vaulted);

    // view prints the plaintext, and leaves the file encrypted
    let o = ok(
        dir,
        &[
            "--vault-password-file",
            "pw",
            "vault",
            "view",
            "secrets.yml",
        ],
    );
    assert_eq!(stdout(&o), plain);
    assert_eq!(std::fs::read_to_string(&f).unwrap(), vaulted);

    // decrypt restores the file, with its mode
    let o = ok(
        dir,
        &[
            "vault",
            "decrypt",
            "secrets.yml",
            "--vault-password-file",
            "pw",
        ],
    );
    assert!(stderr(&o).contains("Decryption successful"), "{}", show(&o));
    assert_eq!(std::fs::read_to_string(&f).unwrap(), plain);
    assert_eq!(mode(&f), 0o640);

    // decrypting a plain file is refused
    let o = run(
        dir,
        &[
            "--vault-password-file",
            "pw",
            "vault",
            "decrypt",
            "secrets.yml",
        ],
    );
    assert_eq!(o.status.code(), Some(1), "{}", show(&o));
    assert!(
        stderr(&o).contains("is not vault-encrypted"),
        "{}",
        show(&o)
    );
    assert_eq!(std::fs::read_to_string(&f).unwrap(), plain);

    // several files at once; a 1.2 header with a vault id label
    std::fs::write(dir.join("a.txt"), "alpha\n").unwrap();
    std::fs::write(dir.join("b.txt"), "").unwrap();
    ok(
        dir,
        &[
            "--vault-password-file",
            "pw",
            "vault",
            "encrypt",
            "--encrypt-vault-id",
            "prod",
            "a.txt",
            "b.txt",
        ],
    );
    let a = std::fs::read_to_string(dir.join("a.txt")).unwrap();
    assert!(a.starts_with("$ANSIBLE_VAULT;1.2;AES256;prod\n"), "{a}");
    ok(
        dir,
        &[
            "--vault-password-file",
            "pw",
            "vault",
            "decrypt",
            "a.txt",
            "b.txt",
        ],
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("a.txt")).unwrap(),
        "alpha\n"
    );
    assert_eq!(std::fs::read_to_string(dir.join("b.txt")).unwrap(), "");
}

#[test]
fn password_sources() {
    let d = scratch();
    let dir = d.path();
    std::fs::write(dir.join("s.txt"), "from every source\n").unwrap();
    ok(
        dir,
        &["--vault-password-file", "pw", "vault", "encrypt", "s.txt"],
    );
    let view = |c: &mut Command| -> Output {
        let o = c.args(["vault", "view", "s.txt"]).output().unwrap();
        assert_eq!(o.status.code(), Some(0), "{}", show(&o));
        assert_eq!(stdout(&o), "from every source\n");
        o
    };
    // an executable password file is run, and its output used
    let script = dir.join("pw.sh");
    std::fs::write(&script, format!("#!/bin/sh\nprintf '%s\\n' '{PASSWORD}'\n")).unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o700)).unwrap();
    view(muster(dir).args(["--vault-password-file", "pw.sh"]));
    // the environment
    view(muster(dir).env("MUSTER_VAULT_PASSWORD_FILE", dir.join("pw")));
    view(muster(dir).env("ANSIBLE_VAULT_PASSWORD_FILE", dir.join("pw")));
    // the password itself in the environment; never echoed
    let o = view(muster(dir).env("MUSTER_VAULT_PASSWORD", format!("{PASSWORD}\n")));
    assert!(!show(&o).contains(PASSWORD));
    // several files: the one that opens the data wins
    std::fs::write(dir.join("other"), "not it\n").unwrap();
    view(muster(dir).args([
        "--vault-password-file",
        "other",
        "--vault-password-file",
        "pw",
    ]));
    // --ask-vault-pass reads a line of standard input when there is no terminal
    let mut child = muster(dir)
        .args(["--ask-vault-pass", "vault", "view", "s.txt"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().unwrap();
        writeln!(stdin, "{PASSWORD}").unwrap();
    }
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    assert_eq!(stdout(&o), "from every source\n");
}

#[test]
fn encrypt_string_prints_a_vault_yaml_value() {
    let d = scratch();
    let dir = d.path();
    let o = ok(
        dir,
        &[
            "--vault-password-file",
            "pw",
            "vault",
            "encrypt_string",
            "--name",
            "api_token",
            "s3cr3t-token-value",
        ],
    );
    let out = stdout(&o);
    let mut lines = out.lines();
    assert_eq!(lines.next(), Some("api_token: !vault |"), "{out}");
    let body: Vec<&str> = lines.collect();
    assert!(body.iter().all(|l| l.starts_with("          ")), "{out}");
    let vault_text: String = body.iter().map(|l| format!("{}\n", l.trim())).collect();
    assert_vault_text(&vault_text);
    assert!(!out.contains("s3cr3t-token-value"));
    // what it prints is a vars file muster can read back
    std::fs::create_dir_all(dir.join("inv/host_vars")).unwrap();
    std::fs::write(
        dir.join("inv/hosts"),
        "localhost ansible_connection=local\n",
    )
    .unwrap();
    std::fs::write(dir.join("inv/host_vars/localhost.yml"), &out).unwrap();
    assert_eq!(revealed(dir, "api_token"), "s3cr3t-token-value");
    // and `muster inventory` shows it masked, as a secret
    let o = ok(
        dir,
        &[
            "--vault-password-file",
            "pw",
            "-i",
            "inv",
            "inventory",
            "--host",
            "localhost",
        ],
    );
    let j: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(j["api_token"], "********");
    // without a name, and from standard input
    let mut child = muster(dir)
        .args(["--vault-password-file", "pw", "vault", "encrypt-string"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(b"from stdin")
            .unwrap();
    }
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    assert!(stdout(&o).starts_with("!vault |\n          $ANSIBLE_VAULT;1.1;AES256\n"));
}

fn ansible_vault() -> PathBuf {
    fleet::ansible_tool("ansible-vault")
}

fn ansible(dir: &Path, args: &[&str]) -> Output {
    let o = Command::new(ansible_vault())
        .args(args)
        .current_dir(dir)
        .env_remove("ANSIBLE_VAULT_PASSWORD_FILE")
        .env_remove("ANSIBLE_CONFIG")
        .env("ANSIBLE_NOCOLOR", "1")
        .env("ANSIBLE_LOCAL_TEMP", dir.join(".ansible-tmp"))
        .env("HOME", dir)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(o.status.success(), "ansible-vault {args:?}: {}", show(&o));
    o
}

#[test]
fn interoperates_with_the_real_ansible_vault() {
    let d = scratch();
    let dir = d.path();

    // a file ansible-vault encrypted: muster views and decrypts it
    let plain = "from: ansible-vault\nlist: [1, 2]\n";
    std::fs::write(dir.join("theirs.yml"), plain).unwrap();
    ansible(
        dir,
        &["encrypt", "--vault-password-file", "pw", "theirs.yml"],
    );
    let theirs = std::fs::read_to_string(dir.join("theirs.yml")).unwrap();
    assert_vault_text(&theirs);
    let o = ok(
        dir,
        &["--vault-password-file", "pw", "vault", "view", "theirs.yml"],
    );
    assert_eq!(stdout(&o), plain);
    ok(
        dir,
        &[
            "--vault-password-file",
            "pw",
            "vault",
            "decrypt",
            "theirs.yml",
        ],
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("theirs.yml")).unwrap(),
        plain
    );

    // a string ansible-vault encrypted, and a whole vars file, in muster's inventory
    let o = ansible(
        dir,
        &[
            "encrypt_string",
            "--vault-password-file",
            "pw",
            "--name",
            "their_token",
            "ansible-made secret",
        ],
    );
    let inline = stdout(&o);
    assert!(inline.starts_with("their_token: !vault |\n"), "{inline}");
    std::fs::create_dir_all(dir.join("inv/host_vars")).unwrap();
    std::fs::create_dir_all(dir.join("inv/group_vars")).unwrap();
    std::fs::write(
        dir.join("inv/hosts"),
        "localhost ansible_connection=local\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("inv/host_vars/localhost.yml"),
        format!("plain: 1\n{inline}\n"),
    )
    .unwrap();
    std::fs::write(
        dir.join("inv/group_vars/all.yml"),
        "group_secret: whole-file secret\n",
    )
    .unwrap();
    ansible(
        dir,
        &[
            "encrypt",
            "--vault-password-file",
            "pw",
            "inv/group_vars/all.yml",
        ],
    );
    assert_eq!(revealed(dir, "their_token"), "ansible-made secret");
    assert_eq!(revealed(dir, "group_secret"), "whole-file secret");
    assert_eq!(revealed(dir, "plain"), "1");

    // a 1.2 file with a vault id label, both ways
    std::fs::write(dir.join("labelled.txt"), "labelled by ansible\n").unwrap();
    ansible(dir, &["encrypt", "--vault-id", "prod@pw", "labelled.txt"]);
    let labelled = std::fs::read_to_string(dir.join("labelled.txt")).unwrap();
    assert!(
        labelled.starts_with("$ANSIBLE_VAULT;1.2;AES256;prod\n"),
        "{labelled}"
    );
    let o = ok(
        dir,
        &[
            "--vault-password-file",
            "pw",
            "vault",
            "view",
            "labelled.txt",
        ],
    );
    assert_eq!(stdout(&o), "labelled by ansible\n");

    // what muster encrypted, ansible-vault decrypts
    let ours = "made: by muster\nunicode: \"é ✓\"\n";
    std::fs::write(dir.join("ours.yml"), ours).unwrap();
    ok(
        dir,
        &[
            "--vault-password-file",
            "pw",
            "vault",
            "encrypt",
            "ours.yml",
        ],
    );
    let o = ansible(dir, &["view", "--vault-password-file", "pw", "ours.yml"]);
    assert_eq!(stdout(&o), ours);
    ansible(dir, &["decrypt", "--vault-password-file", "pw", "ours.yml"]);
    assert_eq!(std::fs::read_to_string(dir.join("ours.yml")).unwrap(), ours);
    std::fs::write(dir.join("ours12.txt"), "labelled by muster\n").unwrap();
    ok(
        dir,
        &[
            "--vault-password-file",
            "pw",
            "vault",
            "encrypt",
            "--encrypt-vault-id",
            "dev",
            "ours12.txt",
        ],
    );
    let o = ansible(dir, &["view", "--vault-id", "dev@pw", "ours12.txt"]);
    assert_eq!(stdout(&o), "labelled by muster\n");

    // a string muster encrypted is a `!vault` value Ansible itself loads (as extra vars)
    let o = ok(
        dir,
        &[
            "--vault-password-file",
            "pw",
            "vault",
            "encrypt_string",
            "--name",
            "our_token",
            "muster-made secret",
        ],
    );
    std::fs::write(dir.join("our_vars.yml"), stdout(&o)).unwrap();
    let adhoc = ansible_vault().with_file_name("ansible");
    let o = Command::new(adhoc)
        .args([
            "localhost",
            "-i",
            "localhost,",
            "-c",
            "local",
            "-m",
            "debug",
            "-a",
            "var=our_token",
            "-e",
            "@our_vars.yml",
            "--vault-password-file",
            "pw",
        ])
        .current_dir(dir)
        .env_remove("ANSIBLE_VAULT_PASSWORD_FILE")
        .env_remove("ANSIBLE_CONFIG")
        .env("ANSIBLE_NOCOLOR", "1")
        .env("ANSIBLE_LOCAL_TEMP", dir.join(".ansible-tmp"))
        .env("HOME", dir)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(o.status.success(), "ansible debug: {}", show(&o));
    assert!(
        stdout(&o).contains("\"our_token\": \"muster-made secret\""),
        "{}",
        show(&o)
    );
}

/// A local inventory whose group_vars file is vaulted whole, and a playbook whose vars hold
/// an inline `!vault` value; the playbook writes both into `out.txt`.
fn vaulted_site(dir: &Path) {
    std::fs::create_dir_all(dir.join("inv/group_vars")).unwrap();
    std::fs::write(
        dir.join("inv/hosts"),
        "localhost ansible_connection=local\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("inv/group_vars/all.yml"),
        "db_password: group-vault-secret-42\n",
    )
    .unwrap();
    ok(
        dir,
        &[
            "--vault-password-file",
            "pw",
            "vault",
            "encrypt",
            "inv/group_vars/all.yml",
        ],
    );
    let o = ok(
        dir,
        &[
            "--vault-password-file",
            "pw",
            "vault",
            "encrypt_string",
            "--name",
            "api_key",
            "inline-vault-secret-17",
        ],
    );
    let inline: String = stdout(&o).lines().map(|l| format!("    {l}\n")).collect();
    let out = dir.join("out.txt");
    std::fs::write(
        dir.join("site.yml"),
        format!(
            "- hosts: all\n  gather_facts: false\n  vars:\n{inline}  tasks:\n    - name: write the secrets\n      copy:\n        dest: {}\n        content: \"{{{{ api_key }}}} {{{{ db_password }}}}\\n\"\n        mode: \"0600\"\n",
            out.display()
        ),
    )
    .unwrap();
}

fn assert_no_secret(o: &Output, extra: &[&str]) {
    let all = format!("{}{}", stdout(o), stderr(o));
    for s in ["group-vault-secret-42", "inline-vault-secret-17", PASSWORD]
        .iter()
        .chain(extra)
    {
        assert!(!all.contains(s), "`{s}` was printed:\n{}", show(o));
    }
}

#[test]
fn a_playbook_run_uses_vaulted_vars_and_never_prints_them() {
    let d = scratch();
    let dir = d.path();
    vaulted_site(dir);
    let o = ok(
        dir,
        &[
            "-i",
            "inv",
            "--vault-password-file",
            "pw",
            "apply",
            "site.yml",
            "-v",
        ],
    );
    assert!(stdout(&o).contains("changed: [localhost]"), "{}", show(&o));
    assert_no_secret(&o, &[]);
    assert_eq!(
        std::fs::read_to_string(dir.join("out.txt")).unwrap(),
        "inline-vault-secret-17 group-vault-secret-42\n"
    );
    // again, with the password from the environment: nothing to change
    let o = muster(dir)
        .args(["-i", "inv", "apply", "site.yml", "-vv"])
        .env("ANSIBLE_VAULT_PASSWORD_FILE", dir.join("pw"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    assert!(stdout(&o).contains("ok: [localhost]"), "{}", show(&o));
    assert_no_secret(&o, &[]);
}

#[test]
fn wrong_and_missing_passwords_are_clear_and_print_no_secret() {
    let d = scratch();
    let dir = d.path();
    vaulted_site(dir);
    let wrong = "wrong-password-value-99";
    std::fs::write(dir.join("wrong"), format!("{wrong}\n")).unwrap();

    // wrong: exit 1 before anything ran, naming the vaulted file
    let o = run(
        dir,
        &[
            "-i",
            "inv",
            "--vault-password-file",
            "wrong",
            "apply",
            "site.yml",
            "-v",
        ],
    );
    assert_eq!(o.status.code(), Some(1), "{}", show(&o));
    let err = stderr(&o);
    assert!(
        err.contains("vault decryption failed: wrong password or corrupted data (HMAC mismatch)"),
        "{err}"
    );
    assert!(err.contains("group_vars/all.yml:1:1"), "{err}");
    assert_no_secret(&o, &[wrong]);
    assert!(!dir.join("out.txt").exists(), "nothing ran");

    // the inline value with a wrong password: the playbook's file, line and column
    std::fs::write(
        dir.join("inv/group_vars/all.yml"),
        "db_password: not-vaulted-now\n",
    )
    .unwrap();
    let o = run(
        dir,
        &[
            "-i",
            "inv",
            "--vault-password-file",
            "wrong",
            "apply",
            "site.yml",
        ],
    );
    assert_eq!(o.status.code(), Some(1), "{}", show(&o));
    let err = stderr(&o);
    assert!(err.contains("HMAC mismatch"), "{err}");
    assert!(err.contains("site.yml:5:15"), "{err}");
    assert_no_secret(&o, &[wrong]);

    // missing: exit 1 with what to do
    let o = run(dir, &["-i", "inv", "apply", "site.yml"]);
    assert_eq!(o.status.code(), Some(1), "{}", show(&o));
    let err = stderr(&o);
    assert!(
        err.contains("found vault-encrypted data but no vault password was given; use --vault-password-file or --ask-vault-pass"),
        "{err}"
    );
    assert!(err.contains("site.yml:5:15"), "{err}");
    assert!(err.contains("help:"), "{err}");
    assert_no_secret(&o, &[]);
    assert!(!dir.join("out.txt").exists(), "nothing ran");

    // the vault subcommands too
    ok(
        dir,
        &[
            "--vault-password-file",
            "pw",
            "vault",
            "encrypt",
            "inv/group_vars/all.yml",
        ],
    );
    let o = run(
        dir,
        &[
            "--vault-password-file",
            "wrong",
            "vault",
            "view",
            "inv/group_vars/all.yml",
        ],
    );
    assert_eq!(o.status.code(), Some(1), "{}", show(&o));
    assert!(stderr(&o).contains("HMAC mismatch"), "{}", show(&o));
    assert_no_secret(&o, &[wrong, "not-vaulted-now"]);
    let o = run(dir, &["vault", "view", "inv/group_vars/all.yml"]);
    assert_eq!(o.status.code(), Some(1), "{}", show(&o));
    assert!(
        stderr(&o).contains("no vault password was given"),
        "{}",
        show(&o)
    );
    let o = run(
        dir,
        &[
            "--vault-password-file",
            "missing-file",
            "vault",
            "view",
            "inv/group_vars/all.yml",
        ],
    );
    assert_eq!(o.status.code(), Some(1), "{}", show(&o));
    assert!(
        stderr(&o).contains("could not read the vault password file missing-file"),
        "{}",
        show(&o)
    );
}
