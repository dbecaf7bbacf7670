//! `muster vault`: encrypt, decrypt and view Ansible Vault files, and encrypt strings as
//! `!vault` YAML values, as ansible-vault does.

use std::io::{IsTerminal, Read, Write};
use std::path::Path;

use crate::cli::{VaultAction, VaultArgs};
use crate::config::{Config, Secret};
use crate::error::{Error, Location, Result};
use crate::vault;

pub fn vault(_config: &Config, args: &VaultArgs) -> Result<i32> {
    match &args.action {
        VaultAction::Encrypt { files, label } => encrypt_files(files, label.as_deref()),
        VaultAction::Decrypt { files } => decrypt_files(files),
        VaultAction::View { file } => view(file),
        VaultAction::EncryptString {
            name,
            label,
            string,
        } => encrypt_string(name.as_deref(), label.as_deref(), string.as_deref()),
    }
}

/// The run's passwords; with none given and a terminal at hand, one is asked for (twice when
/// it is to encrypt, as ansible-vault does).
fn passwords(for_encrypt: bool) -> Result<Vec<Secret>> {
    let given = vault::passwords()?;
    if !given.is_empty() {
        return Ok(given);
    }
    if !std::io::stdin().is_terminal() {
        return Err(Error::Usage(vault::NO_PASSWORD.into()));
    }
    let prompt = if for_encrypt {
        "New vault password: "
    } else {
        "Vault password: "
    };
    let read = |p: &str| {
        rpassword::prompt_password(p)
            .map_err(|e| Error::Usage(format!("could not read the vault password: {e}")))
    };
    let first = read(prompt)?;
    if for_encrypt && read("Confirm new vault password: ")? != first {
        return Err(Error::Usage(
            "the vault passwords given do not match".into(),
        ));
    }
    let p = first.trim();
    if p.is_empty() {
        return Err(Error::Usage("the vault password given is empty".into()));
    }
    crate::secrets::register(p);
    Ok(vec![Secret::new(p)])
}

fn read(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| Error::io(path, e))
}

/// Whether these bytes are vault text.
fn is_vaulted(bytes: &[u8]) -> bool {
    let b = bytes.strip_prefix("\u{feff}".as_bytes()).unwrap_or(bytes);
    b.starts_with(vault::HEADER.as_bytes())
}

/// Decrypts one file's vault text; errors point into the file.
fn open(path: &Path, bytes: &[u8], passwords: &[Secret]) -> Result<Vec<u8>> {
    let text = std::str::from_utf8(bytes).map_err(|_| {
        Error::at(
            Location::new(path, 1, 1),
            "vault data is ASCII text, and this file is not",
        )
        .with_help("this file is not what ansible-vault or `muster vault encrypt` writes")
    })?;
    vault::decrypt_with(text, path, &|l, c| (l.max(1), c.max(1)), passwords)
}

/// Replaces a file's content atomically: a temporary file beside it, with its mode (and,
/// where allowed, its owner), renamed over it.
fn rewrite(path: &Path, data: &[u8]) -> Result<()> {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(path).map_err(|e| Error::io(path, e))?;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let mut tmp = tempfile::Builder::new()
        .prefix(".muster-vault-")
        .tempfile_in(dir)
        .map_err(|e| Error::io(dir, e))?;
    tmp.write_all(data)
        .and_then(|_| tmp.as_file().sync_all())
        .map_err(|e| Error::io(tmp.path(), e))?;
    std::fs::set_permissions(tmp.path(), meta.permissions()).map_err(|e| Error::io(path, e))?;
    // Keeps the owner when we may (as root); otherwise the file is the caller's, as an editor
    // that saves by rename would leave it.
    let _ = std::os::unix::fs::fchown(tmp.as_file(), Some(meta.uid()), Some(meta.gid()));
    tmp.persist(path).map_err(|e| Error::io(path, e.error))?;
    Ok(())
}

fn encrypt_files(files: &[std::path::PathBuf], label: Option<&str>) -> Result<i32> {
    // Every file is checked before any is changed.
    let mut contents = Vec::with_capacity(files.len());
    for f in files {
        let bytes = read(f)?;
        if is_vaulted(&bytes) {
            return Err(Error::at(
                Location::new(f, 1, 1),
                format!("{} is already vault-encrypted", f.display()),
            )
            .with_help("decrypt it first, or leave it as it is"));
        }
        contents.push(bytes);
    }
    let passwords = passwords(true)?;
    for (f, bytes) in files.iter().zip(&contents) {
        let text = vault::encrypt(bytes, &passwords[0], label)?;
        rewrite(f, text.as_bytes())?;
    }
    eprintln!("Encryption successful");
    Ok(crate::exit::OK)
}

fn decrypt_files(files: &[std::path::PathBuf]) -> Result<i32> {
    let mut contents = Vec::with_capacity(files.len());
    for f in files {
        let bytes = read(f)?;
        if !is_vaulted(&bytes) {
            return Err(Error::input(format!(
                "{} is not vault-encrypted (it does not start with `$ANSIBLE_VAULT;`)",
                f.display()
            ))
            .with_help(
                "only files written by `muster vault encrypt` or ansible-vault can be decrypted",
            ));
        }
        contents.push(bytes);
    }
    let passwords = passwords(false)?;
    let mut plain = Vec::with_capacity(files.len());
    for (f, bytes) in files.iter().zip(&contents) {
        plain.push(open(f, bytes, &passwords)?);
    }
    for (f, p) in files.iter().zip(&plain) {
        rewrite(f, p)?;
    }
    eprintln!("Decryption successful");
    Ok(crate::exit::OK)
}

fn view(file: &Path) -> Result<i32> {
    let bytes = read(file)?;
    if !is_vaulted(&bytes) {
        return Err(Error::input(format!(
            "{} is not vault-encrypted (it does not start with `$ANSIBLE_VAULT;`)",
            file.display()
        )));
    }
    let passwords = passwords(false)?;
    let plain = open(file, &bytes, &passwords)?;
    let mut out = std::io::stdout().lock();
    out.write_all(&plain)
        .and_then(|_| out.flush())
        .map_err(|e| Error::io("<stdout>", e))?;
    Ok(crate::exit::OK)
}

fn encrypt_string(name: Option<&str>, label: Option<&str>, string: Option<&str>) -> Result<i32> {
    let plain = match string {
        Some(s) if s != "-" => s.to_string(),
        _ => {
            if std::io::stdin().is_terminal() {
                eprintln!("Reading plaintext input from stdin (ctrl-d to end input)");
            }
            let mut s = String::new();
            std::io::stdin()
                .read_to_string(&mut s)
                .map_err(|e| Error::io("<stdin>", e))?;
            s
        }
    };
    let passwords = passwords(true)?;
    let text = vault::encrypt(plain.as_bytes(), &passwords[0], label)?;
    print!("{}", vault::format_yaml_block(&text, name));
    eprintln!("Encryption successful");
    Ok(crate::exit::OK)
}
