"""The benchmark playbook (bench/playbook/site.yml) as a pyinfra 3 deploy.

Same files, templates and end state. Read-only queries that later operations use are pyinfra
facts (`host.get_fact(Command, ...)`), which is how pyinfra expresses a registered result; the
handler is an operation guarded by `_if=<template op>.did_change`.
"""

import os
from io import StringIO

from pyinfra import config, host, inventory
from pyinfra.facts.server import Command, LinuxDistribution
from pyinfra.operations import files, server

# pyinfra uploads to `<TEMP_DIR>/pyinfra-<sha1(dest)>` and moves the file into place. The fleet's
# hosts share the machine's /tmp (only /etc /usr /var /opt /srv /root /home are per host), so
# the same temp name on two hosts would race: /var/tmp is per host.
config.TEMP_DIR = "/var/tmp"

PLAYBOOK = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "playbook")
ROOT = "/opt/muster-bench"

dist = host.get_fact(LinuxDistribution)
template_vars = dict(
    inventory_hostname=host.name,
    ansible_distribution=dist["name"],
    ansible_distribution_major_version=dist["major"],
    bench_workers=4,
    bench_listen="127.0.0.1:8080",
    groups={"all": [h.name for h in inventory]},
)

files.directory(name="01 root directory", path=ROOT, mode="755")
files.directory(name="02 conf.d directory", path=f"{ROOT}/conf.d", mode="750")
files.directory(name="03 data directory", path=f"{ROOT}/data", mode="700")
files.put(name="04 banner", src=StringIO("Authorised use only\n"), dest=f"{ROOT}/motd", mode="644")
files.put(
    name="05 application config",
    src=os.path.join(PLAYBOOK, "files/app.conf"),
    dest=f"{ROOT}/app.conf",
    mode="640",
)
files.put(
    name="06 start script",
    src=os.path.join(PLAYBOOK, "files/run.sh"),
    dest=f"{ROOT}/run.sh",
    mode="755",
)
bench_conf = files.template(
    name="07 bench.conf",
    src=os.path.join(PLAYBOOK, "templates/bench.conf.j2"),
    dest=f"{ROOT}/bench.conf",
    mode="644",
    **template_vars,
)
files.template(
    name="08 peers",
    src=os.path.join(PLAYBOOK, "templates/peers.conf.j2"),
    dest=f"{ROOT}/conf.d/peers.conf",
    mode="640",
    **template_vars,
)
# A created file gets the umask's 0644, which is the playbook's mode too.
files.line(name="09 max_connections", path=f"{ROOT}/settings.conf", line="^max_connections=100$")
files.line(name="10 timeout", path=f"{ROOT}/settings.conf", line="^timeout=", replace="timeout=30")
files.line(
    name="11 log_level", path=f"{ROOT}/settings.conf", line="^log_level=", replace="log_level=info"
)
files.block(
    name="12 limits",
    path=f"{ROOT}/limits.conf",
    content="nofile 65536\nnproc 4096",
    marker="# {mark} ANSIBLE MANAGED BLOCK",
)
# files.block creates the file 0600 and has no mode argument (blockinfile's `mode: "0644"`).
files.file(name="12 limits mode", path=f"{ROOT}/limits.conf", mode="644")
files.link(name="13 current", path=f"{ROOT}/current", target=f"{ROOT}/bench.conf")
files.put(name="14 version", src=StringIO("1.4.2\n"), dest=f"{ROOT}/data/version", mode="600")
kernel = host.get_fact(Command, command="uname -r")  # 15
files.put(name="16 kernel file", src=StringIO(f"kernel={kernel}\n"), dest=f"{ROOT}/data/kernel", mode="644")
sshd_pkg = host.get_fact(Command, command="dpkg-query -W -f='${Version}' openssh-server")  # 17
ssh_enabled = host.get_fact(Command, command="systemctl is-enabled ssh")  # 18
root_shell = host.get_fact(Command, command="getent passwd root | cut -d: -f7")  # 19
files.put(
    name="20 host report",
    src=StringIO(f"openssh-server={sshd_pkg}\nssh={ssh_enabled}\nroot_shell={root_shell}\n"),
    dest=f"{ROOT}/data/report",
    mode="644",
)
server.shell(name="reload bench (handler)", commands=[f"touch {ROOT}/reloaded"], _if=bench_conf.did_change)
