//! Waivers: a separate YAML file that accepts a control's failure on some hosts, with a
//! reason, an owner and an expiry date. Expired waivers stop applying and are reported.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::yaml::{self, Node};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Waiver {
    pub control: String,
    /// Host name globs (`lab-*`); empty = every host.
    pub hosts: Vec<String>,
    pub reason: String,
    pub owner: Option<String>,
    /// `YYYY-MM-DD`; the waiver applies through that day.
    pub expires: Option<String>,
    #[serde(skip)]
    pub line: usize,
}

impl Waiver {
    pub fn matches(&self, control: &str, host: &str) -> bool {
        self.control == control
            && (self.hosts.is_empty()
                || self.hosts.iter().any(|p| {
                    glob::Pattern::new(p)
                        .map(|g| g.matches(host))
                        .unwrap_or(p == host)
                }))
    }

    /// Expired when today (UTC, `YYYY-MM-DD`) is after the expiry date.
    pub fn expired(&self, today: &str) -> bool {
        self.expires.as_deref().is_some_and(|e| today > e)
    }
}

/// Today's date in UTC as `YYYY-MM-DD`.
pub fn today() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    civil(secs.div_euclid(86400))
}

/// Days since 1970-01-01 to a civil date (Howard Hinnant's algorithm).
fn civil(days: i64) -> String {
    let z = days + 719468;
    let era = z.div_euclid(146097);
    let doe = z - era * 146097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    format!("{:04}-{:02}-{:02}", if m <= 2 { y + 1 } else { y }, m, d)
}

fn valid_date(s: &str) -> bool {
    let b = s.as_bytes();
    if !(b.len() == 10
        && b[4] == b'-'
        && b[7] == b'-'
        && s.chars()
            .enumerate()
            .all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit()))
    {
        return false;
    }
    let (y, m, d) = (
        s[..4].parse::<u32>().unwrap_or(0),
        s[5..7].parse::<u32>().unwrap_or(0),
        s[8..10].parse::<u32>().unwrap_or(0),
    );
    let leap = y % 4 == 0 && (y % 100 != 0 || y % 400 == 0);
    let days = match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return false,
    };
    (1..=days).contains(&d)
}

fn err(file: &Path, n: &Node, msg: impl Into<String>) -> Error {
    Error::at(n.loc(file), msg)
}

/// Loads a waivers file (a list of waivers); every error points at file:line:col.
pub fn load(path: &Path) -> Result<Vec<Waiver>> {
    let Some(root) = yaml::parse_file(path)? else {
        return Ok(vec![]);
    };
    let items = root.as_seq().ok_or_else(|| {
        err(path, &root, "a waivers file must be a list of waivers")
            .with_help("each item: `- control: ID`, `hosts: \"pattern\"`, `reason: ...`, `owner: ...`, `expires: YYYY-MM-DD`")
    })?;
    let mut out = Vec::new();
    for it in items {
        let map = it.as_map().ok_or_else(|| {
            err(
                path,
                it,
                format!("a waiver must be a mapping, not a {}", it.type_name()),
            )
            .with_help("start each waiver with `- control: ID` and indent `reason:`, `hosts:`, `owner:` and `expires:` below it")
        })?;
        let mut w = Waiver {
            control: String::new(),
            hosts: vec![],
            reason: String::new(),
            owner: None,
            expires: None,
            line: it.line,
        };
        for (k, v) in map {
            let text = || {
                v.scalar_text().ok_or_else(|| {
                    err(
                        path,
                        v,
                        format!("`{}` must be text, not a {}", k.key_text(), v.type_name()),
                    )
                    .with_help(format!(
                        "write `{}:` followed by its text on the same line",
                        k.key_text()
                    ))
                })
            };
            match k.key_text().as_str() {
                "control" => w.control = text()?,
                "hosts" => {
                    w.hosts = match v.as_seq() {
                        Some(s) => s
                            .iter()
                            .map(|x| {
                                x.scalar_text().filter(|p| !p.is_empty()).ok_or_else(|| {
                                    err(
                                        path,
                                        x,
                                        format!(
                                            "each entry of `hosts` must be a host pattern, not a {}",
                                            x.type_name()
                                        ),
                                    )
                                    .with_help("write host names or patterns such as \"lab-*\", quoted when they start with `*`")
                                })
                            })
                            .collect::<Result<Vec<_>>>()?,
                        None => vec![text()?],
                    }
                }
                "reason" | "justification" => w.reason = text()?,
                "owner" => w.owner = Some(text()?),
                "expires" | "expiration_date" => {
                    let e = text()?;
                    if !valid_date(&e) {
                        return Err(err(
                            path,
                            v,
                            format!("`expires` must be a date like 2027-03-31, not `{e}`"),
                        )
                        .with_help("write the last day the waiver applies as YYYY-MM-DD, a day that exists in that month"));
                    }
                    w.expires = Some(e);
                }
                other => {
                    return Err(err(path, k, format!("unknown waiver key `{other}`"))
                        .with_help("a waiver takes control, hosts, reason, owner and expires"))
                }
            }
        }
        if w.control.is_empty() {
            return Err(err(path, it, "this waiver names no `control:`")
                .with_help("add `control: ID`, the id of the policy control it waives"));
        }
        if w.reason.trim().is_empty() {
            return Err(err(
                path,
                it,
                format!("the waiver for `{}` gives no `reason:`", w.control),
            )
            .with_help("say why the control does not apply, so the next auditor knows"));
        }
        out.push(w);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_and_matching() {
        assert_eq!(civil(0), "1970-01-01");
        assert_eq!(civil(20786), "2026-11-29");
        let w = Waiver {
            control: "firewall".into(),
            hosts: vec!["lab-*".into()],
            reason: "r".into(),
            owner: None,
            expires: Some("2027-03-31".into()),
            line: 1,
        };
        assert!(w.matches("firewall", "lab-3"));
        assert!(!w.matches("firewall", "prod-1"));
        assert!(!w.matches("updates", "lab-3"));
        assert!(!w.expired("2027-03-31"));
        assert!(w.expired("2027-04-01"));
    }

    #[test]
    fn only_days_that_exist_are_dates() {
        for ok in ["2027-03-31", "2028-02-29", "2000-02-29", "2027-12-01"] {
            assert!(valid_date(ok), "{ok}");
        }
        for bad in [
            "2027-02-29",
            "1900-02-29",
            "2027-04-31",
            "2027-13-01",
            "2027-00-10",
            "2027-01-00",
            "27-03-31",
            "2027/03/31",
            "next spring",
        ] {
            assert!(!valid_date(bad), "{bad}");
        }
    }

    #[test]
    fn errors_point_at_the_line() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("w.yml");
        std::fs::write(
            &p,
            "- control: firewall\n  reason: lab\n  expires: next week\n",
        )
        .unwrap();
        let e = load(&p).unwrap_err().render();
        assert!(e.contains(":3:12") && e.contains("date like"), "{e}");
        std::fs::write(&p, "- control: firewall\n  hosts: lab-*\n").unwrap();
        assert!(load(&p)
            .unwrap_err()
            .render()
            .contains("gives no `reason:`"));
    }
}
