#!/bin/sh
# omss-httpd, the udpxy-style HTTP front end on OMSS, with clients nobody here wrote.
# (1) busybox wget and a raw request sent by busybox nc get the exact byte stream omss-server
# sent to a multicast group (checked against the server's own count and by replaying wget's
# file to omss-client), and every HTTP error (400, 404, 405, 408, 431, 503 for both limits)
# is answered while three streams flow, without a loss anywhere; a client that leaves lets
# its stream close after the linger. (2) 64 concurrent clients on 2 streams: one stops
# reading, 8 join late, 8 leave mid-stream; the others lose nothing. (3) Copy mode and the
# user-space copy mode serve the same bytes. (4) An IPv6 unicast source. (5) A late
# joiner's burst (--burst-ms) in share mode and in user mode, against none. (6) Restarts that
# keep the listeners: SIGHUP (execve in place) and SIGUSR2 plus a new server with --adopt,
# mid-stream, under 16 listeners that must get every frame. Then no session is left, and
# rmmod. On the debug kernel the verdicts that need the guest to keep real-time pace (header
# timeout, limits while clients register, linger, the 64-client run's counts and loss, the
# burst's size and timing) are skipped; their scenarios still run under lockdep, KASAN and
# kmemleak.
. /omss/tests/lib.sh
ktap_plan 50
insmod /omss/omss.ko || { echo "Bail out! insmod failed"; exit $KSFT_FAIL; }
topology_up || { echo "Bail out! topology setup failed"; exit $KSFT_FAIL; }
L=/tmp/httpd
mkdir -p $L
G=239.1.1.1 SIZE=1400 PORT=8080
# The header timeout (ms) of the first server: its slow-loris client waits 2 s longer.
RATE=1000 HT=1000
[ -n "$SLOW" ] && RATE=500 HT=3000
H=http://$RELAY_SUB_IP:$PORT
HEAD='HTTP/1.1 200 OK\r\nContent-Type: video/mp2t\r\nConnection: close\r\n\r\n'
printf "$HEAD" >$L/head.expected

# The server's status, fetched by busybox wget from the subscribers' host.
status_get() { in_sub wget -q -O - "$H/$1" 2>/dev/null; }
clients_now() { status_get status.json | sed -n 's/.*"clients_total": *\([0-9]*\).*/\1/p'; }
streams_now() { status_get status.json | grep -c '"session"'; }
# wait_clients N [SECS]: until the server serves exactly N clients (default 30 s).
wait_clients() {
	local i=0
	while [ $i -lt $((${2:-30} * 5)) ]; do
		[ "$(clients_now)" = "$1" ] && return 0
		sleep 0.2
		i=$((i + 1))
	done
	diag "the server has $(clients_now) clients, not $1, after ${2:-30} s"
	return 1
}
# wait_streams N: until the server has N streams (a closed one waits its linger first).
wait_streams() {
	local i=0
	while [ $i -lt 50 ]; do
		[ "$(streams_now)" = "$1" ] && return 0
		sleep 0.2
		i=$((i + 1))
	done
	diag "the server has $(streams_now) streams, not $1"
	return 1
}
# ask NAME REQUEST: sends REQUEST (printf format) with busybox nc, response in $L/NAME.out;
# prints the status line.
ask() {
	printf "$2" >$L/$1.req
	in_sub timeout 10 nc $RELAY_SUB_IP $PORT <$L/$1.req >$L/$1.out 2>/dev/null
	head -1 $L/$1.out | tr -d '\r'
}
# answered NAME CODE: whether the response in $L/NAME.out has status CODE.
answered() { head -1 $L/$1.out | grep -q "^HTTP/1.1 $2 "; }
start_httpd() {
	ns_bg relay omss-httpd --listen $RELAY_SUB_IP:$PORT --mcast-if $RELAY_SRC_IP --linger-ms 500 "$@" \
		2>$L/httpd-$PORT.err
	HP=$BG_PID
	wait_for_text $L/httpd-$PORT.err listening 10
}
stop_httpd() {
	kill -TERM $HP 2>/dev/null
	wait_or_kill $HP 5 >/dev/null
}
# wait_size FILE BYTES SECS: until FILE has BYTES bytes.
wait_size() {
	local i=0
	while [ $i -lt $(($3 * 10)) ] && [ "$(wc -c <$1)" -lt "$2" ]; do
		sleep 0.1
		i=$((i + 1))
	done
}
CHECKS="--max-loss 0 --max-errors 0 $WAIT_CLIENT"

# (1) Three multicast streams (ports 5000, 5001, 5002 of group $G). Limits: 3 clients per
# stream, 5 in all; the header must arrive within $HT ms.
COUNT=900
start_httpd --max-clients 5 --max-per-stream 3 --header-timeout-ms $HT
ns_bg sub omss-client --http $H/udp/$G:5000 $CHECKS --min-packets $COUNT --json >$L/refa.json 2>$L/refa.err
refa=$BG_PID
ns_bg sub omss-client --http $H/udp/$G:5001 $CHECKS --min-packets $COUNT --json >$L/refb.json 2>$L/refb.err
refb=$BG_PID
ns_bg sub omss-client --http $H/udp/$G:5002 --max-errors 0 --timeout 120 --json >$L/leaver.json 2>$L/leaver.err
leaver=$BG_PID
ns_bg sub wget -q -O - $H/udp/$G:5000 >$L/wget.out 2>$L/wget.err
wgetp=$BG_PID
# The raw client's stdin is a FIFO that stays open: busybox nc would half-close at its EOF,
# and a client that closes its side is a client gone. (Not ns_bg: a background command of a
# function gets /dev/null as stdin, whatever the function's redirection.)
mkfifo $L/nc.in
exec 3<>$L/nc.in
/usr/sbin/ip netns exec sub nc $RELAY_SUB_IP $PORT <$L/nc.in >$L/nc.out 2>$L/nc.err &
ncp=$!
printf "GET /udp/$G:5000 HTTP/1.0\r\nUser-Agent: nc\r\n\r\n" >&3
check "5 clients (omss-client x3, wget, nc) on 3 streams are served" wait_clients 5
status_get status >$L/status.html
status_get metrics >$L/metrics.txt
rows=$(grep -c '<tr class="client">' $L/status.html)
check "/status has a row per client ($rows of 5) and per stream" \
	[ "$rows" = 5 -a "$(grep -c '<tr class="stream">' $L/status.html)" = 3 ]
check "/metrics counts 5 clients on 3 streams" \
	sh -c "grep -q '^omss_httpd_clients 5$' $L/metrics.txt && grep -q '^omss_httpd_streams 3$' $L/metrics.txt"
check "one OMSS session per stream ($(engine_num sessions))" [ "$(engine_num sessions)" = 3 ]
ns_bg src omss-server --proto udp --to $G:5000 --streams 3 --count $COUNT --rate $RATE --json \
	>$L/server.json 2>$L/server.err
sp=$BG_PID
wait_streaming
# Every error while the streams flow.
diag "garbage: $(ask e400a 'GARBAGE\r\n\r\n')"
check "400 for a malformed request" answered e400a 400
diag "bad address: $(ask e400b 'GET /udp/239.1.1.300:5000 HTTP/1.1\r\n\r\n')"
check "400 for a malformed address" answered e400b 400
diag "other path: $(ask e404 'GET /index.html HTTP/1.1\r\n\r\n')"
check "404 for another path" answered e404 404
diag "other method: $(ask e405 "POST /udp/$G:5000 HTTP/1.1\r\nContent-Length: 0\r\n\r\n")"
check "405 for another method" answered e405 405
big=$(head -c 9000 /dev/zero | tr '\0' a)
diag "9 KB header: $(ask e431 "GET /udp/$G:5000 HTTP/1.1\r\nX-Big: $big\r\n\r\n")"
check "431 for a header over 8 KiB" answered e431 431
# Slow loris: half a header, then nothing for 2 s more than the timeout.
t0=$(date +%s)
(printf "GET /udp/$G:5000 HTTP/1.1\r\n"; sleep $((HT / 1000 + 2))) |
	in_sub timeout 10 nc $RELAY_SUB_IP $PORT >$L/e408.out 2>/dev/null
diag "slow loris: $(head -1 $L/e408.out | tr -d '\r') after $(($(date +%s) - t0)) s"
check_timed "408 for a header that does not arrive within the timeout" answered e408 408
diag "4th client of a stream: $(ask e503a "GET /udp/$G:5000 HTTP/1.1\r\n\r\n")"
check_timed "503 over the per-stream limit" answered e503a 503
diag "6th client: $(ask e503b "GET /udp/$G:5003 HTTP/1.1\r\n\r\n")"
check_timed "503 over the total limit" answered e503b 503
still_served() { kill -0 $sp && [ "$(engine_num sessions)" = 3 ] && wait_clients 5 1; }
check_timed "after the errors, the streams still flow to 5 clients" still_served
# A client leaves mid-stream: its stream closes after the linger, the others go on.
kill -TERM $leaver
wait_or_kill $leaver 10
leaver_rc=$?
check "a leaving client got clean data until it left (rc=$leaver_rc)" [ $leaver_rc = 0 ]
# serving N S: N clients on S streams, S sessions (OMSS modes).
serving() { wait_clients $1 && wait_streams $2 && [ "$(engine_num sessions)" = $2 ]; }
check_timed "its stream closed after the linger: 2 streams, 2 sessions" serving 4 2
wait_or_kill $sp 60 >/dev/null
wait_or_kill $refa 60
refa_rc=$?
wait_or_kill $refb 60
refb_rc=$?
# Stream 0 sent COUNT frames with END 3 times: that many datagrams of SIZE bytes each.
want=$(((COUNT + 2) * SIZE))
wait_size $L/wget.out $want 20
kill -TERM $wgetp $ncp 2>/dev/null
wait $wgetp $ncp 2>/dev/null
exec 3>&-
sends=$(json_num $L/server.json sends)
diag "server: $(tail -1 $L/server.err)"
diag "omss-client A: $(tail -1 $L/refa.err); B: $(tail -1 $L/refb.err)"
check "omss-client --http got every frame of both streams intact (rc $refa_rc, $refb_rc)" \
	[ $refa_rc = 0 -a $refb_rc = 0 ]
got=$(wc -c <$L/wget.out)
check "wget got the $want bytes the server sent ($got; server: $sends datagrams in all)" \
	[ "$got" = "$want" -a "$sends" = $((3 * (COUNT + 2))) ]
hl=$(wc -c <$L/head.expected)
check "nc got the exact response header" sh -c "head -c $hl $L/nc.out | cmp -s - $L/head.expected"
check "nc got the same byte stream as wget" sh -c "tail -c +$((hl + 1)) $L/nc.out | cmp -s - $L/wget.out"
# wget's file, served again from a file, must be every frame in order, each intact.
{ cat $L/head.expected $L/wget.out | nc -l -p 9000 >/dev/null; } &
replay=$!
omss-client --http http://127.0.0.1:9000/replay $CHECKS --min-packets $COUNT --json \
	>$L/replay.json 2>$L/replay.err
replay_rc=$?
wait_or_kill $replay 5 >/dev/null
diag "wget's bytes as frames: $(tail -1 $L/replay.err)"
check "wget's bytes are all $COUNT frames, in order, intact" [ $replay_rc = 0 ]
check "all clients gone: the streams closed, no session left" serving 0 0
status_get metrics >$L/metrics.txt
served=$(status_get status.json | sed -n 's/.*"served": *\([0-9]*\).*/\1/p')
diag "responses: $(grep '^omss_httpd_responses_total' $L/metrics.txt | tr '\n' ' '); $served streams served"
# responses CODE N: /metrics counted N responses with status CODE.
responses() { grep -q "^omss_httpd_responses_total{code=\"$1\"} $2\$" $L/metrics.txt; }
counted() {
	[ "$served" = 5 ] && responses 400 2 && responses 404 1 && responses 405 1 && responses 408 1 &&
		responses 431 1 && responses 503 2
}
check_timed "/metrics counted every error (400 x2, 404, 405, 408, 431, 503 x2), 5 streams served" counted
stop_httpd

# (2) 64 clients on 2 streams, at most 32 per stream and 64 in all: 48 from the start
# (subscriber 0 never reads), 8 that leave mid-stream, 8 that join late.
COUNT=800 PORT=8081 H=http://$RELAY_SUB_IP:8081
start_httpd --max-clients 64 --max-per-stream 32
URLS="--http $H/udp/$G:5000 --http $H/udp/$G:5001"
ns_bg sub omss-client $URLS -n 48 --threads 2 --stall-subscriber 0 $CHECKS --min-packets $COUNT --json \
	>$L/main.json 2>$L/main.err
mainp=$BG_PID
ns_bg sub omss-client $URLS -n 8 --max-errors 0 --timeout 120 --json >$L/leave.json 2>$L/leave.err
leavep=$BG_PID
check "56 clients are served" wait_clients 56
ns_bg src omss-server --proto udp --to $G:5000 --streams 2 --count $COUNT --rate $RATE --json \
	>$L/server2.json 2>$L/server2.err
sp=$BG_PID
wait_streaming
sleep 1
ns_bg sub omss-client $URLS -n 8 $CHECKS --json >$L/late.json 2>$L/late.err
latep=$BG_PID
check_timed "8 late joiners: 64 clients on 2 streams" wait_clients 64
diag "65th client: $(ask e503c "GET /udp/$G:5001 HTTP/1.1\r\n\r\n")"
check_timed "503 for the 65th client while the streams flow" answered e503c 503
kill -TERM $leavep
wait_or_kill $leavep 10
leave_rc=$?
left_clean() { [ $leave_rc = 0 ] && wait_clients 56; }
check_timed "8 clients left mid-stream with clean data (rc=$leave_rc), 56 remain" left_clean
status_get status.json >$L/mid.json
wait_or_kill $sp 60 >/dev/null
wait_or_kill $mainp 60
main_rc=$?
wait_or_kill $latep 60
late_rc=$?
diag "server: $(tail -1 $L/server2.err)"
diag "47 readers: $(tail -1 $L/main.err)"
diag "late joiners: $(tail -1 $L/late.err)"
max_of() { grep -o "\"$1\": [0-9]*" $L/mid.json | sed 's/.*: //' | sort -n | tail -1; }
diag "mid-stream, with one client not reading: largest lag $(max_of lag), most datagrams lost $(max_of lost)," \
	"dropped for the slowest: $(grep -o '"entries_dropped": [0-9]*' $L/mid.json | tr '\n' ' ')"
check_timed "47 reading clients got all $COUNT frames of their stream intact, beside one that stopped reading" \
	[ $main_rc = 0 ]
late_pk=$(json_num $L/late.json packets)
check_timed "the late joiners lost nothing after they joined ($late_pk frames, fewer than $((8 * COUNT)))" \
	[ $late_rc = 0 -a "${late_pk:-0}" -gt 0 -a "${late_pk:-0}" -lt $((8 * COUNT)) ]
check "all gone: no stream, no session" serving 0 0
stop_httpd

# (3) Copy mode and the user-space copy mode: the same bytes, every frame intact.
COUNT=300 PORT=8082
for mode in copy user; do
	H=http://$RELAY_SUB_IP:$PORT
	start_httpd --mode $mode
	ns_bg sub omss-client --http $H/udp/$G:5000 -n 4 $CHECKS --min-packets $COUNT --json \
		>$L/$mode.json 2>$L/$mode.err
	cp=$BG_PID
	ns_bg sub wget -q -O - $H/udp/$G:5000 >$L/$mode.out 2>/dev/null
	wp=$BG_PID
	wait_clients 5
	sessions=$(engine_num sessions)
	in_src omss-server --proto udp --to $G:5000 --count $COUNT --rate $RATE 2>$L/$mode-server.err
	wait_or_kill $cp 60
	c_rc=$?
	want=$(((COUNT + 2) * SIZE))
	wait_size $L/$mode.out $want 20
	kill -TERM $wp 2>/dev/null
	wait $wp 2>/dev/null
	diag "$mode: $(tail -1 $L/$mode.err); wget $(wc -c <$L/$mode.out) of $want bytes; $sessions OMSS sessions"
	check "$mode mode: 4 clients got every frame intact (rc=$c_rc)" [ $c_rc = 0 ]
	check "$mode mode: wget got the $want bytes the server sent" [ "$(wc -c <$L/$mode.out)" = $want ]
	[ $mode = copy ] && n=1 || n=0
	check "$mode mode: $n OMSS sessions while serving" [ "$sessions" = $n ]
	stop_httpd
	PORT=$((PORT + 1))
done

# (4) /udp/[IPv6]:PORT: a unicast IPv6 address of the relay's source side.
ip -n src addr add fd00:1::1/64 dev s0 nodad && ip -n relay addr add fd00:1::2/64 dev r0 nodad
neigh_permanent src s0 fd00:1::2 relay r0
H=http://$RELAY_SUB_IP:$PORT
start_httpd
ns_bg sub omss-client --http "$H/udp/[fd00:1::2]:5010" -n 2 $CHECKS --min-packets $COUNT --json \
	>$L/v6.json 2>$L/v6.err
cp=$BG_PID
wait_clients 2
in_src omss-server --proto udp --to "[fd00:1::2]:5010" --count $COUNT --rate $RATE 2>$L/v6-server.err
wait_or_kill $cp 60
c_rc=$?
diag "ipv6: $(tail -1 $L/v6.err)"
check "/udp/[fd00:1::2]:5010: 2 clients got every frame intact (rc=$c_rc)" [ $c_rc = 0 ]
stop_httpd

# sub_num FILE KEY J: subscriber J's KEY in an omss-client JSON report (integer part; empty
# if null).
sub_num() {
	sed -n '/"subscribers": *\[/,$p' "$1" | grep "\"$2\":" | sed -n "$(($3 + 1))p" |
		sed -n 's/.*: *\([0-9][0-9]*\).*/\1/p'
}

# (5) Late joiners' burst. Three servers, a stream each from one 3-stream source: share
# mode without a burst (B), share mode with --burst-ms $BURST (A), user mode with it too
# (C). A first client on each opens its stream and must get every frame; after 2 s of flow
# one omss-client joins B, A and C, in this order, a few ms apart (more on a loaded host).
# B's late joiner must start with the current frame: none older than what B's stream had
# received before the client asked (/status.json). A's, although it came after B's, must
# start about a burst (BF frames) before it; C's as A's. The debug kernel has a longer
# burst (the joins are seconds apart there) and a longer stream.
PPS=200 BURST=1000 FLOW=2 DUR=2 SECS=6
[ -n "$SLOW" ] && PPS=50 BURST=4000 FLOW=6 DUR=8 SECS=60
BF=$((PPS * BURST / 1000)) COUNT=$((PPS * SECS))
PORT=8090
start_httpd
hpb=$HP
PORT=8091
start_httpd --burst-ms $BURST
hpa=$HP
PORT=8092
start_httpd --mode user --burst-ms $BURST
hpc=$HP
B3="--http http://$RELAY_SUB_IP:8090/udp/$G:5000 --http http://$RELAY_SUB_IP:8091/udp/$G:5001"
B3="$B3 --http http://$RELAY_SUB_IP:8092/udp/$G:5002"
ns_bg sub omss-client $B3 -n 3 $CHECKS --min-packets $COUNT --json >$L/burst-early.json 2>$L/burst-early.err
earlyp=$BG_PID
for p in 8092 8091 8090; do
	H=http://$RELAY_SUB_IP:$p
	wait_clients 1
done
ns_bg src omss-server --proto udp --to $G:5000 --streams 3 --count $COUNT --pps $PPS --size 1000 \
	--json >$L/burst-server.json 2>$L/burst-server.err
sp=$BG_PID
wait_streaming
sleep $FLOW
# What B's stream had received (its monitor's count, up to 100 ms old) before the late
# joiners asked.
rx0=$(status_get status.json | sed -n 's/.*"rx_packets": *\([0-9]*\).*/\1/p')
in_sub omss-client $B3 -n 3 --duration $DUR --max-loss 0 --max-errors 0 $WAIT_CLIENT --json \
	>$L/burst-late.json 2>$L/burst-late.err
late_rc=$?
wait_or_kill $sp 60 >/dev/null
wait_or_kill $earlyp 60
early_rc=$?
# first J, oldest J: subscriber J's first frame, and the age of its oldest frame on arrival
# (ms: the first one's, unless a hiccup of the host delayed a later one more).
first() { local f; f=$(sub_num $L/burst-late.json first_seq $1); echo ${f:-0}; }
oldest() { local us; us=$(sub_num $L/burst-late.json latency_max_us $1); echo $((${us:-0} / 1000)); }
fb=$(first 0) fa=$(first 1) fc=$(first 2) rx0=${rx0:-0}
diag "late joiners (rc $late_rc), in the order they joined: B (no burst) from frame $fb (B had" \
	"received $rx0 before), its oldest $(oldest 0) ms old; A (burst) from $fa, oldest $(oldest 1) ms;" \
	"C (user, burst) from $fc, oldest $(oldest 2) ms; $BURST ms is $BF frames; $(tail -1 $L/burst-late.err)"
diag "early clients: $(tail -1 $L/burst-early.err)"
# a_burst N: N frames are about a burst (BF, give or take 40 %).
a_burst() { [ "$1" -ge $((BF * 6 / 10)) ] && [ "$1" -le $((BF * 14 / 10)) ]; }
check "burst, share mode: the late joiner started $((fb - fa)) frames before one without a burst that came first" \
	[ $late_rc = 0 -a $fa -lt $fb ]
check_timed "burst, share mode: those $((fb - fa)) frames are the last $BURST ms ($BF frames), at once, none lost" \
	a_burst $((fb - fa))
check "no burst: the late joiner started with the current frame ($fb; $rx0 received before it asked)" \
	[ $rx0 -gt 0 -a $fb -ge $rx0 ]
check_timed "burst, user mode: the late joiner started $((fb - fc)) frames back too" a_burst $((fb - fc))
check "the first clients of the three streams got every frame intact (rc=$early_rc)" [ $early_rc = 0 ]
for HP in $hpa $hpb $hpc; do stop_httpd; done

# (6) Restarts under load. $N listeners on 2 streams of a server whose sessions persist
# $PERSIST ms (a session nobody adopts is destroyed that long after its server left: its
# listeners would lose the rest of the stream). Mid-stream: SIGHUP, the server re-executes
# itself and adopts its sessions, while status requests keep coming; 4 more listeners join
# the adopted sessions; then SIGUSR2, the server writes its state and exits, and a new
# server started with --adopt takes over. The stream flows until the restarts are done and
# $TAIL s more, then ends (SIGTERM: the media server sends END); every listener must get
# every frame, from the first one to END, in order.
N=16 PPS=200 PERSIST=3000 PORT=8093 TAIL=2 PROBES=12
# The debug kernel takes seconds for each step: a lower rate, fewer status probes, and a
# park time that covers a slow new server (CI's took over 15 s, two guests at a time 34 s here).
[ -n "$SLOW" ] && N=8 PPS=20 PERSIST=120000 TAIL=10 PROBES=4
ST=/run/omss-httpd-test.json H=http://$RELAY_SUB_IP:$PORT
R2="--http $H/udp/$G:5000 --http $H/udp/$G:5001"
start_httpd --persist-ms $PERSIST --state-file $ST
log=$L/httpd-$PORT.err
ns_bg sub omss-client $R2 -n $N $CHECKS --timeout 600 --json >$L/restart.json 2>$L/restart.err
mainp=$BG_PID
wait_clients $N
ns_bg src omss-server --proto udp --to $G:5000 --streams 2 --count $((PPS * 600)) --pps $PPS --size 1000 \
	--json >$L/restart-server.json 2>$L/restart-server.err
sp=$BG_PID
t0=$(date +%s)
wait_streaming
sleep 2
# Status requests one after the other across the restart: none may be refused or go
# unanswered.
(
	f=0
	for i in $(seq $PROBES); do
		in_sub timeout 10 wget -q -O /dev/null $H/status.json 2>/dev/null || f=$((f + 1))
	done
	echo "$f $(($(date +%s) - t0))" >$L/probe.out
) &
probe=$!
sleep 0.3
kill -HUP $HP
wait_for_text $log "adopted 2 of 2 streams (restarted in place)" 20
status_get status.json >$L/after-hup.json
diag "SIGHUP: $(grep -E 'SIGHUP|adopted' $log | tr '\n' ' ')"
hup_ok() {
	kill -0 $HP && grep -q "adopted 2 of 2 streams (restarted in place)" $log &&
		[ "$(grep -c '"session"' $L/after-hup.json)" = 2 ] &&
		grep -q "\"clients_total\": $N," $L/after-hup.json && grep -q '"restarts": 1,' $L/after-hup.json
}
check "SIGHUP: the same process ($HP) restarted in place, adopted both sessions; /status.json: 2 streams, $N clients" hup_ok
ns_bg sub omss-client $R2 -n 4 --max-loss 0 --max-errors 0 --timeout 300 $WAIT_CLIENT --json \
	>$L/restart-late.json 2>$L/restart-late.err
latep=$BG_PID
diag "SIGHUP $(($(date +%s) - t0)) s into the stream"
wait $probe
set -- $(cat $L/probe.out)
check "no status request was refused or lost during the restart (${1:-?} of $PROBES failed, the last ${2:-?} s in)" \
	[ "${1:-}" = 0 ]
wait_clients $((N + 4))
sessions=$(engine_num sessions)
check "4 new listeners joined the adopted sessions ($(clients_now) clients, $sessions sessions)" \
	[ "$(clients_now)" = $((N + 4)) -a "$sessions" = 2 ]
diag "SIGUSR2 $(($(date +%s) - t0)) s into the stream"
kill -USR2 $HP
usr2_at=$(date +%s)
# The new server at once, as by hand: it waits for the state file and for the port.
ns_bg relay omss-httpd --listen $RELAY_SUB_IP:$PORT --mcast-if $RELAY_SRC_IP --linger-ms 500 \
	--persist-ms $PERSIST --state-file $ST --adopt $ST 2>$L/httpd-new.err
old=$HP HP=$BG_PID
wait_or_kill $old 10
usr2_rc=$?
diag "SIGUSR2: rc $usr2_rc, $(grep 'SIGUSR2' $log)"
log=$L/httpd-new.err
wait_for_text $log "listening" $((PERSIST / 1000 + 20))
diag "the new server was listening $(($(date +%s) - usr2_at)) s after SIGUSR2 (park time $PERSIST ms)"
status_get status.json >$L/after-usr2.json
diag "new server: $(grep -E 'adopted|listening|cannot' $log | tr '\n' ' ')"
diag "its /status.json: $(grep -E '"(clients_total|restarts|session)"' $L/after-usr2.json | tr -s ' \n' ' ')"
usr2_ok() {
	[ $usr2_rc = 0 ] && grep -q "adopted 2 of 2 streams (a new server)" $log &&
		[ "$(grep -c '"session"' $L/after-usr2.json)" = 2 ] &&
		grep -q "\"clients_total\": $((N + 4))," $L/after-usr2.json && grep -q '"restarts": 2,' $L/after-usr2.json &&
		[ ! -e $ST ]
}
check "SIGUSR2: the server exited (rc $usr2_rc), a new one (--adopt) took over: 2 streams, $((N + 4)) clients" usr2_ok
sleep $TAIL
kill -TERM $sp
wait_or_kill $sp 20 >/dev/null
wait_or_kill $mainp 120
main_rc=$?
wait_or_kill $latep 60
late_rc=$?
diag "server ($(($(date +%s) - t0)) s of stream): $(tail -1 $L/restart-server.err)"
diag "$N listeners: $(tail -1 $L/restart.err)"
diag "4 new listeners: $(tail -1 $L/restart-late.err)"
late_pk=$(json_num $L/restart-late.json packets)
from0=$(grep -cE '"first_seq": *0,?$' $L/restart.json)
check "each of the $N listeners got every frame from the first ($from0 did) to END, in order, across both restarts (rc $main_rc)" \
	[ $main_rc = 0 -a "$from0" = $N ]
check "the 4 listeners that joined after the first restart lost nothing ($late_pk frames, rc $late_rc)" \
	[ $late_rc = 0 -a "${late_pk:-0}" -gt 0 ]
check "all gone: the new server closed both streams, no session left" serving 0 0
diag "how the new server's clients left: $(grep -o 'left ([a-z]*' $log | sort | uniq -c | tr -s ' \n(' ' ')"
stop_httpd

check "no session, entry or page is left" no_leaks
check "rmmod at the end" rmmod omss
ktap_finish
