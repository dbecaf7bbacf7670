//! JUnit XML parsed back with quick-xml, for tests of the JUnit reports.

use std::collections::BTreeMap;

use quick_xml::events::{BytesStart, Event};
use quick_xml::{Reader, XmlVersion};

#[derive(Debug, Default)]
pub struct Case {
    pub classname: String,
    pub name: String,
    /// `failure`, `error`, `skipped` or empty (passed).
    pub outcome: String,
    pub message: String,
    pub ty: String,
    pub text: String,
}

#[derive(Debug, Default)]
pub struct Suite {
    pub name: String,
    pub attrs: BTreeMap<String, String>,
    pub cases: Vec<Case>,
}

fn attrs(e: &BytesStart<'_>) -> BTreeMap<String, String> {
    e.attributes()
        .map(|a| {
            let a = a.expect("attribute");
            (
                a.key.as_ref().to_string(),
                a.normalized_value(XmlVersion::Implicit1_0)
                    .expect("attribute value")
                    .into_owned(),
            )
        })
        .collect()
}

pub fn parse_junit(xml: &str) -> (BTreeMap<String, String>, Vec<Suite>) {
    let mut r = Reader::from_str(xml);
    let mut root = BTreeMap::new();
    let mut suites: Vec<Suite> = Vec::new();
    let mut in_outcome = false;
    loop {
        let ev = r
            .read_event()
            .unwrap_or_else(|e| panic!("bad XML: {e}\n{xml}"));
        let (e, empty) = match &ev {
            Event::Start(e) => (Some(e.clone()), false),
            Event::Empty(e) => (Some(e.clone()), true),
            Event::Text(t) if in_outcome => {
                let s = t.xml10_content().into_owned();
                suites.last_mut().unwrap().cases.last_mut().unwrap().text += &s;
                continue;
            }
            Event::GeneralRef(g) if in_outcome => {
                if let Ok(Some(ch)) = g.resolve_char_ref() {
                    let c = suites.last_mut().unwrap().cases.last_mut().unwrap();
                    c.text.push(ch);
                    continue;
                }
                let name = g.xml10_content().into_owned();
                let s = match name.as_str() {
                    "quot" => "\"",
                    "amp" => "&",
                    "lt" => "<",
                    "gt" => ">",
                    "apos" => "'",
                    _ => "?",
                };
                suites.last_mut().unwrap().cases.last_mut().unwrap().text += s;
                continue;
            }
            Event::End(e) => {
                if matches!(e.name().as_ref(), "failure" | "error" | "skipped") {
                    in_outcome = false;
                }
                continue;
            }
            Event::Eof => break,
            _ => continue,
        };
        let e = e.unwrap();
        let a = attrs(&e);
        match e.name().as_ref() {
            "testsuites" => root = a,
            "testsuite" => suites.push(Suite {
                name: a.get("name").cloned().unwrap_or_default(),
                attrs: a,
                cases: vec![],
            }),
            "testcase" => suites
                .last_mut()
                .expect("testcase outside a suite")
                .cases
                .push(Case {
                    classname: a.get("classname").cloned().unwrap_or_default(),
                    name: a.get("name").cloned().unwrap_or_default(),
                    ..Default::default()
                }),
            k @ ("failure" | "error" | "skipped") => {
                let c = suites.last_mut().unwrap().cases.last_mut().unwrap();
                c.outcome = k.to_string();
                c.message = a.get("message").cloned().unwrap_or_default();
                c.ty = a.get("type").cloned().unwrap_or_default();
                in_outcome = !empty;
            }
            _ => {}
        }
    }
    (root, suites)
}
