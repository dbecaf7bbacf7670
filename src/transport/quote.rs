//! Every remote command muster sends is built here, with every argument quoted for a POSIX
//! shell. Nothing else in the program may splice user or variable text into a command line.

use std::fmt::Write;

/// Quotes one word for a POSIX shell so that it reaches the command literally, whatever
/// bytes it holds (quotes, `$()`, backticks, newlines, globs...).
pub fn quote(word: &str) -> String {
    if !word.is_empty()
        && word
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./=:,+@%".contains(&b))
    {
        return word.to_string();
    }
    // Inside single quotes nothing is special except the single quote itself, which is
    // closed, escaped and reopened.
    let mut out = String::with_capacity(word.len() + 2);
    out.push('\'');
    for c in word.chars() {
        if c == '\'' {
            out.push_str("'\\''");
        } else {
            out.push(c);
        }
    }
    out.push('\'');
    out
}

/// Joins words into one command line, each quoted.
pub fn join<I, S>(words: I) -> String
where
    I: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    let mut out = String::new();
    for (i, w) in words.into_iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        out.push_str(&quote(w.as_ref()));
    }
    out
}

/// `sh -c SCRIPT`: runs a whole script text (already a shell program) as one argument.
pub fn sh_c(script: &str) -> String {
    format!("sh -c {}", quote(script))
}

/// The script of a command line that is exactly `sh_c(script)`, else `None`. A long-lived
/// shell runs such a script in its subshell directly instead of starting another `sh`.
pub fn sh_c_script(cmd: &str) -> Option<String> {
    let word = cmd.strip_prefix("sh -c ")?;
    let script = if let Some(inner) = word.strip_prefix('\'').and_then(|w| w.strip_suffix('\'')) {
        inner.replace("'\\''", "'")
    } else {
        word.to_string()
    };
    (sh_c(&script) == cmd).then_some(script)
}

/// A command line built word by word: literal program words and quoted arguments.
#[derive(Debug, Default, Clone)]
pub struct Cmd(String);

impl Cmd {
    pub fn new(program: &str) -> Self {
        Cmd(quote(program))
    }
    pub fn arg(mut self, a: &str) -> Self {
        let _ = write!(self.0, " {}", quote(a));
        self
    }
    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        for a in args {
            self = self.arg(a.as_ref());
        }
        self
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
    pub fn into_string(self) -> String {
        self.0
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn sh_c_scripts_round_trip_and_nothing_else_is_taken_for_one() {
        for script in [
            "true",
            "echo 'a b'; exit 3",
            "x='\\''",
            "",
            "a\nb",
            "'",
            "''",
        ] {
            assert_eq!(
                super::sh_c_script(&super::sh_c(script)).as_deref(),
                Some(script)
            );
        }
        for cmd in [
            "sh -c 'a' 'b'",
            "sh -c 'a'; rm x",
            "sh -c a b",
            "sudo sh -c 'a'",
            "sh -c 'it'\\''s' x",
            "sh  -c 'a'",
        ] {
            assert_eq!(super::sh_c_script(cmd), None, "{cmd}");
        }
    }

    use super::*;
    use std::process::Command;

    fn through_sh(words: &[&str]) -> Vec<String> {
        // printf '%s\0' WORDS... prints each argument as the shell received it.
        let line = format!("printf '%s\\0' {}", join(words));
        let out = Command::new("/bin/sh")
            .arg("-c")
            .arg(&line)
            .output()
            .unwrap();
        assert!(out.status.success(), "{line}: {:?}", out);
        let s = String::from_utf8(out.stdout).unwrap();
        s.split('\0')
            .filter(|_| true)
            .map(String::from)
            .collect::<Vec<_>>()[..words.len()]
            .to_vec()
    }

    #[test]
    fn hostile_words_arrive_literally() {
        let words = [
            "plain",
            "",
            "with space",
            "it's",
            "'; rm -rf / #",
            "$(id)",
            "`id`",
            "$HOME",
            "a\nb",
            "*",
            "?[a]",
            "\\",
            "\"dq\"",
            "tab\there",
            "~root",
            "-n",
            "ünïcode",
            "!",
            "a'b'c''",
        ];
        assert_eq!(through_sh(&words), words);
    }

    #[test]
    fn safe_words_stay_readable() {
        assert_eq!(quote("/etc/ssh/sshd_config"), "/etc/ssh/sshd_config");
        assert_eq!(quote("it's"), "'it'\\''s'");
        assert_eq!(quote(""), "''");
        assert_eq!(
            Cmd::new("chmod").arg("0644").arg("a b").as_str(),
            "chmod 0644 'a b'"
        );
    }

    #[test]
    fn random_bytes_round_trip_through_sh() {
        // A bounded property test: random strings of printable and control characters
        // (no NUL, which no argv can carry) reach the program unchanged.
        use rand::RngExt;
        let mut rng = rand::rng();
        let alphabet: Vec<char> = (1u8..128)
            .map(|b| b as char)
            .chain("é€😀".chars())
            .collect();
        for _ in 0..200 {
            let n = rng.random_range(0..5);
            let words: Vec<String> = (0..n)
                .map(|_| {
                    let len = rng.random_range(0..12);
                    (0..len)
                        .map(|_| alphabet[rng.random_range(0..alphabet.len())])
                        .collect()
                })
                .collect();
            let refs: Vec<&str> = words.iter().map(String::as_str).collect();
            assert_eq!(through_sh(&refs), words);
        }
    }
}
