# Sourced by tools/bench/run.sh and profile.sh: the virtual link between the two guests.
# shellcheck shell=bash
#
# Preferred: two host taps on a private bridge, with vnet headers, so that the guests'
# virtio NICs offer scatter-gather and checksum offload, as the paper's NICs did. Without
# them the guest stack cannot send spliced pages: MSG_SPLICE_PAGES falls back to a copy
# and payload sharing cannot show. Fallback (no /dev/net/tun or no CAP_NET_ADMIN): QEMU's
# socket netdev over 127.0.0.1, which has no vnet headers, hence no SG.
LINK_KIND=socket LINK_BR= LINK_TAPS=()

link_up() {
	local br=omssbr$$ a=omss$$a b=omss$$b
	if [ "${BENCH_LINK:-tap}" = tap ] && [ -c /dev/net/tun ] &&
		ip link add "$br" type bridge 2>/dev/null; then
		if ip tuntap add dev "$a" mode tap 2>/dev/null && ip tuntap add dev "$b" mode tap 2>/dev/null &&
			ip link set "$a" master "$br" up && ip link set "$b" master "$br" up && ip link set "$br" up &&
			ip link set "$a" txqueuelen 20000 && ip link set "$b" txqueuelen 20000; then
			LINK_KIND=tap LINK_BR=$br LINK_TAPS=("$a" "$b")
			trap link_down EXIT
			return 0
		fi
		ip link del "$a" 2>/dev/null; ip link del "$b" 2>/dev/null; ip link del "$br" 2>/dev/null
	fi
	say "bench: no tap link (needs /dev/net/tun and CAP_NET_ADMIN): using QEMU's socket netdev, whose NIC has no scatter-gather, so payload sharing cannot show"
	LINK_KIND=socket
}

# link_drops: packets the host dropped between the guests (the taps' queues), so far.
link_drops() {
	local t n=0
	for t in "${LINK_TAPS[@]}"; do n=$((n + $(cat /sys/class/net/$t/statistics/tx_dropped))); done
	echo $n
}

link_down() {
	local t
	for t in "${LINK_TAPS[@]}"; do ip link del "$t" 2>/dev/null; done
	[ -n "$LINK_BR" ] && ip link del "$LINK_BR" 2>/dev/null
	LINK_TAPS=() LINK_BR=
}

# link_args SIDE PORT: QEMU arguments of the relay (0) or load (1) guest's NIC.
link_args() {
	local side=$1 port=$2 mac=52:54:00:0e:00:0$(($1 + 1))
	if [ "$LINK_KIND" = tap ]; then
		echo "-netdev tap,id=n0,ifname=${LINK_TAPS[$side]},script=no,downscript=no,vnet_hdr=on,vhost=off -device virtio-net-pci,netdev=n0,mac=$mac"
	elif [ "$side" -eq 0 ]; then
		echo "-netdev socket,id=n0,listen=127.0.0.1:$port -device virtio-net-pci,netdev=n0,mac=$mac"
	else
		echo "-netdev socket,id=n0,connect=127.0.0.1:$port -device virtio-net-pci,netdev=n0,mac=$mac"
	fi
}
