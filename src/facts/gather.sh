# muster fact gathering: one POSIX sh script, one round trip. Every section starts with a
# marker line `@@muster:NAME@@`; a section whose command is missing is empty or absent,
# and the parser on the controller treats that as "not known" (never as an error).
m() { printf '\n@@muster:%s@@\n' "$1"; }
e() { command -v "$1" >/dev/null 2>&1; }
c() { while IFS= read -r l || [ -n "$l" ]; do printf '%s\n' "$l"; done <"$1"; } 2>/dev/null
u=$(uname -snrvm 2>/dev/null)
os=${u%% *}
m uname
printf '%s\n' "$u"
m fqdn
hostname -f 2>/dev/null
m machine-id
c /var/lib/dbus/machine-id || c /etc/machine-id
m os-release
c /etc/os-release || c /usr/lib/os-release
for f in redhat-release alpine-release debian_version system-release arch-release gentoo-release SuSE-release; do
  [ -f "/etc/$f" ] && { m "etc/$f"; c "/etc/$f"; }
done
m exists
for p in /run/systemd/system/ /dev/.run/systemd/ /dev/.systemd/ /etc/init/ /sbin/openrc \
  /etc/init.d/ /etc/dinit.d/ /run/ostree-booted /.dockerenv /.dockerinit /proc/xen /proc/vz \
  /proc/lve /rhev/ /usr/bin/rpm-ostree /usr/bin/yum /usr/bin/dnf /usr/bin/dnf5 /usr/bin/apt-get \
  /usr/bin/zypper /usr/sbin/urpmi /usr/bin/pacman /bin/opkg /usr/pkg/bin/pkgin /opt/local/bin/pkgin \
  /opt/tools/bin/pkgin /opt/local/bin/port /usr/local/bin/brew /opt/homebrew/bin/brew /sbin/apk \
  /usr/sbin/pkg /usr/sbin/swlist /usr/bin/emerge /usr/sbin/pkgadd /usr/bin/swupd /usr/sbin/sorcery \
  /usr/bin/installp; do
  [ -e "$p" ] && printf '%s\n' "$p"
done
for x in systemctl initctl; do e "$x" && printf 'cmd:%s\n' "$x"; done
m sbin-init
[ -h /sbin/init ] && readlink /sbin/init 2>/dev/null
m proc1
c /proc/1/comm || ps -p 1 -o comm= 2>/dev/null
m id
i=$(id 2>/dev/null)
printf '%s\n' "$i"
uid=${i#uid=}
uid=${uid%%[!0-9]*}
un=${i#*\(}
un=${un%%\)*}
m passwd
if [ "$os" = Darwin ] && e dscl; then
  dscl . -read "/Users/$un" UniqueID PrimaryGroupID RealName NFSHomeDirectory UserShell 2>/dev/null
else
  getent passwd "$uid" 2>/dev/null || while IFS=: read -r n x i g r; do
    [ "$i" = "$uid" ] && { printf '%s:%s:%s:%s:%s\n' "$n" "$x" "$i" "$g" "$r"; break; }
  done </etc/passwd 2>/dev/null
fi
m env
awk 'BEGIN{for(k in ENVIRON){n=split(ENVIRON[k],a,"\n");printf "%s=%s\n",k,a[1];for(j=2;j<=n;j++)printf "\t%s\n",a[j]}}' 2>/dev/null
m date
LC_ALL=C date '+%Y|%m|%d|%H|%M|%S|%w|%W|%A|%Z|%z|%s|%N'
case $os in Darwin | *BSD | DragonFly) bsd=1 ;; *) bsd= ;; esac
if [ -n "$bsd" ]; then
  if [ "$os" = Darwin ]; then
    m sw_vers
    sw_vers 2>/dev/null
    m sysctl
    sysctl hw.memsize hw.ncpu hw.physicalcpu hw.logicalcpu hw.packages hw.model \
      machdep.cpu.brand_string machdep.cpu.core_count vm.swapusage kern.boottime 2>/dev/null
    m vm_stat
    vm_stat 2>/dev/null
  else
    m sysctl
    sysctl hw.physmem hw.pagesize hw.ncpu hw.model vm.stats.vm.v_page_count \
      vm.stats.vm.v_free_count kern.boottime 2>/dev/null
  fi
  m mount
  mount 2>/dev/null
  m df
  df -P -k 2>/dev/null
else
  m meminfo
  c /proc/meminfo
  m uptime
  c /proc/uptime
  m cpuinfo
  grep -E '^(processor|vendor_id|model name|physical id|core id|cpu cores|siblings|Processor|cpu|Vendor)[[:space:]]*:' /proc/cpuinfo 2>/dev/null
  m nproc
  nproc 2>/dev/null || getconf _NPROCESSORS_ONLN 2>/dev/null
  m mounts
  c /proc/mounts
  m statfs
  set --
  while read -r d p t r; do
    case $t in none | proc | sysfs | devpts | cgroup | cgroup2 | mqueue | debugfs | tracefs | securityfs | pstore | bpf | configfs | fusectl | hugetlbfs | autofs | binfmt_misc | rpc_pipefs | nsfs | efivarfs | selinuxfs | devtmpfs) continue ;; esac
    case $d in /* | *:/* | \\*) ;; *) case $t in tmpfs | overlay | zfs) ;; *) continue ;; esac ;; esac
    case $t in
    nfs* | cifs | smb* | 9p | ceph | glusterfs | fuse.*) e timeout && timeout 5 stat -f -c '%S %s %b %f %a %c %d %n' "$p" 2>/dev/null ;;
    *) set -- "$@" "$p" ;;
    esac
  done </proc/mounts 2>/dev/null
  [ $# -gt 0 ] && stat -f -c '%S %s %b %f %a %c %d %n' "$@" 2>/dev/null
  m virt
  for f in product_name sys_vendor product_family bios_vendor; do
    printf '%s=' "$f"
    c "/sys/devices/virtual/dmi/id/$f" || echo
  done
  printf 'container=' && { c /run/systemd/container || echo; }
  [ -r /proc/modules ] && while read -r n r; do case $n in kvm | vboxdrv | virtio) printf 'module=%s\n' "$n" ;; esac; done </proc/modules
  m cgroup1
  c /proc/1/cgroup
  m environ1
  cat /proc/1/environ 2>/dev/null
fi
if e ip; then
  m ip-route4
  ip -4 route get 1.1.1.1 2>/dev/null
  m ip-route6
  ip -6 route get 2606:4700:4700::1111 2>/dev/null
  m ip-addr
  ip addr show 2>/dev/null
elif [ -n "$bsd" ]; then
  m route4
  route -n get default 2>/dev/null
  m route6
  route -n get -inet6 default 2>/dev/null
  m ifconfig
  ifconfig -a 2>/dev/null
else
  m proc-net-route
  c /proc/net/route
fi
m end
