//! Hostile variable values land literally: quotes, `$()`, backticks, newlines, globs and
//! `; rm -rf /*` in a path, a line, a file's content and a command's argument reach a real
//! fleet host as text, never as shell syntax, and nothing they name is run.

mod fleet;

use fleet::show;

use fleet::Fleet;

#[test]
fn hostile_values_land_literally_in_paths_lines_content_and_commands() {
    let fleet = Fleet::debian(1);
    let dir = fleet.dir().join("project");
    std::fs::create_dir_all(&dir).unwrap();
    // YAML single-quoted scalars: every character below is data.
    std::fs::write(
        dir.join("vars.yml"),
        r#"name: 'it''s "x" $(touch /tmp/pwned1) `touch /tmp/pwned2` * ?; rm -rf /*'
line: 'k = $(id) `id` ''q'' "dq" \n * ; touch /tmp/pwned3'
multi: "first line\nsecond $(touch /tmp/pwned4) `touch /tmp/pwned5`\n"
assign: 'X=1'
nl: "two\nlines $(touch /tmp/pwned7)"
"#,
    )
    .unwrap();
    std::fs::write(
        dir.join("site.yml"),
        r#"- hosts: all
  gather_facts: false
  vars_files: [vars.yml]
  tasks:
    - name: a directory named by the value
      file:
        path: "/srv/{{ name }}"
        state: directory
    - name: a file under it with the value as content
      copy:
        dest: "/srv/{{ name }}/f"
        content: "{{ name }}\n{{ line }}\n"
    - name: the value as a line
      lineinfile:
        path: /srv/lines.conf
        line: "{{ line }}"
        create: true
    - name: the value as one argument
      command:
        argv: [printf, "%s|%s", "{{ name }}", "{{ multi }}"]
      register: out
      changed_when: false
    - name: what the command saw
      copy:
        dest: /srv/argv.txt
        content: "{{ out.stdout }}"
    - name: an assignment as the program is a program name, not an assignment
      command:
        argv: ["{{ assign }}", touch, /tmp/pwned6]
      register: assigned
      ignore_errors: true
      check_mode: false
    - name: what it said
      copy:
        dest: /srv/assigned.txt
        content: "{{ assigned.rc }} {{ assigned.stderr }}"
    - name: a newline in a path
      file:
        path: "/srv/{{ nl }}"
        state: directory
    - name: a file in it
      copy:
        dest: "/srv/{{ nl }}/f"
        content: "{{ nl }}\n"
"#,
    )
    .unwrap();
    let run = |verb: &str| {
        fleet
            .muster()
            .current_dir(&dir)
            .arg("-i")
            .arg(fleet.inventory())
            .arg("--known-hosts")
            .arg(fleet.known_hosts())
            .args([verb, "site.yml"])
            .output()
            .unwrap()
    };
    let out = run("apply");
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let name = r#"it's "x" $(touch /tmp/pwned1) `touch /tmp/pwned2` * ?; rm -rf /*"#;
    let line = r#"k = $(id) `id` 'q' "dq" \n * ; touch /tmp/pwned3"#;
    let multi = "first line\nsecond $(touch /tmp/pwned4) `touch /tmp/pwned5`\n";
    let f = fleet
        .upper_file("host1", &format!("/srv/{name}/f"))
        .expect("the file under the literally named directory");
    assert_eq!(String::from_utf8(f).unwrap(), format!("{name}\n{line}\n"));
    assert_eq!(
        String::from_utf8(fleet.upper_file("host1", "/srv/lines.conf").unwrap()).unwrap(),
        format!("{line}\n")
    );
    assert_eq!(
        String::from_utf8(fleet.upper_file("host1", "/srv/argv.txt").unwrap()).unwrap(),
        // `stdout` has its trailing newline removed, as in Ansible.
        format!("{name}|{}", multi.trim_end())
    );
    // Nothing the values name was run, on the host or on the controller.
    let o = fleet.exec_on(
        "host1",
        "ls /tmp/pwned1 /tmp/pwned2 /tmp/pwned3 /tmp/pwned4 /tmp/pwned5 /tmp/pwned6 \
         /tmp/pwned7 2>&1",
    );
    let text = String::from_utf8_lossy(&o.stdout);
    assert_eq!(text.matches("No such file").count(), 7, "{text}");
    // `X=1` was looked for as a program (as Ansible's command does), and not found.
    let said = String::from_utf8(fleet.upper_file("host1", "/srv/assigned.txt").unwrap()).unwrap();
    assert!(said.starts_with("127 ") && said.contains("X=1"), "{said}");
    // The newline landed in the directory's name, literally.
    let o = fleet.exec_on("host1", "cat \"/srv/two\nlines \\$(touch /tmp/pwned7)/f\"");
    assert!(o.status.success(), "{o:?}");
    assert_eq!(
        String::from_utf8_lossy(&o.stdout),
        "two\nlines $(touch /tmp/pwned7)\n"
    );
    assert!(!std::path::Path::new("/tmp/pwned1").exists());
    // And a rerun is in sync: the values are compared as text too.
    let out = run("check");
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
}
