//! Ansible Vault: the `$ANSIBLE_VAULT;1.1;AES256` format (and 1.2, which adds a vault id
//! label), the vault passwords of a run, and the registry of decrypted secrets.
//!
//! The format, as ansible-vault writes it:
//! - a header line `$ANSIBLE_VAULT;1.1;AES256` (or `$ANSIBLE_VAULT;1.2;AES256;LABEL`);
//! - then a body of hex digits in lines of 80, which decodes to three lines of hex: the salt,
//!   the HMAC and the ciphertext;
//! - PBKDF2-HMAC-SHA256 of the password and salt (10,000 rounds) gives 80 bytes: the AES-256
//!   key, the HMAC-SHA256 key and the initial counter block of AES-256-CTR (a 128-bit big-endian
//!   counter);
//! - the HMAC is over the ciphertext and is checked (in constant time) before anything is
//!   decrypted; the plaintext is PKCS#7-padded to 16 bytes.
//!
//! Passwords: `configure` is called once at startup (from `commands::dispatch`) with the
//! run's `VaultOptions`; the YAML loader then finds the passwords through a process-wide
//! `OnceLock`, so that every loader (inventory, group_vars, playbooks, roles, `-e @file`)
//! decrypts without a password being threaded through each of them. Password files are read
//! (or run, when executable) lazily, the first time vault data is met, and each password is
//! tried in turn until one's HMAC matches.
//!
//! Secrets: every value that comes out of a vault is registered (`secrets`), and `redact`
//! masks them in any text about to be shown to a person.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use aes::cipher::{KeyIvInit, StreamCipher};
use hmac::{KeyInit, Mac};

use crate::config::{Secret, VaultOptions};
use crate::error::{Error, Location, Result};
use crate::yaml::{Node, Value};

/// What every vault text starts with.
pub const HEADER: &str = "$ANSIBLE_VAULT";
/// The one cipher of the vault format still in use.
pub const CIPHER: &str = "AES256";
/// Rounds of PBKDF2, fixed by the format.
const ROUNDS: u32 = 10_000;
/// Hex digits per body line, as ansible-vault writes them.
const WIDTH: usize = 80;

/// The message when no password opens the vault (the HMAC did not match).
pub const WRONG_PASSWORD: &str =
    "vault decryption failed: wrong password or corrupted data (HMAC mismatch)";
/// The message when vault data is met and no password was given.
pub const NO_PASSWORD: &str = "found vault-encrypted data but no vault password was given; use --vault-password-file or --ask-vault-pass";

type Aes256Ctr = ctr::Ctr128BE<aes::Aes256>;
type HmacSha256 = hmac::Hmac<sha2::Sha256>;

// ---------------------------------------------------------------------------------------------
// The format

/// Why vault text could not be opened. Positions are 1-based, within the vault text itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VaultError {
    /// The header or body is not in the vault format.
    Format {
        line: usize,
        col: usize,
        msg: String,
    },
    /// No password was given.
    NoPassword,
    /// No password's HMAC matched (`tried` passwords were tried).
    Mismatch { tried: usize },
    /// The HMAC matched but the padding is wrong (data made by a broken writer).
    Padding,
}

/// Whether this text is vault data (a whole vaulted file, or the text of a `!vault` value).
pub fn is_vaulted(text: &str) -> bool {
    text.strip_prefix('\u{feff}')
        .unwrap_or(text)
        .starts_with(HEADER)
}

/// The parts of vault text, checked but not yet decrypted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    /// `1.1` or `1.2`.
    pub version: String,
    /// The vault id label of a 1.2 header.
    pub label: Option<String>,
    salt: Vec<u8>,
    mac: Vec<u8>,
    ciphertext: Vec<u8>,
}

fn format_err(line: usize, col: usize, msg: impl Into<String>) -> VaultError {
    VaultError::Format {
        line,
        col,
        msg: msg.into(),
    }
}

/// Decodes hex digits (already checked to be hex and even in number).
fn unhex(s: &[u8]) -> Vec<u8> {
    fn nibble(c: u8) -> u8 {
        match c {
            b'0'..=b'9' => c - b'0',
            b'a'..=b'f' => c - b'a' + 10,
            _ => c - b'A' + 10,
        }
    }
    s.chunks(2)
        .map(|p| (nibble(p[0]) << 4) | nibble(p[1]))
        .collect()
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[(b >> 4) as usize] as char);
        s.push(DIGITS[(b & 15) as usize] as char);
    }
    s
}

/// Parses vault text into its parts, with the position of anything malformed.
pub fn parse(text: &str) -> std::result::Result<Envelope, VaultError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut lines = text.lines();
    let header = lines.next().unwrap_or("");
    let header_indent = header.len() - header.trim_start().len();
    let parts: Vec<&str> = header.trim().split(';').collect();
    // 1-based column where header part `i` starts.
    let part_col = |i: usize| {
        1 + header_indent
            + parts[..i.min(parts.len())]
                .iter()
                .map(|p| p.chars().count() + 1)
                .sum::<usize>()
    };
    if parts[0].trim() != HEADER {
        return Err(format_err(
            1,
            1,
            "this is not vault data: it does not start with `$ANSIBLE_VAULT;`",
        ));
    }
    if parts.len() < 3 {
        return Err(format_err(
            1,
            1,
            "malformed vault header: expected `$ANSIBLE_VAULT;1.1;AES256` or `$ANSIBLE_VAULT;1.2;AES256;LABEL`",
        ));
    }
    let version = parts[1].trim();
    if version != "1.1" && version != "1.2" {
        return Err(format_err(
            1,
            part_col(1),
            format!("unsupported vault format version `{version}` (1.1 and 1.2 are supported)"),
        ));
    }
    let cipher = parts[2].trim();
    if cipher != CIPHER {
        return Err(format_err(
            1,
            part_col(2),
            format!("unsupported vault cipher `{cipher}` (only AES256 is supported)"),
        ));
    }
    let label = parts
        .get(3)
        .map(|l| l.trim().to_string())
        .filter(|l| !l.is_empty());

    // The body: hex digits over any number of lines. `spans` maps an offset in the joined
    // digits back to the line and column they came from.
    let mut digits: Vec<u8> = Vec::new();
    let mut spans: Vec<(usize, usize, usize)> = Vec::new(); // (offset, line, col)
    let mut last_line = 1;
    for (i, raw) in lines.enumerate() {
        let line_no = i + 2;
        last_line = line_no;
        let indent = raw.chars().take_while(|c| c.is_whitespace()).count();
        let body = raw.trim();
        if body.is_empty() {
            continue;
        }
        for (j, c) in body.chars().enumerate() {
            if !c.is_ascii_hexdigit() {
                return Err(format_err(
                    line_no,
                    indent + j + 1,
                    "malformed vault data: expected hex digits here",
                ));
            }
        }
        spans.push((digits.len(), line_no, indent + 1));
        digits.extend_from_slice(body.as_bytes());
    }
    let at = |offset: usize| -> (usize, usize) {
        match spans.iter().rev().find(|(o, _, _)| *o <= offset) {
            Some((o, line, col)) => (*line, col + (offset - o)),
            None => (2, 1),
        }
    };
    if digits.is_empty() {
        return Err(format_err(
            last_line.max(1),
            1,
            "malformed vault data: the header is not followed by any encrypted data",
        ));
    }
    if !digits.len().is_multiple_of(2) {
        let (l, c) = at(digits.len() - 1);
        return Err(format_err(
            l,
            c,
            "malformed vault data: an odd number of hex digits (is the data truncated?)",
        ));
    }
    let inner = unhex(&digits);
    // The decoded body is three lines of hex: salt, HMAC, ciphertext.
    let mut fields: Vec<(usize, &[u8])> = Vec::with_capacity(3);
    let mut start = 0;
    for (i, b) in inner.iter().enumerate() {
        if *b == b'\n' && fields.len() < 2 {
            fields.push((start, &inner[start..i]));
            start = i + 1;
        }
    }
    fields.push((start, &inner[start..]));
    if fields.len() != 3 {
        return Err(format_err(
            2,
            1,
            "malformed vault data: expected a salt, an HMAC and the ciphertext",
        ));
    }
    let mut decoded = Vec::with_capacity(3);
    for (name, (offset, field)) in ["salt", "HMAC", "ciphertext"].iter().zip(&fields) {
        if let Some(bad) = field.iter().position(|c| !c.is_ascii_hexdigit()) {
            let (l, c) = at(2 * (offset + bad));
            return Err(format_err(
                l,
                c,
                format!("malformed vault data: the {name} is not hex"),
            ));
        }
        if field.is_empty() || !field.len().is_multiple_of(2) {
            let (l, c) = at(2 * offset);
            return Err(format_err(
                l,
                c,
                format!("malformed vault data: the {name} is empty or truncated"),
            ));
        }
        decoded.push(unhex(field));
    }
    let ciphertext = decoded.pop().unwrap_or_default();
    let mac = decoded.pop().unwrap_or_default();
    let salt = decoded.pop().unwrap_or_default();
    if mac.len() != 32 {
        let (l, c) = at(2 * fields[1].0);
        return Err(format_err(
            l,
            c,
            "malformed vault data: the HMAC is not 32 bytes long",
        ));
    }
    if !ciphertext.len().is_multiple_of(16) {
        let (l, c) = at(2 * fields[2].0);
        return Err(format_err(
            l,
            c,
            "malformed vault data: the ciphertext is not a whole number of AES blocks",
        ));
    }
    Ok(Envelope {
        version: version.to_string(),
        label,
        salt,
        mac,
        ciphertext,
    })
}

/// The AES key, the HMAC key and the initial counter block for this password and salt.
struct Keys {
    cipher: [u8; 32],
    mac: [u8; 32],
    iv: [u8; 16],
}

fn derive(password: &[u8], salt: &[u8]) -> Keys {
    let mut material = [0u8; 80];
    pbkdf2::pbkdf2_hmac::<sha2::Sha256>(password, salt, ROUNDS, &mut material);
    let mut keys = Keys {
        cipher: [0; 32],
        mac: [0; 32],
        iv: [0; 16],
    };
    keys.cipher.copy_from_slice(&material[..32]);
    keys.mac.copy_from_slice(&material[32..64]);
    keys.iv.copy_from_slice(&material[64..]);
    material.fill(0);
    keys
}

fn mac_of(key: &[u8; 32], data: &[u8]) -> HmacSha256 {
    let mut mac = <HmacSha256 as KeyInit>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(data);
    mac
}

impl Envelope {
    /// Tries each password; the plaintext under the first whose HMAC matches.
    pub fn open(&self, passwords: &[Secret]) -> std::result::Result<Vec<u8>, VaultError> {
        if passwords.is_empty() {
            return Err(VaultError::NoPassword);
        }
        for password in passwords {
            let keys = derive(password.expose().as_bytes(), &self.salt);
            // Authenticate before decrypting; `verify_slice` compares in constant time.
            if mac_of(&keys.mac, &self.ciphertext)
                .verify_slice(&self.mac)
                .is_err()
            {
                continue;
            }
            let mut data = self.ciphertext.clone();
            Aes256Ctr::new(&keys.cipher.into(), &keys.iv.into()).apply_keystream(&mut data);
            let pad = *data.last().ok_or(VaultError::Padding)? as usize;
            if pad == 0
                || pad > 16
                || pad > data.len()
                || !data[data.len() - pad..].iter().all(|b| *b as usize == pad)
            {
                return Err(VaultError::Padding);
            }
            data.truncate(data.len() - pad);
            return Ok(data);
        }
        Err(VaultError::Mismatch {
            tried: passwords.len(),
        })
    }
}

/// Decrypts vault text with the first password that opens it.
pub fn decrypt(text: &str, passwords: &[Secret]) -> std::result::Result<Vec<u8>, VaultError> {
    parse(text)?.open(passwords)
}

/// Encrypts `plaintext` as ansible-vault does: a fresh random 32-byte salt, the 1.1 header
/// (1.2 with a vault id `label`), the body in lines of 80 hex digits, and a final newline.
pub fn encrypt(plaintext: &[u8], password: &Secret, label: Option<&str>) -> Result<String> {
    let mut salt = [0u8; 32];
    getrandom::fill(&mut salt).map_err(|e| {
        Error::Usage(format!(
            "could not get random bytes from the operating system: {e}"
        ))
    })?;
    Ok(encrypt_with_salt(plaintext, password, label, &salt))
}

fn encrypt_with_salt(
    plaintext: &[u8],
    password: &Secret,
    label: Option<&str>,
    salt: &[u8],
) -> String {
    let keys = derive(password.expose().as_bytes(), salt);
    let pad = 16 - plaintext.len() % 16;
    let mut data = Vec::with_capacity(plaintext.len() + pad);
    data.extend_from_slice(plaintext);
    data.resize(plaintext.len() + pad, pad as u8);
    Aes256Ctr::new(&keys.cipher.into(), &keys.iv.into()).apply_keystream(&mut data);
    let tag = mac_of(&keys.mac, &data).finalize().into_bytes();
    let inner = format!("{}\n{}\n{}", hex(salt), hex(&tag), hex(&data));
    let body = hex(inner.as_bytes());
    let label = label
        .map(str::trim)
        .filter(|l| !l.is_empty() && *l != "default");
    let mut out = match label {
        Some(l) => format!("{HEADER};1.2;{CIPHER};{l}\n"),
        None => format!("{HEADER};1.1;{CIPHER}\n"),
    };
    for chunk in body.as_bytes().chunks(WIDTH) {
        // The body is ASCII hex, so every chunk is valid UTF-8.
        out.push_str(std::str::from_utf8(chunk).unwrap_or_default());
        out.push('\n');
    }
    out
}

/// The `!vault |` block that ansible-vault's `encrypt_string` prints, with `name: ` before it
/// when a name is given.
pub fn format_yaml_block(vaulttext: &str, name: Option<&str>) -> String {
    let mut out = match name {
        Some(n) => format!("{n}: !vault |\n"),
        None => "!vault |\n".to_string(),
    };
    for line in vaulttext.lines() {
        out.push_str("          ");
        out.push_str(line);
        out.push('\n');
    }
    out
}

// ---------------------------------------------------------------------------------------------
// The passwords of this run

struct Keyring {
    options: VaultOptions,
    loaded: OnceLock<std::result::Result<Vec<Secret>, String>>,
}

static KEYRING: OnceLock<Keyring> = OnceLock::new();

#[cfg(test)]
thread_local! {
    /// Passwords for unit tests, which cannot each set the process-wide keyring.
    static TEST_PASSWORDS: std::cell::RefCell<Option<Vec<Secret>>> = const { std::cell::RefCell::new(None) };
}

/// Runs `f` with these passwords in place of the run's (unit tests only).
#[cfg(test)]
pub(crate) fn with_test_passwords<T>(passwords: &[&str], f: impl FnOnce() -> T) -> T {
    TEST_PASSWORDS
        .with(|p| *p.borrow_mut() = Some(passwords.iter().map(|s| Secret::new(*s)).collect()));
    let out = f();
    TEST_PASSWORDS.with(|p| *p.borrow_mut() = None);
    out
}

/// Sets the vault passwords of this run. The first call wins; it returns false if the
/// passwords were already set.
pub fn configure(options: &VaultOptions) -> bool {
    if let Some(p) = &options.password {
        crate::secrets::register(p.expose());
    }
    KEYRING
        .set(Keyring {
            options: options.clone(),
            loaded: OnceLock::new(),
        })
        .is_ok()
}

/// The vault passwords of this run, in the order they are tried (the first is the one new
/// vault data is encrypted with). Password files are read, and password scripts run, once.
pub fn passwords() -> Result<Vec<Secret>> {
    #[cfg(test)]
    if let Some(p) = TEST_PASSWORDS.with(|p| p.borrow().clone()) {
        return Ok(p);
    }
    let Some(ring) = KEYRING.get() else {
        return Ok(Vec::new());
    };
    ring.loaded
        .get_or_init(|| {
            let mut out = Vec::new();
            if let Some(p) = &ring.options.password {
                out.push(p.clone());
            }
            for f in &ring.options.password_files {
                let p = read_password_file(f)?;
                crate::secrets::register(p.expose());
                out.push(p);
            }
            Ok(out)
        })
        .clone()
        .map_err(|msg| {
            Error::input(msg).with_help(
                "--vault-password-file takes a file holding the password, or an executable that prints it",
            )
        })
}

/// Reads a vault password file as Ansible does: an executable is run (no arguments, its
/// standard error and input left to the terminal) and its output with trailing newlines
/// removed is the password; any other file is read and trimmed of surrounding whitespace.
pub fn read_password_file(path: &Path) -> std::result::Result<Secret, String> {
    use std::os::unix::fs::PermissionsExt;
    let shown = path.display();
    let meta = std::fs::metadata(path)
        .map_err(|e| format!("could not read the vault password file {shown}: {e}"))?;
    if meta.is_file() && meta.permissions().mode() & 0o111 != 0 {
        // Run it by path, never through a PATH search.
        let program = if path.is_absolute() {
            path.to_path_buf()
        } else {
            Path::new(".").join(path)
        };
        let out = std::process::Command::new(&program)
            .stdin(std::process::Stdio::inherit())
            .stderr(std::process::Stdio::inherit())
            .output()
            .map_err(|e| {
                format!("could not run the vault password script {shown}: {e} (if it is not a script, remove its executable bit)")
            })?;
        if !out.status.success() {
            return Err(format!(
                "the vault password script {shown} failed ({})",
                out.status
            ));
        }
        let text = String::from_utf8(out.stdout).map_err(|_| {
            format!("the vault password script {shown} printed something that is not UTF-8 text")
        })?;
        let pass = text.trim_end_matches(['\r', '\n']);
        if pass.is_empty() {
            return Err(format!(
                "the vault password script {shown} printed an empty password"
            ));
        }
        return Ok(Secret::new(pass));
    }
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("could not read the vault password file {shown}: {e}"))?;
    let pass = text.trim();
    if pass.is_empty() {
        return Err(format!("the vault password file {shown} is empty"));
    }
    Ok(Secret::new(pass))
}

/// Expands a leading `~/` in a password file path.
pub fn expand_home(p: PathBuf) -> PathBuf {
    match p.to_str().and_then(|s| s.strip_prefix("~/")) {
        Some(rest) => dirs::home_dir().map(|h| h.join(rest)).unwrap_or(p),
        None => p,
    }
}

// ---------------------------------------------------------------------------------------------
// Decrypting for the loaders

/// Decrypts vault text found in `file`, with the run's passwords. `place` maps a 1-based
/// (line, col) within the vault text to the position in the file, for error messages;
/// (0, 0) stands for the start of the vault value as a whole.
pub fn decrypt_at(
    text: &str,
    file: &Path,
    place: &dyn Fn(usize, usize) -> (usize, usize),
) -> Result<Vec<u8>> {
    open_in(text, file, place, passwords)
}

/// Decrypts vault text found in `file` with these passwords (errors as for `decrypt_at`).
pub fn decrypt_with(
    text: &str,
    file: &Path,
    place: &dyn Fn(usize, usize) -> (usize, usize),
    passwords: &[Secret],
) -> Result<Vec<u8>> {
    open_in(text, file, place, || Ok(passwords.to_vec()))
}

/// Malformed data is reported before the passwords are even looked at.
fn open_in(
    text: &str,
    file: &Path,
    place: &dyn Fn(usize, usize) -> (usize, usize),
    passwords: impl FnOnce() -> Result<Vec<Secret>>,
) -> Result<Vec<u8>> {
    let loc = |l: usize, c: usize| {
        let (line, col) = place(l, c);
        Location::new(file, line, col)
    };
    let envelope = parse(text).map_err(|e| to_error(e, &loc))?;
    envelope.open(&passwords()?).map_err(|e| to_error(e, &loc))
}

const PASSWORD_HELP: &str = "give the password it was encrypted with: --vault-password-file FILE (or $MUSTER_VAULT_PASSWORD_FILE, $ANSIBLE_VAULT_PASSWORD_FILE) or --ask-vault-pass";

fn to_error(e: VaultError, loc: &dyn Fn(usize, usize) -> Location) -> Error {
    match e {
        VaultError::Format { line, col, msg } => Error::at(loc(line, col), msg).with_help(
            "vault data is a `$ANSIBLE_VAULT;1.1;AES256` line and lines of hex digits, as ansible-vault writes it; was it cut or re-indented?",
        ),
        VaultError::NoPassword => Error::at(loc(0, 0), NO_PASSWORD).with_help(PASSWORD_HELP),
        VaultError::Mismatch { tried } => Error::at(loc(0, 0), WRONG_PASSWORD).with_help(
            if tried == 1 {
                "the vault password given does not open this data; check --vault-password-file or --ask-vault-pass".to_string()
            } else {
                format!("none of the {tried} vault passwords given opens this data; check --vault-password-file or --ask-vault-pass")
            },
        ),
        VaultError::Padding => Error::at(
            loc(0, 0),
            "vault decryption failed: the decrypted data is not correctly padded (corrupted data)",
        )
        .with_help("the data was written by a broken vault implementation; encrypt it again"),
    }
}

/// Decrypts a whole vaulted file's text (errors point into the file itself).
pub fn decrypt_file_text(text: &str, file: &Path) -> Result<String> {
    let plain = decrypt_at(text, file, &|l, c| (l.max(1), c.max(1)))?;
    String::from_utf8(plain).map_err(|_| {
        Error::at(
            Location::new(file, 1, 1),
            "the vault-decrypted content of this file is not UTF-8 text",
        )
        .with_help("vaulted vars and inventory files must hold YAML text")
    })
}

/// Decrypts the text of an inline `!vault` value and registers the result as a secret.
pub fn decrypt_value(
    text: &str,
    file: &Path,
    place: &dyn Fn(usize, usize) -> (usize, usize),
) -> Result<String> {
    let plain = decrypt_at(text, file, place)?;
    let plain = String::from_utf8(plain).map_err(|_| {
        let (line, col) = place(0, 0);
        Error::at(
            Location::new(file, line, col),
            "this vault-encrypted value does not decrypt to UTF-8 text",
        )
        .with_help(
            "a `!vault` value must be text; encrypt it again with `muster vault encrypt_string`",
        )
    })?;
    crate::secrets::register(&plain);
    Ok(plain)
}

/// An error found in the decrypted content of a vaulted file points at the decrypted text,
/// which is not what is on disk: say so in the file name, so that no line of ciphertext is
/// shown as if it were the culprit.
pub fn in_decrypted(e: Error, file: &Path) -> Error {
    match e {
        Error::Input {
            loc: Some(loc),
            msg,
            help,
        } => {
            let label = PathBuf::from(format!("{} (vault-decrypted)", file.display()));
            let help = help
                .map(|h| {
                    format!(
                        "{h}; see the decrypted text with `muster vault view {}`",
                        file.display()
                    )
                })
                .or_else(|| {
                    Some(format!(
                        "see the decrypted text with `muster vault view {}`",
                        file.display()
                    ))
                });
            Error::Input {
                loc: Some(Location::new(label, loc.line, loc.col)),
                msg,
                help,
            }
        }
        other => other,
    }
}

/// Registers every string value (not the keys) of a tree that came out of a vaulted file.
/// The words YAML reads as booleans and null are left out: masking `yes` everywhere would
/// only garble output.
pub fn register_node(node: &Node) {
    match &node.value {
        Value::Str(s)
            if !matches!(
                s.to_ascii_lowercase().as_str(),
                "yes" | "no" | "true" | "false" | "on" | "off" | "null" | "none"
            ) =>
        {
            crate::secrets::register(s)
        }
        Value::Seq(items) => items.iter().for_each(register_node),
        Value::Map(pairs) => pairs.iter().for_each(|(_, v)| register_node(v)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pw(s: &str) -> Secret {
        Secret::new(s)
    }

    /// Made by ansible-vault (ansible-core 2.18) (`ansible-vault encrypt_string --vault-password-file p
    /// 'hello vault'` with the password `muster-test`).
    const ANSIBLE_ENCRYPTED: &str = concat!(
        "$ANSIBLE_VAULT;1.1;AES256\n",
        "38323564303636643438326466323337653434396333386262613232323666336665393338333036\n",
        "6435303063653164623065643633396635396565346636360a313334356333393134613030656439\n",
        "30393033653832366436333563336538396466333463633864306635363432386630383137363736\n",
        "3863653636383665320a326238353562326331393637356639313262396230643731653332333466\n",
        "3533\n",
    );

    #[test]
    fn round_trip() {
        for plain in [
            &b""[..],
            b"x",
            b"0123456789abcdef",
            b"hello vault\n",
            &[0u8, 255, 10, 13],
        ] {
            let v = encrypt(plain, &pw("s3cret"), None).unwrap();
            assert!(v.starts_with("$ANSIBLE_VAULT;1.1;AES256\n"), "{v}");
            assert!(v.ends_with('\n'));
            assert!(v
                .lines()
                .skip(1)
                .all(|l| l.len() <= 80 && l.chars().all(|c| c.is_ascii_hexdigit())));
            assert_eq!(decrypt(&v, &[pw("s3cret")]).unwrap(), plain);
        }
    }

    #[test]
    fn fresh_salt_every_time() {
        let a = encrypt(b"same", &pw("p"), None).unwrap();
        let b = encrypt(b"same", &pw("p"), None).unwrap();
        assert_ne!(a, b);
    }

    #[test]
    fn label_makes_a_1_2_header() {
        let v = encrypt(b"labelled", &pw("p"), Some("dev")).unwrap();
        assert!(v.starts_with("$ANSIBLE_VAULT;1.2;AES256;dev\n"), "{v}");
        let env = parse(&v).unwrap();
        assert_eq!(env.version, "1.2");
        assert_eq!(env.label.as_deref(), Some("dev"));
        assert_eq!(decrypt(&v, &[pw("p")]).unwrap(), b"labelled");
        // `default` is no label, as in Ansible.
        assert!(encrypt(b"x", &pw("p"), Some("default"))
            .unwrap()
            .starts_with("$ANSIBLE_VAULT;1.1;AES256\n"));
    }

    #[test]
    fn known_answer() {
        // With the salt fixed, the output is fully determined by the format: this is what
        // ansible-core 2.18's `VaultAES256.encrypt(b"secret, 16+ bytes long!", VaultSecret(b"pw"),
        // salt=bytes([7] * 32))` and `format_vaulttext_envelope` give.
        let expected = concat!(
            "$ANSIBLE_VAULT;1.1;AES256\n",
            "30373037303730373037303730373037303730373037303730373037303730373037303730373037\n",
            "3037303730373037303730373037303730373037303730370a366530396130373339326265313162\n",
            "35313539323366346238376235343463386138386263333238626563353838316238313765666433\n",
            "3530626337366232650a386462313930313635613830396436643230386538363935303464383763\n",
            "36666335616632323261643237353164613838363134343335333338323463646166\n",
        );
        let v = encrypt_with_salt(b"secret, 16+ bytes long!", &pw("pw"), None, &[7u8; 32]);
        assert_eq!(v, expected);
        assert_eq!(
            decrypt(expected, &[pw("pw")]).unwrap(),
            b"secret, 16+ bytes long!"
        );
    }

    #[test]
    fn wrong_password_and_several_passwords() {
        let v = encrypt(b"data", &pw("right"), None).unwrap();
        assert_eq!(
            decrypt(&v, &[pw("wrong")]),
            Err(VaultError::Mismatch { tried: 1 })
        );
        assert_eq!(decrypt(&v, &[]), Err(VaultError::NoPassword));
        assert_eq!(
            decrypt(&v, &[pw("a"), pw("right"), pw("c")]).unwrap(),
            b"data"
        );
    }

    #[test]
    fn tampering_is_caught_by_the_hmac() {
        let v = encrypt(b"important data", &pw("p"), None).unwrap();
        let env = parse(&v).unwrap();
        let mut bad = env.clone();
        bad.ciphertext[0] ^= 1;
        assert_eq!(bad.open(&[pw("p")]), Err(VaultError::Mismatch { tried: 1 }));
        let mut bad = env;
        bad.mac[31] ^= 1;
        assert_eq!(bad.open(&[pw("p")]), Err(VaultError::Mismatch { tried: 1 }));
    }

    #[test]
    fn indented_and_crlf_text_is_accepted() {
        let v = encrypt(b"indented", &pw("p"), None).unwrap();
        let indented: String = v.lines().map(|l| format!("    {l}\r\n")).collect();
        assert_eq!(decrypt(&indented, &[pw("p")]).unwrap(), b"indented");
    }

    fn format_error(text: &str) -> (usize, usize, String) {
        match parse(text) {
            Err(VaultError::Format { line, col, msg }) => (line, col, msg),
            other => panic!("expected a format error, got {other:?}"),
        }
    }

    #[test]
    fn malformed_headers_and_bodies_have_positions() {
        let (l, c, m) = format_error("$ANSIBLE_VAULT;1.1\n6162\n");
        assert_eq!((l, c), (1, 1));
        assert!(m.contains("malformed vault header"), "{m}");
        let (l, c, m) = format_error("$ANSIBLE_VAULT;1.1;DES\n6162\n");
        assert_eq!((l, c), (1, 20));
        assert!(m.contains("unsupported vault cipher `DES`"), "{m}");
        let (l, c, m) = format_error("$ANSIBLE_VAULT;9.9;AES256\n6162\n");
        assert_eq!((l, c), (1, 16));
        assert!(m.contains("version `9.9`"), "{m}");
        let (l, c, m) = format_error("$ANSIBLE_VAULT;1.1;AES256\n6162\n61zz\n");
        assert_eq!((l, c), (3, 3));
        assert!(m.contains("hex digits"), "{m}");
        let (l, _, m) = format_error("$ANSIBLE_VAULT;1.1;AES256\n");
        assert_eq!(l, 1);
        assert!(m.contains("not followed by any encrypted data"), "{m}");
        let (l, c, m) = format_error("$ANSIBLE_VAULT;1.1;AES256\n616\n");
        assert_eq!((l, c), (2, 3));
        assert!(m.contains("odd number"), "{m}");
        // "ab" hex-encoded: no newlines inside, so not salt/HMAC/ciphertext.
        let (l, c, m) = format_error("$ANSIBLE_VAULT;1.1;AES256\n6162\n");
        assert_eq!((l, c), (2, 1));
        assert!(m.contains("a salt, an HMAC and the ciphertext"), "{m}");
        // A body cut short: the last line lost, so the ciphertext is not whole blocks.
        let v = encrypt(
            b"a longer plaintext that spans several AES blocks, to be cut",
            &pw("p"),
            None,
        )
        .unwrap();
        let cut: String = v
            .lines()
            .take(v.lines().count() - 1)
            .map(|l| format!("{l}\n"))
            .collect();
        assert!(matches!(parse(&cut), Err(VaultError::Format { .. })));
        let (_, _, m) = format_error("not vault\n");
        assert!(m.contains("not vault data"), "{m}");
    }

    #[test]
    fn is_vaulted_looks_at_the_start() {
        assert!(is_vaulted("$ANSIBLE_VAULT;1.1;AES256\n00\n"));
        assert!(is_vaulted("\u{feff}$ANSIBLE_VAULT;1.1;AES256\n00\n"));
        assert!(!is_vaulted("a: $ANSIBLE_VAULT\n"));
        assert!(!is_vaulted(""));
    }

    #[test]
    fn yaml_block_like_ansible_vault_prints_it() {
        let v = "$ANSIBLE_VAULT;1.1;AES256\n6162\n6364\n";
        assert_eq!(
            format_yaml_block(v, Some("db_password")),
            "db_password: !vault |\n          $ANSIBLE_VAULT;1.1;AES256\n          6162\n          6364\n"
        );
        assert!(format_yaml_block(v, None).starts_with("!vault |\n          $ANSIBLE_VAULT"));
    }

    #[test]
    fn decrypts_what_ansible_vault_wrote() {
        assert_eq!(
            decrypt(ANSIBLE_ENCRYPTED, &[pw("muster-test")]).unwrap(),
            b"hello vault"
        );
    }

    #[test]
    fn yaml_loader_decrypts_inline_values_and_whole_files() {
        let inline = encrypt(b"inline-zq-secret", &pw("pw1"), None).unwrap();
        let indented: String = inline.lines().map(|l| format!("  {l}\n")).collect();
        let doc = format!("user: admin\npassword: !vault |\n{indented}port: 5432\n");
        with_test_passwords(&["other", "pw1"], || {
            let n = crate::yaml::parse_str(&doc, Path::new("vars.yml"))
                .unwrap()
                .unwrap();
            assert_eq!(
                n.get("password").unwrap().as_str(),
                Some("inline-zq-secret")
            );
            assert_eq!(n.get("password").unwrap().tag.as_deref(), Some("!vault"));
            assert_eq!(n.get("port").unwrap().value, Value::Int(5432));
            let whole =
                encrypt(b"db_pass: whole-zq-secret\nflag: yes\n", &pw("pw1"), None).unwrap();
            let n = crate::yaml::parse_str(&whole, Path::new("group_vars/all.yml"))
                .unwrap()
                .unwrap();
            assert_eq!(n.get("db_pass").unwrap().as_str(), Some("whole-zq-secret"));
            assert_eq!(n.get("flag").unwrap().value, Value::Bool(true));
        });
        let all = crate::secrets::secrets();
        assert!(all.contains(&"inline-zq-secret".to_string()));
        assert!(all.contains(&"whole-zq-secret".to_string()));
        assert!(!all.contains(&"admin".to_string()));
    }

    fn input_err(r: Result<Option<Node>>) -> (String, Location) {
        match r {
            Err(Error::Input {
                msg,
                loc: Some(loc),
                ..
            }) => (msg, loc),
            other => panic!("expected an input error, got {other:?}"),
        }
    }

    #[test]
    fn yaml_loader_errors_point_at_the_value() {
        let inline = encrypt(b"zq-never-shown", &pw("right"), None).unwrap();
        let indented: String = inline.lines().map(|l| format!("    {l}\n")).collect();
        let doc = format!("a: 1\nb:\n  secret: !vault |\n{indented}");
        let (msg, loc) = with_test_passwords(&["wrong-zq-pass"], || {
            input_err(crate::yaml::parse_str(&doc, Path::new("v.yml")))
        });
        assert_eq!(msg, WRONG_PASSWORD);
        assert_eq!((loc.line, loc.col), (4, 5));
        assert!(!msg.contains("zq-never-shown") && !msg.contains("wrong-zq-pass"));
        let (msg, loc) = with_test_passwords(&[], || {
            input_err(crate::yaml::parse_str(&doc, Path::new("v.yml")))
        });
        assert_eq!(msg, NO_PASSWORD);
        assert_eq!((loc.line, loc.col), (4, 5));
        // a bad character inside the block is placed exactly
        let bad = doc.replacen("AES256\n    ", "AES256\n    x", 1);
        let (msg, loc) = with_test_passwords(&["right"], || {
            input_err(crate::yaml::parse_str(&bad, Path::new("v.yml")))
        });
        assert!(msg.contains("hex digits"), "{msg}");
        assert_eq!((loc.line, loc.col), (5, 5));
        // whole files: the header line
        let (msg, loc) = with_test_passwords(&["right"], || {
            input_err(crate::yaml::parse_str(
                "$ANSIBLE_VAULT;1.1;AES999\n00\n",
                Path::new("all.yml"),
            ))
        });
        assert!(msg.contains("unsupported vault cipher"), "{msg}");
        assert_eq!((loc.line, loc.col), (1, 20));
        // invalid YAML inside a vaulted file points into the decrypted text
        let broken = encrypt(b"a: [1\n", &pw("right"), None).unwrap();
        let (msg, loc) = with_test_passwords(&["right"], || {
            input_err(crate::yaml::parse_str(&broken, Path::new("all.yml")))
        });
        assert!(msg.starts_with("invalid YAML"), "{msg}");
        assert!(loc.file.display().to_string().contains("(vault-decrypted)"));
    }

    #[test]
    fn password_files_and_scripts() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("pw");
        std::fs::write(&f, "  file-pass \n\n").unwrap();
        assert_eq!(read_password_file(&f).unwrap().expose(), "file-pass");
        let s = dir.path().join("pw.sh");
        std::fs::write(&s, "#!/bin/sh\necho ' script pass'\n").unwrap();
        std::fs::set_permissions(&s, std::fs::Permissions::from_mode(0o700)).unwrap();
        assert_eq!(read_password_file(&s).unwrap().expose(), " script pass");
        let fail = dir.path().join("fail.sh");
        std::fs::write(&fail, "#!/bin/sh\nexit 3\n").unwrap();
        std::fs::set_permissions(&fail, std::fs::Permissions::from_mode(0o700)).unwrap();
        assert!(read_password_file(&fail).unwrap_err().contains("failed"));
        let empty = dir.path().join("empty");
        std::fs::write(&empty, "\n").unwrap();
        assert!(read_password_file(&empty).unwrap_err().contains("is empty"));
        assert!(read_password_file(&dir.path().join("missing"))
            .unwrap_err()
            .contains("could not read"));
    }
}
