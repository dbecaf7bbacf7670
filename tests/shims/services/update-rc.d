#!/bin/sh
# update-rc.d for fleet hosts: manages /etc/rcN.d links of an /etc/init.d script the way
# Debian's does without insserv (start in 2-5, kill in 0, 1, 6), never calling systemctl.
n=$1; verb=$2
if [ ! -f "/etc/init.d/$n" ] && [ "$verb" != remove ]; then
	echo "update-rc.d: error: initscript does not exist: /etc/init.d/$n" >&2; exit 1
fi
links() { ls /etc/rc[0-6S].d/[SK][0-9][0-9]"$n" 2>/dev/null; }
case $verb in
defaults)
	[ -n "$(links)" ] && exit 0
	for l in 2 3 4 5; do mkdir -p /etc/rc$l.d; ln -s "../init.d/$n" "/etc/rc$l.d/S01$n"; done
	for l in 0 1 6; do mkdir -p /etc/rc$l.d; ln -s "../init.d/$n" "/etc/rc$l.d/K01$n"; done ;;
enable | disable)
	if [ -z "$(links)" ]; then echo "update-rc.d: error: cannot find a LSB script for $n" >&2; exit 1; fi
	for l in 2 3 4 5; do
		for f in /etc/rc$l.d/[SK][0-9][0-9]"$n"; do [ -L "$f" ] && rm -f "$f"; done
		if [ "$verb" = enable ]; then k=S; else k=K; fi
		ln -s "../init.d/$n" "/etc/rc$l.d/${k}01$n"
	done ;;
remove)
	for f in $(links); do rm -f "$f"; done ;;
*)
	echo "update-rc.d shim: unsupported: update-rc.d $*" >&2; exit 1 ;;
esac
echo "$verb $n" >>/var/lib/fake-sysv/log
