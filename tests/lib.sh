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

ktap_plan() { echo "TAP version 13"; echo "1..$1"; }
ok() { _n=$((_n + 1)); echo "ok $_n $*"; }
not_ok() { _n=$((_n + 1)); _failed=$((_failed + 1)); echo "not ok $_n $*"; }
skip() { _n=$((_n + 1)); echo "ok $_n $1 # SKIP $2"; }
diag() { echo "# $*"; }
# check "description" command...: one TAP line from the command's exit status.
check() {
	local desc=$1; shift
	if "$@"; then ok "$desc"; else not_ok "$desc"; fi
}
ktap_finish() { [ $_failed -eq 0 ] && exit $KSFT_PASS || exit $KSFT_FAIL; }

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
	ip netns exec relay sysctl -qw net.ipv4.ip_forward=1
}

in_src() { ip netns exec src "$@"; }
in_relay() { ip netns exec relay "$@"; }
in_sub() { ip netns exec sub "$@"; }

# Reads a JSON number field (first match) from a file: json_num FILE KEY
json_num() { sed -n "s/.*\"$2\": *\([0-9.eE+-]*\).*/\1/p" "$1" | head -1; }
