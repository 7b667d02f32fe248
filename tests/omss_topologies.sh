#!/bin/sh
# Topologies beyond one IPv4 hop (issue 10, items 7 to 9), each stream checked frame by frame
# by omss-client (sequence, checksum, END; TCP: the byte stream), so every subscriber must get
# every frame, intact, in order, once:
#  a. IPv6 end to end: omss-server sends over IPv6 to the relay's UDP source; one session
#     relays to IPv6 UDP and IPv6 TCP subscribers.
#  b. Mixed families in one session: an IPv6 source, IPv4 and IPv6 UDP sinks and IPv4 TCP
#     sinks (`omssctl relay --sink-udp` given twice, with /K counts).
#  c. Multicast sources: omss-server sends to 239.1.2.3 (out of s0, IP_MULTICAST_IF) and to
#     ff15::1:2:3 (IPV6_MULTICAST_IF s0); the relay joins the group on r0 (`--join-if`) and
#     relays to unicast subscribers. Nothing routes multicast here: r0 gets the group's
#     traffic only because the source socket joined it there.
#  d. Mixed transports: UDP in, TCP out; TCP in, UDP out (--record-size 188 --datagram-size
#     1316 with 1316-byte frames: each datagram is exactly one frame).
#  e. A relay tree over four namespaces: omss-server (src) -> relay A (relay) -> relay B
#     (relay2) -> relay C (relay3), a sink of each relay being the next one's source; each
#     relay also has leaves one veth away. Byte-exact at every level's leaves; the per-hop
#     latency (leaf medians) is printed as diag lines.
# Then no session, entry or page is left, and rmmod.
. /omss/tests/lib.sh
ktap_plan 11
insmod /omss/omss.ko || { echo "Bail out! insmod failed"; exit $KSFT_FAIL; }
topology_up || { echo "Bail out! topology setup failed"; exit $KSFT_FAIL; }
T=/tmp/topologies
rm -rf $T && mkdir -p $T

# N subscribers per group; COUNT frames (END included) at PPS frames/s of SIZE bytes.
N=4 COUNT=300 PPS=100 SIZE=1000 CT=40
[ -n "$SLOW" ] && COUNT=100 PPS=25 CT=300
WAIT=$((COUNT / PPS + 60))
[ -n "$SLOW" ] && WAIT=$((COUNT / PPS + 300))
CHECKS="--expect-count $COUNT --max-loss 0 --max-errors 0 --min-packets $COUNT --timeout $CT $WAIT_CLIENT"

# client NAME NS omss-client-args...: a checking subscriber group in the background; its pid
# goes to $BG_PID, its report to $T/NAME.json. A UDP group is bound ("ready") on return.
client() {
	local name=$1 ns=$2
	shift 2
	ns_bg $ns omss-client "$@" $CHECKS --connect-timeout 20 --json >$T/$name.json 2>$T/$name.err
	case " $* " in *" --proto udp "*) wait_for_text $T/$name.err ready 20 ;; esac
}
# relay NAME NS omssctl-relay-args...: an `omssctl relay` in the background ($BG_PID).
relay() {
	local name=$1 ns=$2
	shift 2
	ns_bg $ns omssctl relay "$@" $WAIT_RELAY --json >$T/$name.json 2>$T/$name.err
}
# finish NAME PID: waits for a client or relay; its exit status goes to $T/NAME.rc.
finish() {
	wait_or_kill $2 $WAIT
	echo $? >$T/$1.rc
}
# got_all NAME K: client NAME exited 0 and its report shows K subscribers that each got all
# $COUNT frames, with nothing lost and no integrity error (checksum, order, duplicate,
# corrupt byte stream).
got_all() {
	local f=$T/$1.json full
	full=$(grep '"packets"' $f 2>/dev/null | tail -n +2 | sed 's/[^0-9]//g' | grep -cx "$COUNT")
	diag "$1: rc $(cat $T/$1.rc) subscribers with all $COUNT frames $full/$2," \
		"lost $(json_num $f lost) errors $(json_num $f errors)," \
		"latency median $(json_num $f latency_median_us) us p99 $(json_num $f latency_p99_us) us"
	[ "$(cat $T/$1.rc)" = 0 ] && [ "$full" = "$2" ] &&
		[ "$(json_num $f lost)" = 0 ] && [ "$(json_num $f errors)" = 0 ]
}
# relay_done NAME: relay NAME exited 0 (on a problem: its last lines, as diag).
relay_done() {
	[ "$(cat $T/$1.rc)" = 0 ] && return 0
	diag "$1: rc $(cat $T/$1.rc): $(tail -3 $T/$1.err | tr '\n' ' ')"
	return 1
}
# all_ok CHECK...: every CHECK (a command line without arguments' spaces) succeeds; runs all
# of them, for their diag lines.
all_ok() {
	local c r=0
	for c in "$@"; do $c || r=1; done
	return $r
}

topology_v6_up || { echo "Bail out! IPv6 topology setup failed"; exit $KSFT_FAIL; }
diag "relay: $(ip -n relay -6 addr show scope global | grep inet6 | tr -s ' \n' ' ')"

# a. IPv6 end to end: UDP in; IPv6 UDP and IPv6 TCP out of one session.
client a-udp sub --proto udp --bind "[$SUB_IP6]:7000" -n $N --rcvbuf 4194304
a_udp=$BG_PID
relay a-relay relay --source-udp "[$RELAY_SRC_IP6]:5000" --sink-tcp-listen "[$RELAY_SUB_IP6]:7100" \
	--sink-udp "[$SUB_IP6]:7000" -n $N --idle-exit 1.5
a_relay=$BG_PID
# A UDP source's END comes 3 times; a TCP subscriber sees all of them.
client a-tcp sub --proto tcp --connect "[$RELAY_SUB_IP6]:7100" -n $N --end-copies 3
a_tcp=$BG_PID
wait_for_text $T/a-relay.err relaying 60
in_src omss-server --proto udp --to "[$RELAY_SRC_IP6]:5000" --count $COUNT --pps $PPS --size $SIZE \
	2>$T/a-server.err
finish a-udp $a_udp
finish a-tcp $a_tcp
finish a-relay $a_relay
check "a. IPv6: [$RELAY_SRC_IP6]:5000 -> $N IPv6 UDP subscribers, all $COUNT frames" \
	all_ok "relay_done a-relay" "got_all a-udp $N"
check "a. IPv6: same session -> $N IPv6 TCP subscribers, all $COUNT frames" got_all a-tcp $N

# b. One session, an IPv6 source, IPv4 and IPv6 UDP sinks and IPv4 TCP sinks.
client b-udp4 sub --proto udp --bind $SUB_IP:7200 -n $N --rcvbuf 4194304
b_udp4=$BG_PID
client b-udp6 sub --proto udp --bind "[$SUB_IP6]:7300" -n 2 --rcvbuf 4194304
b_udp6=$BG_PID
relay b-relay relay --source-udp "[$RELAY_SRC_IP6]:5100" --sink-tcp-listen $RELAY_SUB_IP:7400 \
	--sink-udp $SUB_IP:7200 --sink-udp "[$SUB_IP6]:7300/2" -n $N --idle-exit 1.5
b_relay=$BG_PID
client b-tcp4 sub --proto tcp --connect $RELAY_SUB_IP:7400 -n $N --end-copies 3
b_tcp4=$BG_PID
wait_for_text $T/b-relay.err relaying 60
diag "b-relay: $(grep relaying $T/b-relay.err)"
in_src omss-server --proto udp --to "[$RELAY_SRC_IP6]:5100" --count $COUNT --pps $PPS --size $SIZE \
	2>$T/b-server.err
finish b-udp4 $b_udp4
finish b-udp6 $b_udp6
finish b-tcp4 $b_tcp4
finish b-relay $b_relay
check "b. mixed families: IPv6 source -> $N IPv4 UDP + 2 IPv6 UDP + $N IPv4 TCP sinks in one session" \
	all_ok "relay_done b-relay" "got_all b-udp4 $N" "got_all b-udp6 2" "got_all b-tcp4 $N"

# c. Multicast sources. The relay's socket joins the group on r0 (by address, then by name);
# the server picks s0 for the group's packets (by address, then by name).
MC4=239.1.2.3 MC6=ff15::1:2:3
client c-mc4 sub --proto udp --bind $SUB_IP:7500 -n $N --rcvbuf 4194304
c_mc4=$BG_PID
relay c-relay4 relay --source-udp $MC4:5200 --join-if $RELAY_SRC_IP --sink-udp $SUB_IP:7500 -n $N \
	--idle-exit 1.5
c_relay4=$BG_PID
wait_for_text $T/c-relay4.err relaying 60
diag "c-relay4: $(grep joined $T/c-relay4.err); r0 groups: $(ip -n relay maddr show dev r0 | grep -c $MC4)"
in_src omss-server --proto udp --to $MC4:5200 --multicast-if $SRC_IP --count $COUNT --pps $PPS \
	--size $SIZE 2>$T/c-server4.err
finish c-mc4 $c_mc4
finish c-relay4 $c_relay4
check "c. IPv4 multicast source $MC4:5200 joined on r0 -> $N subscribers, all $COUNT frames" \
	all_ok "relay_done c-relay4" "got_all c-mc4 $N"
client c-mc6 sub --proto udp --bind "[$SUB_IP6]:7600" -n $N --rcvbuf 4194304
c_mc6=$BG_PID
relay c-relay6 relay --source-udp "[$MC6]:5300" --join-if r0 --sink-udp "[$SUB_IP6]:7600" -n $N \
	--idle-exit 1.5
c_relay6=$BG_PID
wait_for_text $T/c-relay6.err relaying 60
in_src omss-server --proto udp --to "[$MC6]:5300" --multicast-if s0 --count $COUNT --pps $PPS \
	--size $SIZE 2>$T/c-server6.err
finish c-mc6 $c_mc6
finish c-relay6 $c_relay6
check "c. IPv6 multicast source [$MC6]:5300 joined on r0 -> $N IPv6 subscribers, all $COUNT frames" \
	all_ok "relay_done c-relay6" "got_all c-mc6 $N"
diag "relay multicast routes (none expected): $(ip netns exec relay cat /proc/net/ip_mr_cache 2>/dev/null | tail -n +2 | wc -l)"

# d. Mixed transports. UDP in, TCP out:
relay d-relay1 relay --source-udp $RELAY_SRC_IP:5400 --sink-tcp-listen $RELAY_SUB_IP:7700 -n $N \
	--idle-exit 1.5
d_relay1=$BG_PID
client d-tcp sub --proto tcp --connect $RELAY_SUB_IP:7700 -n $N --end-copies 3
d_tcp=$BG_PID
wait_for_text $T/d-relay1.err relaying 60
in_src omss-server --proto udp --to $RELAY_SRC_IP:5400 --count $COUNT --pps $PPS --size $SIZE \
	2>$T/d-server1.err
finish d-tcp $d_tcp
finish d-relay1 $d_relay1
check "d. UDP in -> TCP out: $N TCP subscribers, all $COUNT frames" \
	all_ok "relay_done d-relay1" "got_all d-tcp $N"
# TCP in, UDP out: 1316-byte frames (7 MPEG-TS packets) on TCP; every entry, so every
# datagram, is 1316 bytes: exactly one frame, which the UDP subscribers verify.
DGRAM=1316
client d-udp sub --proto udp --bind $SUB_IP:7800 -n $N --rcvbuf 4194304
d_udp=$BG_PID
ns_bg src omss-server --proto tcp --listen $SRC_IP:6000 --wait-clients 1 --count $COUNT --pps $PPS \
	--size 1316 2>$T/d-server2.err
d_server2=$BG_PID
relay d-relay2 relay --source-tcp $SRC_IP:6000 --record-size 188 --datagram-size $DGRAM \
	--sink-udp $SUB_IP:7800 -n $N
d_relay2=$BG_PID
finish d-server2 $d_server2
finish d-udp $d_udp
finish d-relay2 $d_relay2
check "d. TCP in -> UDP out (--datagram-size $DGRAM): $N UDP subscribers verify every frame" \
	all_ok "relay_done d-relay2" "got_all d-udp $N"

# e. The tree: two more namespaces, relay2 (B) and relay3 (C), on their own links.
#   relay r2 198.18.3.1 -- 198.18.3.2 b0 relay2 b1 198.18.4.1 -- 198.18.4.2 x0 relay3
#   relay3 x1 198.18.5.1 -- 198.18.5.2 d0 sub
# Leaves: A's in sub (via r1), B's in relay3 (via b1), C's in sub (via x1).
tree_up() {
	ip netns add relay2 && ip netns add relay3 || return 1
	ip link add r2 netns relay type veth peer name b0 netns relay2 &&
		ip link add b1 netns relay2 type veth peer name x0 netns relay3 &&
		ip link add x1 netns relay3 type veth peer name d0 netns sub || return 1
	ip -n relay addr add 198.18.3.1/24 dev r2 && ip -n relay2 addr add 198.18.3.2/24 dev b0 &&
		ip -n relay2 addr add 198.18.4.1/24 dev b1 && ip -n relay3 addr add 198.18.4.2/24 dev x0 &&
		ip -n relay3 addr add 198.18.5.1/24 dev x1 && ip -n sub addr add 198.18.5.2/24 dev d0 || return 1
	local l
	for l in "relay r2" "relay2 b0" "relay2 b1" "relay3 x0" "relay3 x1" "sub d0" "relay2 lo" "relay3 lo"; do
		set -- $l
		ip -n $1 link set $2 up || return 1
	done
	neigh_permanent relay r2 198.18.3.2 relay2 b0
	neigh_permanent relay2 b1 198.18.4.2 relay3 x0
	neigh_permanent relay3 x1 198.18.5.2 sub d0
}
tree_down() { ip netns del relay3; ip netns del relay2; }
if tree_up; then
	client e-leafA sub --proto udp --bind $SUB_IP:8000 -n $N --rcvbuf 4194304
	e_leafA=$BG_PID
	client e-leafB relay3 --proto udp --bind 198.18.4.2:8100 -n $N --rcvbuf 4194304
	e_leafB=$BG_PID
	client e-leafC sub --proto udp --bind 198.18.5.2:8200 -n $N --rcvbuf 4194304
	e_leafC=$BG_PID
	# From the leaves up: each relay's source is bound before its upstream sends.
	relay e-relayC relay3 --source-udp 198.18.4.2:6300 --sink-udp 198.18.5.2:8200 -n $N --idle-exit 1.5
	e_relayC=$BG_PID
	wait_for_text $T/e-relayC.err relaying 60
	relay e-relayB relay2 --source-udp 198.18.3.2:6200 --sink-udp 198.18.4.2:8100/$N \
		--sink-udp 198.18.4.2:6300/1 --idle-exit 1.5
	e_relayB=$BG_PID
	wait_for_text $T/e-relayB.err relaying 60
	relay e-relayA relay --source-udp $RELAY_SRC_IP:6100 --sink-udp $SUB_IP:8000/$N \
		--sink-udp 198.18.3.2:6200/1 --idle-exit 1.5
	e_relayA=$BG_PID
	wait_for_text $T/e-relayA.err relaying 60
	in_src omss-server --proto udp --to $RELAY_SRC_IP:6100 --count $COUNT --pps $PPS --size $SIZE \
		2>$T/e-server.err
	for x in leafA:$e_leafA leafB:$e_leafB leafC:$e_leafC relayA:$e_relayA relayB:$e_relayB \
		relayC:$e_relayC; do
		finish e-${x%:*} ${x#*:}
	done
	check "e. tree A -> B -> C: every relay's session ended cleanly" \
		all_ok "relay_done e-relayA" "relay_done e-relayB" "relay_done e-relayC"
	check "e. tree: byte-exact at the leaves of all 3 levels ($N each, $COUNT frames)" \
		all_ok "got_all e-leafA $N" "got_all e-leafB $N" "got_all e-leafC $N"
	la=$(json_num $T/e-leafA.json latency_median_us)
	lb=$(json_num $T/e-leafB.json latency_median_us)
	lc=$(json_num $T/e-leafC.json latency_median_us)
	diag "tree latency medians (us): leaves of A $la, of B $lb, of C $lc"
	diag "per hop (us): server -> A leaf $la; A -> B adds $(awk "BEGIN { print ${lb:-0} - ${la:-0} }");" \
		"B -> C adds $(awk "BEGIN { print ${lc:-0} - ${lb:-0} }")"
else
	diag "tree topology setup failed"
	not_ok "e. tree A -> B -> C: every relay's session ended cleanly"
	not_ok "e. tree: byte-exact at the leaves of all 3 levels"
fi
tree_down
diag "at the end: $(omssctl status --json)"
check "no session, entry or page is left" no_leaks
check "rmmod omss" sh -c "rmmod omss && ! grep -q '^omss ' /proc/modules"
ktap_finish
