#!/bin/sh
# The generic netlink family "omss": `omssctl monitor` (the events group) and `omssctl show`
# (the session and sink dumps). Two monitors run throughout, one in the relay namespace and
# one in the sub namespace, where no session lives (events go to every namespace). Then:
# (A) a TCP relay to 3 subscribers, one of which resets mid-stream: sink-failed with its
# errno, sink-done for the others, session-ended (source EOF), session-destroyed; (B) a
# persistent TCP relay (--persist-ms, --lag-hard-ms) to 2 subscribers, one of which never
# reads: sink-kicked; the relay is killed (session-parked), `omssctl adopt` takes it over
# (session-adopted) and holds it to the end of the stream (sink-done, session-ended,
# session-destroyed). Meanwhile `omssctl show --json` from the sub and src namespaces lists
# the session, its sinks and its growing counters; before and after, no session. Every
# event names the right session (and sink), none is sent twice for one sink; nothing
# leaks; after rmmod, show fails with a clear error.
. /omss/tests/lib.sh
ktap_plan 22
insmod /omss/omss.ko || { echo "Bail out! insmod failed"; exit $KSFT_FAIL; }
topology_up || { echo "Bail out! topology setup failed"; exit $KSFT_FAIL; }
D=/tmp/netlink
rm -rf $D && mkdir -p $D

# Session B: PPS frames/s of 1,000 B for COUNT frames; the stalled sink is kicked once its
# oldest unsent entry is LAG_MS old (the ring holds far more than that).
PPS=400 COUNT=4000 LAG_MS=1500 LONG=120
[ -n "$SLOW" ] && PPS=100 COUNT=6000 LAG_MS=4000 LONG=400

# Event lines are {"event":"NAME","session":N[,"sink":M],"errno":E}.
# ev N EVENT SESSION [SINK]: how many lines of monitor N (file $D/events-N) are that event.
ev() {
	if [ -n "${4:-}" ]; then
		grep -c "^{\"event\":\"$2\",\"session\":$3,\"sink\":$4," "$D/events-$1"
	else
		grep -c "^{\"event\":\"$2\",\"session\":$3," "$D/events-$1"
	fi
}
# wait_event EVENT SESSION [SINK] [SECS]: waits for that event in the relay monitor's output.
wait_event() {
	local i=0 secs=${4:-30}
	while [ $i -lt $((secs * 10)) ]; do
		[ "$(ev relay "$1" "$2" "$3")" -ge 1 ] 2>/dev/null && return 0
		sleep 0.1
		i=$((i + 1))
	done
	diag "no $1 event for session $2 ${3:+sink $3 }after $secs s"
	return 1
}
# show_field FILE KEY: the first session's KEY in an `omssctl show --json` output (its sinks
# left out).
show_field() {
	sed 's/"sinks":\[[^]]*\]//' "$1" | sed -n "s/.*\"sessions\":\[{[^}]*\"$2\":\([a-z0-9\"]*\).*/\1/p"
}
# sink_rows FILE: "ID STATE ERRNO" of every sink object (one with tx_packets) in FILE, an
# `omssctl show --json` or `omssctl relay --json` output.
sink_rows() {
	local o id st er
	grep -o '{[^{}]*"tx_packets"[^{}]*}' "$1" | while read -r o; do
		id=$(echo "$o" | sed -n 's/.*"id":\([0-9]*\).*/\1/p')
		st=$(echo "$o" | sed -n 's/.*"state":"\([a-z]*\)".*/\1/p')
		er=$(echo "$o" | sed -n 's/.*"errno":\([0-9]*\).*/\1/p')
		[ -n "$er" ] || er=$(echo "$o" | sed -n 's/.*"err":\([0-9]*\).*/\1/p')
		echo "$id $st ${er:-0}"
	done
}

# 1. No session yet: show says so, from any namespace.
empty_json=$(in_sub omssctl show --json)
empty_rc=$?
in_src omssctl show >$D/empty.txt
empty_txt_rc=$?
empty_ok() {
	[ $empty_rc = 0 -a "$empty_json" = '{"sessions":[]}' -a $empty_txt_rc = 0 -a "$(wc -l <$D/empty.txt)" = 1 ] &&
		grep -q '^SESSION ' $D/empty.txt
}
check "show with no session: {\"sessions\":[]} (sub), a bare header (src)" empty_ok

# 2. The monitors.
ns_bg relay omssctl monitor --json --timeout $LONG >$D/events-relay 2>$D/monitor-relay.err
mon_relay=$BG_PID
ns_bg sub omssctl monitor --json --timeout $LONG >$D/events-sub 2>$D/monitor-sub.err
mon_sub=$BG_PID
ready=0
wait_for_text $D/monitor-relay.err "omssctl: monitoring" 20 && wait_for_text $D/monitor-sub.err "omssctl: monitoring" 20 &&
	ready=1
check "omssctl monitor subscribed in the relay and sub namespaces" [ $ready = 1 ]

# 3. Session A: a TCP subscriber resets (RST) mid-stream; the others get the whole stream.
RATE=2000 CLIENT_ARGS="--reset-subscriber 1 --reset-after-ms 700" relay_run tcp share 3 300
sa=$(grep -o '"session":{[^}]*}' $R/relay.json | sed -n 's/.*"id":\([0-9]*\).*/\1/p')
sink_rows $R/relay.json >$D/a-sinks
fsink=$(awk '$2 == "failed" { print $1 }' $D/a-sinks)
ferr=$(awk '$2 == "failed" { print $3 }' $D/a-sinks)
done_sinks=$(awk '$2 == "done" { print $1 }' $D/a-sinks)
diag "session A $sa: failed sink $fsink (err $ferr), done sinks $(echo $done_sinks)"
a_ran() {
	[ $relay_rc = 0 -a $client_rc = 0 -a -n "$sa" -a -n "$fsink" -a "$(echo $done_sinks | wc -w)" = 2 ] &&
		echo "$ferr" | grep -qxE '104|32'
}
check "A: the relay ran (rc $relay_rc, client rc $client_rc), one sink failed with ECONNRESET or EPIPE, two done" a_ran
wait_event session-destroyed "$sa" "" 10
diag "events so far: $(tr '\n' ' ' <$D/events-relay)"
check "A: sink-failed for sink $fsink with errno $ferr, once" \
	[ "$(grep -cx "{\"event\":\"sink-failed\",\"session\":$sa,\"sink\":$fsink,\"errno\":$ferr}" $D/events-relay)" = 1 \
	-a "$(ev relay sink-failed "$sa" "$fsink")" = 1 ]
ndone=0
for k in $done_sinks; do [ "$(ev relay sink-done "$sa" "$k")" = 1 ] && ndone=$((ndone + 1)); done
check "A: sink-done for each of the 2 other sinks ($ndone)" [ $ndone = 2 ]
check "A: session-ended and session-destroyed, once each" \
	[ "$(ev relay session-ended "$sa")" = 1 -a "$(ev relay session-destroyed "$sa")" = 1 ]

# 4. Session B: persistent, a hard lag limit, one stalled subscriber.
ns_bg src omss-server --proto tcp --listen $SRC_IP:6100 --wait-clients 1 --count $COUNT --pps $PPS --size 1000 \
	2>$D/server.err
server=$BG_PID
ns_bg relay omssctl relay --source-tcp $SRC_IP:6100 --sink-tcp-listen $RELAY_SUB_IP:7100 -n 2 --ring 4096 \
	--persist-ms 30000 --lag-hard-ms $LAG_MS --sink-sndbuf 32768 $WAIT_RELAY --json >$D/relay.json 2>$D/relay.err
relay=$BG_PID
ns_bg sub omss-client --proto tcp --connect $RELAY_SUB_IP:7100 -n 2 --stall-subscriber 1 --expect-count $COUNT \
	--max-loss 0 --max-errors 0 --min-packets $COUNT --idle-ms 10000 --timeout $LONG $WAIT_CLIENT \
	--connect-timeout 20 --json >$D/client.json 2>$D/client.err
client=$BG_PID
wait_for_text $D/relay.err relaying 60
set -- $(sed -n 's/^omssctl: session \([0-9][0-9]*\) token \(0x[0-9a-f]*\)$/\1 \2/p' $D/relay.err | head -1)
sb=${1:-} tok=${2:-}
wait_streaming
in_sub omssctl show --json >$D/show1.json
show1_rc=$?
sleep 1
in_src omssctl show "$sb" --json >$D/show2.json
show2_rc=$?
in_relay omssctl show "$sb" >$D/show2.txt
diag "show: $(cat $D/show1.json)"
diag "show $sb (table): $(tr -s ' \n' ' ' <$D/show2.txt)"
rx1=$(show_field $D/show1.json rx_packets)
rx2=$(show_field $D/show2.json rx_packets)
check "B: show lists session $sb (running, share, not parked, 2 sinks), rx_packets growing ($rx1 -> $rx2)" \
	[ $show1_rc = 0 -a $show2_rc = 0 -a "$(show_field $D/show1.json id)" = "$sb" -a "$(show_field $D/show2.json id)" = "$sb" \
	-a "$(show_field $D/show1.json state)" = '"running"' -a "$(show_field $D/show1.json mode)" = '"share"' \
	-a "$(show_field $D/show1.json parked)" = false -a "$(show_field $D/show1.json nr_sinks)" = 2 \
	-a "${rx2:-0}" -gt "${rx1:-0}" -a "${rx1:-0}" -gt 0 ]
# token_hidden: the relay printed a token, and no dump shows it.
token_hidden() { [ -n "$tok" ] && ! grep -qi "${tok#0x}" $D/show1.json $D/show2.json $D/show2.txt; }
check "B: no dump shows the session's token ($tok)" token_hidden
check "B: show lists its 2 sinks, each active or kicked ($(sink_rows $D/show2.json | tr '\n' ' '))" \
	[ "$(sink_rows $D/show2.json | grep -cE '^[0-9]+ (active|kicked) 0$')" = 2 ]

# The stalled sink is kicked.
ksink=
if wait_event sink-kicked "$sb" "" $((LAG_MS / 1000 + 30)); then
	ksink=$(grep "^{\"event\":\"sink-kicked\",\"session\":$sb," $D/events-relay | sed -n 's/.*"sink":\([0-9]*\).*/\1/p' | head -1)
fi
in_sub omssctl show "$sb" --json >$D/show3.json
other=$(sink_rows $D/show3.json | grep -v "^$ksink " | sed 's/ .*//')
diag "B: kicked sink $ksink, the other $other; show: $(sink_rows $D/show3.json | tr '\n' ' ')"
kicked_ok() {
	[ -n "$ksink" -a -n "$other" -a "$(ev relay sink-kicked "$sb" "$ksink")" = 1 ] &&
		sink_rows $D/show3.json | grep -qx "$ksink kicked 0" && sink_rows $D/show3.json | grep -qx "$other active 0"
}
check "B: sink-kicked for sink $ksink, once; show says it is kicked, the other active" kicked_ok

# Kill the relay: the session is parked.
kill -KILL $relay
wait $relay
wait_event session-parked "$sb" "" 10
in_src omssctl show --json >$D/show4.json
diag "B: parked, show: $(cat $D/show4.json)"
check "B: relay killed: session-parked, and show says parked" \
	[ "$(ev relay session-parked "$sb")" = 1 -a "$(show_field $D/show4.json parked)" = true ]
ns_bg relay omssctl adopt --session "$sb" --token "$tok" $WAIT_RELAY --json >$D/adopt.json 2>$D/adopt.err
adopt=$BG_PID
wait_event session-adopted "$sb" "" 20
in_sub omssctl show --json >$D/show5.json
diag "B: after the adoption, show: $(cat $D/show5.json)"
check "B: omssctl adopt: session-adopted, and show says no longer parked" \
	[ "$(ev relay session-adopted "$sb")" = 1 -a "$(show_field $D/show5.json parked)" = false ]

# The end of the stream.
wait_or_kill $server $LONG >/dev/null
wait_or_kill $client $LONG
client_rc=$?
wait_or_kill $adopt $LONG
adopt_rc=$?
wait_event session-destroyed "$sb" "" 10
diag "B: client: $(tail -1 $D/client.err); adopter rc $adopt_rc: $(tr '\n' ' ' <$D/adopt.err)"
diag "B: adopter's sinks: $(grep -o '"id":[0-9]*,"lag":[0-9]*,"state":"[a-z]*"' $D/adopt.json | tr '\n' ' ')"
check "B: the reading subscriber got all $COUNT frames (rc $client_rc), the adopter ended (rc $adopt_rc)" \
	[ $client_rc = 0 -a $adopt_rc = 0 ]
check "B: sink-done for sink $other; session-ended and session-destroyed, once each" \
	[ -n "$other" -a "$(ev relay sink-done "$sb" "$other")" = 1 -a "$(ev relay session-ended "$sb")" = 1 \
	-a "$(ev relay session-destroyed "$sb")" = 1 ]
check "B: no event for the kicked sink $ksink after its kick" \
	[ "$(grep -c "\"session\":$sb,\"sink\":$ksink," $D/events-relay)" = 1 ]

# 5. What the monitors saw, in all. Each monitor reads on its own, and events of sinks that
# end at once on different CPUs reach the two namespaces in either order (seen on the debug
# kernel: two sink-done swapped), so the two are compared as sets, once both have them all.
same_events() {
	sort $D/events-relay >$D/sorted-relay
	sort $D/events-sub >$D/sorted-sub
	cmp -s $D/sorted-relay $D/sorted-sub
}
i=0
while ! same_events && [ $i -lt 100 ]; do
	sleep 0.1
	i=$((i + 1))
done
kill -TERM $mon_relay $mon_sub 2>/dev/null
wait $mon_relay
wait $mon_sub
diag "events (relay ns): $(tr '\n' ' ' <$D/events-relay)"
dups=$(grep '"sink":' $D/events-relay | sed 's/.*"session":\([0-9]*\),"sink":\([0-9]*\),.*/\1 \2/' | sort | uniq -d | tr '\n' ' ')
check "no sink has two events (duplicates: ${dups:-none})" [ -z "$dups" ]
# A: failed + 2 done + ended + destroyed; B: kicked + done + parked + adopted + ended + destroyed.
n=$(wc -l <$D/events-relay)
bad=$(grep -cvE '^\{"event":"(sink-failed|sink-kicked|sink-done|session-ended|session-failed|session-destroyed|session-parked|session-adopted)","session":[0-9]+(,"sink":[0-9]+)?,"errno":[0-9]+\}$' $D/events-relay)
check "the relay monitor saw exactly the 11 events, each well formed ($n lines, $bad malformed)" \
	[ "$n" = 11 -a "$bad" = 0 ]
same_events || diag "events (sub ns): $(tr '\n' ' ' <$D/events-sub)"
check "the sub namespace's monitor saw the same events (in any order)" same_events

# 6. All over: no session left.
after=$(in_sub omssctl show --json)
check "show after the end: no session ($after)" [ "$after" = '{"sessions":[]}' ]
check "no session, entry or page is left" no_leaks
check "rmmod omss" sh -c "rmmod omss && ! grep -q '^omss ' /proc/modules"
omssctl show >$D/gone.out 2>$D/gone.err
gone_rc=$?
diag "show without the module: rc $gone_rc: $(cat $D/gone.err)"
gone_ok() { [ $gone_rc = 1 ] && grep -q 'not registered' $D/gone.err; }
check "show without the module: exit 1, says the family is not registered" gone_ok
ktap_finish
