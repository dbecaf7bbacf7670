//! Host names as inventories write them: `web[01:20].example.com` ranges and `name:port`.
//!
//! The rules are those of ansible-core's `expand_hostname_range` and `parse_address`:
//! numeric ranges keep the zero padding of their start (`[01:20]` -> `01`..`20`), an optional
//! third part is the stride (`[1:20:5]`), letter ranges run over `a..z` then `A..Z`
//! (`[a:c]`), and several ranges in one name multiply. Unlike Ansible, a range that yields
//! nothing (`[5:1]`) is an error rather than silently no hosts.

/// Expands every `[..]` range in `pattern`; a name without ranges is returned as is.
pub fn expand(pattern: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    expand_into(pattern, &mut out, 0)?;
    Ok(out)
}

const MAX_HOSTS: usize = 1_000_000;

fn expand_into(name: &str, out: &mut Vec<String>, depth: usize) -> Result<(), String> {
    let Some(open) = name.find('[') else {
        if name.contains(']') {
            return Err(format!("`]` without a matching `[` in host name `{name}`"));
        }
        out.push(name.to_string());
        return Ok(());
    };
    let Some(close_rel) = name[open..].find(']') else {
        return Err(format!("unclosed `[` in host name `{name}`"));
    };
    let close = open + close_rel;
    let head = &name[..open];
    if head.contains(']') {
        return Err(format!("`]` without a matching `[` in host name `{name}`"));
    }
    let inner = &name[open + 1..close];
    let tail = &name[close + 1..];
    if depth > 16 {
        return Err("too many ranges in one host name".into());
    }
    for item in range_items(inner)? {
        let hname = format!("{head}{item}{tail}");
        if out.len() >= MAX_HOSTS {
            return Err(format!("the range expands to more than {MAX_HOSTS} hosts"));
        }
        expand_into(&hname, out, depth + 1)?;
    }
    Ok(())
}

/// The items of one range, `begin:end` or `begin:end:step`.
fn range_items(inner: &str) -> Result<Vec<String>, String> {
    let bounds: Vec<&str> = inner.split(':').collect();
    if bounds.len() != 2 && bounds.len() != 3 {
        return Err(format!(
            "bad host range `[{inner}]`: a range is [begin:end] or [begin:end:step]"
        ));
    }
    let beg = if bounds[0].is_empty() { "0" } else { bounds[0] };
    let end = bounds[1];
    if end.is_empty() {
        return Err(format!("bad host range `[{inner}]`: the end is missing"));
    }
    let step: usize = match bounds.get(2) {
        None => 1,
        Some(s) => match s.parse::<usize>() {
            Ok(n) if n > 0 => n,
            _ => {
                return Err(format!(
                    "bad host range `[{inner}]`: the step `{s}` must be a whole number above 0"
                ))
            }
        },
    };
    let letters = |s: &str| s.len() == 1 && s.chars().all(|c| c.is_ascii_alphabetic());
    let digits = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_digit());
    if letters(beg) && letters(end) {
        const ALPHABET: &str = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
        let b = ALPHABET.find(beg).unwrap_or(0);
        let e = ALPHABET.find(end).unwrap_or(0);
        if b > e {
            return Err(format!(
                "bad host range `[{inner}]`: the begin `{beg}` comes after the end `{end}`"
            ));
        }
        return Ok(ALPHABET[b..=e]
            .chars()
            .step_by(step)
            .map(String::from)
            .collect());
    }
    if !(digits(beg) && digits(end)) {
        let what = if (letters(beg) && digits(end)) || (digits(beg) && letters(end)) {
            "letters and digits cannot be mixed".to_string()
        } else {
            "the bounds must both be numbers or both single letters".to_string()
        };
        return Err(format!("bad host range `[{inner}]`: {what}"));
    }
    let width = if beg.len() > 1 && beg.starts_with('0') {
        if beg.len() != end.len() {
            return Err(format!(
                "bad host range `[{inner}]`: a zero-padded begin and the end must have the same number of digits"
            ));
        }
        beg.len()
    } else {
        0
    };
    let (Ok(b), Ok(e)) = (beg.parse::<u64>(), end.parse::<u64>()) else {
        return Err(format!(
            "bad host range `[{inner}]`: the numbers are too large"
        ));
    };
    if b > e {
        return Err(format!(
            "bad host range `[{inner}]`: the begin {b} is greater than the end {e}"
        ));
    }
    if (e - b) / step as u64 >= MAX_HOSTS as u64 {
        return Err(format!(
            "bad host range `[{inner}]`: more than {MAX_HOSTS} hosts"
        ));
    }
    Ok((b..=e)
        .step_by(step)
        .map(|n| format!("{n:0width$}"))
        .collect())
}

/// Splits an optional `:port` off a host name as Ansible's `parse_address` does:
/// `[::1]:2222`, `web1:2222`, `web[01:09]:2222`. A bare IPv6 address keeps its colons.
/// The port is returned as written (digits only); the caller checks its range.
pub fn split_port(address: &str) -> (String, Option<String>) {
    // `[host]:port`, where host is not a range (ranges hold a `:` between two bounds too,
    // but never at the start of the name).
    if let Some(rest) = address.strip_prefix('[') {
        if let Some(idx) = rest.rfind("]:") {
            let host = &rest[..idx];
            let port = &rest[idx + 2..];
            if !host.is_empty()
                && !port.is_empty()
                && port.chars().all(|c| c.is_ascii_digit())
                && host.parse::<std::net::IpAddr>().is_ok()
            {
                return (host.to_string(), Some(port.to_string()));
            }
        }
    }
    // `host:port`, where host has no `:` outside of `[..]` ranges.
    if let Some(idx) = address.rfind(':') {
        let host = &address[..idx];
        let port = &address[idx + 1..];
        if !host.is_empty() && !port.is_empty() && port.chars().all(|c| c.is_ascii_digit()) {
            let mut depth = 0i32;
            let mut bare_colon = false;
            for c in host.chars() {
                match c {
                    '[' => depth += 1,
                    ']' => depth -= 1,
                    ':' if depth == 0 => bare_colon = true,
                    _ => {}
                }
            }
            if !bare_colon && depth == 0 {
                return (host.to_string(), Some(port.to_string()));
            }
        }
    }
    (address.to_string(), None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numeric_ranges_keep_padding() {
        assert_eq!(
            expand("web[01:03].example.com").unwrap(),
            [
                "web01.example.com",
                "web02.example.com",
                "web03.example.com"
            ]
        );
        assert_eq!(expand("web[8:10]").unwrap(), ["web8", "web9", "web10"]);
        assert_eq!(expand("web[:2]").unwrap(), ["web0", "web1", "web2"]);
        assert_eq!(expand("plain").unwrap(), ["plain"]);
    }

    #[test]
    fn strides_letters_and_several_ranges() {
        assert_eq!(
            expand("web[1:20:5]").unwrap(),
            ["web1", "web6", "web11", "web16"]
        );
        assert_eq!(expand("db-[a:c]").unwrap(), ["db-a", "db-b", "db-c"]);
        assert_eq!(expand("x[y:B]").unwrap(), ["xy", "xz", "xA", "xB"]);
        assert_eq!(
            expand("r[1:2]n[a:b]").unwrap(),
            ["r1na", "r1nb", "r2na", "r2nb"]
        );
        assert_eq!(expand("h[001:010:4]").unwrap(), ["h001", "h005", "h009"]);
    }

    #[test]
    fn bad_ranges_are_errors() {
        for bad in [
            "web[01:x]",
            "web[5:1]",
            "web[a:5]",
            "web[1:a]",
            "web[1]",
            "web[1:2:3:4]",
            "web[1:]",
            "web[01:100]",
            "web[1:5:0]",
            "web[1:5:x]",
            "web[c:a]",
            "web[1:2",
            "web]1",
            "web[aa:bb]",
            "web[-1:2]",
        ] {
            assert!(expand(bad).is_err(), "{bad} should be refused");
        }
        assert!(expand("web[5:1]").unwrap_err().contains("greater than"));
        assert!(expand("web[a:5]").unwrap_err().contains("mixed"));
    }

    #[test]
    fn ports() {
        assert_eq!(
            split_port("web1:2222"),
            ("web1".into(), Some("2222".into()))
        );
        assert_eq!(
            split_port("[::1]:2222"),
            ("::1".into(), Some("2222".into()))
        );
        assert_eq!(split_port("::1"), ("::1".into(), None));
        assert_eq!(split_port("fe80::1:22"), ("fe80::1:22".into(), None));
        assert_eq!(
            split_port("web[01:09]:2222"),
            ("web[01:09]".into(), Some("2222".into()))
        );
        assert_eq!(split_port("web[01:09]"), ("web[01:09]".into(), None));
        assert_eq!(
            split_port("10.0.0.1:22"),
            ("10.0.0.1".into(), Some("22".into()))
        );
        assert_eq!(split_port("web1:ssh"), ("web1:ssh".into(), None));
    }
}
