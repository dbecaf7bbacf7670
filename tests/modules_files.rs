//! The file modules (copy, template, file, lineinfile, blockinfile, replace, stat) against a
//! real sshd: a plan on a fresh host shows the typed changes a user would see, planning alone
//! never touches the host, apply does what the plan said, and the next plan is in sync.

mod fleet;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use fleet::Fleet;
use muster::modules::{self, Change, Field, ModuleCtx, Plan, SearchPaths};
use muster::transport::ssh::SshTransport;
use muster::transport::Transport;
use serde_json::{json, Map, Value};

const HOST: &str = "host1";

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap()
}

async fn connect(fleet: &Fleet) -> Arc<SshTransport> {
    fleet.connect(HOST, Duration::from_secs(30)).await
}

/// A stand-in for the engine's template renderer: `{{ name }}` becomes `vars.name`.
fn fake_render(text: &str, vars: &Value) -> muster::Result<String> {
    let mut out = text.to_string();
    if let Value::Object(m) = vars {
        for (k, v) in m {
            let val = match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            out = out.replace(&format!("{{{{ {k} }}}}"), &val);
        }
    }
    Ok(out)
}

struct Env {
    fleet: Fleet,
    t: Arc<SshTransport>,
    search: SearchPaths,
    vars: Value,
    _dir: tempfile::TempDir,
}

impl Env {
    async fn new() -> Env {
        let fleet = Fleet::debian(1);
        let t = connect(&fleet).await;
        let dir = tempfile::tempdir().unwrap();
        let files: PathBuf = dir.path().join("files");
        let templates: PathBuf = dir.path().join("templates");
        std::fs::create_dir_all(&files).unwrap();
        std::fs::create_dir_all(&templates).unwrap();
        std::fs::write(files.join("app.conf"), "port=8080\n").unwrap();
        std::fs::create_dir_all(files.join("tree/sub")).unwrap();
        std::fs::write(files.join("tree/a.txt"), "A\n").unwrap();
        std::fs::write(files.join("tree/sub/b.txt"), "B\n").unwrap();
        std::fs::write(templates.join("greet.j2"), "hello {{ who }}\n").unwrap();
        Env {
            fleet,
            t,
            search: SearchPaths {
                files: vec![files],
                templates: vec![templates],
            },
            vars: json!({"who": "fleet"}),
            _dir: dir,
        }
    }

    fn ctx(&self) -> ModuleCtx<'_> {
        ModuleCtx {
            host: HOST,
            transport: &*self.t,
            vars: &self.vars,
            render: &fake_render,
            search: &self.search,
            planned: &[],
        }
    }

    fn build(&self, module: &str, args: Value) -> Box<dyn modules::Module> {
        let def = modules::find(module).unwrap_or_else(|| panic!("{module} not registered"));
        let args = args.as_object().unwrap().clone();
        for k in args.keys() {
            assert!(def.args.contains(&k.as_str()), "{module}: {k} not in args");
        }
        (def.build)(&args).unwrap_or_else(|e| panic!("{module}: {e}"))
    }

    /// Plans, checking the plan took one exec and left the host's file as it was.
    async fn plan(&self, module: &str, args: Value, watch: &str) -> muster::Result<Plan> {
        let m = self.build(module, args);
        let before = self.fleet.upper_file(HOST, watch);
        let ops = self.t.op_counts();
        let plan = m.plan(&self.ctx()).await;
        let after_ops = self.t.op_counts();
        assert_eq!(after_ops.puts, ops.puts, "{module}: plan wrote files");
        assert!(
            after_ops.execs - ops.execs <= 1,
            "{module}: plan took {} execs",
            after_ops.execs - ops.execs
        );
        assert_eq!(
            self.fleet.upper_file(HOST, watch),
            before,
            "{module}: plan changed {watch}"
        );
        plan
    }

    /// Plans, applies, and checks the next plan is in sync. Returns the plan and the result.
    async fn converge(&self, module: &str, args: Value, watch: &str) -> (Plan, Map<String, Value>) {
        let plan = self.plan(module, args.clone(), watch).await.unwrap();
        assert!(!plan.is_in_sync(), "{module}: expected changes");
        let m = self.build(module, args.clone());
        let result = m.apply(&self.ctx(), &plan).await.unwrap();
        let again = self.plan(module, args, watch).await.unwrap();
        assert!(
            again.is_in_sync(),
            "{module}: not idempotent: {:?}",
            again.changes
        );
        (plan, result)
    }

    fn sh(&self, cmd: &str) -> String {
        let out = self.fleet.exec_on(HOST, cmd);
        assert!(
            out.status.success(),
            "{cmd}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim_end().to_string()
    }

    fn file(&self, path: &str) -> String {
        String::from_utf8(self.fleet.upper_file(HOST, path).unwrap_or_default()).unwrap()
    }
}

fn fields(plan: &Plan) -> Vec<Field> {
    plan.changes.iter().map(|c| c.field.clone()).collect()
}

fn change(plan: &Plan, f: Field) -> &Change {
    plan.changes
        .iter()
        .find(|c| c.field == f)
        .unwrap_or_else(|| panic!("no {f} change in {:?}", plan.changes))
}

fn sha1(s: &str) -> String {
    muster::modules::fileops::sha1_hex(s.as_bytes())
}

#[test]
fn copy_and_template() {
    rt().block_on(async {
        let env = Env::new().await;
        let dest = "/srv/motd";
        let args = json!({"content": "hello\n", "dest": dest, "mode": "0640"});

        // Fresh host: created, with content and mode; a diff from nothing.
        let plan = env.plan("copy", args.clone(), dest).await.unwrap();
        assert_eq!(fields(&plan), vec![Field::State, Field::Content, Field::Mode]);
        let c = change(&plan, Field::Content);
        let d = c.diff.as_ref().unwrap();
        assert_eq!((d.before.as_str(), d.after.as_str()), ("", "hello\n"));
        assert_eq!(change(&plan, Field::Mode).after.as_deref(), Some("0640"));
        assert_eq!(env.fleet.upper_file(HOST, dest), None);

        let (_, result) = env.converge("copy", args, dest).await;
        assert_eq!(result["checksum"], json!(sha1("hello\n")));
        assert_eq!(result["mode"], json!("0640"));
        assert_eq!(result["state"], json!("file"));
        assert_eq!(env.file(dest), "hello\n");
        assert_eq!(env.sh("stat -c %a /srv/motd"), "640");

        // New content with backup: the diff shows both sides, the old file is kept.
        let args = json!({"content": "bye\n", "dest": dest, "mode": "0640", "backup": true});
        let plan = env.plan("copy", args.clone(), dest).await.unwrap();
        assert_eq!(fields(&plan), vec![Field::Content]);
        let d = change(&plan, Field::Content).diff.clone().unwrap();
        assert_eq!((d.before.as_str(), d.after.as_str()), ("hello\n", "bye\n"));
        let (_, result) = env.converge("copy", args, dest).await;
        let backup = result["backup_file"].as_str().unwrap().to_string();
        assert!(backup.starts_with("/srv/motd.") && backup.ends_with('~'), "{backup}");
        assert_eq!(env.file(&backup), "hello\n");
        assert_eq!(env.file(dest), "bye\n");
        // The mode survived the replace although not asked again.
        let plan = env.plan("copy", json!({"content": "bye2\n", "dest": dest}), dest).await.unwrap();
        assert_eq!(fields(&plan), vec![Field::Content]);
        env.converge("copy", json!({"content": "bye2\n", "dest": dest}), dest).await;
        assert_eq!(env.sh("stat -c %a /srv/motd"), "640");

        // Mode and owner only: no content change, no put.
        let args = json!({"content": "bye2\n", "dest": dest, "mode": "u=rw,g=,o=", "owner": "nobody", "group": "nogroup"});
        let plan = env.plan("copy", args.clone(), dest).await.unwrap();
        assert_eq!(fields(&plan), vec![Field::Mode, Field::Owner, Field::Group]);
        assert_eq!(change(&plan, Field::Owner).before.as_deref(), Some("root"));
        env.converge("copy", args, dest).await;
        assert_eq!(env.sh("stat -c '%a %U %G' /srv/motd"), "600 nobody nogroup");

        // force: false leaves an existing file alone.
        let plan = env.plan("copy", json!({"content": "other\n", "dest": dest, "force": false}), dest).await.unwrap();
        assert!(plan.is_in_sync());

        // A failing validate leaves dest untouched; a passing one replaces it.
        let bad = json!({"content": "broken\n", "dest": dest, "validate": "grep -q ^ok %s"});
        let plan = env.plan("copy", bad.clone(), dest).await.unwrap();
        let err = env.build("copy", bad).apply(&env.ctx(), &plan).await.unwrap_err();
        assert!(err.to_string().contains("rc 1"), "{err}");
        assert_eq!(env.file(dest), "bye2\n");
        assert_eq!(env.sh("ls -a /srv | grep -c muster || true"), "0");
        env.converge("copy", json!({"content": "ok\n", "dest": dest, "validate": "grep -q ^ok %s"}), dest).await;
        assert_eq!(env.file(dest), "ok\n");

        // src from the files search path into an existing directory (name kept).
        env.sh("mkdir -p /srv/conf");
        let args = json!({"src": "app.conf", "dest": "/srv/conf/"});
        env.converge("copy", args, "/srv/conf/app.conf").await;
        assert_eq!(env.file("/srv/conf/app.conf"), "port=8080\n");
        // A missing destination directory fails the plan, as Ansible fails.
        let err = env
            .plan("copy", json!({"src": "app.conf", "dest": "/srv/nodir/"}), "/srv/nodir/app.conf")
            .await
            .unwrap_err();
        assert!(err.to_string().contains("does not exist"), "{err}");

        // remote_src copies a file already on the host, mode preserved from it.
        let args = json!({"src": "/srv/conf/app.conf", "dest": "/srv/app.copy", "remote_src": true, "mode": "preserve"});
        let plan = env.plan("copy", args.clone(), "/srv/app.copy").await.unwrap();
        assert_eq!(fields(&plan), vec![Field::State, Field::Content, Field::Mode]);
        env.converge("copy", args, "/srv/app.copy").await;
        assert_eq!(env.file("/srv/app.copy"), "port=8080\n");

        // template: rendered with the host's variables, then exactly like copy.
        let args = json!({"src": "greet.j2", "dest": "/etc/greet", "mode": "0644"});
        let plan = env.plan("template", args.clone(), "/etc/greet").await.unwrap();
        let d = change(&plan, Field::Content).diff.clone().unwrap();
        assert_eq!(d.after, "hello fleet\n");
        let (_, result) = env.converge("template", args, "/etc/greet").await;
        assert_eq!(result["checksum"], json!(sha1("hello fleet\n")));
        assert_eq!(env.file("/etc/greet"), "hello fleet\n");
        assert_eq!(env.sh("stat -c %a /etc/greet"), "644");

        // A directory: `tree` copies the directory itself, `tree/` its contents.
        let args = json!({"src": "tree", "dest": "/srv/dst", "mode": "0600", "directory_mode": "0700"});
        let plan = env.plan("copy", args.clone(), "/srv/dst/tree/a.txt").await.unwrap();
        let names: Vec<String> = fields(&plan).iter().map(|f| f.to_string()).collect();
        assert_eq!(
            names,
            vec![
                "state of /srv/dst/tree",
                "state of /srv/dst/tree/sub",
                "state of /srv/dst/tree/a.txt",
                "content",
                "mode of /srv/dst/tree/a.txt",
                "state of /srv/dst/tree/sub/b.txt",
                "content",
                "mode of /srv/dst/tree/sub/b.txt",
            ]
        );
        env.converge("copy", args, "/srv/dst/tree/a.txt").await;
        assert_eq!(env.file("/srv/dst/tree/sub/b.txt"), "B\n");
        assert_eq!(env.sh("stat -c %a /srv/dst/tree/sub /srv/dst/tree/a.txt"), "700\n600");
        env.sh("echo changed > /srv/dst/tree/a.txt");
        let args = json!({"src": "tree/", "dest": "/srv/dst/tree", "mode": "0600"});
        let plan = env.plan("copy", args.clone(), "/srv/dst/tree/a.txt").await.unwrap();
        assert_eq!(plan.changes.len(), 1, "{:?}", plan.changes);
        let d = change(&plan, Field::Content).diff.clone().unwrap();
        assert_eq!((d.path.as_str(), d.before.as_str(), d.after.as_str()), ("/srv/dst/tree/a.txt", "changed\n", "A\n"));
        env.converge("copy", args, "/srv/dst/tree/a.txt").await;
        assert_eq!(env.file("/srv/dst/tree/a.txt"), "A\n");

        // Plans cost one exec each, even with a diff to show.
        let before = env.t.op_counts();
        env.plan("template", json!({"src": "greet.j2", "dest": "/etc/greet"}), "/etc/greet").await.unwrap();
        env.plan("copy", json!({"content": "x", "dest": "/etc/greet"}), "/etc/greet").await.unwrap();
        assert_eq!(env.t.op_counts().execs - before.execs, 2);
        assert_eq!(env.t.op_counts().gets, before.gets);
    })
}

#[test]
fn file_states() {
    rt().block_on(async {
        let env = Env::new().await;

        // directory: every missing level is created with the mode.
        let args = json!({"path": "/srv/a/b", "state": "directory", "mode": "0750"});
        let plan = env.plan("file", args.clone(), "/srv/a/b").await.unwrap();
        assert_eq!(fields(&plan), vec![Field::State, Field::Mode]);
        assert_eq!(change(&plan, Field::State).after.as_deref(), Some("directory"));
        assert_eq!(env.sh("test -e /srv/a && echo yes || echo no"), "no");
        let (_, result) = env.converge("file", args, "/srv/a/b").await;
        assert_eq!(result["mode"], json!("0750"));
        assert_eq!(env.sh("stat -c %a /srv/a /srv/a/b"), "750\n750");

        // recurse: the plan names what changes below.
        env.sh("touch /srv/a/b/f && chmod 0666 /srv/a/b/f && mkdir /srv/a/b/sub && chmod 0700 /srv/a/b/sub");
        let args = json!({"path": "/srv/a", "state": "directory", "recurse": true, "mode": "u=rwX,g=rX,o="});
        let plan = env.plan("file", args.clone(), "/srv/a/b/f").await.unwrap();
        let mut names: Vec<String> = fields(&plan).iter().map(|f| f.to_string()).collect();
        names.sort();
        assert_eq!(names, vec!["mode of b/f", "mode of b/sub"], "{:?}", plan.changes);
        env.converge("file", args, "/srv/a/b/f").await;
        assert_eq!(env.sh("stat -c %a /srv/a/b/f /srv/a/b/sub"), "640\n750");

        // state=file on a missing path fails like Ansible; absent on a missing path is in sync.
        let err = env.plan("file", json!({"path": "/srv/none", "state": "file"}), "/srv/none").await.unwrap_err();
        assert!(err.to_string().contains("file (/srv/none) is absent, cannot continue"), "{err}");
        assert!(env.plan("file", json!({"path": "/srv/none", "state": "absent"}), "/srv/none").await.unwrap().is_in_sync());

        // touch creates; with preserved times the next run is in sync.
        let args = json!({"path": "/srv/t", "state": "touch", "mode": "0600",
                          "modification_time": "preserve", "access_time": "preserve"});
        let plan = env.plan("file", args.clone(), "/srv/t").await.unwrap();
        assert_eq!(fields(&plan), vec![Field::State, Field::Mode]);
        env.converge("file", args, "/srv/t").await;
        assert_eq!(env.sh("stat -c %a /srv/t"), "600");
        // Plain touch changes every time, as Ansible.
        let plan = env.plan("file", json!({"path": "/srv/t", "state": "touch"}), "/srv/t").await.unwrap();
        assert_eq!(fields(&plan), vec![Field::Other("mtime".into()), Field::Other("atime".into())]);
        // An explicit time converges.
        let args = json!({"path": "/srv/t", "state": "touch", "modification_time": "202401311205.09", "access_time": "preserve"});
        env.converge("file", args, "/srv/t").await;
        assert_eq!(env.sh("date -d @$(stat -c %Y /srv/t) +%Y%m%d%H%M.%S"), "202401311205.09");

        // mode/owner of an existing file.
        let args = json!({"path": "/srv/t", "owner": "nobody", "mode": "0644"});
        let plan = env.plan("file", args.clone(), "/srv/t").await.unwrap();
        assert_eq!(fields(&plan), vec![Field::Mode, Field::Owner]);
        env.converge("file", args, "/srv/t").await;
        assert_eq!(env.sh("stat -c '%a %U' /srv/t"), "644 nobody");

        // link: created, retargeted, refuses to replace a file without force.
        let args = json!({"path": "/srv/l", "state": "link", "src": "/srv/t"});
        let plan = env.plan("file", args.clone(), "/srv/l").await.unwrap();
        assert_eq!(fields(&plan), vec![Field::State, Field::Target]);
        env.converge("file", args, "/srv/l").await;
        assert_eq!(env.sh("readlink /srv/l"), "/srv/t");
        let args = json!({"path": "/srv/l", "state": "link", "src": "a"});
        let plan = env.plan("file", args.clone(), "/srv/l").await.unwrap();
        assert_eq!(plan.changes, vec![Change::new(Field::Target, Some("/srv/t".into()), Some("a".into()))]);
        env.converge("file", args, "/srv/l").await;
        assert_eq!(env.sh("readlink /srv/l"), "a");
        let err = env.plan("file", json!({"path": "/srv/t", "state": "link", "src": "/srv/a"}), "/srv/t").await.unwrap_err();
        assert!(err.to_string().contains("refusing to convert from file to symlink"), "{err}");
        let err = env.plan("file", json!({"path": "/srv/l2", "state": "link", "src": "/srv/missing"}), "/srv/l2").await.unwrap_err();
        assert!(err.to_string().contains("src file does not exist"), "{err}");

        // hard link to the same inode.
        let args = json!({"path": "/srv/h", "state": "hard", "src": "/srv/t"});
        env.converge("file", args, "/srv/h").await;
        assert_eq!(env.sh("stat -c %i /srv/h"), env.sh("stat -c %i /srv/t"));

        // absent removes a tree.
        let args = json!({"path": "/srv/a", "state": "absent"});
        let plan = env.plan("file", args.clone(), "/srv/a/b/f").await.unwrap();
        assert_eq!(plan.changes, vec![Change::new(Field::State, Some("directory".into()), Some("absent".into()))]);
        env.converge("file", args, "/srv/a/b/f").await;
        assert_eq!(env.sh("test -e /srv/a && echo yes || echo no"), "no");
    })
}

#[test]
fn text_edits_and_stat() {
    rt().block_on(async {
        let env = Env::new().await;
        let path = "/etc/muster.conf";
        env.sh("printf 'a=1\\nb=2\\n# end\\n' > /etc/muster.conf");

        // lineinfile: the regexp's line is replaced; the diff shows it.
        let args = json!({"path": path, "regexp": "^b=", "line": "b=3"});
        let plan = env.plan("lineinfile", args.clone(), path).await.unwrap();
        assert_eq!(fields(&plan), vec![Field::Content]);
        let d = change(&plan, Field::Content).diff.clone().unwrap();
        assert_eq!((d.before.as_str(), d.after.as_str()), ("a=1\nb=2\n# end\n", "a=1\nb=3\n# end\n"));
        let (_, result) = env.converge("lineinfile", args, path).await;
        assert_eq!(result["msg"], json!("line replaced"));
        assert_eq!(env.file(path), "a=1\nb=3\n# end\n");
        // insertbefore, then absent.
        let args = json!({"dest": path, "line": "c=4", "insertbefore": "^# end"});
        env.converge("lineinfile", args, path).await;
        assert_eq!(env.file(path), "a=1\nb=3\nc=4\n# end\n");
        let args = json!({"path": path, "regexp": "^a=", "state": "absent", "backup": "yes"});
        let (_, result) = env.converge("lineinfile", args, path).await;
        assert_eq!(result["found"], json!(1));
        assert!(result["backup"].as_str().unwrap().starts_with("/etc/muster.conf."));
        assert_eq!(env.file(path), "b=3\nc=4\n# end\n");
        // A missing file: refused without create, created with it (and mode).
        let err = env.plan("lineinfile", json!({"path": "/etc/new.conf", "line": "x"}), "/etc/new.conf").await.unwrap_err();
        assert!(err.to_string().contains("Destination /etc/new.conf does not exist !"), "{err}");
        let args = json!({"path": "/etc/new/d/new.conf", "line": "x", "create": true, "mode": "0600"});
        let plan = env.plan("lineinfile", args.clone(), "/etc/new/d/new.conf").await.unwrap();
        assert_eq!(fields(&plan), vec![Field::State, Field::Content, Field::Mode]);
        env.converge("lineinfile", args, "/etc/new/d/new.conf").await;
        assert_eq!(env.file("/etc/new/d/new.conf"), "x\n");
        assert_eq!(env.sh("stat -c %a /etc/new/d/new.conf"), "600");

        // blockinfile with Ansible's markers.
        let args = json!({"path": path, "block": "k=v\nk2=v2", "insertafter": "^b="});
        env.converge("blockinfile", args, path).await;
        assert_eq!(
            env.file(path),
            "b=3\n# BEGIN ANSIBLE MANAGED BLOCK\nk=v\nk2=v2\n# END ANSIBLE MANAGED BLOCK\nc=4\n# end\n"
        );
        let args = json!({"path": path, "block": "k=w"});
        env.converge("blockinfile", args, path).await;
        assert_eq!(
            env.file(path),
            "b=3\n# BEGIN ANSIBLE MANAGED BLOCK\nk=w\n# END ANSIBLE MANAGED BLOCK\nc=4\n# end\n"
        );
        env.converge("blockinfile", json!({"path": path, "state": "absent"}), path).await;
        assert_eq!(env.file(path), "b=3\nc=4\n# end\n");

        // replace with a Python-style backref, validated.
        let args = json!({"path": path, "regexp": "^(\\w)=(\\d)$", "replace": "\\g<1> = \\2", "validate": "grep -q = %s"});
        let (_, result) = env.converge("replace", args, path).await;
        assert_eq!(result["msg"], json!("2 replacements made"));
        assert_eq!(env.file(path), "b = 3\nc = 4\n# end\n");

        // stat: in sync, one exec, Ansible's fields.
        let plan = env.plan("stat", json!({"path": path}), path).await.unwrap();
        assert!(plan.is_in_sync());
        let st = &plan.result["stat"];
        assert_eq!(st["exists"], json!(true));
        assert_eq!(st["isreg"], json!(true));
        assert_eq!(st["mode"], json!(format!("0{}", env.sh("stat -c %a /etc/muster.conf"))));
        assert_eq!(st["checksum"], json!(sha1("b = 3\nc = 4\n# end\n")));
        assert_eq!(st["pw_name"], json!("root"));
        assert_eq!(st["size"], json!(18));
        let plan = env.plan("stat", json!({"path": path, "checksum_algorithm": "sha256"}), path).await.unwrap();
        assert_eq!(plan.result["stat"]["checksum"], json!(env.sh("sha256sum /etc/muster.conf | cut -d' ' -f1")));
        env.sh("ln -s /etc/muster.conf /etc/muster.link");
        let plan = env.plan("stat", json!({"path": "/etc/muster.link"}), path).await.unwrap();
        assert_eq!(plan.result["stat"]["islnk"], json!(true));
        assert_eq!(plan.result["stat"]["lnk_target"], json!("/etc/muster.conf"));
        let plan = env.plan("stat", json!({"path": "/etc/muster.link", "follow": true}), path).await.unwrap();
        assert_eq!(plan.result["stat"]["isreg"], json!(true));
        let plan = env.plan("stat", json!({"path": "/etc/nothing"}), path).await.unwrap();
        assert_eq!(plan.result["stat"], json!({"exists": false}));
    })
}

#[test]
fn hostile_paths_arrive_literally() {
    rt().block_on(async {
        let env = Env::new().await;
        let dir = "/srv/it's a $(touch /srv/pwned) `id` dir";
        let f = format!("{dir}/f;rm -rf x");
        env.converge("file", json!({"path": dir, "state": "directory"}), dir)
            .await;
        let args = json!({"content": "one\n", "dest": f, "backup": true, "validate": "test -s %s", "owner": "0"});
        env.converge("copy", args, &f).await;
        let args = json!({"content": "two\n", "dest": f, "backup": true, "validate": "test -s %s"});
        let (_, result) = env.converge("copy", args, &f).await;
        assert_eq!(env.file(&f), "two\n");
        assert_eq!(env.file(result["backup_file"].as_str().unwrap()), "one\n");
        env.converge("lineinfile", json!({"path": f, "line": "$(id) 'q'"}), &f)
            .await;
        assert_eq!(env.file(&f), "two\n$(id) 'q'\n");
        let plan = env.plan("stat", json!({"path": f}), &f).await.unwrap();
        assert_eq!(plan.result["stat"]["isreg"], json!(true));
        assert_eq!(env.sh("test -e /srv/pwned && echo pwned || echo clean"), "clean");
    })
}
