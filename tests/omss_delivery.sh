#!/bin/sh
# Delivery through OMSS, UDP and TCP, 1->N for N = 1, 16, 128, in share and copy modes.
# Every subscriber checks every frame (sequence, checksum; TCP: the byte stream), and the
# relay's stats show that share mode stores each payload once while copy mode copies it
# for every sink.
. /omss/tests/lib.sh
COUNT=150 SIZES="1 16 128"
# The debug kernel is too slow under TCG to fan out to 128 sinks in reasonable time; there
# one and many sinks cover the same code.
[ -n "$SLOW" ] && COUNT=100 SIZES="1 48"
ktap_plan $((8 * $(echo $SIZES | wc -w) + 1))
insmod /omss/omss.ko || { echo "Bail out! insmod failed"; exit $KSFT_FAIL; }
topology_up || { echo "Bail out! topology setup failed"; exit $KSFT_FAIL; }
for proto in udp tcp; do
	for mode in share copy; do
		for n in $SIZES; do
			relay_run $proto $mode $n $COUNT
			pkts=$(json_num $R/client.json packets)
			lost=$(json_num $R/client.json lost)
			errs=$(json_num $R/client.json errors)
			ppe=$(relay_num payload_copies)
			diag "$proto $mode n=$n: client packets=$pkts lost=$lost errors=$errs; relay payload copies=$ppe"
			if [ $client_rc -eq 0 ] && [ $relay_rc -eq 0 ] && [ "$pkts" = $((n * COUNT)) ]; then
				ok "$proto $mode 1->$n: every subscriber got all $COUNT frames intact"
			else
				not_ok "$proto $mode 1->$n: every subscriber got all $COUNT frames intact"
			fi
			# Pages allocated per page of payload stored: share ~1 whatever N; copy ~1 + N.
			if [ $mode = share ]; then
				check "$proto share 1->$n: payload copies $ppe <= 1.5" fcmp "${ppe:-99} <= 1.5"
			else
				check "$proto copy 1->$n: payload copies $ppe >= 0.9 * (1 + $n)" fcmp "${ppe:-0} >= 0.9 * (1 + $n)"
			fi
		done
	done
done
diag "after all sessions closed: $(omssctl status --json)"
check "no session, entry or page is left" no_leaks
ktap_finish
