//! Values of INI inventories, read as Ansible's INI plugin reads them: through Python's
//! `ast.literal_eval`, falling back to the text itself when that fails.
//!
//! So `1` is an integer, `1.5` a float, `True`/`False` booleans, `None` null, `'x'` and `"x"`
//! strings, `[1, 2]` lists, `{'a': 1}` mappings and `1, 2` a list (a Python tuple); anything
//! else (`yes`, `0755`, `hello world`) stays the string it was.

use serde_json::{Map, Number, Value};

/// Ansible's `_parse_value`.
pub fn parse_value(text: &str) -> Value {
    literal_eval(text).unwrap_or_else(|| Value::String(text.to_string()))
}

/// Python's `ast.literal_eval`, for the literals JSON can hold; None when it would fail.
pub fn literal_eval(text: &str) -> Option<Value> {
    let mut p = P {
        s: text.as_bytes(),
        src: text,
        i: 0,
        depth: 0,
    };
    p.ws();
    let v = p.expr_list(true)?;
    p.ws();
    if p.i != p.s.len() {
        return None;
    }
    Some(v)
}

struct P<'a> {
    s: &'a [u8],
    src: &'a str,
    i: usize,
    depth: usize,
}

impl P<'_> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    /// Whitespace and a trailing `# comment` (Python's tokenizer drops both).
    fn ws(&mut self) {
        while let Some(c) = self.peek() {
            match c {
                b' ' | b'\t' | b'\x0c' => self.i += 1,
                b'#' => self.i = self.s.len(),
                _ => break,
            }
        }
    }

    /// Inside brackets newlines are whitespace too.
    fn ws_nl(&mut self) {
        loop {
            self.ws();
            match self.peek() {
                Some(b'\n') | Some(b'\r') => self.i += 1,
                _ => break,
            }
        }
    }

    /// `a, b, c` (a tuple) or a single expression.
    fn expr_list(&mut self, top: bool) -> Option<Value> {
        let first = self.expr()?;
        if top {
            self.ws();
        } else {
            self.ws_nl();
        }
        if self.peek() != Some(b',') {
            return Some(first);
        }
        let mut items = vec![first];
        while self.peek() == Some(b',') {
            self.i += 1;
            if top {
                self.ws();
            } else {
                self.ws_nl();
            }
            if self.i == self.s.len() || matches!(self.peek(), Some(b')' | b']' | b'}')) {
                break;
            }
            items.push(self.expr()?);
            if top {
                self.ws();
            } else {
                self.ws_nl();
            }
        }
        Some(Value::Array(items))
    }

    fn expr(&mut self) -> Option<Value> {
        self.depth += 1;
        if self.depth > 64 {
            return None;
        }
        let v = self.expr_inner();
        self.depth -= 1;
        v
    }

    fn expr_inner(&mut self) -> Option<Value> {
        match self.peek()? {
            b'-' | b'+' => {
                let neg = self.peek() == Some(b'-');
                self.i += 1;
                self.ws();
                let v = self.number()?;
                Some(if neg { negate(v)? } else { v })
            }
            b'0'..=b'9' | b'.' => self.number(),
            b'[' => {
                self.i += 1;
                self.seq(b']')
            }
            b'(' => {
                self.i += 1;
                self.ws_nl();
                if self.peek() == Some(b')') {
                    self.i += 1;
                    return Some(Value::Array(vec![]));
                }
                let v = self.expr_list(false)?;
                self.ws_nl();
                if self.peek() != Some(b')') {
                    return None;
                }
                self.i += 1;
                Some(v)
            }
            b'{' => {
                self.i += 1;
                self.dict()
            }
            b'\'' | b'"' => self.strings(),
            c if c.is_ascii_alphabetic() || c == b'_' => {
                let start = self.i;
                while matches!(self.peek(), Some(c) if c.is_ascii_alphanumeric() || c == b'_') {
                    self.i += 1;
                }
                let word = &self.src[start..self.i];
                match word {
                    "True" => Some(Value::Bool(true)),
                    "False" => Some(Value::Bool(false)),
                    "None" => Some(Value::Null),
                    // string prefixes: r'..', b'..', u'..', rb'..' (f-strings are not literals)
                    w if matches!(self.peek(), Some(b'\'' | b'"'))
                        && matches!(
                            w.to_ascii_lowercase().as_str(),
                            "r" | "b" | "u" | "rb" | "br"
                        ) =>
                    {
                        self.i = start;
                        self.strings()
                    }
                    _ => None,
                }
            }
            _ => None,
        }
    }

    fn seq(&mut self, close: u8) -> Option<Value> {
        let mut items = Vec::new();
        loop {
            self.ws_nl();
            if self.peek() == Some(close) {
                self.i += 1;
                return Some(Value::Array(items));
            }
            items.push(self.expr()?);
            self.ws_nl();
            match self.peek()? {
                b',' => self.i += 1,
                c if c == close => {}
                _ => return None,
            }
        }
    }

    /// `{k: v, ...}` or a set `{a, b}` (a list here).
    fn dict(&mut self) -> Option<Value> {
        self.ws_nl();
        if self.peek() == Some(b'}') {
            self.i += 1;
            return Some(Value::Object(Map::new()));
        }
        let first = self.expr()?;
        self.ws_nl();
        if self.peek() != Some(b':') {
            // a set
            let mut items = vec![first];
            loop {
                self.ws_nl();
                match self.peek()? {
                    b',' => {
                        self.i += 1;
                        self.ws_nl();
                        if self.peek() == Some(b'}') {
                            continue;
                        }
                        let v = self.expr()?;
                        if !items.contains(&v) {
                            items.push(v);
                        }
                    }
                    b'}' => {
                        self.i += 1;
                        return Some(Value::Array(items));
                    }
                    _ => return None,
                }
            }
        }
        let mut m = Map::new();
        let mut key = first;
        loop {
            // at ':'
            self.i += 1;
            self.ws_nl();
            let v = self.expr()?;
            m.insert(key_text(&key)?, v);
            self.ws_nl();
            match self.peek()? {
                b',' => {
                    self.i += 1;
                    self.ws_nl();
                    if self.peek() == Some(b'}') {
                        self.i += 1;
                        return Some(Value::Object(m));
                    }
                    key = self.expr()?;
                    self.ws_nl();
                    if self.peek() != Some(b':') {
                        return None;
                    }
                }
                b'}' => {
                    self.i += 1;
                    return Some(Value::Object(m));
                }
                _ => return None,
            }
        }
    }

    /// One or more adjacent string literals, concatenated.
    fn strings(&mut self) -> Option<Value> {
        let mut out = String::new();
        let mut any = false;
        loop {
            let save = self.i;
            let mut raw = false;
            while let Some(c) = self.peek() {
                match c {
                    b'r' | b'R' => {
                        raw = true;
                        self.i += 1
                    }
                    b'b' | b'B' | b'u' | b'U' => self.i += 1,
                    _ => break,
                }
            }
            if !matches!(self.peek(), Some(b'\'' | b'"')) || self.i - save > 2 {
                self.i = save;
                break;
            }
            out.push_str(&self.string(raw)?);
            any = true;
            self.ws();
        }
        any.then_some(Value::String(out))
    }

    fn string(&mut self, raw: bool) -> Option<String> {
        let q = self.peek()?;
        let triple = self.s[self.i..].starts_with(&[q, q, q]);
        self.i += if triple { 3 } else { 1 };
        let mut out = String::new();
        loop {
            let rest = &self.src[self.i..];
            let c = rest.chars().next()?;
            if triple {
                if rest.as_bytes().starts_with(&[q, q, q]) {
                    self.i += 3;
                    return Some(out);
                }
            } else if c as u32 == q as u32 {
                self.i += 1;
                return Some(out);
            } else if c == '\n' {
                return None;
            }
            if c == '\\' {
                let next = rest[1..].chars().next()?;
                if raw {
                    out.push('\\');
                    out.push(next);
                    self.i += 1 + next.len_utf8();
                    continue;
                }
                self.i += 1 + next.len_utf8();
                match next {
                    '\n' => {}
                    '\\' => out.push('\\'),
                    '\'' => out.push('\''),
                    '"' => out.push('"'),
                    'a' => out.push('\x07'),
                    'b' => out.push('\x08'),
                    'f' => out.push('\x0c'),
                    'n' => out.push('\n'),
                    'r' => out.push('\r'),
                    't' => out.push('\t'),
                    'v' => out.push('\x0b'),
                    '0'..='7' => {
                        let mut n = next.to_digit(8)?;
                        for _ in 0..2 {
                            match self.peek() {
                                Some(d @ b'0'..=b'7') => {
                                    n = n * 8 + (d - b'0') as u32;
                                    self.i += 1;
                                }
                                _ => break,
                            }
                        }
                        out.push(char::from_u32(n)?);
                    }
                    'x' | 'u' | 'U' => {
                        let len = match next {
                            'x' => 2,
                            'u' => 4,
                            _ => 8,
                        };
                        let hex = self.src.get(self.i..self.i + len)?;
                        let n = u32::from_str_radix(hex, 16).ok()?;
                        self.i += len;
                        out.push(char::from_u32(n)?);
                    }
                    other => {
                        out.push('\\');
                        out.push(other);
                    }
                }
                continue;
            }
            out.push(c);
            self.i += c.len_utf8();
        }
    }

    fn number(&mut self) -> Option<Value> {
        let start = self.i;
        while let Some(c) = self.peek() {
            let prev = if self.i > start {
                self.s[self.i - 1]
            } else {
                b' '
            };
            if c.is_ascii_alphanumeric()
                || c == b'_'
                || c == b'.'
                || ((c == b'+' || c == b'-') && (prev == b'e' || prev == b'E'))
            {
                self.i += 1;
            } else {
                break;
            }
        }
        parse_number(&self.src[start..self.i])
    }
}

fn negate(v: Value) -> Option<Value> {
    match v {
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                Some(Value::from(i.checked_neg()?))
            } else {
                Number::from_f64(-n.as_f64()?).map(Value::Number)
            }
        }
        _ => None,
    }
}

fn key_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(if *b { "True" } else { "False" }.into()),
        Value::Null => Some("None".into()),
        _ => None,
    }
}

/// A Python 3 number literal (ints with `_`, 0x/0o/0b, floats); complex numbers are refused.
fn parse_number(t: &str) -> Option<Value> {
    if t.is_empty() {
        return None;
    }
    // underscores only between digits
    let b = t.as_bytes();
    for (i, c) in b.iter().enumerate() {
        if *c == b'_'
            && (i == 0
                || i + 1 == b.len()
                || !b[i - 1].is_ascii_alphanumeric()
                || !b[i + 1].is_ascii_alphanumeric())
        {
            return None;
        }
    }
    let clean: String = t.chars().filter(|c| *c != '_').collect();
    let lower = clean.to_ascii_lowercase();
    for (prefix, radix) in [("0x", 16), ("0o", 8), ("0b", 2)] {
        if let Some(digits) = lower.strip_prefix(prefix) {
            return i64::from_str_radix(digits, radix).ok().map(Value::from);
        }
    }
    if lower.chars().all(|c| c.is_ascii_digit()) {
        // Python 3 refuses leading zeros on a non-zero decimal (`0755`).
        if lower.len() > 1 && lower.starts_with('0') && lower.chars().any(|c| c != '0') {
            return None;
        }
        return lower.parse::<i64>().ok().map(Value::from);
    }
    // a float: digits with a dot and/or an exponent
    let valid = {
        let (mant, exp) = match lower.find('e') {
            Some(i) => (&lower[..i], Some(&lower[i + 1..])),
            None => (&lower[..], None),
        };
        let mant_ok = !mant.is_empty()
            && mant.chars().filter(|c| *c == '.').count() <= 1
            && mant.chars().all(|c| c.is_ascii_digit() || c == '.')
            && mant != ".";
        let exp_ok = match exp {
            None => mant.contains('.'),
            Some(e) => {
                let e = e.strip_prefix(['+', '-']).unwrap_or(e);
                !e.is_empty() && e.chars().all(|c| c.is_ascii_digit())
            }
        };
        mant_ok && exp_ok
    };
    if !valid {
        return None;
    }
    let f: f64 = lower.parse().ok()?;
    Number::from_f64(f).map(Value::Number)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn python_literals() {
        assert_eq!(parse_value("1"), json!(1));
        assert_eq!(parse_value("-12"), json!(-12));
        assert_eq!(parse_value("+3"), json!(3));
        assert_eq!(parse_value("1_000"), json!(1000));
        assert_eq!(parse_value("0x1f"), json!(31));
        assert_eq!(parse_value("0o17"), json!(15));
        assert_eq!(parse_value("1.5"), json!(1.5));
        assert_eq!(parse_value("1e3"), json!(1000.0));
        assert_eq!(parse_value(".5"), json!(0.5));
        assert_eq!(parse_value("True"), json!(true));
        assert_eq!(parse_value("False"), json!(false));
        assert_eq!(parse_value("None"), json!(null));
        assert_eq!(parse_value("'quoted'"), json!("quoted"));
        assert_eq!(parse_value("\"a\\tb\""), json!("a\tb"));
        assert_eq!(parse_value("'a' 'b'"), json!("ab"));
        assert_eq!(parse_value("[1, 'two', [3]]"), json!([1, "two", [3]]));
        assert_eq!(
            parse_value("{'a': 1, 'b': [True]}"),
            json!({"a": 1, "b": [true]})
        );
        assert_eq!(parse_value("1, 2"), json!([1, 2]));
        assert_eq!(parse_value("(1,)"), json!([1]));
        assert_eq!(parse_value("1 # a comment"), json!(1));
        assert_eq!(parse_value("b'bytes'"), json!("bytes"));
        assert_eq!(parse_value("r'\\d'"), json!("\\d"));
    }

    #[test]
    fn everything_else_stays_text() {
        for s in [
            "yes",
            "true",
            "0755",
            "hello world",
            "",
            "web01",
            "1.2.3.4",
            "/usr/bin/python3",
            "{{ x }}",
            "[1, 2",
            "'open",
            "f'x'",
            "1j",
            "inf",
            "abc # c",
            "- 1 -",
            "1__0",
            "0x",
        ] {
            assert_eq!(parse_value(s), json!(s), "{s:?}");
        }
    }
}
