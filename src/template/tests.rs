//! Unit tests: each filter, test and lookup against the output Ansible gives.

use std::sync::OnceLock;

use serde_json::{json, Value as J};

use super::*;

fn templar() -> &'static Templar {
    static T: OnceLock<Templar> = OnceLock::new();
    T.get_or_init(Templar::new)
}

fn origin() -> Origin {
    Origin::new("play.yml", 10, 5).with_task("configure things")
}

fn vars() -> J {
    json!({
        "name": "world",
        "n": 42,
        "f": 3.7,
        "s_num": "12",
        "yes_str": "yes",
        "empty": "",
        "nothing": null,
        "flag": true,
        "items": [3, 1, 2, 3],
        "words": ["a", "b", "c"],
        "users": [
            {"name": "alice", "uid": 1001, "admin": true, "groups": ["wheel", "dev"]},
            {"name": "bob", "uid": 1002, "admin": false, "groups": ["dev"]},
            {"name": "carol", "uid": 1000, "admin": true, "groups": []}
        ],
        "d": {"a": 1, "b": {"x": 1, "y": [1, 2]}},
        "d2": {"b": {"y": [3], "z": 2}, "c": 3},
        "path": "/etc/nginx/nginx.conf",
        "res_changed": {"changed": true, "failed": false, "rc": 0},
        "res_failed": {"changed": false, "failed": true, "rc": 2},
        "res_skipped": {"changed": false, "skipped": true},
        "hostvars": {"web1": {"ansible_host": "10.0.0.1"}, "web2": {"ansible_host": "10.0.0.2"}},
        "groups": {"web": ["web1", "web2"]},
    })
}

fn r(text: &str) -> String {
    templar()
        .render_str(text, &vars(), &origin())
        .unwrap_or_else(|e| panic!("{text}: {}", e.render()))
}

#[test]
fn render_str_plain_values() {
    assert_eq!(r("{{ n }}"), "42");
    assert_eq!(r("{{ f }}"), "3.7");
    assert_eq!(r("{{ s_num | int * 2 }}"), "24");
    assert_eq!(r("{{ users[0].groups }}"), "['wheel', 'dev']");
    assert_eq!(
        r("{{ {'k': none, 'b': false} }}"),
        "{'k': None, 'b': False}"
    );
}

fn rerr(text: &str) -> String {
    match templar().render_str(text, &vars(), &origin()) {
        Ok(s) => panic!("{text}: expected an error, got {s:?}"),
        Err(e) => e.render(),
    }
}

fn check(cases: &[(&str, &str)]) {
    let mut failures = Vec::new();
    for (tpl, want) in cases {
        match templar().render_str(tpl, &vars(), &origin()) {
            Ok(got) if got == *want => {}
            Ok(got) => failures.push(format!("{tpl}\n    want {want:?}\n    got  {got:?}")),
            Err(e) => failures.push(format!(
                "{tpl}\n    want {want:?}\n    error {}",
                e.render()
            )),
        }
    }
    assert!(
        failures.is_empty(),
        "{} failing:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn basics_and_python_printing() {
    check(&[
        ("hello {{ name }}", "hello world"),
        ("no markup", "no markup"),
        (
            "{{ true }} {{ True }} {{ false }} {{ none }} {{ None }}",
            "True True False None None",
        ),
        ("{{ words }}", "['a', 'b', 'c']"),
        ("{{ d.b }}", "{'x': 1, 'y': [1, 2]}"),
        ("{{ 'x' if flag else 'y' }}", "x"),
        ("{{ 'x' if not flag else 'y' }}", "y"),
        (
            "{% for w in words %}{{ loop.index }}{{ w }}{% endfor %}",
            "1a2b3c",
        ),
        ("{%- if flag -%}  yes  {%- endif -%}", "yes"),
        ("a{# comment #}b", "ab"),
        ("{{ name ~ '!' ~ n }}", "world!42"),
        ("{{ 'a' not in words }}", "False"),
        ("{{ nothing is not none }}", "False"),
        ("{{ d['a'] }} {{ d.b['y'][1] }}", "1 2"),
        ("{{ words.0 }}{{ words[1] }}", "ab"),
        ("{{ \"x\" }}", "x"),
        ("{{ 1.0 }} {{ 2.5 }}", "1.0 2.5"),
        ("line\n", "line\n"),
        ("{{ omit }}", templar().omit_token()),
        (
            "{{ d.missing is defined }} {{ d.missing is undefined }}",
            "False True",
        ),
        ("{{ nope is defined }}", "False"),
        ("{{ d.missing | default('dflt') }}", "dflt"),
        ("{% set x = 5 %}{{ x * 2 }}", "10"),
    ]);
}

#[test]
fn default_bool_int_float_string_ternary() {
    check(&[
        ("{{ nope | default('x') }}", "x"),
        ("{{ nope | d('x') }}", "x"),
        ("{{ empty | default('x') }}", ""),
        ("{{ empty | default('x', true) }}", "x"),
        ("{{ nothing | default('x') }}", "None"),
        ("{{ nothing | default('x', boolean=True) }}", "x"),
        ("{{ nope | default }}", ""),
        (
            "{{ 'yes' | bool }} {{ 'no' | bool }} {{ 'on' | bool }} {{ 'off' | bool }}",
            "True False True False",
        ),
        (
            "{{ 'true' | bool }} {{ 'False' | bool }} {{ '1' | bool }} {{ '0' | bool }}",
            "True False True False",
        ),
        (
            "{{ 1 | bool }} {{ 0 | bool }} {{ 'foo' | bool }} {{ nothing | bool }}",
            "True False False False",
        ),
        ("{{ '42' | int + 1 }}", "43"),
        (
            "{{ '3.9' | int }} {{ 3.9 | int }} {{ 'x' | int }} {{ 'x' | int(7) }}",
            "3 3 0 7",
        ),
        (
            "{{ 'ff' | int(base=16) }} {{ '0x1f' | int(0, 16) }} {{ '755' | int(base=8) }}",
            "255 31 493",
        ),
        ("{{ true | int }}", "1"),
        (
            "{{ '1.5' | float }} {{ 'x' | float }} {{ 2 | float }}",
            "1.5 0.0 2.0",
        ),
        (
            "{{ true | string }} {{ 5 | string }} {{ nothing | string }}",
            "True 5 None",
        ),
        ("{{ flag | ternary('on', 'off') }}", "on"),
        ("{{ empty | ternary('on', 'off') }}", "off"),
        ("{{ nothing | ternary('on', 'off', 'unset') }}", "unset"),
        ("{{ nothing | ternary('on', 'off') }}", "off"),
    ]);
}

#[test]
fn collections() {
    check(&[
        ("{{ items | length }} {{ items | count }} {{ d | length }}", "4 4 2"),
        ("{{ items | unique | list }}", "[3, 1, 2]"),
        ("{{ words | join(',') }}", "a,b,c"),
        ("{{ [1, true, none] | join('-') }}", "1-True-None"),
        ("{{ users | map(attribute='name') | join(' ') }}", "alice bob carol"),
        ("{{ ['1', '2'] | map('int') | sum }}", "3"),
        ("{{ words | map('upper') | list }}", "['A', 'B', 'C']"),
        ("{{ ['a_b', 'c_d'] | map('regex_replace', '_', '-') | list }}", "['a-b', 'c-d']"),
        ("{{ users | selectattr('admin') | map(attribute='name') | list }}", "['alice', 'carol']"),
        ("{{ users | rejectattr('admin') | map(attribute='name') | list }}", "['bob']"),
        ("{{ users | selectattr('uid', '>', 1000) | map(attribute='name') | list }}", "['alice', 'bob']"),
        ("{{ users | selectattr('name', 'equalto', 'bob') | map(attribute='uid') | first }}", "1002"),
        ("{{ users | selectattr('name', 'match', '^c') | map(attribute='name') | list }}", "['carol']"),
        ("{{ items | select('>', 1) | list }}", "[3, 2, 3]"),
        ("{{ items | reject('equalto', 3) | list }}", "[1, 2]"),
        ("{{ items | first }} {{ items | last }} {{ items | min }} {{ items | max }} {{ items | sum }}", "3 3 1 3 9"),
        ("{{ users | sort(attribute='uid') | map(attribute='name') | list }}", "['carol', 'alice', 'bob']"),
        ("{{ items | sort(reverse=true) | list }}", "[3, 3, 2, 1]"),
        ("{{ [1, [2, [3, [4]]]] | flatten }}", "[1, 2, 3, 4]"),
        ("{{ [1, [2, [3, [4]]]] | flatten(levels=1) }}", "[1, 2, [3, [4]]]"),
        ("{{ [1, none, [2]] | flatten }}", "[1, 2]"),
        ("{{ [1, 2, 3] | difference([2]) }}", "[1, 3]"),
        ("{{ [1, 2, 2] | union([3, 1]) }}", "[1, 2, 3]"),
        ("{{ [1, 2, 3] | intersect([3, 2, 7]) }}", "[2, 3]"),
        ("{{ [1, 2, 3] | symmetric_difference([3, 4]) }}", "[1, 2, 4]"),
        ("{{ [1, 2] | product(['a', 'b']) | list }}", "[[1, 'a'], [1, 'b'], [2, 'a'], [2, 'b']]"),
        ("{{ [1, 2, 3] | zip(['a', 'b']) | list }}", "[[1, 'a'], [2, 'b']]"),
        ("{{ [1, 2] | zip_longest(['a'], fillvalue='-') | list }}", "[[1, 'a'], [2, '-']]"),
        ("{{ {'a': 1, 'b': 2} | dict2items }}", "[{'key': 'a', 'value': 1}, {'key': 'b', 'value': 2}]"),
        ("{{ {'a': 1} | dict2items(key_name='k', value_name='v') }}", "[{'k': 'a', 'v': 1}]"),
        ("{{ [{'key': 'a', 'value': 1}] | items2dict }}", "{'a': 1}"),
        ("{{ [{'n': 'a', 'v': 1}] | items2dict(key_name='n', value_name='v') }}", "{'a': 1}"),
        ("{{ [['a', 1], ['b', 2]] | dict }}", "{'a': 1, 'b': 2}"),
        ("{{ dict(['a', 'b'] | zip([1, 2])) }}", "{'a': 1, 'b': 2}"),
        ("{{ dict(x=1) }}", "{'x': 1}"),
        ("{{ d | dict2items | items2dict == d }}", "True"),
        ("{{ 'abc' | list }}", "['a', 'b', 'c']"),
        ("{{ groups['web'] | map('extract', hostvars, 'ansible_host') | list }}", "['10.0.0.1', '10.0.0.2']"),
        ("{{ users | subelements('groups') | map('last') | list }}", "['wheel', 'dev', 'dev']"),
        ("{{ ['x', 'y'] | random(seed='s') in ['x', 'y'] }}", "True"),
        ("{{ [1, 2, 3, 4] | shuffle(seed='a') | sort }}", "[1, 2, 3, 4]"),
        ("{{ [1, 2, 3, 4] | shuffle(seed='a') == [1, 2, 3, 4] | shuffle(seed='a') }}", "True"),
        ("{{ (10 | random(seed='x')) < 10 }}", "True"),
        ("{% for k, v in d | dictsort %}{{ k }}{% endfor %}", "ab"),
        ("{% for k, v in d.items() %}{{ k }}={{ v is mapping }};{% endfor %}", "a=False;b=True;"),
        ("{{ d | items | list | length }}", "2"),
    ]);
}

#[test]
fn combine() {
    check(&[
        (
            "{{ d | combine(d2) }}",
            "{'a': 1, 'b': {'y': [3], 'z': 2}, 'c': 3}",
        ),
        (
            "{{ d | combine(d2, recursive=True) }}",
            "{'a': 1, 'b': {'x': 1, 'y': [3], 'z': 2}, 'c': 3}",
        ),
        (
            "{{ d | combine(d2, recursive=True, list_merge='append') }}",
            "{'a': 1, 'b': {'x': 1, 'y': [1, 2, 3], 'z': 2}, 'c': 3}",
        ),
        (
            "{{ d | combine(d2, recursive=True, list_merge='prepend') }}",
            "{'a': 1, 'b': {'x': 1, 'y': [3, 1, 2], 'z': 2}, 'c': 3}",
        ),
        (
            "{{ {'a': 1} | combine({'b': 2}, {'a': 3}) }}",
            "{'a': 3, 'b': 2}",
        ),
        ("{{ [{'a': 1}, {'b': 2}] | combine }}", "{'a': 1, 'b': 2}"),
        (
            "{{ {'l': [1, 2]} | combine({'l': [2, 3]}, list_merge='append_rp') }}",
            "{'l': [1, 2, 3]}",
        ),
    ]);
}

#[test]
fn strings_and_paths() {
    check(&[
        ("{{ path | basename }}", "nginx.conf"),
        ("{{ path | dirname }}", "/etc/nginx"),
        ("{{ '/etc/' | dirname }}", "/etc"),
        ("{{ 'file' | dirname }}", ""),
        ("{{ path | splitext }}", "['/etc/nginx/nginx', '.conf']"),
        ("{{ '.bashrc' | splitext }}", "['.bashrc', '']"),
        ("{{ ['/etc', 'nginx', 'x.conf'] | path_join }}", "/etc/nginx/x.conf"),
        ("{{ ['a', '/b', 'c'] | path_join }}", "/b/c"),
        ("{{ 'hello' | upper }} {{ 'HeLLo' | lower }} {{ 'hello world' | capitalize }}", "HELLO hello Hello world"),
        ("{{ 'hello world' | title }} [{{ '  x  ' | trim }}]", "Hello World [x]"),
        ("{{ 'a,b,,c' | split(',') }}", "['a', 'b', '', 'c']"),
        ("{{ '  a b  c ' | split }}", "['a', 'b', 'c']"),
        ("{{ 'a-b-c' | split('-', 1) }}", "['a', 'b-c']"),
        ("{{ 'aaa' | replace('a', 'b') }} {{ 'aaa' | replace('a', 'b', 2) }}", "bbb bba"),
        ("{{ 'x' | indent(2) }}", "x"),
        ("{{ 'a\\nb' | indent(2) }}", "a\n  b"),
        ("{{ 'a\\nb' | indent(2, true) }}", "  a\n  b"),
        ("{{ 'a\\nb' | indent(width=4, first=True) }}", "    a\n    b"),
        ("{{ \"it's\" | quote }} {{ 'plain' | quote }} {{ 'a b' | quote }}", "'it'\\''s' plain 'a b'"),
        ("{{ 'x' | type_debug }} {{ 1 | type_debug }} {{ 1.5 | type_debug }} {{ true | type_debug }}", "str int float bool"),
        ("{{ [] | type_debug }} {{ {} | type_debug }} {{ none | type_debug }}", "list dict NoneType"),
        ("{{ 'a b&c' | urlencode }}", "a%20b%26c"),
        ("{{ 'hello' | b64encode }} {{ 'aGVsbG8=' | b64decode }}", "aGVsbG8= hello"),
        ("{{ 'ünï' | b64encode | b64decode }}", "ünï"),
    ]);
}

#[test]
fn regex_filters() {
    check(&[
        ("{{ 'foobar' | regex_search('o+') }}", "oo"),
        ("{{ 'foobar' | regex_search('z') }}", "None"),
        ("{{ 'foobar' | regex_search('O+', ignorecase=True) }}", "oo"),
        (
            "{{ 'key=val' | regex_search('(\\\\w+)=(\\\\w+)', '\\\\2', '\\\\1') }}",
            "['val', 'key']",
        ),
        (
            "{{ 'key=val' | regex_search('(?P<k>\\\\w+)=', '\\\\g<k>') }}",
            "['key']",
        ),
        (
            "{{ 'a\\nfoo' | regex_search('^foo', multiline=True) }}",
            "foo",
        ),
        (
            "{{ 'ansible' | regex_replace('^a.*i(.*)$', 'a\\\\1') }}",
            "able",
        ),
        (
            "{{ 'foobar' | regex_replace('(?P<x>o+)', '[\\\\g<x>]') }}",
            "f[oo]bar",
        ),
        (
            "{{ 'FOO foo' | regex_replace('foo', 'x', ignorecase=True) }}",
            "x x",
        ),
        ("{{ 'aaa' | regex_replace('a', 'b', count=2) }}", "bba"),
        (
            "{{ 'a\\nb' | regex_replace('^', '# ', multiline=True) }}",
            "# a\n# b",
        ),
        (
            "{{ 'cost 5' | regex_replace('(\\\\d)', '$\\\\1') }}",
            "cost $5",
        ),
        ("{{ 'a1b22' | regex_findall('\\\\d+') }}", "['1', '22']"),
        (
            "{{ 'k1=v1 k2=v2' | regex_findall('(\\\\w+)=(\\\\w+)') }}",
            "[['k1', 'v1'], ['k2', 'v2']]",
        ),
        (
            "{{ '^f.*o(.*)$' | regex_escape }}",
            "\\^f\\.\\*o\\(\\.\\*\\)\\$",
        ),
        ("{{ 'a.b' | regex_escape('posix_basic') }}", "a\\.b"),
    ]);
}

#[test]
fn serialisation() {
    check(&[
        ("{{ {'b': [1, 2.0, 'é'], 'a': none, 'c': true} | to_json }}", "{\"b\": [1, 2.0, \"\\u00e9\"], \"a\": null, \"c\": true}"),
        (
            "{{ {'b': [1, 2.0, 'é'], 'a': none, 'c': true} | to_nice_json }}",
            "{\n    \"a\": null,\n    \"b\": [\n        1,\n        2.0,\n        \"\\u00e9\"\n    ],\n    \"c\": true\n}",
        ),
        ("{{ {'a': 1} | to_nice_json(indent=2) }}", "{\n  \"a\": 1\n}"),
        ("{{ {'b': 1, 'a': 2} | to_json(sort_keys=true) }}", "{\"a\": 2, \"b\": 1}"),
        ("{{ '{\"a\": [1, 2]}' | from_json }}", "{'a': [1, 2]}"),
        ("{{ ('{\"a\": [1, 2]}' | from_json).a[1] }}", "2"),
        ("{{ 'a: 1\\nb: [x, y]' | from_yaml }}", "{'a': 1, 'b': ['x', 'y']}"),
        ("{{ '---\\na: 1\\n---\\nb: 2' | from_yaml_all | list }}", "[{'a': 1}, {'b': 2}]"),
        ("{{ {'a': [1, 2], 'b': {'c': 'yes', 'd': [{'x': 1, 'y': [1]}]}} | to_yaml }}", "a: [1, 2]\nb:\n  c: 'yes'\n  d:\n  - x: 1\n    y: [1]\n"),
        (
            "{{ {'a': [1, 2], 'b': {'c': 'yes', 'd': [{'x': 1, 'y': [1]}]}} | to_nice_yaml }}",
            "a:\n- 1\n- 2\nb:\n    c: 'yes'\n    d:\n    -   x: 1\n        y:\n        - 1\n",
        ),
        ("{{ [[1, 2], [3]] | to_nice_yaml }}", "-   - 1\n    - 2\n-   - 3\n"),
        ("{{ {'k': [[1, {'z': 2}]]} | to_yaml }}", "k:\n- - 1\n  - {z: 2}\n"),
        ("{{ {'a': 1} | to_yaml }}", "{a: 1}\n"),
        ("{{ 'x' | to_yaml }}", "x\n...\n"),
        (
            "{{ {'a': '', 'b': '1.0', 'c': 'a: b', 'd': '-x', 'f': none, 'g': 1.5, 'h': '~', 'i': '#x', 'j': 'null', 'k': '2021-01-01', 'l': \"it's\"} | to_nice_yaml }}",
            "a: ''\nb: '1.0'\nc: 'a: b'\nd: -x\nf: null\ng: 1.5\nh: '~'\ni: '#x'\nj: 'null'\nk: '2021-01-01'\nl: it's\n",
        ),
    ]);
}

#[test]
fn hashes_and_passwords() {
    check(&[
        ("{{ 'test' | hash }}", "a94a8fe5ccb19ba61c4c0873d391e987982fbbd3"),
        ("{{ 'test' | hash('sha1') }}", "a94a8fe5ccb19ba61c4c0873d391e987982fbbd3"),
        ("{{ 'test' | checksum }}", "a94a8fe5ccb19ba61c4c0873d391e987982fbbd3"),
        ("{{ 'test' | hash('md5') }}", "098f6bcd4621d373cade4e832627b4f6"),
        ("{{ '' | hash('md5') }}", "d41d8cd98f00b204e9800998ecf8427e"),
        ("{{ 'test' | md5 }}", "098f6bcd4621d373cade4e832627b4f6"),
        ("{{ 'test' | hash('sha256') }}", "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"),
        (
            "{{ 'test' | hash('sha512') }}",
            "ee26b0dd4af7e749aa1a8ee3c10ae9923f618980772e473f8819a5d4940e0db27ac185f8a0e1d5f84f88bc887fd67b143732c304cc5fa9ad8e6f57f50028a8ff",
        ),
        // `openssl passwd -6 -salt saltsalt secret` and Python's crypt.crypt agree on this.
        (
            "{{ 'secret' | password_hash('sha512', 'saltsalt') }}",
            "$6$saltsalt$TVLlQcbpFVof5W3Yz4DTP6gRstiNuHwwTt6GLc1E5n0U0aDehy0S5knV8wiOQSpT0Y77vwPZN.Pq.H91p5hVO1",
        ),
        (
            "{{ 'secret' | password_hash(salt='saltsalt') }}",
            "$6$saltsalt$TVLlQcbpFVof5W3Yz4DTP6gRstiNuHwwTt6GLc1E5n0U0aDehy0S5knV8wiOQSpT0Y77vwPZN.Pq.H91p5hVO1",
        ),
        ("{{ 'secret' | password_hash('sha256', 'saltsalt') }}", "$5$saltsalt$0IyaXrmV7.sGNS6tirgqHLqX/G.FBvgkYA.lpPdS5sA"),
        ("{{ ('secret' | password_hash('sha512')).startswith('$6$') }}", "True"),
        ("{{ ('secret' | password_hash('sha512')) | length }}", "106"),
    ]);
}

#[test]
fn password_hash_matches_openssl_for_long_inputs() {
    // A password longer than the digest, a full 16-char salt, and explicit rounds.
    let pass = "a-rather-long-password-that-is-longer-than-sixty-four-bytes-0123456789-abcdefghij";
    let cases = [
        (
            "6",
            None,
            crypt::sha512_crypt(pass, "0123456789abcdef", None),
        ),
        (
            "5",
            None,
            crypt::sha256_crypt(pass, "0123456789abcdef", None),
        ),
        (
            "6",
            Some(10000),
            crypt::sha512_crypt(pass, "0123456789abcdef", Some(10000)),
        ),
    ];
    for (id, rounds, got) in cases {
        let mut cmd = std::process::Command::new("openssl");
        cmd.arg("passwd").arg(format!("-{id}")).arg("-salt");
        match rounds {
            Some(r) => cmd.arg(format!("rounds={r}$0123456789abcdef")),
            None => cmd.arg("0123456789abcdef"),
        };
        let Ok(out) = cmd.arg(pass).output() else {
            eprintln!("openssl not available; skipping");
            return;
        };
        if !out.status.success() {
            // Old openssl without -5/-6 or rounds: nothing to compare against.
            continue;
        }
        assert_eq!(
            got,
            String::from_utf8_lossy(&out.stdout).trim(),
            "id {id} rounds {rounds:?}"
        );
    }
}

#[test]
fn comment_filter() {
    check(&[
        ("{{ 'text' | comment }}", "#\n# text\n#"),
        ("{{ 'a\\nb' | comment }}", "#\n# a\n# b\n#"),
        ("{{ 'text' | comment('c') }}", "//\n// text\n//"),
        (
            "{{ 'text' | comment('cblock') }}",
            "/*\n *\n * text\n *\n */",
        ),
        ("{{ 'text' | comment('erlang') }}", "%\n% text\n%"),
        (
            "{{ 'text' | comment('xml') }}",
            "<!--\n -\n - text\n -\n-->",
        ),
        ("{{ 'text' | comment(decoration='; ') }}", ";\n; text\n;"),
        (
            "{{ 'text' | comment('plain', prefix_count=0, postfix_count=0) }}",
            "# text",
        ),
    ]);
}

#[test]
fn misc_filters() {
    check(&[
        (
            "{{ '%Y-%m-%d %H:%M:%S' | strftime(0, utc=True) }}",
            "1970-01-01 00:00:00",
        ),
        ("{{ '%Y' | strftime(86400 * 366, true) }}", "1971"),
        ("{{ ('%Y' | strftime) | int > 2000 }}", "True"),
        ("{{ '1.2.10' | version_compare('1.2.9', '>') }}", "True"),
        ("{{ '~/x' | expanduser == '~/x' }}", "False"),
        (
            "{{ 2 | pow(10) | int }} {{ 16 | root | int }} {{ 100 | log(10) | round | int }}",
            "1024 4 2",
        ),
        ("{{ 'x' | mandatory }}", "x"),
        ("{{ now(fmt='%Y') | int > 2000 }} {{ now(true) | length }}", "True 26"),
        ("{{ d | ansible.builtin.to_json }} {{ '1.2' is ansible.builtin.version('1.1', '>') }}", "{\"a\": 1, \"b\": {\"x\": 1, \"y\": [1, 2]}} True"),
        ("{{ 'x' ~ true ~ none }}", "xTrueNone"),
        ("{{ 'test' | to_uuid }}", "f4fb6740-9e00-5ac4-9581-f24b6ecfe71e"),
        ("{{ 1024 | human_readable }} {{ 0 | human_readable }} {{ 1048576 | human_readable(unit='K') }}", "1.00 KB 0.00 Bytes 1024.00 KB"),
        ("{{ '1 KB' | human_to_bytes }} {{ '1.5M' | human_to_bytes }} {{ '10' | human_to_bytes('K') }}", "1024 1572864 10240"),
        ("{{ [1, 2, 3] | combinations(2) | list }}", "[[1, 2], [1, 3], [2, 3]]"),
        ("{{ [1, 2, 3] | permutations(2) | list }}", "[[1, 2], [1, 3], [2, 1], [2, 3], [3, 1], [3, 2]]"),
        ("{{ '/' | realpath }}", "/"),
        ("{{ '/etc/nginx/x.conf' | relpath('/etc') }} {{ '/a/b' | relpath('/a/c/d') }}", "nginx/x.conf ../../b"),
        ("{{ 'http://u:p@Example.com:8080/p/x?q=1#f' | urlsplit('hostname') }}", "example.com"),
        ("{{ 'http://u:p@Example.com:8080/p/x?q=1#f' | urlsplit('port') }}", "8080"),
        (
            "{{ 'https://host/path?a=b#top' | urlsplit }}",
            "{'fragment': 'top', 'hostname': 'host', 'netloc': 'host', 'password': None, 'path': '/path', 'port': None, 'query': 'a=b', 'scheme': 'https', 'username': None}",
        ),
    ]);
}

#[test]
fn jinja_tests() {
    check(&[
        ("{{ name is defined }} {{ nope is defined }} {{ nope is undefined }}", "True False True"),
        ("{{ d.b.x is defined }} {{ d.b.q is defined }}", "True False"),
        ("{{ nothing is none }} {{ name is none }}", "True False"),
        ("{{ '1.10' is version('1.9', '>') }} {{ '1.10' is version('1.9', 'lt') }}", "True False"),
        ("{{ '2.0' is version('2.0', '==') }} {{ '2.0' is version('2.0') }} {{ '2.0' is version('2.0.1', 'ne') }}", "True True True"),
        ("{{ '2.0' is version('2.0.0', '<') }} {{ '1.0.0' is version('1.0', '>=') }}", "True True"),
        ("{{ '1.0' is version_compare('1.0a1', '>', strict=true) }}", "True"),
        ("{{ '1.0b1' is version('1.0a2', 'gt', version_type='strict') }}", "True"),
        ("{{ '1.0.0-rc.1' is version('1.0.0', '<', version_type='semver') }}", "True"),
        ("{{ '1:1.0' is version('2.0', '>', version_type='dpkg') }}", "True"),
        ("{{ '1.0~rc1' is version('1.0', '<', version_type='dpkg') }}", "True"),
        ("{{ '1.0-2' is version('1.0-10', '<', version_type='dpkg') }}", "True"),
        ("{{ '1.0a' is version('1.0', '>', version_type='dpkg') }}", "True"),
        ("{{ '1.0~rc1' is version('1.0', '<', version_type='rpm') }}", "True"),
        ("{{ '1.10-1.el9' is version('1.9-3.el9', '>', version_type='rpm') }}", "True"),
        ("{{ '3.0.13' is version('3.0.2', 'ge') }}", "True"),
        ("{{ 'foobar' is match('foo') }} {{ 'foobar' is match('bar') }}", "True False"),
        ("{{ 'foobar' is search('bar') }} {{ 'foobar' is search('^bar') }}", "True False"),
        ("{{ 'FOO' is match('foo', ignorecase=true) }} {{ 'foobar' is regex('o+b') }}", "True True"),
        ("{{ words is contains('b') }} {{ 'b' is in(words) }} {{ 'z' in words }}", "True True False"),
        ("{{ res_changed is changed }} {{ res_failed is changed }}", "True False"),
        ("{{ res_failed is failed }} {{ res_failed is failure }} {{ res_changed is failed }}", "True True False"),
        ("{{ res_changed is success }} {{ res_changed is succeeded }} {{ res_failed is succeeded }}", "True True False"),
        ("{{ res_skipped is skipped }} {{ res_changed is skipped }}", "True False"),
        ("{{ 'x' is truthy }} {{ '' is falsy }} {{ 'no' is truthy(convert_bool=True) }}", "True True False"),
        ("{{ 'x' is string }} {{ 1 is string }} {{ 1 is number }} {{ 1.5 is float }} {{ 1 is integer }}", "True False True True True"),
        ("{{ true is boolean }} {{ 1 is boolean }} {{ true is integer }}", "True False False"),
        ("{{ d is mapping }} {{ words is mapping }} {{ words is sequence }} {{ 'x' is sequence }}", "True False True True"),
        ("{{ words is iterable }} {{ 1 is iterable }}", "True False"),
        ("{{ [1, 2] is subset([1, 2, 3]) }} {{ [1, 2, 3] is superset([3]) }} {{ [4] is subset([1]) }}", "True True False"),
        ("{{ '/etc' is abs }} {{ 'etc' is abs }} {{ '/' is exists }} {{ '/nonexistent/x' is exists }}", "True False True False"),
        ("{{ '/' is directory }} {{ '/' is file }}", "True False"),
        ("{{ 3 is equalto 3 }} {{ 3 == 3 }}", "True True"),
        ("{{ [true, 1] is all }} {{ [false, 0] is any }}", "True False"),
    ]);
}

#[test]
fn version_orderings() {
    use std::cmp::Ordering::*;
    use version::*;
    for (a, b, want) in [
        ("1.0", "1.0", Equal),
        ("1.2.9", "1.2.10", Less),
        ("2", "10", Less),
        ("1.0", "1.0.0", Less),
        ("1.0a", "1.0b", Less),
    ] {
        assert_eq!(cmp_loose(a, b), want, "loose {a} {b}");
    }
    for (a, b, want) in [
        ("1.0", "1.0-0", Equal),
        ("1.0~~", "1.0~~a", Less),
        ("1.0~", "1.0", Less),
        ("1.0", "1.0+b1", Less),
        ("2:0.1", "1:9.9", Greater),
        ("1.2.3-1ubuntu1", "1.2.3-1", Greater),
        ("7.6p1-4", "7.6p1-4", Equal),
        ("1.0.10", "1.0.9", Greater),
    ] {
        assert_eq!(cmp_dpkg(a, b), want, "dpkg {a} {b}");
    }
    for (a, b, want) in [
        ("1.0", "1.0", Equal),
        ("1.0", "2.0", Less),
        ("1.0a", "1.0", Greater),
        ("1.0~rc1", "1.0", Less),
        ("1.0^git1", "1.0", Greater),
        ("1.0^git1", "1.0.1", Less),
        ("1:1.0", "2.0", Greater),
        ("2.0.01", "2.0.1", Equal),
    ] {
        assert_eq!(cmp_rpm(a, b), want, "rpm {a} {b}");
    }
    assert!(compare("1.0", "1.0", "bogus", "loose").is_err());
    assert!(compare("1.0", "x", "==", "strict").is_err());
}

#[test]
fn lookups() {
    std::env::set_var("MUSTER_TEMPLATE_TEST_ENV", "from-env");
    let dir = tempfile::tempdir().unwrap();
    let files = dir.path().join("files");
    std::fs::create_dir_all(&files).unwrap();
    std::fs::write(files.join("motd.txt"), "Hello\n\n").unwrap();
    std::fs::write(dir.path().join("other.conf"), "other").unwrap();
    std::fs::write(files.join("a.cfg"), "a").unwrap();
    std::fs::write(files.join("b.cfg"), "b").unwrap();
    let tdir = dir.path().join("templates");
    std::fs::create_dir_all(&tdir).unwrap();
    std::fs::write(tdir.join("t.j2"), "name={{ name }}").unwrap();
    let mut v = vars();
    v["__muster_search_dirs"] = json!([dir.path().to_string_lossy()]);
    v["names"] = json!(["x", "y"]);
    let d = dir.path().to_string_lossy().to_string();
    let cases: Vec<(String, String)> = vec![
        ("{{ lookup('env', 'MUSTER_TEMPLATE_TEST_ENV') }}".into(), "from-env".into()),
        ("{{ lookup('ansible.builtin.env', 'MUSTER_NOPE_X', default='dflt') }}".into(), "dflt".into()),
        ("{{ lookup('env', 'MUSTER_NOPE_X') }}".into(), "".into()),
        ("{{ lookup('file', 'motd.txt') }}".into(), "Hello".into()),
        ("{{ lookup('file', 'other.conf') }}".into(), "other".into()),
        ("{{ lookup('file', 'motd.txt', rstrip=False) }}".into(), "Hello\n\n".into()),
        (format!("{{{{ lookup('file', '{d}/other.conf') }}}}"), "other".into()),
        ("{{ lookup('file', 'missing.txt', errors='ignore') }}".into(), "None".into()),
        ("{{ query('file', 'missing.txt', errors='ignore') }}".into(), "[]".into()),
        ("{{ query('fileglob', '*.cfg') | map('basename') | list }}".into(), "['a.cfg', 'b.cfg']".into()),
        ("{{ lookup('fileglob', '*.cfg') | split(',') | length }}".into(), "2".into()),
        ("{{ lookup('first_found', ['nope.txt', 'motd.txt']) | basename }}".into(), "motd.txt".into()),
        (format!("{{{{ lookup('first_found', {{'files': ['nope', 'other.conf'], 'paths': ['/x', '{d}']}}) | basename }}}}"), "other.conf".into()),
        ("{{ lookup('first_found', ['nope'], skip=True) }}".into(), "".into()),
        ("{{ lookup('pipe', 'echo hi; echo there') }}".into(), "hi\nthere".into()),
        ("{{ query('lines', 'printf \"a\\\\nb\\\\n\"') }}".into(), "['a', 'b']".into()),
        ("{{ query('varnames', '^res_') }}".into(), "['res_changed', 'res_failed', 'res_skipped']".into()),
        ("{{ lookup('vars', 'name') }}".into(), "world".into()),
        ("{{ lookup('vars', 'nope', default='z') }}".into(), "z".into()),
        ("{{ query('items', [1, [2]], 3) }}".into(), "[1, [2], 3]".into()),
        ("{{ lookup('items', ['a', 'b']) }}".into(), "a,b".into()),
        ("{{ lookup('items', [1, 2]) }}".into(), "[1, 2]".into()),
        ("{{ lookup('items', [1]) }}".into(), "1".into()),
        ("{{ lookup('items', [1], wantlist=True) }}".into(), "[1]".into()),
        ("{{ query('dict', {'a': 1}) }}".into(), "[{'key': 'a', 'value': 1}]".into()),
        ("{{ query('sequence', 'start=1 end=3') }}".into(), "['1', '2', '3']".into()),
        ("{{ query('sequence', 'start=0 end=10 stride=5 format=host%02d') }}".into(), "['host00', 'host05', 'host10']".into()),
        ("{{ query('sequence', '4-8/2:n%d') }}".into(), "['n4', 'n6', 'n8']".into()),
        ("{{ query('sequence', 'count=3') }}".into(), "['1', '2', '3']".into()),
        ("{{ query('sequence', start=2, end=3) }}".into(), "['2', '3']".into()),
        ("{{ query('sequence', '0x0a-0x0c:%x') }}".into(), "['a', 'b', 'c']".into()),
        ("{{ query('indexed_items', ['a', 'b']) }}".into(), "[[0, 'a'], [1, 'b']]".into()),
        ("{{ query('together', [1, 2], ['a']) }}".into(), "[[1, 'a'], [2, None]]".into()),
        ("{{ query('nested', [1, 2], ['a', 'b']) }}".into(), "[[1, 'a'], [1, 'b'], [2, 'a'], [2, 'b']]".into()),
        ("{{ query('subelements', users, 'groups') | map('last') | list }}".into(), "['wheel', 'dev', 'dev']".into()),
        ("{{ query('subelements', [{'n': 1}], 'groups', {'skip_missing': True}) }}".into(), "[]".into()),
        ("{{ lookup('template', 't.j2') }}".into(), "name=world".into()),
        ("{{ lookup('template', 't.j2', template_vars={'name': 'tv'}) }}".into(), "name=tv".into()),
        ("{{ q('list', 1, 2) }}".into(), "[1, 2]".into()),
    ];
    let mut failures = Vec::new();
    for (tpl, want) in &cases {
        match templar().render_str(tpl, &v, &origin()) {
            Ok(got) if &got == want => {}
            Ok(got) => failures.push(format!("{tpl}\n    want {want:?}\n    got  {got:?}")),
            Err(e) => failures.push(format!(
                "{tpl}\n    want {want:?}\n    error {}",
                e.render()
            )),
        }
    }
    assert!(
        failures.is_empty(),
        "{} failing:\n{}",
        failures.len(),
        failures.join("\n")
    );

    let e = templar()
        .render_str("{{ lookup('file', 'missing.txt') }}", &v, &origin())
        .unwrap_err()
        .render();
    assert!(
        e.contains("could not locate file") && e.contains("missing.txt"),
        "{e}"
    );
    let e = templar()
        .render_str("{{ lookup('first_found', ['nope']) }}", &v, &origin())
        .unwrap_err()
        .render();
    assert!(e.contains("No file was found"), "{e}");
    let e = templar()
        .render_str("{{ lookup('pipe', 'exit 3') }}", &v, &origin())
        .unwrap_err()
        .render();
    assert!(e.contains("returned 3"), "{e}");
    let e = templar()
        .render_str("{{ lookup('nope', 'x') }}", &v, &origin())
        .unwrap_err()
        .render();
    assert!(e.contains("'nope' is not supported"), "{e}");
}

#[test]
fn lookup_search_dirs_from_templar() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("only-here.txt"), "found").unwrap();
    let t = Templar::new();
    t.set_search_dirs(vec![dir.path().to_path_buf()]);
    assert_eq!(
        t.render_str(
            "{{ lookup('file', 'only-here.txt') }}",
            &json!({}),
            &origin()
        )
        .unwrap(),
        "found"
    );
}

#[test]
fn python_methods() {
    check(&[
        ("{{ 'a,b,c'.split(',') }}", "['a', 'b', 'c']"),
        ("{{ 'a b  c'.split() }}", "['a', 'b', 'c']"),
        ("{{ 'a,b,c'.rsplit(',', 1) }}", "['a,b', 'c']"),
        ("{{ '  x '.strip() }}|{{ 'xxyxx'.lstrip('x') }}|{{ 'xxyxx'.rstrip('x') }}", "x|yxx|xxy"),
        ("{{ 'foo'.startswith('f') }} {{ 'foo'.endswith('x') }} {{ 'foo'.find('o') }} {{ 'foo'.find('z') }}", "True False 1 -1"),
        ("{{ 'foo'.replace('o', '0') }} {{ 'foo'.upper() }} {{ 'FOO'.lower() }}", "f00 FOO foo"),
        ("{{ '{}-{}'.format('a', 1) }}", "a-1"),
        ("{{ ','.join(words) }}", "a,b,c"),
        ("{{ 'a\\nb'.splitlines() }}", "['a', 'b']"),
        ("{{ 'hello world'.capitalize() }} {{ 'hello world'.title() }}", "Hello world Hello World"),
        ("{{ 'banana'.count('a') }} {{ 'banana'.index('n') }} {{ '123'.isdigit() }} {{ '12a'.isdigit() }}", "3 2 True False"),
        ("{{ '7'.zfill(3) }} {{ 'a=b=c'.partition('=') }}", "007 ['a', '=', 'b=c']"),
        ("{{ d.keys() | list }} {{ d.values() | list | length }} {{ d.get('a') }} {{ d.get('z', 9) }} {{ d.get('z') }}", "['a', 'b'] 2 1 9 None"),
        ("{% for k, v in d.items() %}{{ k }}{% endfor %}", "ab"),
        ("{{ d.update({'c': 3}) }}", "{'a': 1, 'b': {'x': 1, 'y': [1, 2]}, 'c': 3}"),
        ("{{ d.copy() == d }}", "True"),
        ("{{ words.append('d') }} {{ words.extend(['e']) }}", "['a', 'b', 'c', 'd'] ['a', 'b', 'c', 'e']"),
        ("{{ words.index('b') }} {{ items.count(3) }} {{ words.pop() }} {{ words.pop(0) }}", "1 2 c a"),
        ("{{ words.insert(0, 'z') }}", "['z', 'a', 'b', 'c']"),
    ]);
    let e = rerr("{{ 'x'.nomethod() }}");
    assert!(e.contains("nomethod"), "{e}");
}

#[test]
fn undefined_variable_errors_name_variable_task_and_position() {
    let e = templar()
        .render_str("line one\nhello {{ missing_var }}", &vars(), &origin())
        .unwrap_err();
    assert_eq!(e.exit_code(), crate::error::exit::INPUT);
    let r = e.render();
    assert!(r.contains("undefined variable `missing_var`"), "{r}");
    assert!(r.contains("configure things"), "{r}");
    assert!(r.contains("play.yml:11:"), "{r}");
    assert!(r.contains("help:"), "{r}");
    match &e {
        Error::Input { loc: Some(loc), .. } => {
            assert_eq!(loc.line, 11);
            // `missing_var` starts at col 10 of the second template line; the template's
            // lines are indented like its first one (origin col 5).
            assert_eq!(loc.col, 5 + 10 - 1, "{loc}");
        }
        other => panic!("{other:?}"),
    }
    for (tpl, name) in [
        ("{{ nope.attr }}", "nope"),
        ("{{ d.missing }}", "d.missing"),
        ("{{ d.missing.deeper }}", "d.missing"),
        ("{% if nope %}x{% endif %}", "nope"),
        ("{% for x in nope %}{% endfor %}", "nope"),
        ("{{ nope | upper }}", "nope"),
        ("{{ nope | int }}", "nope"),
        ("{{ nope | to_json }}", "nope"),
        ("{{ nope | mandatory }}", "nope"),
    ] {
        let r = rerr(tpl);
        assert!(r.contains(&format!("`{name}`")), "{tpl}: {r}");
        assert!(r.contains("configure things"), "{tpl}: {r}");
    }
    let r = rerr("{{ nope | mandatory('set nope in group_vars') }}");
    assert!(r.contains("set nope in group_vars"), "{r}");
}

#[test]
fn syntax_errors_point_inside_the_file() {
    let t = templar();
    let o = Origin::new("roles/x/tasks/main.yml", 20, 7);
    assert!(t
        .check_syntax("ok {{ x }} {% if y %}{% endif %}", &o)
        .is_ok());
    assert!(t.check_syntax("plain text", &o).is_ok());
    let e = t
        .check_syntax("first\nsecond\nthird {{ x + }}", &o)
        .unwrap_err();
    match &e {
        Error::Input {
            loc: Some(loc),
            msg,
            help,
        } => {
            assert_eq!(loc.line, 22, "{msg}");
            assert!(msg.contains("syntax error"), "{msg}");
            assert!(help.is_some());
            assert_eq!(loc.file, PathBuf::from("roles/x/tasks/main.yml"));
        }
        other => panic!("{other:?}"),
    }
    let e = t.check_syntax("{% if x %}never closed", &o).unwrap_err();
    assert!(e.render().contains("syntax error"), "{}", e.render());
    let e = t.check_syntax("{{ x | }}", &o).unwrap_err();
    match &e {
        Error::Input { loc: Some(loc), .. } => {
            assert_eq!(loc.line, 20);
            assert!(loc.col > 7, "{loc}");
        }
        other => panic!("{other:?}"),
    }
    // Rendering reports the same position.
    let e = t.render_str("a\n{{ 'x' ~ }}", &json!({}), &o).unwrap_err();
    assert!(
        matches!(&e, Error::Input { loc: Some(l), .. } if l.line == 21),
        "{e:?}"
    );
}

#[test]
fn expression_syntax_checks() {
    let t = templar();
    let o = Origin::new("site.yml", 4, 11);
    assert!(t.check_expr_syntax("x is defined and y == 'z'", &o).is_ok());
    assert!(t.check_expr_syntax("{{ x }}", &o).is_ok());
    match t.check_expr_syntax("x ==", &o).unwrap_err() {
        Error::Input {
            loc: Some(loc),
            msg,
            ..
        } => {
            assert_eq!((loc.line, loc.col > 11), (4, true), "{msg}");
            assert!(msg.contains("syntax error"));
        }
        other => panic!("{other:?}"),
    }
    assert!(t.check_expr_syntax("{{ x ( }}", &o).is_err());
}

#[test]
fn unknown_filter_is_named() {
    let r = rerr("{{ name | no_such_filter }}");
    assert!(r.contains("no_such_filter"), "{r}");
    assert!(r.contains("unknown filter"), "{r}");
    let r = rerr("{{ name is no_such_test }}");
    assert!(r.contains("no_such_test"), "{r}");
}

#[test]
fn render_value_native_types_and_omit() {
    let t = templar();
    let v = vars();
    let o = origin();
    let input = json!({
        "list": "{{ words }}",
        "num": "{{ n }}",
        "bool": "{{ flag }}",
        "dict": "{{ d.b }}",
        "str": "{{ n }} items",
        "plain": "text",
        "gone": "{{ nope | default(omit) }}",
        "kept": "{{ name | default(omit) }}",
        "{{ name }}_key": 1,
        "nested": [1, "{{ n + 1 }}", "{{ omit }}", {"x": "{{ d.a }}"}],
        "expr_ws": "{{- n -}}",
        "none": "{{ nothing }}",
        "literal": 5,
    });
    let out = t.render_value(&input, &v, &o).unwrap();
    assert_eq!(
        out,
        json!({
            "list": ["a", "b", "c"],
            "num": 42,
            "bool": true,
            "dict": {"x": 1, "y": [1, 2]},
            "str": "42 items",
            "plain": "text",
            "kept": "world",
            "world_key": 1,
            "nested": [1, 43, {"x": 1}],
            "expr_ws": 42,
            "none": null,
            "literal": 5,
        })
    );
    // Two expressions are text, not native.
    assert_eq!(
        t.render_value(&json!("{{ n }}{{ n }}"), &v, &o).unwrap(),
        json!("4242")
    );
    let e = t
        .render_value(&json!({"a": "{{ nope }}"}), &v, &o)
        .unwrap_err()
        .render();
    assert!(e.contains("`nope`"), "{e}");
    let e = t
        .render_value(&json!({"a": "{{ d.missing }}"}), &v, &o)
        .unwrap_err()
        .render();
    assert!(e.contains("d.missing"), "{e}");
}

#[test]
fn conditions() {
    let t = templar();
    let v = vars();
    let o = origin();
    let yes = |c: J| {
        t.eval_condition(&c, &v, &o)
            .unwrap_or_else(|e| panic!("{c}: {}", e.render()))
    };
    for (c, want) in [
        (json!(true), true),
        (json!(false), false),
        (json!(1), true),
        (json!(0), false),
        (json!("flag"), true),
        (json!("not flag"), false),
        (json!("n > 40 and name == 'world'"), true),
        (json!("'b' in words"), true),
        (json!("nope is defined"), false),
        (json!("nope is not defined"), true),
        (json!("d.missing is defined"), false),
        (json!("nope | default(false)"), false),
        (json!("res_changed is changed"), true),
        (json!("res_failed.rc != 0"), true),
        (json!("{{ flag }}"), true),
        (json!("{{ not flag }}"), false),
        (json!("{{ yes_str }}"), true),
        (json!("{{ n }} == 42"), true),
        (json!("empty"), false),
        (json!("words"), true),
        (json!("[]"), false),
        (json!("yes_str | bool"), true),
        (json!("items | length > 3"), true),
        (json!("True"), true),
        (json!("none"), false),
    ] {
        assert_eq!(yes(c.clone()), want, "{c}");
    }
    let e = t
        .eval_condition(&json!("nope == 1"), &v, &o)
        .unwrap_err()
        .render();
    assert!(
        e.contains("`nope`") && e.contains("configure things") && e.contains("play.yml:10"),
        "{e}"
    );
    let e = t
        .eval_condition(&json!("flag and"), &v, &o)
        .unwrap_err()
        .render();
    assert!(e.contains("syntax error"), "{e}");
    assert!(t.eval_condition(&json!("d.missing"), &v, &o).is_err());
    assert!(t.eval_condition(&json!(["a"]), &v, &o).is_err());
}

#[test]
fn eval_expr_returns_native_values() {
    let t = templar();
    let v = vars();
    let o = origin();
    assert_eq!(t.eval_expr("words | length", &v, &o).unwrap(), json!(3));
    assert_eq!(
        t.eval_expr("d.b", &v, &o).unwrap(),
        json!({"x": 1, "y": [1, 2]})
    );
    assert_eq!(t.eval_expr("{{ n + 1 }}", &v, &o).unwrap(), json!(43));
    assert_eq!(
        t.eval_expr("users | map(attribute='uid') | max", &v, &o)
            .unwrap(),
        json!(1002)
    );
    assert!(t.eval_expr("nope", &v, &o).is_err());
}

#[test]
fn file_templates_trim_blocks_and_keep_newline() {
    let t = templar();
    let text = "{% for w in words %}\n{{ w }}\n{% endfor %}\nend\n";
    assert_eq!(
        t.render_file_template(text, &vars(), &origin()).unwrap(),
        "a\nb\nc\nend\n"
    );
    // Plain strings too: Ansible renders every string with trim_blocks (checked against
    // ansible-playbook's output for a blockinfile `block: |` with a for loop).
    assert_eq!(
        t.render_str(text, &vars(), &origin()).unwrap(),
        "a\nb\nc\nend\n"
    );
}

#[test]
fn referenced_vars_are_top_level_names() {
    let t = templar();
    let names = t.referenced_vars(
        "{{ a.b }} {% for x in items %}{{ x }}{{ c | default(d) }}{% endfor %} {{ omit }}",
    );
    let want: BTreeSet<String> = ["a", "c", "d", "items"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    assert_eq!(names, want);
    assert!(t.referenced_vars("no markup").is_empty());
    assert_eq!(
        t.referenced_vars_expr("x is defined and y.z > 1"),
        ["x", "y"]
            .iter()
            .map(|s| s.to_string())
            .collect::<BTreeSet<_>>()
    );
}

#[test]
fn omit_token_is_stable_and_ansible_shaped() {
    let t = Templar::new();
    assert!(t.omit_token().starts_with("__omit_place_holder__"));
    assert_eq!(t.omit_token().len(), "__omit_place_holder__".len() + 40);
    // The vars cannot shadow omit.
    let out = t
        .render_str("{{ omit }}", &json!({"omit": "mine"}), &origin())
        .unwrap();
    assert_eq!(out, t.omit_token());
}

#[test]
fn py_repr_matches_python() {
    use minijinja::Value;
    for (v, want) in [
        (Value::from("it's"), "\"it's\""),
        (Value::from("a'b\"c"), "'a\\'b\"c'"),
        (Value::from("x\ny"), "'x\\ny'"),
        (Value::from(1.5), "1.5"),
        (Value::from(2.0), "2.0"),
        (Value::from(()), "None"),
    ] {
        assert_eq!(py_repr(&v), want);
    }
}

#[test]
fn templar_is_shareable_across_host_tasks() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Templar>();
    assert_send_sync::<Origin>();
}

#[test]
fn includes_and_imports_resolve_in_search_dirs() {
    let dir = tempfile::tempdir().unwrap();
    let tdir = dir.path().join("templates");
    std::fs::create_dir_all(&tdir).unwrap();
    std::fs::write(tdir.join("part.j2"), "part={{ name }}").unwrap();
    std::fs::write(
        tdir.join("macros.j2"),
        "{% macro hi(x) %}hi {{ x }}{% endmacro %}",
    )
    .unwrap();
    let t = Templar::new();
    t.set_search_dirs(vec![dir.path().to_path_buf()]);
    let out = t
        .render_file_template(
            "{% include 'part.j2' %}\n{% import 'macros.j2' as m %}{{ m.hi(name) }}\n",
            &vars(),
            &origin(),
        )
        .unwrap();
    // trim_blocks eats the newline after a block tag, as in Ansible.
    assert_eq!(out, "part=worldhi world\n");
    let e = t
        .render_str("{% include 'missing.j2' %}", &vars(), &origin())
        .unwrap_err()
        .render();
    assert!(e.contains("missing.j2"), "{e}");
}
