# Shared helpers for the kselftest-style guest scripts (busybox sh). Source it.
# TAP 13 output; exit codes as kselftest: 0 pass, 1 fail, 4 skip.
# Debian's static busybox runs its own applets before PATH: use iproute2's ip and tc.
ip() { /usr/sbin/ip "$@"; }
tc() { /usr/sbin/tc "$@"; }

KSFT_PASS=0
KSFT_FAIL=1
KSFT_SKIP=4
_n=0
_failed=0

# _at: seconds since boot, without a fork (for the timeline ktap_finish prints).
_at() { read -r _up _ </proc/uptime; _up=${_up%.*}; }
_at
_t0=$_up _times=
ktap_plan() { echo "TAP version 13"; echo "1..$1"; }
_case() { _n=$((_n + 1)); _at; _times="$_times $_n:$((_up - _t0))"; }
ok() { _case; echo "ok $_n $*"; }
not_ok() { _case; _failed=$((_failed + 1)); echo "not ok $_n $*"; }
skip() { _case; echo "ok $_n $1 # SKIP $2"; }
diag() { echo "# $*"; }
# check "description" command...: one TAP line from the command's exit status.
check() {
	local desc=$1; shift
	if "$@"; then ok "$desc"; else not_ok "$desc"; fi
}
# check_timed "description" command...: like check, but a verdict that needs the relay to
# keep pace with a stream is only given on the normal kernel; on the debug kernel the
# scenario still runs (for lockdep, KASAN, kmemleak) and the case is skipped.
check_timed() {
	if [ -n "$SLOW" ]; then skip "$1" "needs real-time pace; the debug kernel is many times slower"
	else check "$@"; fi
}
# Ends the script; first, where its time went: case:seconds since the script started.
ktap_finish() {
	diag "timeline (case:s):$_times"
	[ $_failed -eq 0 ] && exit $KSFT_PASS || exit $KSFT_FAIL
}

# Three hosts, as in the paper: the media source, the relay box, the subscribers,
# each its own network namespace, joined by veth. Addresses are RFC 2544 test addresses
# that exist only inside this guest.
SRC_IP=198.18.1.1
RELAY_SRC_IP=198.18.1.2
RELAY_SUB_IP=198.18.2.1
SUB_IP=198.18.2.2

topology_up() {
	ip netns add src && ip netns add relay && ip netns add sub || return 1
	ip link add s0 netns src type veth peer name r0 netns relay || return 1
	ip link add r1 netns relay type veth peer name c0 netns sub || return 1
	ip -n src addr add $SRC_IP/24 dev s0
	ip -n relay addr add $RELAY_SRC_IP/24 dev r0
	ip -n relay addr add $RELAY_SUB_IP/24 dev r1
	ip -n sub addr add $SUB_IP/24 dev c0
	local ns
	for ns in src relay sub; do ip -n $ns link set lo up; done
	ip -n src link set s0 up && ip -n relay link set r0 up && ip -n relay link set r1 up && ip -n sub link set c0 up
	ip -n src route add default via $RELAY_SRC_IP
	ip -n sub route add default via $RELAY_SUB_IP
	# Neighbours resolved once and for all: packets that wait for ARP are flushed later from
	# whichever CPU gets the reply, so the first packets of a flow could overtake each other.
	neigh_permanent src s0 $RELAY_SRC_IP relay r0
	neigh_permanent relay r0 $SRC_IP src s0
	neigh_permanent relay r1 $SUB_IP sub c0
	neigh_permanent sub c0 $RELAY_SUB_IP relay r1
	ip netns exec relay sysctl -qw net.ipv4.ip_forward=1
}

# IPv6 on the same links, opt-in (after topology_up): fd00:1::/64 between src and relay,
# fd00:2::/64 between relay and sub (ULA test prefixes that exist only inside this guest),
# the relay forwarding, default routes as for IPv4, permanent neighbours. The addresses skip
# duplicate address detection (nodad), so they are usable at once; the function still waits
# (up to 5 s) until no address of the four is tentative.
SRC_IP6=fd00:1::1
RELAY_SRC_IP6=fd00:1::2
RELAY_SUB_IP6=fd00:2::1
SUB_IP6=fd00:2::2
topology_v6_up() {
	local ns
	for ns in src relay sub; do ip netns exec $ns sysctl -qw net.ipv6.conf.all.disable_ipv6=0; done
	ip -n src addr add $SRC_IP6/64 dev s0 nodad &&
		ip -n relay addr add $RELAY_SRC_IP6/64 dev r0 nodad &&
		ip -n relay addr add $RELAY_SUB_IP6/64 dev r1 nodad &&
		ip -n sub addr add $SUB_IP6/64 dev c0 nodad || return 1
	ip -n src -6 route add default via $RELAY_SRC_IP6 dev s0 || return 1
	ip -n sub -6 route add default via $RELAY_SUB_IP6 dev c0 || return 1
	neigh_permanent src s0 $RELAY_SRC_IP6 relay r0
	neigh_permanent relay r0 $SRC_IP6 src s0
	neigh_permanent relay r1 $SUB_IP6 sub c0
	neigh_permanent sub c0 $RELAY_SUB_IP6 relay r1
	ip netns exec relay sysctl -qw net.ipv6.conf.all.forwarding=1
	local i=0
	while [ $i -lt 50 ]; do
		[ -z "$(for ns in src relay sub; do ip -n $ns -6 addr show tentative; done)" ] && return 0
		sleep 0.1
		i=$((i + 1))
	done
	diag "IPv6 addresses still tentative after 5 s"
	return 1
}

# On the debug kernel (KASAN, lockdep: many times slower under TCG) the tools wait longer
# before they call a stream idle, and scripts may carry less ($SLOW is set there).
SLOW= WAIT_CLIENT= WAIT_RELAY="--duration 60"
if [ "${OMSS_KERNEL:-normal}" = debug ]; then
	SLOW=1 WAIT_CLIENT="--idle-ms 30000 --timeout 300" WAIT_RELAY="--duration 300 --drain-timeout 60"
fi

# neigh_permanent NS DEV IP PEER_NS PEER_DEV: in NS, IP (on PEER_NS's PEER_DEV) is reached
# through DEV with a permanent neighbour entry.
neigh_permanent() {
	local mac
	mac=$(ip -n "$4" link show "$5" | sed -n 's/.*link\/ether \([0-9a-f:]*\).*/\1/p')
	ip -n "$1" neigh replace "$3" lladdr "$mac" dev "$2" nud permanent
}

in_src() { ip netns exec src "$@"; }
in_relay() { ip netns exec relay "$@"; }
in_sub() { ip netns exec sub "$@"; }

# Reads a JSON number field (first match) from a file: json_num FILE KEY
json_num() { sed -n "s/.*\"$2\": *\([0-9.eE+-]*\).*/\1/p" "$1" | head -1; }

# relay_run PROTO MODE N COUNT [omssctl relay options...]
# Streams COUNT frames (1400 B, $RATE kbit/s, default 1000) from src through an OMSS session
# on relay to N sinks, and $CLIENT_N (default N) subscribers on sub check them with
# $CLIENT_CHECKS (default: no loss, no errors, all COUNT frames) plus $CLIENT_ARGS.
# $RELAY_CMD replaces `omssctl relay --mode MODE` (another relay with the same command line).
# Leaves the client's JSON in $R/client.json, the relay's in $R/relay.json and exit codes in
# $client_rc and $relay_rc.
R=/tmp/relay
relay_run() {
	local proto=$1 mode=$2 n=$3 count=$4
	shift 4
	local cn=${CLIENT_N:-$n} rate=${RATE:-1000} cmd=${RELAY_CMD:-omssctl relay --mode $mode}
	local checks=${CLIENT_CHECKS---max-loss 0 --max-errors 0 --min-packets $count}
	rm -rf $R && mkdir -p $R
	if [ "$proto" = udp ]; then
		in_sub omss-client --proto udp --bind $SUB_IP:7000 -n "$cn" --rcvbuf 4194304 \
			$checks $WAIT_CLIENT $CLIENT_ARGS --json >$R/client.json 2>$R/client.err &
		local cpid=$!
		sleep 0.5
		in_relay $cmd --source-udp $RELAY_SRC_IP:5000 --sink-udp $SUB_IP:7000 -n "$n" \
			--idle-exit 1.5 $WAIT_RELAY --json "$@" >$R/relay.json 2>$R/relay.err &
		local rpid=$!
		relay_ready $R/relay.err
		in_src omss-server --proto udp --to $RELAY_SRC_IP:5000 --count "$count" --rate "$rate" 2>$R/server.err
	else
		in_src omss-server --proto tcp --listen $SRC_IP:6000 --wait-clients 1 --count "$count" --rate "$rate" \
			2>$R/server.err &
		local spid=$!
		in_relay $cmd --source-tcp $SRC_IP:6000 --sink-tcp-listen $RELAY_SUB_IP:7000 -n "$n" \
			$WAIT_RELAY --json "$@" >$R/relay.json 2>$R/relay.err &
		local rpid=$!
		in_sub omss-client --proto tcp --connect $RELAY_SUB_IP:7000 -n "$cn" \
			$checks $WAIT_CLIENT $CLIENT_ARGS --json >$R/client.json 2>$R/client.err &
		local cpid=$!
		wait $spid
	fi
	wait $cpid; client_rc=$?
	wait $rpid; relay_rc=$?
	if [ $client_rc -ne 0 ] || [ $relay_rc -ne 0 ]; then
		diag "relay_run $proto $mode n=$n: client rc=$client_rc relay rc=$relay_rc"
		tail -3 $R/client.err $R/relay.err $R/server.err | sed 's/^/#   /'
		# Which subscribers saw which integrity errors (the summary only gives the total).
		grep -o '"\(bad_checksum\|reordered\|duplicates\|stream_corrupt\|wrong_stream\)": *[1-9][0-9]*' \
			$R/client.json 2>/dev/null | sort | uniq -c | sed 's/^/#   client error kinds: /'
	fi
}

# Waits (up to 30 s) until the omssctl relay writing stderr to $1 has set its source.
relay_ready() {
	local i=0
	while [ $i -lt 300 ] && ! grep -qE 'relaying|^ready' "$1" 2>/dev/null; do
		sleep 0.1
		i=$((i + 1))
	done
}

# Session counters from the relay's final JSON.
relay_num() { sed -n "s/.*\"$1\": *\([0-9.eE+-]*\).*/\1/p" $R/relay.json | head -1; }
# awk comparison: fcmp "1.2 <= 1.5"
fcmp() { awk "BEGIN { exit !($1) }"; }

# Sinks of the relay's final JSON in a given state: sinks_in STATE
sinks_in() { grep -o '"state":"[a-z]*"' $R/relay.json | tail -n +2 | grep -c "\"$1\""; }
# Per-subscriber packet counts from the client's JSON, in subscriber order.
sub_packets() { grep '"packets"' $R/client.json | tail -n +2 | sed 's/[^0-9]//g'; }

# A module-wide counter from `omssctl status --json`: engine_num KEY
engine_num() { omssctl status --json | sed -n "s/.*\"$1\": *\([0-9]*\).*/\1/p"; }
# Waits up to 5 s for every session, entry and page to be freed; prints what is left.
no_leaks() {
	local i=0 left
	while [ $i -lt 50 ]; do
		left=$(omssctl status --json)
		case $left in *'"entries_live":0,'*'"pages_live":0,'*'"sessions":0,'*) return 0 ;; esac
		sleep 0.1
		i=$((i + 1))
	done
	diag "still alive: $left"
	return 1
}

# --- Added for omss_faults.sh, omss_netem.sh and omss_lifecycle.sh ---

# ns_bg NS CMD...: runs CMD in namespace NS in the background and leaves its pid in $BG_PID.
# The command itself, not a subshell, gets that pid (ip netns exec execs CMD), so it can be
# signalled (a shell function started with & would leave $! to a subshell).
ns_bg() {
	local ns=$1
	shift
	/usr/sbin/ip netns exec "$ns" "$@" &
	BG_PID=$!
}

# wait_or_kill PID SECS: waits up to SECS for PID to exit, else sends it SIGTERM (then
# SIGKILL a second later); returns its exit status (143/137 when it had to be killed).
# exits_within PID SECS: whether PID ends within SECS (it is left running otherwise).
exits_within() {
	local left=$(($2 * 10))
	while [ $left -gt 0 ] && kill -0 "$1" 2>/dev/null; do
		sleep 0.1
		left=$((left - 1))
	done
	! kill -0 "$1" 2>/dev/null
}
wait_or_kill() {
	local pid=$1 left=$(($2 * 10))
	while [ $left -gt 0 ] && kill -0 "$pid" 2>/dev/null; do
		sleep 0.1
		left=$((left - 1))
	done
	if kill -0 "$pid" 2>/dev/null; then
		diag "pid $pid still running after $2 s: terminating it"
		kill -TERM "$pid" 2>/dev/null
		sleep 1
		kill -KILL "$pid" 2>/dev/null
	fi
	wait "$pid"
}

# json_has FILE KEY: whether FILE has a "KEY": field anywhere.
json_has() { grep -q "\"$2\": *[0-9]" "$1"; }
# json_sum FILE KEY: the sum of every "KEY": N field in FILE (0 if none). "errors" does not
# match "rx_errors".
json_sum() { grep -o "\"$2\": *[0-9]*" "$1" | sed 's/.*: *//' | awk '{ s += $1 } END { print s + 0 }'; }

# The pids of the module's worker threads (kernel threads named omss/0, omss/1, ...).
omss_worker_pids() {
	local f c
	for f in /proc/[0-9]*/comm; do
		{ read -r c <"$f"; } 2>/dev/null || continue
		case $c in omss/[0-9]*) f=${f#/proc/}; echo "${f%/comm}" ;; esac
	done
}

# wait_for_text FILE TEXT [SECS]: waits up to SECS (default 30) for TEXT to appear in FILE,
# e.g. omss-client's "ready" (its sockets are bound or connected) or omssctl's "relaying".
wait_for_text() {
	local i=0
	while [ $i -lt $((${3:-30} * 10)) ]; do
		grep -q "$2" "$1" 2>/dev/null && return 0
		sleep 0.1
		i=$((i + 1))
	done
	diag "no \"$2\" in $1 after ${3:-30} s"
	return 1
}

# Waits up to 20 s for a stream to reach the relay: some session's source holds payload
# pages (module-wide pages_live > 0).
wait_streaming() {
	local i=0
	while [ $i -lt 200 ]; do
		[ "$(engine_num pages_live)" -gt 0 ] 2>/dev/null && return 0
		sleep 0.1
		i=$((i + 1))
	done
	diag "the stream did not start within 20 s"
	return 1
}

# dmesg_bad [FROM]: what the guest's /init would flag in dmesg, plus hung-task reports, from
# line FROM (default 1) on; prints those lines.
dmesg_bad() {
	dmesg | tail -n +"${1:-1}" | grep -E 'WARNING:|BUG:|Oops|Call Trace|general protection|kernel BUG|refcount_t:|list_(add|del) corruption|UBSAN|KASAN|leak|blocked for more than|hung_task'
}

# snmp_num PROTO FIELD: a counter of /proc/net/snmp (of the caller's network namespace),
# e.g. snmp_num Icmp OutDestUnreachs.
snmp_num() {
	awk -v p="$1:" -v k="$2" '$1 == p { if (!h) { h = 1; for (i = 2; i <= NF; i++) if ($i == k) c = i; next } if (c) print $c; exit }' /proc/net/snmp
}

# net_snapshot: where the relay's packets are (printed as diag lines): the veth pair's
# counters (with -s -s: a frame for another MAC is counted as "otherhost"), the
# neighbours, the IP counters (header, address and discard drops), each CPU's backlog
# (softnet_stat: processed, dropped, squeezed, in hex), the UDP sockets' queues and drops
# on both sides, and the UDP counters of both namespaces.
net_snapshot() {
	local ns
	for ns in relay sub; do
		ip -n $ns -s -s link | grep -A9 -E '^[0-9]+: (r1|c0)' | tr -s ' \n' ' ' | sed "s/^/# $ns: /"
		echo
		diag "$ns neighbours: $(ip -n $ns neigh | tr -s ' \n' ' ')"
		diag "$ns Ip: $(ip netns exec $ns sh -c 'grep "^Ip:" /proc/net/snmp | tr -s " \n" " "')"
		diag "$ns IpExt: $(ip netns exec $ns sh -c 'grep "^IpExt:" /proc/net/netstat | tr -s " \n" " "')"
		diag "$ns udp sockets (local rem st tx_queue:rx_queue ... drops):"
		ip netns exec $ns awk 'NR > 1 { print "#   " $2, $3, $4, $5, $NF }' /proc/net/udp | head -20
		diag "$ns Udp: $(ip netns exec $ns sh -c 'grep "^Udp:" /proc/net/snmp | tail -1')"
	done
	# Columns: processed, dropped, time_squeeze, then (field 12) the packets waiting in the
	# CPU's backlog: a backlog that holds packets across two reads is stuck.
	diag "softnet_stat per CPU [processed dropped squeezed backlog]:" \
		"$(awk '{ printf "[%s %s %s %s] ", $1, $2, $3, $12 }' /proc/net/softnet_stat)"
	diag "NET_RX softirqs per CPU: $(grep NET_RX /proc/softirqs | tr -s ' ')"
	local p
	for p in /proc/[0-9]*/comm; do
		case $(cat "$p" 2>/dev/null) in ksoftirqd/*)
			diag "$(cat "$p"): $(cut -d' ' -f3,14,15 "${p%comm}stat") (state, utime, stime)" ;;
		esac
	done
	diag "relay qdiscs: $(ip netns exec relay tc -s qdisc 2>&1 | tr -s ' \n' ' ')"
}
