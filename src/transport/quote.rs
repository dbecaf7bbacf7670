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
    single_quoted(word)
}

/// Inside single quotes nothing is special except the single quote itself, which is closed,
/// escaped and reopened.
fn single_quoted(word: &str) -> String {
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

/// The words a shell reads as syntax, not as a program, in command position.
const RESERVED: &[&str] = &[
    "if", "then", "else", "elif", "fi", "do", "done", "case", "esac", "while", "until", "for",
    "in", "function", "select", "time", "[[", "]]",
];

/// Quotes a word in command position (a program): as `quote`, and also a word the shell would
/// not run as a program there — an assignment (`FOO=x` sets a variable and runs the next word
/// instead) or a reserved word (`if`). Quoted, the shell looks for a program of that name, as
/// Ansible's `command` does.
pub fn quote_program(word: &str) -> String {
    if word.contains('=') || RESERVED.contains(&word) {
        single_quoted(word)
    } else {
        quote(word)
    }
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
            out.push_str(&quote(w.as_ref()));
        } else {
            out.push_str(&quote_program(w.as_ref()));
        }
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
        Cmd(quote_program(program))
    }
    /// The next word: the program itself when the line is still empty (`Cmd::default()`).
    pub fn arg(mut self, a: &str) -> Self {
        if self.0.is_empty() {
            self.0 = quote_program(a);
        } else {
            let _ = write!(self.0, " {}", quote(a));
        }
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

    /// In command position an assignment or a reserved word is quoted, so the shell runs (or
    /// fails to find) a program of that name instead of setting a variable and running the
    /// next word.
    #[test]
    fn program_words_are_programs() {
        for (words, name) in [
            (vec!["FOO=x", "touch", "/nonexistent/never"], "FOO=x"),
            (vec!["if", "true;", "then", "echo"], "if"),
        ] {
            let line = Cmd::default().args(&words).into_string();
            let out = Command::new("/bin/sh")
                .arg("-c")
                .arg(&line)
                .output()
                .unwrap();
            assert_eq!(out.status.code(), Some(127), "{line}: {out:?}");
            assert!(
                String::from_utf8_lossy(&out.stderr).contains(name),
                "{line}: {out:?}"
            );
        }
        assert_eq!(quote_program("FOO=x"), "'FOO=x'");
        assert_eq!(Cmd::new("sysctl").arg("a.b=1").as_str(), "sysctl a.b=1");
        assert_eq!(join(["env", "A=1", "id"]), "env A=1 id");
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
