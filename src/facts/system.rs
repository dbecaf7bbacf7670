//! user_*, env and date_time facts.

use serde_json::{json, Map, Value};

use super::{s, Facts, Sections};

pub(super) fn collect(sec: &Sections, f: &mut Facts) {
    user(sec, f);
    f.insert("env".into(), Value::Object(env(sec.get("env"))));
    if let Some(dt) = date_time(sec.get("date")) {
        f.insert("date_time".into(), dt);
    }
}

/// `uid=0(root) gid=0(root) euid=... groups=...` -> (key, number, name).
fn id_fields(line: &str) -> Vec<(String, u64, String)> {
    line.split_whitespace()
        .filter_map(|w| {
            let (k, rest) = w.split_once('=')?;
            let num_end = rest
                .find(|c: char| !c.is_ascii_digit())
                .unwrap_or(rest.len());
            let n: u64 = rest[..num_end].parse().ok()?;
            let name = rest[num_end..]
                .strip_prefix('(')
                .and_then(|r| r.split(')').next())
                .unwrap_or("")
                .to_string();
            Some((k.to_string(), n, name))
        })
        .collect()
}

fn user(sec: &Sections, f: &mut Facts) {
    let id_line = sec.lines("id").next().unwrap_or("");
    let ids = id_fields(id_line);
    let find = |k: &str| ids.iter().find(|(key, _, _)| key == k);
    let Some((_, uid, uname)) = find("uid") else {
        return;
    };
    let gid = find("gid").map(|x| x.1);
    let euid = find("euid").map(|x| x.1).unwrap_or(*uid);
    let name = if uname.is_empty() {
        uid.to_string()
    } else {
        uname.clone()
    };

    // The passwd entry: `name:pw:uid:gid:gecos:dir:shell`, or macOS dscl's `Key: value` lines.
    let text = sec.get("passwd");
    let (mut p_uid, mut p_gid, mut gecos, mut dir, mut shell) = (None, None, None, None, None);
    if let Some(line) = text.lines().find(|l| l.split(':').count() >= 7) {
        let p: Vec<&str> = line.split(':').collect();
        p_uid = p[2].parse::<u64>().ok();
        p_gid = p[3].parse::<u64>().ok();
        gecos = Some(p[4].to_string());
        dir = Some(p[5].to_string());
        shell = Some(p[6..].join(":"));
    } else {
        let mut key = String::new();
        for line in text.lines() {
            let (k, v) = if let Some(cont) = line.strip_prefix(' ') {
                (key.clone(), cont.trim().to_string())
            } else if let Some((k, v)) = line.split_once(':') {
                key = k.trim().to_string();
                (key.clone(), v.trim().to_string())
            } else {
                continue;
            };
            if v.is_empty() {
                continue;
            }
            match k.as_str() {
                "UniqueID" => p_uid = v.parse().ok(),
                "PrimaryGroupID" => p_gid = v.parse().ok(),
                "RealName" => gecos = Some(v),
                "NFSHomeDirectory" => dir = Some(v),
                "UserShell" => shell = Some(v),
                _ => {}
            }
        }
    }
    f.insert("user_id".into(), s(&name));
    f.insert("user_uid".into(), json!(p_uid.unwrap_or(*uid)));
    if let Some(g) = p_gid.or(gid) {
        f.insert("user_gid".into(), json!(g));
    }
    if let Some(g) = gecos {
        f.insert("user_gecos".into(), s(g));
    }
    if let Some(d) = dir {
        f.insert("user_dir".into(), s(d));
    }
    if let Some(sh) = shell {
        f.insert("user_shell".into(), s(sh));
    }
    f.insert("real_user_id".into(), json!(uid));
    f.insert("effective_user_id".into(), json!(euid));
    if let Some(g) = gid {
        f.insert("real_group_id".into(), json!(g));
        // Ansible reports os.getgid() here too.
        f.insert("effective_group_id".into(), json!(g));
    }
}

/// The awk dump: `NAME=first line`, each further line of the value on a line of its own that
/// starts with a TAB (names cannot).
pub(super) fn env(text: &str) -> Map<String, Value> {
    let mut vars: Vec<(String, String)> = Vec::new();
    for line in text.split('\n') {
        if let Some(cont) = line.strip_prefix('\t') {
            if let Some((_, v)) = vars.last_mut() {
                v.push('\n');
                v.push_str(cont);
            }
        } else if let Some((k, v)) = line.split_once('=') {
            if !k.is_empty() {
                vars.push((k.to_string(), v.to_string()));
            }
        }
    }
    vars.sort_by(|a, b| a.0.cmp(&b.0));
    vars.into_iter()
        .map(|(k, v)| (k, Value::String(v)))
        .collect()
}

/// Days since 1970-01-01 -> (year, month, day), proleptic Gregorian.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// `date '+%Y|%m|%d|%H|%M|%S|%w|%W|%A|%Z|%z|%s|%N'` -> Ansible's date_time dict.
pub(super) fn date_time(text: &str) -> Option<Value> {
    let line = text.lines().find(|l| l.contains('|'))?.trim();
    let p: Vec<&str> = line.split('|').collect();
    if p.len() < 12 {
        return None;
    }
    let epoch: i64 = p[11].trim().parse().ok()?;
    // %N: GNU and busybox print nanoseconds; BSD date prints "N".
    let micro = p
        .get(12)
        .map(|n| n.trim())
        .filter(|n| n.len() == 9 && n.chars().all(|c| c.is_ascii_digit()))
        .map(|n| n[..6].to_string())
        .unwrap_or_else(|| "000000".to_string());
    let (y, mo, d) = civil_from_days(epoch.div_euclid(86_400));
    let secs = epoch.rem_euclid(86_400);
    let (hh, mm, ss) = (secs / 3600, secs % 3600 / 60, secs % 60);
    let utc = format!("{y:04}-{mo:02}-{d:02}T{hh:02}:{mm:02}:{ss:02}");
    let (year, month, day, hour, minute, second) = (p[0], p[1], p[2], p[3], p[4], p[5]);
    Some(json!({
        "year": year,
        "month": month,
        "weekday": p[8],
        "weekday_number": p[6],
        "weeknumber": p[7],
        "day": day,
        "hour": hour,
        "minute": minute,
        "second": second,
        "epoch": p[11],
        "epoch_int": p[11],
        "date": format!("{year}-{month}-{day}"),
        "time": format!("{hour}:{minute}:{second}"),
        "iso8601_micro": format!("{utc}.{micro}Z"),
        "iso8601": format!("{utc}Z"),
        "iso8601_basic": format!("{year}{month}{day}T{hour}{minute}{second}{micro}"),
        "iso8601_basic_short": format!("{year}{month}{day}T{hour}{minute}{second}"),
        "tz": p[9],
        "tz_offset": p[10],
    }))
}
