//! Python methods real roles call on values (`x.split(',')`, `d.get('k')`, `l.index(3)`).
//!
//! minijinja-contrib's `pycompat` covers most string and dict methods; what it lacks is here.
//! minijinja values are immutable, so the mutating methods (`append`, `extend`, `insert`,
//! `remove`, `update`) return the new value instead of changing the receiver and returning
//! None: `{{ l.append(3) }}` is the extended list, and `{% set _ = d.update(x) %}` leaves `d`
//! as it was (write `{% set d = d | combine(x) %}`).

use minijinja::value::{from_args, ValueKind};
use minijinja::{Error, ErrorKind, State, Value};

use super::filters::{err, py_split, to_i64, Args};
use super::pyfmt::py_str;

pub(crate) fn call_method(
    state: &mut State,
    value: &Value,
    method: &str,
    args: &[Value],
) -> Result<Value, Error> {
    let a = Args::from_values(args.to_vec());
    let r = match value.kind() {
        ValueKind::String => string_method(value.as_str().unwrap_or(""), method, &a),
        ValueKind::Map => map_method(value, method, &a),
        ValueKind::Seq | ValueKind::Iterable => seq_method(value, method, &a),
        _ => None,
    };
    match r {
        Some(r) => r,
        None => minijinja_contrib::pycompat::unknown_method_callback(state, value, method, args)
            .map_err(|e| {
                if e.kind() == ErrorKind::UnknownMethod {
                    Error::new(
                        ErrorKind::UnknownMethod,
                        format!(
                            "{} has no method named {method}",
                            super::filters::type_name(value)
                        ),
                    )
                } else {
                    e
                }
            }),
    }
}

fn index_of<T: PartialEq>(hay: &[T], x: &T) -> Option<usize> {
    hay.iter().position(|y| y == x)
}

fn string_method(s: &str, method: &str, a: &Args) -> Option<Result<Value, Error>> {
    Some(match method {
        "split" => {
            let sep = a.str(0, "sep");
            if sep.as_deref() == Some("") {
                return Some(Err(err("empty separator")));
            }
            Ok(Value::from(py_split(
                s,
                sep.as_deref(),
                a.int(1, "maxsplit").unwrap_or(-1),
            )))
        }
        "rsplit" => {
            let sep = a.str(0, "sep");
            let max = a.int(1, "maxsplit").unwrap_or(-1);
            let mut parts: Vec<String> = match sep.as_deref() {
                None => {
                    let words: Vec<&str> = s.split_whitespace().collect();
                    if max < 0 || words.len() as i64 <= max + 1 {
                        words.into_iter().map(String::from).collect()
                    } else {
                        // Keep the head intact (with its inner whitespace).
                        let mut tail: Vec<String> = Vec::new();
                        let mut rest = s.trim_end();
                        for _ in 0..max {
                            let i = rest.rfind(char::is_whitespace).unwrap_or(0);
                            tail.push(rest[i..].trim_start().to_string());
                            rest = rest[..i].trim_end();
                        }
                        tail.push(rest.trim_start().to_string());
                        tail.reverse();
                        tail
                    }
                }
                Some("") => return Some(Err(err("empty separator"))),
                Some(sep) => {
                    if max < 0 {
                        s.split(sep).map(String::from).collect()
                    } else {
                        let mut v: Vec<String> =
                            s.rsplitn(max as usize + 1, sep).map(String::from).collect();
                        v.reverse();
                        v
                    }
                }
            };
            parts.retain(|_| true);
            Ok(Value::from(parts))
        }
        "index" | "rindex" => {
            let sub = a.str(0, "sub").unwrap_or_default();
            let found = if method == "index" {
                s.find(&sub)
            } else {
                s.rfind(&sub)
            };
            match found {
                Some(i) => Ok(Value::from(s[..i].chars().count())),
                None => Err(err("substring not found")),
            }
        }
        "zfill" => {
            let w = a.int(0, "width").unwrap_or(0).max(0) as usize;
            let n = s.chars().count();
            if n >= w {
                Ok(Value::from(s))
            } else {
                let (sign, body) = match s.chars().next() {
                    Some(c @ ('-' | '+')) => (c.to_string(), &s[1..]),
                    _ => (String::new(), s),
                };
                Ok(Value::from(format!("{sign}{}{body}", "0".repeat(w - n))))
            }
        }
        "ljust" | "rjust" | "center" => {
            let w = a.int(0, "width").unwrap_or(0).max(0) as usize;
            let fill = a
                .str(1, "fillchar")
                .and_then(|f| f.chars().next())
                .unwrap_or(' ');
            let n = s.chars().count();
            if n >= w {
                return Some(Ok(Value::from(s)));
            }
            let pad = w - n;
            let (l, r) = match method {
                "ljust" => (0, pad),
                "rjust" => (pad, 0),
                _ => {
                    let l = pad / 2 + (pad & w & 1);
                    (l, pad - l)
                }
            };
            let f = |k: usize| std::iter::repeat_n(fill, k).collect::<String>();
            Ok(Value::from(format!("{}{s}{}", f(l), f(r))))
        }
        "partition" | "rpartition" => {
            let sep = a.str(0, "sep").unwrap_or_default();
            let found = if method == "partition" {
                s.find(&sep)
            } else {
                s.rfind(&sep)
            };
            let parts = match found {
                Some(i) if !sep.is_empty() => [&s[..i], sep.as_str(), &s[i + sep.len()..]],
                _ if method == "partition" => [s, "", ""],
                _ => ["", "", s],
            };
            Ok(Value::from(
                parts.iter().map(|p| Value::from(*p)).collect::<Vec<_>>(),
            ))
        }
        "swapcase" => Ok(Value::from(
            s.chars()
                .map(|c| {
                    if c.is_uppercase() {
                        c.to_lowercase().to_string()
                    } else {
                        c.to_uppercase().to_string()
                    }
                })
                .collect::<String>(),
        )),
        "casefold" => Ok(Value::from(s.to_lowercase())),
        "removeprefix" => {
            let p = a.str(0, "prefix").unwrap_or_default();
            Ok(Value::from(s.strip_prefix(p.as_str()).unwrap_or(s)))
        }
        "removesuffix" => {
            let p = a.str(0, "suffix").unwrap_or_default();
            Ok(Value::from(s.strip_suffix(p.as_str()).unwrap_or(s)))
        }
        "encode" | "decode" => Ok(Value::from(s)),
        _ => return None,
    })
}

fn map_method(v: &Value, method: &str, a: &Args) -> Option<Result<Value, Error>> {
    let pairs = || -> Result<Vec<(Value, Value)>, Error> {
        let mut out = Vec::new();
        for k in v.try_iter()? {
            let x = v.get_item(&k)?;
            out.push((k, x));
        }
        Ok(out)
    };
    Some(match method {
        "copy" => Ok(v.clone()),
        "update" => (|| {
            let mut p = pairs()?;
            let mut others: Vec<(Value, Value)> = Vec::new();
            if let Some(o) = a.pos.first() {
                if o.kind() == ValueKind::Map {
                    for k in o.try_iter()? {
                        let x = o.get_item(&k)?;
                        others.push((k, x));
                    }
                } else {
                    for pair in o.try_iter()? {
                        let kv: Vec<Value> = pair.try_iter()?.collect();
                        if kv.len() == 2 {
                            others.push((kv[0].clone(), kv[1].clone()));
                        }
                    }
                }
            }
            others.extend(
                a.kw.iter()
                    .map(|(k, x)| (Value::from(k.as_str()), x.clone())),
            );
            for (k, x) in others {
                match p.iter_mut().find(|(pk, _)| *pk == k) {
                    Some(slot) => slot.1 = x,
                    None => p.push((k, x)),
                }
            }
            Ok(Value::from_pairs(p))
        })(),
        "pop" | "setdefault" => (|| {
            let key = a
                .pos
                .first()
                .cloned()
                .ok_or_else(|| err(format!("{method} needs a key")))?;
            let x = v.get_item(&key)?;
            if !x.is_undefined() {
                return Ok(x);
            }
            match a.pos.get(1) {
                Some(d) => Ok(d.clone()),
                None if method == "setdefault" => Ok(Value::from(())),
                None => Err(err(format!("KeyError: {}", super::pyfmt::py_repr(&key)))),
            }
        })(),
        "has_key" => (|| {
            let key = a.pos.first().cloned().unwrap_or_default();
            Ok(Value::from(!v.get_item(&key)?.is_undefined()))
        })(),
        _ => return None,
    })
}

fn seq_method(v: &Value, method: &str, a: &Args) -> Option<Result<Value, Error>> {
    let list = || -> Result<Vec<Value>, Error> { Ok(v.try_iter()?.collect()) };
    Some(match method {
        "append" => (|| {
            let mut l = list()?;
            let (x,): (Value,) = from_args(&a.pos)?;
            l.push(x);
            Ok(Value::from(l))
        })(),
        "extend" => (|| {
            let mut l = list()?;
            let (x,): (Value,) = from_args(&a.pos)?;
            l.extend(x.try_iter()?);
            Ok(Value::from(l))
        })(),
        "insert" => (|| {
            let mut l = list()?;
            let (i, x): (i64, Value) = from_args(&a.pos)?;
            let n = l.len() as i64;
            let at = if i < 0 { (n + i).max(0) } else { i.min(n) } as usize;
            l.insert(at, x);
            Ok(Value::from(l))
        })(),
        "remove" => (|| {
            let mut l = list()?;
            let (x,): (Value,) = from_args(&a.pos)?;
            match index_of(&l, &x) {
                Some(i) => {
                    l.remove(i);
                    Ok(Value::from(l))
                }
                None => Err(err("list.remove(x): x not in list")),
            }
        })(),
        "index" => (|| {
            let l = list()?;
            let x = a.pos.first().cloned().unwrap_or_default();
            index_of(&l, &x)
                .map(Value::from)
                .ok_or_else(|| err(format!("{} is not in list", py_str(&x))))
        })(),
        "pop" => (|| {
            let l = list()?;
            let i = a.pos.first().and_then(to_i64).unwrap_or(-1);
            let n = l.len() as i64;
            let at = if i < 0 { n + i } else { i };
            if at < 0 || at >= n {
                return Err(err("pop index out of range"));
            }
            Ok(l[at as usize].clone())
        })(),
        "copy" => list().map(Value::from),
        "reverse" => list().map(|mut l| {
            l.reverse();
            Value::from(l)
        }),
        _ => return None,
    })
}
