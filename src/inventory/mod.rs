//! Ansible-compatible inventories: hosts, groups and their variables.
//!
//! Sources are Ansible's YAML and INI files, directories of them, and `host1,host2,` lists;
//! `group_vars/` and `host_vars/` beside each source (and beside a playbook, through
//! [`Inventory::add_vars_dir`]) add variables. The semantics follow ansible-core's
//! `InventoryData`, `Group`, `Host`, `VariableManager` and `InventoryManager`:
//!
//! - every group descends from `all`; hosts in no other group are in `ungrouped`;
//! - a host's variables merge, later winning (dicts replace, Ansible's default):
//!   `all` vars from the inventory < other groups' inventory vars (by depth, then
//!   `ansible_group_priority`, then name) < `group_vars/all` beside the inventory <
//!   `group_vars/all` beside the playbook < other `group_vars/*` beside the inventory < ... beside
//!   the playbook < the host's inventory vars < `host_vars/*` beside the inventory < ... beside
//!   the playbook;
//! - `localhost` (or `127.0.0.1`, `::1`) named in a pattern but absent from the inventory is
//!   Ansible's implicit localhost: local connection, in no group, not matched by `all`.
//!
//! Every mistake in a source is an input error at its file, line and column.

mod ini;
mod pattern;
mod pyliteral;
mod range;
mod yaml_inv;

use std::collections::{HashMap, HashSet, VecDeque};
use std::path::{Path, PathBuf};

use indexmap::IndexMap;
use serde_json::{Map, Value};

use crate::error::{Error, Location, Result};

pub use pyliteral::parse_value as parse_ini_value;

/// The names Ansible treats as the local machine.
pub const LOCALHOST: [&str; 3] = ["localhost", "127.0.0.1", "::1"];

/// Connection types muster can drive (Ansible's names).
pub const CONNECTIONS: [&str; 7] = [
    "ssh",
    "paramiko",
    "smart",
    "local",
    "ansible.builtin.ssh",
    "ansible.builtin.paramiko_ssh",
    "ansible.builtin.local",
];

/// A loaded inventory: hosts, groups and their variables.
#[derive(Debug, Clone, Default)]
pub struct Inventory {
    groups: IndexMap<String, Group>,
    hosts: IndexMap<String, Host>,
    /// group_vars/ and host_vars/ beside the inventory sources, in source order.
    inventory_vars: Vec<VarsDir>,
    /// group_vars/ and host_vars/ beside playbooks.
    playbook_vars: Vec<VarsDir>,
    /// The directories whose group_vars/host_vars apply (beside each source).
    source_dirs: Vec<PathBuf>,
    /// Groups named by a section or a YAML key (not only by `[x:vars]` or as an INI child).
    declared: HashSet<String>,
    /// INI `[parent:children]` entries: (child, parent, where), checked once all is loaded.
    child_refs: Vec<(String, String, Location)>,
    /// INI `[group:vars]` sections: (group, where).
    vars_refs: Vec<(String, Location)>,
}

#[derive(Debug, Clone, Default)]
struct Group {
    vars: Map<String, Value>,
    priority: i64,
    children: Vec<String>,
    parents: Vec<String>,
    hosts: Vec<String>,
    depth: usize,
}

#[derive(Debug, Clone, Default)]
struct Host {
    vars: Map<String, Value>,
    /// Groups the host was put in directly.
    groups: Vec<String>,
}

/// Variables read from one directory's group_vars/ and host_vars/.
#[derive(Debug, Clone, Default)]
struct VarsDir {
    group: HashMap<String, Map<String, Value>>,
    host: HashMap<String, Map<String, Value>>,
}

/// File extensions skipped in an inventory directory (Ansible's ignore list, minus `.ini`).
const IGNORED_EXTS: [&str; 12] = [
    "~", ".orig", ".bak", ".cfg", ".retry", ".pyc", ".pyo", ".swp", ".rpm", ".md", ".txt", ".rst",
];
const IGNORED_DIRS: [&str; 3] = ["group_vars", "host_vars", "vars_plugins"];

impl Inventory {
    /// Loads inventory files and directories; an empty list gives the implicit localhost.
    pub fn load(sources: &[PathBuf]) -> Result<Inventory> {
        let mut inv = Inventory::empty();
        if sources.is_empty() {
            inv.add_host("localhost", None);
            if let Some(h) = inv.hosts.get_mut("localhost") {
                h.vars
                    .insert("ansible_connection".into(), Value::String("local".into()));
            }
        }
        for source in sources {
            inv.load_source(source)?;
        }
        inv.check_references()?;
        inv.reconcile();
        let dirs = inv.source_dirs.clone();
        for dir in dirs {
            let vd = inv.read_vars_dir(&dir)?;
            inv.inventory_vars.push(vd);
        }
        Ok(inv)
    }

    /// Parses inventory text (as one file named `file`, which is only used in messages and
    /// for choosing the format). No group_vars/host_vars are read. Handy for tests and
    /// `muster validate`.
    pub fn from_text(text: &str, file: &Path) -> Result<Inventory> {
        let mut inv = Inventory::empty();
        inv.parse_text(text, file)?;
        inv.check_references()?;
        inv.reconcile();
        Ok(inv)
    }

    /// Adds the group_vars/ and host_vars/ found in `dir` (a playbook's directory). They rank
    /// above those beside the inventory, as in Ansible. A directory without them adds nothing.
    pub fn add_vars_dir(&mut self, dir: &Path) -> Result<()> {
        let vd = self.read_vars_dir(dir)?;
        self.playbook_vars.push(vd);
        Ok(())
    }

    /// Host names matching an Ansible pattern, in inventory order (per term, as Ansible
    /// orders them). A pattern that matches nothing gives an empty list.
    pub fn select(&self, pattern: &str) -> Result<Vec<String>> {
        pattern::select(self, pattern)
    }

    /// Every host of the inventory, in the order they were first defined.
    pub fn hosts(&self) -> impl Iterator<Item = &str> {
        self.hosts.keys().map(String::as_str)
    }

    /// Every group, in the order they were first defined (`all` and `ungrouped` first).
    pub fn groups(&self) -> impl Iterator<Item = &str> {
        self.groups.keys().map(String::as_str)
    }

    pub fn contains_host(&self, host: &str) -> bool {
        self.hosts.contains_key(host)
    }

    pub fn contains_group(&self, group: &str) -> bool {
        self.groups.contains_key(group)
    }

    /// Ansible's `group_names` for a host: every group it is in, directly or through a
    /// child group, sorted, without `all` (`ungrouped` is kept, as Ansible keeps it).
    pub fn groups_of(&self, host: &str) -> Vec<String> {
        let mut names: Vec<String> = self
            .ancestry(host)
            .into_iter()
            .filter(|g| g != "all")
            .collect();
        names.sort();
        names
    }

    /// Ansible's `groups` variable: every group (with `all` and `ungrouped`) and all the hosts
    /// in it or in its descendants, in inventory order.
    pub fn groups_map(&self) -> IndexMap<String, Vec<String>> {
        self.groups
            .keys()
            .map(|g| (g.clone(), self.group_hosts(g)))
            .collect()
    }

    /// The merged variables of one host (see the module documentation for the order).
    /// Magic variables (`inventory_hostname`, `group_names`, `groups`) are not included.
    pub fn host_vars(&self, host: &str) -> Map<String, Value> {
        let mut out = Map::new();
        let real = self.hosts.get(host);
        if real.is_none() && !LOCALHOST.contains(&host) {
            return out;
        }
        let combine = |out: &mut Map<String, Value>, vars: &Map<String, Value>| {
            for (k, v) in vars {
                out.insert(k.clone(), v.clone());
            }
        };
        let groups: Vec<&String> = match real {
            Some(_) => {
                let mut gs: Vec<String> = self
                    .ancestry(host)
                    .into_iter()
                    .filter(|g| g != "all")
                    .collect();
                gs.sort_by(|a, b| {
                    let (ga, gb) = (&self.groups[a], &self.groups[b]);
                    (ga.depth, ga.priority, a).cmp(&(gb.depth, gb.priority, b))
                });
                gs.iter()
                    .filter_map(|g| self.groups.get_key_value(g).map(|(k, _)| k))
                    .collect()
            }
            None => Vec::new(),
        };
        if let Some(all) = self.groups.get("all") {
            combine(&mut out, &all.vars);
        }
        for g in &groups {
            combine(&mut out, &self.groups[g.as_str()].vars);
        }
        for vd in self.inventory_vars.iter().chain(&self.playbook_vars) {
            if let Some(v) = vd.group.get("all") {
                combine(&mut out, v);
            }
        }
        for dirs in [&self.inventory_vars, &self.playbook_vars] {
            for vd in dirs {
                for g in &groups {
                    if let Some(v) = vd.group.get(g.as_str()) {
                        combine(&mut out, v);
                    }
                }
            }
        }
        match real {
            Some(h) => combine(&mut out, &h.vars),
            None => {
                out.insert("ansible_connection".into(), Value::String("local".into()));
            }
        }
        for vd in self.inventory_vars.iter().chain(&self.playbook_vars) {
            if let Some(v) = vd.host.get(host) {
                combine(&mut out, v);
            }
        }
        out
    }

    /// `ansible-inventory --list`: groups with their direct hosts and children (sorted, empty
    /// keys and empty groups left out), and `_meta.hostvars`; object keys sorted as Ansible's
    /// `json.dumps(sort_keys=True)` sorts them.
    pub fn to_list_json(&self) -> Value {
        let mut out = Map::new();
        let mut seen = HashSet::new();
        self.list_group("all", &mut out, &mut seen);
        let mut hostvars = Map::new();
        for h in self.group_hosts("all") {
            let vars = self.host_vars(&h);
            if !vars.is_empty() {
                hostvars.insert(h, Value::Object(vars));
            }
        }
        let mut meta = Map::new();
        meta.insert("hostvars".into(), Value::Object(hostvars));
        out.insert("_meta".into(), Value::Object(meta));
        sort_keys(Value::Object(out))
    }

    fn list_group(&self, name: &str, out: &mut Map<String, Value>, seen: &mut HashSet<String>) {
        if !seen.insert(name.to_string()) {
            return;
        }
        let Some(g) = self.groups.get(name) else {
            return;
        };
        let mut entry = Map::new();
        if name != "all" {
            let mut hosts = g.hosts.clone();
            hosts.sort();
            if !hosts.is_empty() {
                entry.insert("hosts".into(), Value::from(hosts));
            }
        }
        let mut children = g.children.clone();
        children.sort();
        if !children.is_empty() {
            entry.insert("children".into(), Value::from(children.clone()));
        }
        if !entry.is_empty() {
            out.insert(name.to_string(), Value::Object(entry));
        }
        for c in &children {
            self.list_group(c, out, seen);
        }
    }

    /// `ansible-inventory --graph GROUP`: the tree from a group down, children (sorted) before
    /// hosts (sorted); ends with a newline.
    pub fn graph(&self, group: &str) -> Result<String> {
        if !self.groups.contains_key(group) {
            return Err(Error::Usage(format!(
                "--graph needs a group name; there is no group `{group}` in the inventory"
            )));
        }
        let mut lines = Vec::new();
        self.graph_group(group, 0, &mut lines);
        let mut s = lines.join("\n");
        s.push('\n');
        Ok(s)
    }

    fn graph_group(&self, name: &str, depth: usize, lines: &mut Vec<String>) {
        let label = |text: &str, depth: usize| {
            if depth == 0 {
                text.to_string()
            } else {
                format!("{}--{text}", "  |".repeat(depth))
            }
        };
        lines.push(label(&format!("@{name}:"), depth));
        let Some(g) = self.groups.get(name) else {
            return;
        };
        if depth > 100 {
            return;
        }
        let mut children = g.children.clone();
        children.sort();
        for c in &children {
            self.graph_group(c, depth + 1, lines);
        }
        if name != "all" {
            let mut hosts = g.hosts.clone();
            hosts.sort();
            for h in &hosts {
                lines.push(label(h, depth + 1));
            }
        }
    }

    // -----------------------------------------------------------------------------------------
    // Building

    fn empty() -> Inventory {
        let mut inv = Inventory::default();
        inv.add_group("all");
        inv.add_group("ungrouped");
        inv.link("all", "ungrouped");
        inv
    }

    fn add_group(&mut self, name: &str) {
        if !self.groups.contains_key(name) {
            self.groups.insert(
                name.to_string(),
                Group {
                    priority: 1,
                    ..Group::default()
                },
            );
        }
    }

    /// Adds a host (once) and puts it in `group` (which must exist).
    fn add_host(&mut self, name: &str, group: Option<&str>) {
        let host = self.hosts.entry(name.to_string()).or_default();
        if let Some(g) = group {
            if !host.groups.iter().any(|x| x == g) {
                host.groups.push(g.to_string());
            }
            if let Some(grp) = self.groups.get_mut(g) {
                if !grp.hosts.iter().any(|h| h == name) {
                    grp.hosts.push(name.to_string());
                }
            }
        }
    }

    fn link(&mut self, parent: &str, child: &str) {
        if let Some(p) = self.groups.get_mut(parent) {
            if !p.children.iter().any(|c| c == child) {
                p.children.push(child.to_string());
            }
        }
        if let Some(c) = self.groups.get_mut(child) {
            if !c.parents.iter().any(|p| p == parent) {
                c.parents.push(parent.to_string());
            }
        }
    }

    /// Makes `child` a child group of `parent`, refusing cycles.
    fn add_child(&mut self, parent: &str, child: &str, loc: &Location) -> Result<()> {
        if child == "all" {
            return Err(Error::at(loc.clone(), "`all` cannot be a child group")
                .with_help("every group is already inside `all`; remove this entry"));
        }
        self.add_group(parent);
        self.add_group(child);
        if let Some(path) = self.path_down(child, parent) {
            let cycle = path.join(" -> ");
            return Err(Error::at(
                loc.clone(),
                format!("making `{child}` a child of `{parent}` creates a cycle: {cycle} -> {child}"),
            )
            .with_help("a group cannot contain itself, directly or through its children; remove one of these links"));
        }
        self.link(parent, child);
        Ok(())
    }

    /// A chain of child links from `from` down to `to` (inclusive), if there is one.
    fn path_down(&self, from: &str, to: &str) -> Option<Vec<String>> {
        let mut prev: HashMap<String, String> = HashMap::new();
        let mut queue = VecDeque::from([from.to_string()]);
        let mut seen = HashSet::from([from.to_string()]);
        while let Some(g) = queue.pop_front() {
            if g == to {
                let mut path = vec![g.clone()];
                let mut cur = g;
                while let Some(p) = prev.get(&cur) {
                    path.push(p.clone());
                    cur = p.clone();
                }
                path.reverse();
                return Some(path);
            }
            for c in self
                .groups
                .get(&g)
                .map(|x| x.children.as_slice())
                .unwrap_or(&[])
            {
                if seen.insert(c.clone()) {
                    prev.insert(c.clone(), g.clone());
                    queue.push_back(c.clone());
                }
            }
        }
        None
    }

    /// Host names and optional ports from an inventory host key (`web[01:03]:2222`).
    fn expand_host_pattern(
        &self,
        pattern: &str,
        loc: &Location,
    ) -> Result<Vec<(String, Option<Value>)>> {
        let (name, port) = range::split_port(pattern.trim());
        let port = match port {
            None => None,
            Some(p) => match p.parse::<u32>() {
                Ok(n) if (1..=65535).contains(&n) => Some(Value::from(n)),
                _ => {
                    return Err(Error::at(
                        loc.clone(),
                        format!("port `{p}` of host `{pattern}` is not a port number between 1 and 65535"),
                    )
                    .with_help("write the host as `name:PORT` with a port from 1 to 65535, or set `ansible_port`"))
                }
            },
        };
        let names = range::expand(&name).map_err(|msg| {
            Error::at(loc.clone(), msg).with_help(
                "host ranges look like web[01:20] (zero padding kept), web[1:20:5] (a step) or db-[a:f]",
            )
        })?;
        if names.iter().any(|n| n.is_empty()) {
            return Err(Error::at(loc.clone(), "a host name cannot be empty")
                .with_help("write the host's name or address"));
        }
        Ok(names.into_iter().map(|n| (n, port.clone())).collect())
    }

    fn set_group_var(
        &mut self,
        group: &str,
        key: &str,
        value: Value,
        loc: &Location,
    ) -> Result<()> {
        // Only an inventory source sets a group's priority (group_vars files cannot: Ansible
        // reads them after the priority is used).
        if key == "ansible_group_priority" {
            let p = match &value {
                Value::Number(n) => n.as_i64(),
                Value::String(s) => s.trim().parse::<i64>().ok(),
                _ => None,
            };
            let Some(p) = p else {
                return Err(Error::at(
                    loc.clone(),
                    format!("ansible_group_priority must be a whole number, found {value}"),
                )
                .with_help(
                    "groups with a higher priority are merged later and win; the default is 1",
                ));
            };
            self.add_group(group);
            if let Some(g) = self.groups.get_mut(group) {
                g.priority = p;
            }
            return Ok(());
        }
        validate_var(key, &value, loc)?;
        self.add_group(group);
        if let Some(g) = self.groups.get_mut(group) {
            g.vars.insert(key.to_string(), value);
        }
        Ok(())
    }

    fn set_host_var(&mut self, host: &str, key: &str, value: Value, loc: &Location) -> Result<()> {
        validate_var(key, &value, loc)?;
        self.add_host(host, None);
        if let Some(h) = self.hosts.get_mut(host) {
            h.vars.insert(key.to_string(), value);
        }
        Ok(())
    }

    // -----------------------------------------------------------------------------------------
    // Sources

    fn load_source(&mut self, source: &Path) -> Result<()> {
        let meta = match std::fs::metadata(source) {
            Ok(m) => m,
            Err(e) => {
                let text = source.to_string_lossy();
                if text.contains(',') {
                    return self.load_host_list(&text);
                }
                return Err(Error::input(format!(
                    "inventory source `{}` cannot be read: {e}",
                    source.display()
                ))
                .with_help("pass an inventory file or directory with -i, or a comma-separated host list such as `-i web1,web2,`"));
            }
        };
        if meta.is_dir() {
            self.load_dir(source, 0)?;
            self.source_dirs.push(source.to_path_buf());
        } else {
            self.load_file(source)?;
            let dir = source
                .parent()
                .map(|p| {
                    if p.as_os_str().is_empty() {
                        Path::new(".")
                    } else {
                        p
                    }
                })
                .unwrap_or(Path::new("."));
            self.source_dirs.push(dir.to_path_buf());
        }
        Ok(())
    }

    /// `-i web1,web2:2222,` (Ansible's host_list plugin).
    fn load_host_list(&mut self, text: &str) -> Result<()> {
        for item in text.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let loc = Location::new(text, 1, 1);
            let (name, port) = range::split_port(item);
            if name.contains('[') {
                return Err(Error::input(format!(
                    "host ranges are not allowed in a host list (`{item}`)"
                ))
                .with_help("put ranged hosts in an inventory file"));
            }
            self.add_host(&name, Some("ungrouped"));
            if let Some(p) = port {
                let value = p
                    .parse::<u32>()
                    .map(Value::from)
                    .unwrap_or(Value::String(p));
                validate_var("ansible_port", &value, &loc).map_err(|_| {
                    Error::input(format!("`{item}` has a port outside 1..65535"))
                        .with_help("write hosts as `name` or `name:PORT`")
                })?;
                self.set_host_var(&name, "ansible_port", value, &loc)?;
            }
        }
        Ok(())
    }

    fn load_dir(&mut self, dir: &Path, depth: usize) -> Result<()> {
        if depth > 32 {
            return Ok(());
        }
        let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
            .map_err(|e| Error::io(dir, e))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .collect();
        entries.sort();
        for path in entries {
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            if name.starts_with('.') || IGNORED_EXTS.iter().any(|ext| name.ends_with(ext)) {
                continue;
            }
            if path.is_dir() {
                if IGNORED_DIRS.contains(&name.as_str()) {
                    continue;
                }
                self.load_dir(&path, depth + 1)?;
            } else {
                self.load_file(&path)?;
            }
        }
        Ok(())
    }

    fn load_file(&mut self, path: &Path) -> Result<()> {
        let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        if bytes.starts_with(b"#!") {
            return Err(Error::at(
                Location::new(path, 1, 1),
                "dynamic inventory scripts are not supported",
            )
            .with_help("run the script once and save its output as a static YAML inventory, or remove the `#!` line if this is a static file"));
        }
        let text = crate::error::text_of(bytes, path)?;
        self.parse_text(&text, path)
    }

    fn parse_text(&mut self, text: &str, file: &Path) -> Result<()> {
        if crate::vault::is_vaulted(text) {
            let plain = crate::vault::decrypt_file_text(text, file)?;
            return self.parse_text(&plain, file);
        }
        match detect_format(text, file) {
            Format::Yaml => {
                if let Some(root) = crate::yaml::parse_str(text, file)? {
                    yaml_inv::parse(self, &root, file)?;
                }
                Ok(())
            }
            Format::Ini => ini::parse(self, text, file),
            Format::Guess => {
                // Parse as YAML when that gives a mapping whose values are all groups.
                if let Ok(Some(root)) = crate::yaml::parse_str(text, file) {
                    let looks_like_groups = root.as_map().is_some_and(|pairs| {
                        pairs
                            .iter()
                            .all(|(_, v)| v.is_null() || v.as_map().is_some())
                    });
                    if looks_like_groups {
                        return yaml_inv::parse(self, &root, file);
                    }
                }
                ini::parse(self, text, file)
            }
        }
    }

    /// INI references to groups that were never declared (after every source is loaded).
    fn check_references(&self) -> Result<()> {
        let known = |g: &str| g == "all" || g == "ungrouped" || self.declared.contains(g);
        for (child, parent, loc) in &self.child_refs {
            if !known(child) {
                return Err(Error::at(
                    loc.clone(),
                    format!("unknown child group `{child}` in [{parent}:children]"),
                )
                .with_help(format!(
                    "define the group with a [{child}] section listing its hosts (it may be empty), or fix the name"
                )));
            }
        }
        for (group, loc) in &self.vars_refs {
            if !known(group) {
                return Err(Error::at(
                    loc.clone(),
                    format!(
                        "[{group}:vars] sets variables of group `{group}`, which is never defined"
                    ),
                )
                .with_help(format!(
                    "add a [{group}] section with its hosts, or fix the name"
                )));
            }
        }
        Ok(())
    }

    /// Ansible's `reconcile_inventory`: parentless groups go under `all`, hosts in no group
    /// go in `ungrouped` (and leave it when they are in another group), depths are set.
    fn reconcile(&mut self) {
        let names: Vec<String> = self.groups.keys().cloned().collect();
        for g in &names {
            if g != "all" && self.groups[g].parents.is_empty() {
                self.link("all", g);
            }
        }
        let hosts: Vec<String> = self.hosts.keys().cloned().collect();
        for h in &hosts {
            let direct = self.hosts[h].groups.clone();
            let other = direct.iter().any(|g| g != "all" && g != "ungrouped");
            let in_ungrouped = direct.iter().any(|g| g == "ungrouped");
            if other && in_ungrouped {
                if let Some(u) = self.groups.get_mut("ungrouped") {
                    u.hosts.retain(|x| x != h);
                }
                if let Some(host) = self.hosts.get_mut(h) {
                    host.groups.retain(|g| g != "ungrouped");
                }
            } else if !other && !in_ungrouped {
                self.add_host(h, Some("ungrouped"));
            }
        }
        // depth = the longest chain of parents up to `all`
        let mut depth: HashMap<String, usize> = HashMap::new();
        fn depth_of(
            g: &str,
            groups: &IndexMap<String, Group>,
            memo: &mut HashMap<String, usize>,
            guard: usize,
        ) -> usize {
            if let Some(d) = memo.get(g) {
                return *d;
            }
            if guard > 10_000 {
                return 0;
            }
            let d = groups
                .get(g)
                .map(|x| x.parents.clone())
                .unwrap_or_default()
                .iter()
                .map(|p| depth_of(p, groups, memo, guard + 1) + 1)
                .max()
                .unwrap_or(0);
            memo.insert(g.to_string(), d);
            d
        }
        for g in &names {
            let d = depth_of(g, &self.groups, &mut depth, 0);
            if let Some(grp) = self.groups.get_mut(g) {
                grp.depth = d;
            }
        }
    }

    // -----------------------------------------------------------------------------------------
    // Queries

    /// The host's direct groups and all their ancestors.
    fn ancestry(&self, host: &str) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        let Some(h) = self.hosts.get(host) else {
            return out;
        };
        let mut queue: VecDeque<String> = h.groups.iter().cloned().collect();
        while let Some(g) = queue.pop_front() {
            if out.contains(&g) {
                continue;
            }
            if let Some(grp) = self.groups.get(&g) {
                queue.extend(grp.parents.iter().cloned());
            }
            out.push(g);
        }
        if !out.iter().any(|g| g == "all") {
            out.push("all".into());
        }
        out
    }

    /// The hosts of a group and of its descendants (Ansible's `Group.get_hosts`): the group's
    /// own hosts, then its children's level by level, each once.
    fn group_hosts(&self, group: &str) -> Vec<String> {
        let mut order: Vec<String> = vec![group.to_string()];
        let mut seen: HashSet<String> = HashSet::from([group.to_string()]);
        let mut level: Vec<String> = vec![group.to_string()];
        while !level.is_empty() {
            let mut next = Vec::new();
            for g in &level {
                for c in self
                    .groups
                    .get(g)
                    .map(|x| x.children.as_slice())
                    .unwrap_or(&[])
                {
                    if seen.insert(c.clone()) {
                        order.push(c.clone());
                        next.push(c.clone());
                    }
                }
            }
            level = next;
        }
        let mut hosts = Vec::new();
        let mut have = HashSet::new();
        for g in &order {
            for h in self
                .groups
                .get(g)
                .map(|x| x.hosts.as_slice())
                .unwrap_or(&[])
            {
                if have.insert(h.clone()) {
                    hosts.push(h.clone());
                }
            }
        }
        hosts
    }

    // -----------------------------------------------------------------------------------------
    // group_vars/ and host_vars/

    fn read_vars_dir(&self, dir: &Path) -> Result<VarsDir> {
        let mut vd = VarsDir::default();
        let gdir = dir.join("group_vars");
        if gdir.is_dir() {
            for g in self.groups.keys() {
                if let Some(vars) = read_entity_vars(&gdir, g)? {
                    vd.group.insert(g.clone(), vars);
                }
            }
        }
        let hdir = dir.join("host_vars");
        if hdir.is_dir() {
            let names = self.hosts.keys().map(String::as_str).chain(
                LOCALHOST
                    .iter()
                    .copied()
                    .filter(|l| !self.hosts.contains_key(*l)),
            );
            for h in names {
                if let Some(vars) = read_entity_vars(&hdir, h)? {
                    vd.host.insert(h.to_string(), vars);
                }
            }
        }
        Ok(vd)
    }
}

/// The variables for one group or host from `base/NAME`, `NAME.yml`, `NAME.yaml`,
/// `NAME.json` (the first that exists, as Ansible's `find_vars_files`), where a directory's
/// files merge in sorted order.
fn read_entity_vars(base: &Path, name: &str) -> Result<Option<Map<String, Value>>> {
    if name.contains('/') || name.contains('\\') || name == "." || name == ".." {
        return Ok(None);
    }
    for ext in ["", ".yml", ".yaml", ".json"] {
        let path = base.join(format!("{name}{ext}"));
        if !path.exists() {
            continue;
        }
        let files = if path.is_dir() {
            let mut files = Vec::new();
            dir_vars_files(&path, &mut files, 0)?;
            files
        } else {
            vec![path]
        };
        let mut vars = Map::new();
        for f in files {
            read_vars_file(&f, &mut vars)?;
        }
        return Ok(Some(vars));
    }
    Ok(None)
}

fn dir_vars_files(dir: &Path, out: &mut Vec<PathBuf>, depth: usize) -> Result<()> {
    if depth > 32 {
        return Ok(());
    }
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| Error::io(dir, e))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    entries.sort();
    for p in entries {
        let name = p
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if name.starts_with('.') || name.ends_with('~') {
            continue;
        }
        let ext = p.extension().map(|e| e.to_string_lossy().into_owned());
        if p.is_dir() && ext.is_none() {
            dir_vars_files(&p, out, depth + 1)?;
        } else if p.is_file()
            && ext
                .as_deref()
                .is_none_or(|e| matches!(e, "yml" | "yaml" | "json"))
        {
            out.push(p);
        }
    }
    Ok(())
}

/// One vars file: a mapping (or nothing). Values are checked like inventory values.
fn read_vars_file(path: &Path, vars: &mut Map<String, Value>) -> Result<()> {
    let text = crate::error::read_text(path)?;
    // (a vault-encrypted file is decrypted by the YAML loader)
    let Some(root) = crate::yaml::parse_str(&text, path)? else {
        return Ok(());
    };
    let Some(pairs) = root.as_map() else {
        return Err(Error::at(
            root.loc(path),
            format!(
                "a vars file must be a mapping of variable names to values, found a {}",
                root.type_name()
            ),
        )
        .with_help("write one `name: value` a line"));
    };
    for (k, v) in pairs {
        let Some(key) = k.scalar_text().filter(|s| !s.is_empty()) else {
            return Err(Error::at(
                k.loc(path),
                format!(
                    "a variable name must be a non-empty string, found a {}",
                    k.type_name()
                ),
            )
            .with_help("variable names are words such as `ansible_user`"));
        };
        let value = v.to_json();
        validate_var(&key, &value, &v.loc(path))?;
        vars.insert(key, value);
    }
    Ok(())
}

/// Checks the connection variables muster acts on. Templated values are checked when used.
fn validate_var(key: &str, value: &Value, loc: &Location) -> Result<()> {
    let templated = |v: &Value| {
        v.as_str()
            .is_some_and(|s| s.contains("{{") || s.contains("{%"))
    };
    if templated(value) {
        return Ok(());
    }
    match key {
        "ansible_connection" => {
            let ok = value.as_str().is_some_and(|s| CONNECTIONS.contains(&s));
            if !ok {
                return Err(Error::at(
                    loc.clone(),
                    format!("unsupported connection type {value} in `ansible_connection`"),
                )
                .with_help(
                    "muster connects with `ssh` (also spelt `paramiko` or `smart`) or `local`",
                ));
            }
        }
        "ansible_port" | "ansible_ssh_port" => {
            let port = match value {
                Value::Number(n) => n.as_i64(),
                Value::String(s) => s.trim().parse::<i64>().ok(),
                _ => None,
            };
            if !port.is_some_and(|p| (1..=65535).contains(&p)) {
                return Err(Error::at(
                    loc.clone(),
                    format!("`{key}` must be a port number between 1 and 65535, found {value}"),
                )
                .with_help("set it to the SSH port of the host, such as 22 or 2222"));
            }
        }
        _ => {}
    }
    Ok(())
}

/// Sorts object keys recursively, as `json.dumps(sort_keys=True)`.
pub fn sort_keys(v: Value) -> Value {
    match v {
        Value::Object(m) => {
            let mut pairs: Vec<(String, Value)> = m.into_iter().collect();
            pairs.sort_by(|a, b| a.0.cmp(&b.0));
            Value::Object(pairs.into_iter().map(|(k, v)| (k, sort_keys(v))).collect())
        }
        Value::Array(items) => Value::Array(items.into_iter().map(sort_keys).collect()),
        other => other,
    }
}

enum Format {
    Yaml,
    Ini,
    Guess,
}

/// `.yml`/`.yaml`/`.json` are YAML, `.ini` is INI; other files by their first meaningful line.
fn detect_format(text: &str, file: &Path) -> Format {
    match file.extension().and_then(|e| e.to_str()) {
        Some("yml" | "yaml" | "json") => return Format::Yaml,
        Some("ini") => return Format::Ini,
        _ => {}
    }
    let first = text
        .trim_start_matches('\u{feff}')
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with('#') && !l.starts_with(';'));
    let Some(first) = first else {
        return Format::Ini;
    };
    if first.starts_with('[') {
        return Format::Ini;
    }
    if first == "---" || first.starts_with('{') {
        return Format::Yaml;
    }
    let words: Vec<&str> = first.split_whitespace().collect();
    if words.first().is_some_and(|w| w.ends_with(':')) {
        return Format::Yaml;
    }
    if words.len() == 1 || words[1..].iter().all(|w| w.contains('=')) {
        // `host` or `host key=value ...`
        if !first.contains(": ") {
            return Format::Ini;
        }
    }
    Format::Guess
}

#[cfg(test)]
mod tests;
