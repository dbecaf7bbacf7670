//! Ansible's `key=value` argument strings (`copy: src=a dest=/b mode=0644`) and the free-form
//! text of command modules, split the way Ansible's `parse_kv` splits them: on whitespace,
//! except inside quotes and Jinja `{{ }}` / `{% %}` blocks.

use serde_json::{Map, Value};

/// Splits on whitespace outside quotes and Jinja blocks; quotes are kept in the words.
pub fn split_args(s: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut quote: Option<char> = None;
    let mut depth = 0usize;
    let chars: Vec<char> = s.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        if quote.is_none() && c == '{' && matches!(next, Some('{') | Some('%') | Some('#')) {
            depth += 1;
            cur.push(c);
            cur.push(next.unwrap_or('{'));
            i += 2;
            continue;
        }
        if depth > 0 && matches!(c, '}' | '%' | '#') && next == Some('}') {
            depth -= 1;
            cur.push(c);
            cur.push('}');
            i += 2;
            continue;
        }
        match quote {
            Some(q) if c == q && (i == 0 || chars[i - 1] != '\\') => {
                quote = None;
                cur.push(c);
            }
            Some(_) => cur.push(c),
            None if depth == 0 && (c == '"' || c == '\'') => {
                quote = Some(c);
                cur.push(c);
            }
            None if depth == 0 && c.is_whitespace() => {
                if !cur.is_empty() {
                    words.push(std::mem::take(&mut cur));
                }
            }
            None => cur.push(c),
        }
        i += 1;
    }
    if !cur.is_empty() {
        words.push(cur);
    }
    words
}

fn unquote(s: &str) -> String {
    let b = s.as_bytes();
    if b.len() >= 2 && (b[0] == b'"' || b[0] == b'\'') && b[b.len() - 1] == b[0] {
        s[1..s.len() - 1].to_string()
    } else {
        s.to_string()
    }
}

/// Parses `k=v` words. For free-form modules, words that are not one of `special` keys go into
/// `_raw_params` (kept as written, quotes included, as Ansible does); for others a word without
/// `=` is an error, returned as the offending word.
pub fn parse_kv(s: &str, free_form: bool, special: &[&str]) -> Result<Map<String, Value>, String> {
    let mut out = Map::new();
    let mut raw = Vec::new();
    for word in split_args(s) {
        let kv = word.split_once('=').filter(|(k, _)| {
            !k.is_empty() && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        });
        match kv {
            Some((k, v)) if !free_form || special.contains(&k) => {
                out.insert(k.to_string(), Value::String(unquote(v)));
            }
            _ if free_form => raw.push(word),
            _ => return Err(word),
        }
    }
    if free_form && !raw.is_empty() {
        // Rejoin the command as written, original spacing aside.
        let text = raw.join(" ");
        out.insert("_raw_params".into(), Value::String(text));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_like_ansible() {
        assert_eq!(
            split_args("src=a dest='/b c' msg=\"{{ x | default('y z') }}\""),
            vec!["src=a", "dest='/b c'", "msg=\"{{ x | default('y z') }}\""]
        );
        assert_eq!(
            split_args("msg={{ a ~ ' ' ~ b }} x=1"),
            vec!["msg={{ a ~ ' ' ~ b }}", "x=1"]
        );
    }

    #[test]
    fn kv_and_free_form() {
        let m = parse_kv("src=a dest='/b c'", false, &[]).unwrap();
        assert_eq!(m["dest"], "/b c");
        assert_eq!(parse_kv("src=a oops", false, &[]), Err("oops".into()));
        let m = parse_kv("chdir=/tmp echo a=b 'q r'", true, &["chdir", "creates"]).unwrap();
        assert_eq!(m["chdir"], "/tmp");
        assert_eq!(m["_raw_params"], "echo a=b 'q r'");
    }
}
