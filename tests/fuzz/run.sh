#!/bin/sh
# run.sh SECONDS [HARNESS...] – run every libFuzzer harness in build/fuzz (or the ones
# named: http, mysql, reasm…) for SECONDS each.
#
# First each harness replays its saved crash corpus, tests/fuzz/regress/<name>/ (inputs
# that once crashed, kept as regression tests; make test runs this too). Then it fuzzes,
# seeded from tests/fuzz/seeds/<name>/ (hand-written seeds and the real_* seeds that
# tests/fuzz/make_corpus.py extracts from pcaps/), the regression inputs, and its working
# corpus build/fuzz/corpus/<name>/ from earlier runs. Crashes are written to build/fuzz/
# (copy one into tests/fuzz/regress/<name>/ once it is fixed). Executions per harness go
# to build/fuzz/summary.txt (bench/RESULTS.md records the long runs).
# Fails when any harness finds a crash, leak or timeout, or a regression input fails; and,
# before running any, when a harness is not built (every tests/fuzz/fuzz_*.c, or each one
# named, must have its build/fuzz/fuzz_<name>: `make fuzz-build`) or a name is unknown.
set -eu
# A UBSan report must fail the run like an ASan report (the Makefile builds the harnesses
# with -fno-sanitize-recover=undefined; this covers harnesses built before that).
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}"
secs=${1:-60}
[ $# -gt 0 ] && shift
cd "$(dirname "$0")/../.."
status=0
# The harnesses to run: the ones named, else every one with a source.
all=""
for src in tests/fuzz/fuzz_*.c; do
	[ -e "$src" ] || continue
	name=${src##*/fuzz_}
	all="$all ${name%.c}"
done
want=${*:-$all}
if [ -z "$want" ]; then
	echo "fuzz: no harness sources (tests/fuzz/fuzz_*.c) found" >&2
	exit 2
fi
missing=0
for name in $want; do
	case " $all " in
	*" $name "*) ;;
	*) echo "fuzz: unknown harness '$name' (no tests/fuzz/fuzz_$name.c; known:$all)" >&2
	   missing=1; continue ;;
	esac
	if [ ! -x "build/fuzz/fuzz_$name" ]; then
		echo "fuzz: harness build/fuzz/fuzz_$name is not built (run make fuzz-build)" >&2
		missing=1
	fi
done
[ "$missing" = 0 ] || exit 2
mkdir -p build/fuzz
: > build/fuzz/summary.txt
for name in $want; do
	h=build/fuzz/fuzz_$name
	corpus=build/fuzz/corpus/$name
	mkdir -p "$corpus"
	seeds=""
	[ -d tests/fuzz/seeds/$name ] && seeds="tests/fuzz/seeds/$name"
	regress=tests/fuzz/regress/$name
	if [ -d "$regress" ] && [ -n "$(ls -A "$regress")" ]; then
		echo "== fuzz $name: replaying $(ls "$regress" | wc -l) saved crash inputs"
		if ! "$h" -timeout=10 -rss_limit_mb=2048 "$regress"/* >build/fuzz/$name.regress.log 2>&1; then
			echo "fuzz $name: a saved crash input FAILS again; see build/fuzz/$name.regress.log:"
			tail -40 build/fuzz/$name.regress.log
			status=1
		fi
		seeds="$seeds $regress"
	fi
	if [ "$name" = pcap ]; then
		# The small captures of pcaps/ whole (the multi-megabyte ones would only slow it
		# down; seeds/pcap/real_* has their first records).
		mkdir -p build/fuzz/seeds-pcap
		find pcaps -name '*.pcap' -size -300k -exec cp {} build/fuzz/seeds-pcap/ \;
		seeds="$seeds build/fuzz/seeds-pcap"
	fi
	echo "== fuzz $name for ${secs}s"
	if ! "$h" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -max_len=300000 -print_final_stats=1 \
		-artifact_prefix=build/fuzz/ "$corpus" $seeds >build/fuzz/$name.log 2>&1; then
		echo "fuzz $name FAILED; see build/fuzz/$name.log:"; tail -40 build/fuzz/$name.log
		status=1
	else
		execs=$(sed -n 's/^stat::number_of_executed_units: *//p' build/fuzz/$name.log)
		cov=$(grep -E '^#[0-9]+.*(DONE|INITED)' build/fuzz/$name.log | tail -1 | sed -n 's/.*cov: \([0-9]*\).*ft: \([0-9]*\).*corp: \([0-9]*\).*/cov \1, ft \2, corpus \3/p')
		echo "$name: $execs executions in ${secs}s; $cov" | tee -a build/fuzz/summary.txt
	fi
done
exit $status
