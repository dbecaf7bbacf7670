//! Every secret the run knows (become and vault passwords, decrypted vault values), and the
//! one redaction pass that masks them in whatever is printed or written: reports of every
//! format, run events, diffs and error messages all pass through [`redact`] or
//! [`redact_value`] before they leave the process.

use std::collections::BTreeSet;
use std::sync::{LazyLock, RwLock};

use serde_json::Value;

/// What a secret is replaced with.
pub const MASK: &str = "********";

/// Shortest secret that is masked: shorter ones would garble output more than they hide.
const MIN_SECRET: usize = 3;
/// Shortest line of a multi-line secret that is masked on its own.
const MIN_SECRET_LINE: usize = 8;

static SECRETS: LazyLock<RwLock<BTreeSet<String>>> = LazyLock::new(Default::default);

/// Records a secret, so that `redact` masks it. A multi-line secret is also recorded line by
/// line (output often shows it a line at a time), and its JSON-escaped form is recorded too.
pub fn register(secret: &str) {
    let mut forms = vec![secret.to_string()];
    if secret.contains('\n') {
        forms.extend(
            secret
                .lines()
                .map(str::trim)
                .filter(|l| l.chars().count() >= MIN_SECRET_LINE)
                .map(str::to_string),
        );
    }
    let escaped: Vec<String> = forms
        .iter()
        .filter_map(|f| serde_json::to_string(f).ok())
        .map(|j| j[1..j.len() - 1].to_string())
        .collect();
    forms.extend(escaped);
    let mut set = SECRETS.write().unwrap_or_else(|p| p.into_inner());
    for f in forms {
        if f.chars().count() >= MIN_SECRET {
            set.insert(f);
        }
    }
}

/// Every secret recorded so far, longest first.
pub fn secrets() -> Vec<String> {
    let set = SECRETS.read().unwrap_or_else(|p| p.into_inner());
    let mut out: Vec<String> = set.iter().cloned().collect();
    out.sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
    out
}

/// `text` with every recorded secret replaced by `********`.
pub fn redact(text: &str) -> String {
    redact_with(text, &secrets())
}

pub fn redact_with(text: &str, secrets: &[String]) -> String {
    let mut out = text.to_string();
    for s in secrets {
        if s.chars().count() >= MIN_SECRET && out.contains(s.as_str()) {
            out = out.replace(s.as_str(), MASK);
        }
    }
    out
}

/// Masks every recorded secret in every string of a JSON value (keys included).
pub fn redact_value(v: &mut Value) {
    let secrets = secrets();
    if secrets.is_empty() {
        return;
    }
    redact_value_with(v, &secrets);
}

pub fn redact_value_with(v: &mut Value, secrets: &[String]) {
    match v {
        Value::String(s) => {
            let r = redact_with(s, secrets);
            if r != *s {
                *s = r;
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|i| redact_value_with(i, secrets)),
        Value::Object(m) => {
            let keys: Vec<String> = m.keys().cloned().collect();
            for k in keys {
                let rk = redact_with(&k, secrets);
                if let Some(mut val) = m.remove(&k) {
                    redact_value_with(&mut val, secrets);
                    m.insert(rk, val);
                }
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redact_masks_registered_secrets() {
        let secrets = vec![
            "hunter2-long".to_string(),
            "hunter2".to_string(),
            "ab".to_string(),
        ];
        assert_eq!(
            redact_with("pw=hunter2-long, old=hunter2, ab stays", &secrets),
            "pw=********, old=********, ab stays"
        );
        assert_eq!(redact_with("nothing here", &secrets), "nothing here");
        assert_eq!(redact_with("", &secrets), "");
    }

    #[test]
    fn registry_keeps_secrets_and_their_forms() {
        register("zq-registry-secret-1");
        register("zq");
        register("");
        register("line one of zq-key\nline two of zq-key\nx\n");
        register("quote\"zq\"inside");
        let all = secrets();
        assert!(all.contains(&"zq-registry-secret-1".to_string()));
        assert!(!all.iter().any(|s| s == "zq" || s.is_empty()));
        let out = redact(
            "a zq-registry-secret-1 b; line two of zq-key; {\"v\": \"quote\\\"zq\\\"inside\"}",
        );
        assert!(!out.contains("zq-registry-secret-1"), "{out}");
        assert!(!out.contains("line two of zq-key"), "{out}");
        assert!(!out.contains("quote"), "{out}");
        assert!(out.contains(MASK));
        // longest first: no tail of a longer secret is left behind
        for w in all.windows(2) {
            assert!(w[0].len() >= w[1].len());
        }
    }

    #[test]
    fn values_are_masked_deeply() {
        register("deep-zq-secret-77");
        let mut v =
            serde_json::json!({"a": ["x deep-zq-secret-77 y", {"deep-zq-secret-77": 1}], "n": 3});
        redact_value(&mut v);
        assert_eq!(
            v,
            serde_json::json!({"a": ["x ******** y", {"********": 1}], "n": 3})
        );
    }
}
