#!/bin/sh
# run.sh SECONDS – run every libFuzzer harness in build/fuzz for SECONDS each, seeded
# from tests/fuzz/seeds/<name>/ (checked in) and the captures in pcaps/.
# Fails when any harness finds a crash, leak or timeout.
set -eu
secs=${1:-60}
cd "$(dirname "$0")/../.."
status=0
for h in build/fuzz/fuzz_*; do
	[ -x "$h" ] || continue
	name=${h##*/fuzz_}
	corpus=build/fuzz/corpus/$name
	mkdir -p "$corpus"
	seeds=""
	[ -d tests/fuzz/seeds/$name ] && seeds="tests/fuzz/seeds/$name"
	if [ "$name" = pcap ]; then
		# The small captures of pcaps/ (the multi-megabyte one would only slow it down).
		seeds=build/fuzz/seeds-pcap
		mkdir -p "$seeds"
		find pcaps -name '*.pcap' -size -300k -exec cp {} "$seeds"/ \;
	fi
	echo "== fuzz $name for ${secs}s"
	if ! "$h" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -max_len=300000 -print_final_stats=1 \
		-artifact_prefix=build/fuzz/ "$corpus" $seeds >build/fuzz/$name.log 2>&1; then
		echo "fuzz $name FAILED; see build/fuzz/$name.log:"; tail -40 build/fuzz/$name.log
		status=1
	else
		grep -E "^stat::number_of_executed_units|^Done" build/fuzz/$name.log | tr '\n' ' '; echo
	fi
done
exit $status
