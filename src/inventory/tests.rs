use super::*;
use serde_json::json;

fn yaml(text: &str) -> Inventory {
    Inventory::from_text(text, Path::new("inv.yml")).unwrap_or_else(|e| panic!("{}", e.render()))
}
fn ini(text: &str) -> Inventory {
    Inventory::from_text(text, Path::new("hosts")).unwrap_or_else(|e| panic!("{}", e.render()))
}
/// The message and `line:col` of an input error.
fn err_at(res: Result<Inventory>) -> (String, usize, usize) {
    match res {
        Err(Error::Input {
            loc: Some(loc),
            msg,
            help,
        }) => {
            assert!(help.is_some(), "errors carry a help line: {msg}");
            (msg, loc.line, loc.col)
        }
        Err(other) => panic!("expected an input error with a location, got {other:?}"),
        Ok(_) => panic!("expected an error"),
    }
}
fn yaml_err(text: &str) -> (String, usize, usize) {
    err_at(Inventory::from_text(text, Path::new("inv.yml")))
}
fn ini_err(text: &str) -> (String, usize, usize) {
    err_at(Inventory::from_text(text, Path::new("hosts")))
}
fn sel(inv: &Inventory, p: &str) -> Vec<String> {
    inv.select(p)
        .unwrap_or_else(|e| panic!("{p}: {}", e.render()))
}
fn write(dir: &Path, rel: &str, text: &str) -> PathBuf {
    let p = dir.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(&p, text).unwrap();
    p
}

const SITE_YAML: &str = "\
all:
  vars:
    ntp: ntp.example.com
  hosts:
    mail.example.com:
  children:
    web:
      hosts:
        web[01:03].example.com:
          http_port: 8080
      vars:
        role: web
    db:
      hosts:
        db1.example.com: { ansible_port: 2222 }
prod:
  children:
    web:
    db:
";

#[test]
fn yaml_groups_hosts_and_children() {
    let inv = yaml(SITE_YAML);
    let hosts: Vec<&str> = inv.hosts().collect();
    assert_eq!(
        hosts,
        [
            "mail.example.com",
            "web01.example.com",
            "web02.example.com",
            "web03.example.com",
            "db1.example.com"
        ]
    );
    assert_eq!(inv.groups_of("web02.example.com"), ["prod", "web"]);
    assert_eq!(inv.groups_of("mail.example.com"), ["ungrouped"]);
    let v = inv.host_vars("web01.example.com");
    assert_eq!(
        Value::Object(v),
        json!({"ntp": "ntp.example.com", "role": "web", "http_port": 8080})
    );
    assert_eq!(
        inv.host_vars("db1.example.com")["ansible_port"],
        json!(2222)
    );
    assert!(inv.contains_host("db1.example.com"));
    assert!(!inv.contains_host("nope"));
}

#[test]
fn list_json_has_ansible_shape() {
    let inv = yaml(SITE_YAML);
    let j = inv.to_list_json();
    assert_eq!(
        j,
        json!({
            "_meta": {"hostvars": {
                "db1.example.com": {"ansible_port": 2222, "ntp": "ntp.example.com"},
                "mail.example.com": {"ntp": "ntp.example.com"},
                "web01.example.com": {"http_port": 8080, "ntp": "ntp.example.com", "role": "web"},
                "web02.example.com": {"http_port": 8080, "ntp": "ntp.example.com", "role": "web"},
                "web03.example.com": {"http_port": 8080, "ntp": "ntp.example.com", "role": "web"}
            }},
            "all": {"children": ["db", "prod", "ungrouped", "web"]},
            "db": {"hosts": ["db1.example.com"]},
            "prod": {"children": ["db", "web"]},
            "ungrouped": {"hosts": ["mail.example.com"]},
            "web": {"hosts": ["web01.example.com", "web02.example.com", "web03.example.com"]}
        })
    );
    // keys are sorted, as ansible-inventory prints them
    let keys: Vec<&String> = j.as_object().unwrap().keys().collect();
    // groups only listed under a parent are not children of `all`
    let inv2 = yaml("web:\n  hosts: {w: }\nprod:\n  children:\n    web:\n");
    assert_eq!(
        inv2.to_list_json()["all"],
        json!({"children": ["prod", "ungrouped"]})
    );
    assert_eq!(keys, ["_meta", "all", "db", "prod", "ungrouped", "web"]);
}

#[test]
fn list_json_omits_empty_groups_and_hostvars() {
    let inv = ini("a\n[web]\nw1\n[empty]\n");
    let j = inv.to_list_json();
    assert_eq!(j["all"], json!({"children": ["empty", "ungrouped", "web"]}));
    assert!(j.get("empty").is_none());
    assert_eq!(j["_meta"], json!({"hostvars": {}}));
}

#[test]
fn graph_is_ansible_shaped() {
    let inv = yaml(SITE_YAML);
    assert_eq!(
        inv.graph("all").unwrap(),
        "@all:\n  |--@db:\n  |  |--db1.example.com\n  |--@prod:\n  |  |--@db:\n  |  |  |--db1.example.com\n  |  |--@web:\n  |  |  |--web01.example.com\n  |  |  |--web02.example.com\n  |  |  |--web03.example.com\n  |--@ungrouped:\n  |  |--mail.example.com\n  |--@web:\n  |  |--web01.example.com\n  |  |--web02.example.com\n  |  |--web03.example.com\n"
    );
    assert_eq!(inv.graph("db").unwrap(), "@db:\n  |--db1.example.com\n");
    assert!(matches!(inv.graph("nope"), Err(Error::Usage(_))));
}

#[test]
fn ini_format() {
    let inv = ini("\
# a comment
; another
lonely.example.com

[web]
web1 ansible_host=10.0.0.1 http_port=80 enabled=True ratio=1.5 name='quoted' mode=0755 plain=yes
web2:2222   # trailing comment

[web:vars]
ntp = \"ntp.example.com\"
retries=3
list=[1, 'a']
raw=hello world

[prod:children]
web
");
    assert_eq!(inv.groups_of("web1"), ["prod", "web"]);
    assert_eq!(inv.groups_of("lonely.example.com"), ["ungrouped"]);
    let v = Value::Object(inv.host_vars("web1"));
    assert_eq!(
        v,
        json!({
            "ntp": "ntp.example.com", "retries": 3, "list": [1, "a"], "raw": "hello world",
            "ansible_host": "10.0.0.1", "http_port": 80, "enabled": true, "ratio": 1.5,
            "name": "quoted", "mode": "0755", "plain": "yes"
        })
    );
    assert_eq!(inv.host_vars("web2")["ansible_port"], json!(2222));
}

#[test]
fn ini_ranges_and_ipv6_ports() {
    let inv = ini("[web]\nweb[01:03].example.com\n[db]\ndb-[a:c] x=1\n[v6]\n[::1]:2222\nfe80::1\n");
    assert_eq!(sel(&inv, "web").len(), 3);
    assert_eq!(sel(&inv, "db"), ["db-a", "db-b", "db-c"]);
    assert_eq!(inv.host_vars("db-b")["x"], json!(1));
    assert_eq!(inv.host_vars("::1")["ansible_port"], json!(2222));
    assert!(inv.contains_host("fe80::1"));
}

#[test]
fn yaml_host_ports_and_strided_ranges() {
    let inv = yaml("web:\n  hosts:\n    web1:2200:\n    'node[1:9:4]':\n      x: 1\n");
    assert_eq!(inv.host_vars("web1")["ansible_port"], json!(2200));
    assert_eq!(sel(&inv, "web"), ["web1", "node1", "node5", "node9"]);
}

#[test]
fn bad_ranges_point_at_the_host() {
    let (msg, line, col) = yaml_err("all:\n  hosts:\n    web[01:x].example.com:\n");
    assert!(msg.contains("bad host range"), "{msg}");
    assert_eq!((line, col), (3, 5));
    let (msg, line, col) = ini_err("[web]\n  web[5:1]\n");
    assert!(msg.contains("greater than"), "{msg}");
    assert_eq!((line, col), (2, 3));
    let (msg, ..) = ini_err("[web]\nweb[a:3]\n");
    assert!(msg.contains("mixed"), "{msg}");
}

#[test]
fn bad_ports_are_errors() {
    let (msg, line, col) = ini_err("[web]\nweb1:70000\n");
    assert!(msg.contains("70000"), "{msg}");
    assert_eq!((line, col), (2, 1));
    let (msg, line, col) = yaml_err("all:\n  hosts:\n    web1:\n      ansible_port: seventy\n");
    assert!(msg.contains("ansible_port"), "{msg}");
    assert_eq!((line, col), (4, 21));
    let (_, line, col) = ini_err("[web]\nweb1 ansible_port=0\n");
    assert_eq!((line, col), (2, 19));
    // numeric strings and templates are fine
    yaml("all:\n  hosts:\n    a: {ansible_port: '22'}\n    b: {ansible_port: '{{ p }}'}\n");
}

#[test]
fn connection_types_are_checked() {
    let (msg, line, col) = ini_err("[web]\nweb1 ansible_connection=docker\n");
    assert!(msg.contains("docker"), "{msg}");
    assert_eq!((line, col), (2, 25));
    let (msg, line, col) = yaml_err("all:\n  vars:\n    ansible_connection: winrm\n");
    assert!(msg.contains("winrm"), "{msg}");
    assert_eq!((line, col), (3, 25));
    for ok in ["ssh", "paramiko", "smart", "local", "'{{ conn }}'"] {
        yaml(&format!("all:\n  vars:\n    ansible_connection: {ok}\n"));
    }
    match Inventory::from_text("[web]\nw ansible_connection=telnet\n", Path::new("h")) {
        Err(Error::Input { help: Some(h), .. }) => {
            assert!(h.contains("ssh") && h.contains("local"))
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn unknown_child_groups_in_ini() {
    let (msg, line, col) = ini_err("[web]\nw1\n[prod:children]\nweb\n  dbs\n");
    assert!(msg.contains("unknown child group `dbs`"), "{msg}");
    assert_eq!((line, col), (5, 3));
    // declared later in the file: fine
    let inv = ini("[prod:children]\nweb\n[web]\nw1\n");
    assert_eq!(sel(&inv, "prod"), ["w1"]);
    // declared as an empty [x:children] section: fine
    ini("[prod:children]\nweb\n[web:children]\n");
    // vars for a group never defined
    let (msg, line, _) = ini_err("[web]\nw1\n[dbs:vars]\nx=1\n");
    assert!(msg.contains("never defined"), "{msg}");
    assert_eq!(line, 3);
    ini("[all:vars]\nx=1\n[ungrouped:vars]\ny=2\n");
}

#[test]
fn cycles_are_errors() {
    let (msg, line, col) = ini_err("[a:children]\nb\n[b:children]\nc\n[c:children]\na\n");
    assert!(msg.contains("cycle"), "{msg}");
    assert_eq!((line, col), (6, 1));
    let (msg, ..) = ini_err("[a:children]\na\n");
    assert!(msg.contains("cycle"), "{msg}");
    let (msg, line, col) = yaml_err("a:\n  children:\n    b:\n      children:\n        a:\n");
    assert!(msg.contains("cycle"), "{msg}");
    assert_eq!((line, col), (5, 9));
    let (msg, ..) = ini_err("[a:children]\nall\n");
    assert!(msg.contains("`all`"), "{msg}");
}

#[test]
fn ini_syntax_errors() {
    let (msg, line, _) = ini_err("[web:hosts2]\n");
    assert!(msg.contains("unknown type"), "{msg}");
    assert_eq!(line, 1);
    let (msg, ..) = ini_err("[web server]\n");
    assert!(msg.contains("invalid section"), "{msg}");
    let (msg, line, col) = ini_err("[web]\nweb1 novalue\n");
    assert!(msg.contains("key=value"), "{msg}");
    assert_eq!((line, col), (2, 6));
    let (msg, ..) = ini_err("[web:vars]\njustakey\n");
    assert!(msg.contains("key=value"), "{msg}");
    let (msg, line, col) = ini_err("[web]\nweb1 a=\"open\n");
    assert!(msg.contains("quotation"), "{msg}");
    assert_eq!((line, col), (2, 8));
    let (msg, ..) = ini_err("[x:children]\nfoo bar\n");
    assert!(msg.contains("group name"), "{msg}");
}

#[test]
fn yaml_structure_errors() {
    let (msg, line, col) = yaml_err("all:\n  hosts:\n    - web1\n    - web2\n");
    assert!(
        msg.contains("`hosts` of group `all` must be a mapping"),
        "{msg}"
    );
    assert_eq!((line, col), (3, 5));
    let (msg, line, col) = yaml_err("all:\n  children:\n    web:\n      host:\n        w1:\n");
    assert!(msg.contains("unknown key `host` in group `web`"), "{msg}");
    assert_eq!((line, col), (4, 7));
    match Inventory::from_text("web:\n  host:\n", Path::new("i.yml")) {
        Err(Error::Input { help: Some(h), .. }) => {
            assert!(h.contains("did you mean `hosts`"), "{h}")
        }
        other => panic!("{other:?}"),
    }
    let (msg, ..) = yaml_err("web: [a, b]\n");
    assert!(msg.contains("group `web` must be a mapping"), "{msg}");
    let (msg, line, col) = yaml_err("- a\n- b\n");
    assert!(msg.contains("must be a mapping of group names"), "{msg}");
    assert_eq!((line, col), (1, 1));
    let (msg, ..) = yaml_err("plugin: aws_ec2\n");
    assert!(msg.contains("plugin"), "{msg}");
    let (msg, line, col) = yaml_err("all:\n  vars: [1]\n");
    assert!(msg.contains("`vars`"), "{msg}");
    assert_eq!((line, col), (2, 9));
    let (msg, line, col) = yaml_err("all:\n  hosts:\n    web1: [1]\n");
    assert!(msg.contains("variables of host `web1`"), "{msg}");
    assert_eq!((line, col), (3, 11));
    let (msg, line, _) = yaml_err("all:\n  hosts: {a: 1\n");
    assert!(msg.starts_with("invalid YAML"), "{msg}");
    assert!(line >= 2);
    let (msg, line, col) = yaml_err("all:\n  hosts:\n    a:\n    a:\n");
    assert!(msg.contains("duplicate key"), "{msg}");
    assert_eq!((line, col), (4, 5));
}

#[test]
fn yaml_shorthands() {
    let inv = yaml("web:\n  hosts: w1\nprod:\n  children: web\n");
    assert_eq!(inv.groups_of("w1"), ["prod", "web"]);
    // empty groups and children declared by being named
    let inv = yaml("all:\n  children:\n    empty:\n    web:\n      hosts:\n        w1:\n");
    assert!(inv.contains_group("empty"));
    assert_eq!(sel(&inv, "all"), ["w1"]);
    // an empty file is an empty inventory
    let inv = yaml("");
    assert_eq!(inv.hosts().count(), 0);
}

#[test]
fn variable_precedence_by_depth_name_and_priority() {
    let inv = yaml(
        "\
all:
  vars: {v: all, only_all: 1}
  children:
    parent:
      vars: {v: parent, p: parent}
      children:
        child:
          vars: {v: child}
          hosts:
            h1:
            h2: {v: host}
    zeta:
      vars: {s: zeta}
      hosts: {h1: }
    alpha:
      vars: {s: alpha, p: alpha}
      hosts: {h1: }
",
    );
    let v = inv.host_vars("h1");
    assert_eq!(v["v"], json!("child"));
    assert_eq!(v["only_all"], json!(1));
    // siblings at one depth merge by name: zeta after alpha
    assert_eq!(v["s"], json!("zeta"));
    // parent (depth 1) and alpha (depth 1): parent sorts later
    assert_eq!(v["p"], json!("parent"));
    assert_eq!(inv.host_vars("h2")["v"], json!("host"));

    let inv = yaml(
        "\
a_group:
  vars: {testvar: a, ansible_group_priority: 10}
  hosts: {h: }
b_group:
  vars: {testvar: b}
  hosts: {h: }
",
    );
    assert_eq!(inv.host_vars("h")["testvar"], json!("a"));
    assert!(inv.host_vars("h").get("ansible_group_priority").is_none());
    let (msg, ..) = yaml_err("g:\n  vars: {ansible_group_priority: high}\n");
    assert!(msg.contains("whole number"), "{msg}");
}

#[test]
fn dicts_replace_rather_than_merge() {
    let inv = yaml("all:\n  vars:\n    d: {a: 1, b: 2}\n  children:\n    g:\n      vars:\n        d: {c: 3}\n      hosts: {h: }\n");
    assert_eq!(inv.host_vars("h")["d"], json!({"c": 3}));
}

#[test]
fn group_vars_and_host_vars_dirs() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(d, "inventory/hosts", "[web]\nweb1 from_host=inv\nweb2\n[web:vars]\nx=inventory\ny=inventory\n[prod:children]\nweb\n");
    write(
        d,
        "inventory/group_vars/all.yml",
        "y: group_vars_all\nz: all\n",
    );
    write(d, "inventory/group_vars/web.yml", "x: group_vars_web\n");
    write(d, "inventory/group_vars/prod/10-a.yml", "p: first\nq: a\n");
    write(d, "inventory/group_vars/prod/20-b.yaml", "p: second\n");
    write(d, "inventory/group_vars/prod/ignored.txt", "p: nope\n");
    write(d, "inventory/group_vars/nosuchgroup.yml", "n: 1\n");
    write(d, "inventory/host_vars/web1", "from_host: host_vars\n");
    write(d, "inventory/host_vars/web2.json", "{\"j\": [1, 2]}\n");
    write(d, "inventory/group_vars/empty.yml", "");
    let inv = Inventory::load(&[d.join("inventory")]).unwrap();
    let v = inv.host_vars("web1");
    assert_eq!(v["x"], json!("group_vars_web"));
    // Ansible: group_vars/all beats the inventory file's own group vars
    assert_eq!(v["y"], json!("group_vars_all"));
    assert_eq!(v["z"], json!("all"));
    assert_eq!(v["p"], json!("second"));
    assert_eq!(v["q"], json!("a"));
    assert_eq!(v["from_host"], json!("host_vars"));
    assert!(v.get("n").is_none());
    assert_eq!(inv.host_vars("web2")["j"], json!([1, 2]));
    assert!(inv.host_vars("web2").get("from_host").is_none());

    // a playbook's group_vars/host_vars rank above the inventory's
    write(d, "play/group_vars/all.yml", "z: play_all\n");
    write(d, "play/group_vars/web.yml", "x: play_web\n");
    write(d, "play/host_vars/web1.yml", "from_host: play\n");
    let mut inv = inv;
    inv.add_vars_dir(&d.join("play")).unwrap();
    let v = inv.host_vars("web1");
    assert_eq!(v["z"], json!("play_all"));
    assert_eq!(v["x"], json!("play_web"));
    assert_eq!(v["from_host"], json!("play"));
    inv.add_vars_dir(&d.join("nothing-here")).unwrap();
}

#[test]
fn vars_file_lookup_order_and_errors() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let inv_file = write(d, "hosts.yml", "web:\n  hosts:\n    w1:\n");
    // the extension-less name wins over .yml, as in Ansible's find_vars_files
    write(d, "group_vars/web", "a: noext\n");
    write(d, "group_vars/web.yml", "a: yml\n");
    let inv = Inventory::load(std::slice::from_ref(&inv_file)).unwrap();
    assert_eq!(inv.host_vars("w1")["a"], json!("noext"));

    write(d, "group_vars/web", "ansible_connection: telnet\n");
    let (msg, line, col) = err_at(Inventory::load(std::slice::from_ref(&inv_file)));
    assert!(msg.contains("telnet"), "{msg}");
    assert_eq!((line, col), (1, 21));

    write(d, "group_vars/web", "- a\n");
    let (msg, line, col) = err_at(Inventory::load(std::slice::from_ref(&inv_file)));
    assert!(msg.contains("vars file must be a mapping"), "{msg}");
    assert_eq!((line, col), (1, 1));
}

#[test]
fn inventory_directories() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(d, "inv/01-hosts.ini", "[web]\nweb1\n");
    write(
        d,
        "inv/02-more.yml",
        "db:\n  hosts:\n    db1:\nprod:\n  children:\n    web:\n    db:\n",
    );
    write(d, "inv/03-plain", "[extra]\nx1\n");
    write(d, "inv/README.md", "[broken\n");
    write(d, "inv/notes.txt", "garbage = = =\n");
    write(d, "inv/old.bak", "[bak]\nb1\n");
    write(d, "inv/.hidden", "[hidden]\nh1\n");
    write(d, "inv/hosts~", "[tilde]\nt1\n");
    write(d, "inv/sub/more.yaml", "sub:\n  hosts: {s1: }\n");
    write(d, "inv/group_vars/prod.yml", "env: prod\n");
    let inv = Inventory::load(&[d.join("inv")]).unwrap();
    let hosts: Vec<&str> = inv.hosts().collect();
    assert_eq!(hosts, ["web1", "db1", "x1", "s1"]);
    assert_eq!(inv.host_vars("web1")["env"], json!("prod"));
    assert_eq!(sel(&inv, "prod"), ["web1", "db1"]);

    // a child group named in one file and defined in another is fine
    write(d, "inv2/a.ini", "[prod:children]\nweb\n");
    write(d, "inv2/b.yml", "web:\n  hosts:\n    w1:\n");
    let inv = Inventory::load(&[d.join("inv2")]).unwrap();
    assert_eq!(sel(&inv, "prod"), ["w1"]);

    write(d, "inv3/script.py", "#!/usr/bin/env python3\nprint('{}')\n");
    let (msg, line, col) = err_at(Inventory::load(&[d.join("inv3")]));
    assert!(msg.contains("dynamic inventory scripts"), "{msg}");
    assert_eq!((line, col), (1, 1));

    match Inventory::load(&[d.join("missing")]) {
        Err(e) => assert_eq!(e.exit_code(), crate::exit::INPUT),
        Ok(_) => panic!("a missing source is an error"),
    }
}

#[test]
fn multiple_sources_and_host_lists() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let a = write(d, "a/hosts", "[web]\nw1 x=a\n");
    let b = write(
        d,
        "b/hosts.yml",
        "web:\n  hosts:\n    w2:\n    w1: {x: b}\n",
    );
    let inv = Inventory::load(&[a, b]).unwrap();
    assert_eq!(sel(&inv, "web"), ["w1", "w2"]);
    assert_eq!(inv.host_vars("w1")["x"], json!("b"));
    let inv = Inventory::load(&[PathBuf::from("h1, h2:2222,")]).unwrap();
    assert_eq!(sel(&inv, "all"), ["h1", "h2"]);
    assert_eq!(inv.host_vars("h2")["ansible_port"], json!(2222));
}

#[test]
fn no_sources_is_local_localhost() {
    let inv = Inventory::load(&[]).unwrap();
    assert_eq!(sel(&inv, "all"), ["localhost"]);
    assert_eq!(
        inv.host_vars("localhost")["ansible_connection"],
        json!("local")
    );
    assert_eq!(inv.groups_of("localhost"), ["ungrouped"]);
}

#[test]
fn implicit_localhost() {
    let inv = yaml("all:\n  vars: {v: all}\n  hosts:\n    web1:\n");
    assert_eq!(sel(&inv, "localhost"), ["localhost"]);
    assert_eq!(sel(&inv, "127.0.0.1"), ["127.0.0.1"]);
    assert_eq!(sel(&inv, "all"), ["web1"]);
    assert_eq!(sel(&inv, "web1:localhost"), ["web1", "localhost"]);
    assert!(!inv.contains_host("localhost"));
    let v = inv.host_vars("localhost");
    assert_eq!(v["ansible_connection"], json!("local"));
    assert_eq!(v["v"], json!("all"));
    assert!(inv.host_vars("unknown-host").is_empty());
    // an inventory's own localhost is a normal host
    let inv = ini("localhost ansible_connection=ssh\n");
    assert_eq!(
        inv.host_vars("localhost")["ansible_connection"],
        json!("ssh")
    );
    assert_eq!(sel(&inv, "all"), ["localhost"]);
}

fn pattern_inv() -> Inventory {
    ini("\
[web]
web1
web2
web3
[db]
db1
db2
[prod:children]
web
db
[staging]
web3
stage-db
")
}

#[test]
fn patterns_basic() {
    let inv = pattern_inv();
    // Ansible's order for a group: its own hosts, then its descendants level by level
    // (`all` -> ungrouped, prod, staging -> web, db)
    assert_eq!(
        sel(&inv, "all"),
        ["web3", "stage-db", "web1", "web2", "db1", "db2"]
    );
    assert_eq!(sel(&inv, "prod"), ["web1", "web2", "web3", "db1", "db2"]);
    assert_eq!(sel(&inv, "*"), sel(&inv, "all"));
    assert_eq!(sel(&inv, "web"), ["web1", "web2", "web3"]);
    assert_eq!(sel(&inv, "db1"), ["db1"]);
    assert_eq!(sel(&inv, "db:web1"), ["db1", "db2", "web1"]);
    assert_eq!(sel(&inv, "db,web1"), ["db1", "db2", "web1"]);
    assert_eq!(sel(&inv, "web:&staging"), ["web3"]);
    assert_eq!(sel(&inv, "prod:!web"), ["db1", "db2"]);
    assert_eq!(sel(&inv, "prod:&staging"), ["web3"]);
    // exclusions apply after unions whatever the order
    assert_eq!(sel(&inv, "!web3:web"), ["web1", "web2"]);
    // only exclusions: start from all
    assert_eq!(sel(&inv, "!prod"), ["stage-db"]);
    assert_eq!(sel(&inv, "&web"), ["web3", "web1", "web2"]);
    assert_eq!(sel(&inv, "web:&prod:!web3"), ["web1", "web2"]);
    assert!(sel(&inv, "nomatch").is_empty());
}

#[test]
fn patterns_globs_regex_subscripts() {
    let inv = pattern_inv();
    assert_eq!(sel(&inv, "web*"), ["web1", "web2", "web3"]);
    assert_eq!(sel(&inv, "*db*"), ["db1", "db2", "stage-db"]);
    assert_eq!(sel(&inv, "*.example.com"), Vec::<String>::new());
    assert_eq!(sel(&inv, "db?"), ["db1", "db2"]);
    assert_eq!(sel(&inv, "~web[12]"), ["web1", "web2"]);
    assert_eq!(sel(&inv, "~(db|stage)"), ["db1", "db2", "stage-db"]);
    // regex matches from the start only
    assert!(sel(&inv, "~b1$").is_empty());
    assert_eq!(sel(&inv, "~db$"), ["db1", "db2"]); // the group `db`
    assert_eq!(sel(&inv, "web[0]"), ["web1"]);
    assert_eq!(sel(&inv, "web[-1]"), ["web3"]);
    assert_eq!(sel(&inv, "web[0:1]"), ["web1", "web2"]);
    assert_eq!(sel(&inv, "web[1:]"), ["web2", "web3"]);
    assert!(sel(&inv, "web[7]").is_empty());
    assert_eq!(sel(&inv, "prod[0:1]:!db"), ["web1", "web2"]);
}

#[test]
fn patterns_from_a_file() {
    let inv = pattern_inv();
    let dir = tempfile::tempdir().unwrap();
    let f = write(dir.path(), "site.retry", "web2\n\ndb1\n");
    assert_eq!(sel(&inv, &format!("@{}", f.display())), ["web2", "db1"]);
    assert_eq!(sel(&inv, &format!("@{}:!db1", f.display())), ["web2"]);
    assert!(inv.select("@/no/such/file").is_err());
}

#[test]
fn bad_patterns_say_what_is_wrong() {
    let inv = pattern_inv();
    for (p, want) in [
        ("~[unclosed", "regular expression"),
        ("a:&", "`&` must be followed"),
        ("a:!", "`!` must be followed"),
        ("", "empty"),
        ("a,,b", "empty"),
        ("web::db", "empty"),
        ("web[0:1", "never closed"),
        ("~", "regular expression"),
    ] {
        match inv.select(p) {
            Err(e @ Error::Input { .. }) => {
                let msg = e.to_string();
                assert!(msg.contains(&format!("in --limit pattern `{p}`")), "{msg}");
                assert!(msg.contains(want), "{p}: {msg}");
                assert_eq!(e.exit_code(), crate::exit::INPUT);
            }
            other => panic!("{p}: expected an input error, got {other:?}"),
        }
    }
}

#[test]
fn groups_map_and_ungrouped() {
    let inv = yaml("all:\n  hosts:\n    a:\n    b:\n  children:\n    g:\n      hosts:\n        b:\n        c:\n    p:\n      children:\n        g:\n");
    let m = inv.groups_map();
    assert_eq!(m["all"], ["a", "b", "c"]);
    assert_eq!(m["ungrouped"], ["a"]);
    assert_eq!(m["g"], ["b", "c"]);
    assert_eq!(m["p"], ["b", "c"]);
    assert_eq!(inv.groups_of("b"), ["g", "p"]);
    assert_eq!(inv.graph("all").unwrap(), "@all:\n  |--@g:\n  |  |--b\n  |  |--c\n  |--@p:\n  |  |--@g:\n  |  |  |--b\n  |  |  |--c\n  |--@ungrouped:\n  |  |--a\n");
}

#[test]
fn format_detection() {
    // no extension, YAML content
    let inv = Inventory::from_text("all:\n  hosts:\n    h1:\n", Path::new("hosts")).unwrap();
    assert!(inv.contains_host("h1"));
    // no extension, INI host lines
    let inv = Inventory::from_text("h1\nh2 a=1\n", Path::new("hosts")).unwrap();
    assert_eq!(inv.hosts().count(), 2);
    // .ini is always INI
    let inv = Inventory::from_text("[g]\nh\n", Path::new("x.ini")).unwrap();
    assert!(inv.contains_group("g"));
}

#[test]
fn never_panics() {
    let samples = [
        "[",
        "]",
        "[:]",
        "[a:]",
        "[a:vars]\n=",
        "[a:children]\n[",
        "h[",
        "h]",
        "h[1:2",
        "h:99999999999999999999",
        "h a='",
        "h a=\"\\",
        "h \\",
        "all:",
        "all: 1",
        "all:\n  hosts: 1",
        "all:\n  children: [1]",
        "all:\n  hosts:\n    '':",
        "? [a]\n: 1",
        "a:\n  children:\n    ? [x]\n    : 1",
        "{",
        "---\n- 1",
        "all:\n  hosts:\n    '[::1]:0':",
        "h[0:99999999999]",
        "h[a:z:0]",
        "h ansible_port=1e9",
        "[g]\nh ansible_group_priority=x",
        "\u{feff}[g]\nh",
        "h=1",
        "\0",
        "h ansible_connection=",
    ];
    for s in samples {
        for name in ["inv.yml", "hosts", "x.ini"] {
            let _ = Inventory::from_text(s, Path::new(name));
        }
    }
    let inv = pattern_inv();
    for p in [
        "[",
        "]",
        "~(",
        "&",
        "!",
        ":",
        ",",
        "@",
        "web[",
        "web[99999999999999999999]",
        "~\\",
        "*[",
        "a b",
    ] {
        let _ = inv.select(p);
    }
}
