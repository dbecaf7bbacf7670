//! The framing of a long-lived POSIX shell that runs one command after another on a single SSH
//! channel, so a command costs a write and a read instead of a channel open, a session process
//! on the target and the login shell's start-up (about 2 ms of target CPU and two round trips
//! each, most of an in-sync task's cost).
//!
//! The channel runs `exec /bin/sh` (through the login shell, whatever it is). The first write
//! defines a function and prints a ready line with the shell's PID (sshd starts every session
//! in a session and process group of its own, led by that shell, so a command given up on can
//! be ended with its whole group: `kill -s TERM -- -PID`); each command is then one call of
//! that function:
//!
//! ```text
//! __muster_run MARKER 'the command, quoted'
//! ```
//!
//! which evaluates the command in a subshell (so `exit`, `cd`, variables and traps stay there;
//! no positional parameters, as in `sh -c`) with standard input from /dev/null (so a command cannot read the stream of later commands),
//! then prints `\nMARKER RC\n` on standard output and `\nMARKER\n` on standard error. A reply is
//! complete when both end lines have arrived; what precedes them is the command's output, byte
//! for byte. MARKER holds a random per-shell nonce and a per-command counter, and never appears
//! in any process's arguments, so no output can forge it.
//!
//! What differs from a channel per command: the command is parsed by `/bin/sh` rather than the
//! login shell (muster's own commands are POSIX, and so are Ansible's `shell` and `command`), and
//! a command killed by a signal reports the shell's `128 + N` rather than the signal's name.
//! A command that names `$$` gets a channel of its own (`needs_own_channel`).
//! Commands that need standard input (a become password) still get a channel of their own.

use super::quote::quote;
use super::Output;

/// The function every command is run through, and the ready line that says it is defined.
pub fn prelude(nonce: &str) -> String {
    format!(
        "__muster_run() {{ ( __muster_c=$2; shift 2; eval \"$__muster_c\" ) </dev/null; __muster_rc=$?; \
         printf '\\n%s %s\\n' \"$1\" \"$__muster_rc\"; printf '\\n%s\\n' \"$1\" >&2; }}\n\
         printf '%s %s\\n' {} \"$$\"\n",
        quote(&ready_token(nonce))
    )
}

fn ready_token(nonce: &str) -> String {
    format!("@@muster-{nonce}-ready")
}

/// The marker of command number `seq` of the shell with this nonce.
pub fn marker(nonce: &str, seq: u64) -> String {
    format!("@@muster-{nonce}-{seq}")
}

/// What the subshell evaluates for `cmd`: `sh -c SCRIPT` (most of muster's own commands) is
/// the script itself, the same program without starting another shell.
pub fn program(cmd: &str) -> String {
    super::quote::sh_c_script(cmd).unwrap_or_else(|| cmd.to_string())
}

/// Whether `cmd` needs a process of its own: it names `$$`, which the subshells of one
/// long-lived shell share (a backup name `FILE.$$` would repeat), and which is the shell's
/// own PID (`kill $$` would end the shell, not the command). Such a command gets a channel of
/// its own, exactly as before.
pub fn needs_own_channel(cmd: &str) -> bool {
    cmd.contains("$$")
}

/// The line that runs `cmd`.
pub fn request(marker: &str, cmd: &str) -> String {
    format!("__muster_run {marker} {}\n", quote(cmd))
}

/// Reads one command's reply from the stream of stdout and stderr chunks.
#[derive(Debug)]
pub struct Reply {
    /// Waiting for the ready line (a new shell): what came before it is the login shell's.
    ready: Option<Vec<u8>>,
    out_end: Vec<u8>,
    err_end: Vec<u8>,
    out: Vec<u8>,
    err: Vec<u8>,
    /// Where the end lines were found: stdout offset and exit status; stderr offset.
    status: Option<(usize, u32)>,
    err_at: Option<usize>,
    /// The shell's PID, from its ready line.
    pid: Option<u32>,
    /// Where the ready token was found, while the rest of its line is awaited.
    ready_at: Option<usize>,
}

impl Reply {
    /// A reply to the command with `marker`; `new_shell` when the prelude was sent with it.
    pub fn new(nonce: &str, marker: &str, new_shell: bool) -> Reply {
        Reply {
            ready: new_shell.then(|| format!("{} ", ready_token(nonce)).into_bytes()),
            out_end: format!("\n{marker} ").into_bytes(),
            err_end: format!("\n{marker}\n").into_bytes(),
            out: Vec::new(),
            err: Vec::new(),
            status: None,
            err_at: None,
            pid: None,
            ready_at: None,
        }
    }

    /// The PID of a new shell (the leader of its process group), once it said it was ready.
    pub fn shell_pid(&self) -> Option<u32> {
        self.pid
    }

    /// Whether the shell said it was ready: until then the command has not started.
    pub fn started(&self) -> bool {
        self.ready.is_none()
    }

    pub fn stdout(&mut self, data: &[u8]) {
        let from = self.out.len();
        self.out.extend_from_slice(data);
        if let Some(token) = &self.ready {
            let Some(at) = self
                .ready_at
                .or_else(|| find(&self.out, token, from.saturating_sub(token.len())))
            else {
                return;
            };
            self.ready_at = Some(at);
            let digits = &self.out[at + token.len()..];
            let Some(nl) = digits.iter().position(|&b| b == b'\n') else {
                return; // the rest of the ready line is not here yet
            };
            self.pid = std::str::from_utf8(&digits[..nl])
                .ok()
                .and_then(|d| d.parse().ok());
            let after = at + token.len() + nl + 1;
            self.out.drain(..after);
            self.ready = None;
            self.scan_out(0);
            return;
        }
        self.scan_out(from);
    }

    pub fn stderr(&mut self, data: &[u8]) {
        let from = self.err.len();
        self.err.extend_from_slice(data);
        if self.err_at.is_none() {
            self.err_at = find(
                &self.err,
                &self.err_end,
                from.saturating_sub(self.err_end.len()),
            );
        }
    }

    fn scan_out(&mut self, from: usize) {
        if self.status.is_some() {
            return;
        }
        let start = from.saturating_sub(self.out_end.len() + 12);
        let Some(at) = find(&self.out, &self.out_end, start) else {
            return;
        };
        let digits = &self.out[at + self.out_end.len()..];
        let Some(nl) = digits.iter().position(|&b| b == b'\n') else {
            return; // the status line is not all here yet
        };
        let rc = std::str::from_utf8(&digits[..nl])
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(255);
        self.status = Some((at, rc));
    }

    /// Both end lines have arrived.
    pub fn complete(&self) -> bool {
        self.ready.is_none() && self.status.is_some() && self.err_at.is_some()
    }

    /// Whether anything follows the end lines (output of something the command left running):
    /// such a shell is not used again.
    pub fn trailing(&self) -> bool {
        match (self.status, self.err_at) {
            (Some((at, _)), Some(e)) => {
                let out_tail = at + self.out_end.len();
                let line_end = self.out[out_tail..]
                    .iter()
                    .position(|&b| b == b'\n')
                    .map(|p| out_tail + p + 1)
                    .unwrap_or(self.out.len());
                line_end < self.out.len() || e + self.err_end.len() < self.err.len()
            }
            _ => false,
        }
    }

    /// The command's output; only when `complete`.
    pub fn output(mut self) -> Output {
        let (at, rc) = self.status.unwrap_or((self.out.len(), 255));
        self.out.truncate(at);
        let e = self.err_at.unwrap_or(self.err.len());
        self.err.truncate(e);
        Output {
            status: Some(rc),
            signal: None,
            stdout: self.out,
            stderr: self.err,
        }
    }
}

fn find(hay: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    if needle.is_empty() || hay.len() < needle.len() {
        return None;
    }
    let from = from.min(hay.len());
    hay[from..]
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|p| p + from)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What the shell prints for one command, as one stream each.
    fn streams(
        nonce: &str,
        marker: &str,
        noise: &str,
        out: &[u8],
        err: &[u8],
        rc: u32,
    ) -> (Vec<u8>, Vec<u8>) {
        let mut o = noise.as_bytes().to_vec();
        o.extend_from_slice(format!("{} 4242\n", ready_token(nonce)).as_bytes());
        o.extend_from_slice(out);
        o.extend_from_slice(format!("\n{marker} {rc}\n").as_bytes());
        let mut e = err.to_vec();
        e.extend_from_slice(format!("\n{marker}\n").as_bytes());
        (o, e)
    }

    #[test]
    fn every_split_of_the_streams_gives_the_same_output() {
        let nonce = "0123456789abcdef";
        let m = marker(nonce, 7);
        // Output that looks like markers of other commands, no final newline, binary bytes.
        let out =
            b"line\n@@muster-0123456789abcdef-6 0\n\x00\xff partial @@muster-0123456789abcdef-7";
        let err = b"warning: x\n@@muster-0123456789abcdef-7 1";
        let (o, e) = streams(nonce, &m, "Welcome (a banner)\n", out, err, 3);
        for cut in 0..=o.len() {
            let ecut = cut.min(e.len());
            let mut r = Reply::new(nonce, &m, true);
            r.stderr(&e[..ecut]);
            r.stdout(&o[..cut]);
            if cut < o.len() {
                assert!(!r.complete(), "complete at cut {cut}");
            }
            r.stdout(&o[cut..]);
            r.stderr(&e[ecut..]);
            assert!(r.complete(), "cut {cut}");
            assert!(!r.trailing());
            assert_eq!(r.shell_pid(), Some(4242), "cut {cut}");
            let got = r.output();
            assert_eq!(got.stdout, out.to_vec(), "cut {cut}");
            assert_eq!(got.stderr, err.to_vec(), "cut {cut}");
            assert_eq!(got.status, Some(3));
        }
    }

    #[test]
    fn programs() {
        assert_eq!(program("sh -c 'stat -- /etc'"), "stat -- /etc");
        assert_eq!(program("uname -r"), "uname -r");
        assert_eq!(program("/bin/sh -c 'echo hi'"), "/bin/sh -c 'echo hi'");
        assert!(needs_own_channel("kill -TERM $$"));
        assert!(!needs_own_channel("echo $HOME"));
    }

    #[test]
    fn byte_by_byte_and_empty_output() {
        let nonce = "feedfacefeedface";
        let m = marker(nonce, 1);
        let (o, e) = streams(nonce, &m, "", b"", b"", 0);
        let mut r = Reply::new(nonce, &m, true);
        for b in &o {
            assert!(!r.complete());
            r.stdout(std::slice::from_ref(b));
        }
        assert!(!r.complete(), "stderr's end line is still missing");
        for b in &e {
            r.stderr(std::slice::from_ref(b));
        }
        assert!(r.complete());
        let got = r.output();
        assert!(got.stdout.is_empty() && got.stderr.is_empty());
        assert_eq!(got.status, Some(0));
    }

    #[test]
    fn a_reused_shell_has_no_ready_line_and_output_after_the_end_is_trailing() {
        let nonce = "a1a1a1a1a1a1a1a1";
        let m = marker(nonce, 2);
        let mut r = Reply::new(nonce, &m, false);
        assert!(r.started());
        r.stdout(format!("hello\n\n{m} 0\nlate output of a background job\n").as_bytes());
        r.stderr(format!("\n{m}\n").as_bytes());
        assert!(r.complete());
        assert!(r.trailing());
        assert_eq!(r.output().stdout, b"hello\n");
    }

    #[test]
    fn before_the_ready_line_nothing_has_started() {
        let nonce = "b2b2b2b2b2b2b2b2";
        let m = marker(nonce, 1);
        let mut r = Reply::new(nonce, &m, true);
        r.stdout(b"motd\n");
        r.stderr(b"sh: exec: /bin/sh: not found\n");
        assert!(!r.started());
        assert!(!r.complete());
    }

    #[test]
    fn the_prelude_and_a_request_run_in_sh() {
        let nonce = "c3c3c3c3c3c3c3c3";
        let m = marker(nonce, 1);
        let script = format!(
            "{}{}",
            prelude(nonce),
            request(&m, "printf 'a\\nb'; echo \"$#\" oops >&2; cd /; exit 4")
        );
        let run = std::process::Command::new("/bin/sh")
            .arg("-c")
            .arg(&script)
            .output()
            .unwrap();
        let mut r = Reply::new(nonce, &m, true);
        r.stdout(&run.stdout);
        r.stderr(&run.stderr);
        assert!(r.complete(), "{run:?}");
        // The ready line carries the shell's own PID.
        assert!(r.shell_pid().is_some_and(|p| p > 1), "{run:?}");
        let got = r.output();
        assert_eq!(got.stdout, b"a\nb");
        assert_eq!(got.stderr, b"0 oops\n");
        assert_eq!(got.status, Some(4));
    }
}
