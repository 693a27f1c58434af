#!/bin/sh
# broker.sh – starts and stops one Apache Kafka broker+controller (KRaft) on loopback for
# pktlog's tests; fetches the jars from Maven Central once into a cache. Must not touch any
# other Kafka or any process it did not start.
#
#   broker.sh fetch                     make sure the jars are in the cache, print the dir
#   broker.sh start DIR [key=value...]  start (or restart) the broker whose state is in DIR;
#                                       prints "127.0.0.1:PORT". The port is chosen free on the
#                                       first start and kept in DIR/port for restarts.
#   broker.sh stop DIR                  stop it by the PID in DIR/pid (SIGTERM, then SIGKILL)
#
# Cache: $PKTLOG_KAFKA_CACHE, default ~/.cache/pktlog-kafka (outside the repository, so a
# fresh clone on the same machine reuses it; the first run fetches from nothing).
set -eu

HERE=$(cd "$(dirname "$0")" && pwd)
VERSION=4.0.0
CACHE=${PKTLOG_KAFKA_CACHE:-$HOME/.cache/pktlog-kafka}
LIBS=$CACHE/libs-$VERSION

die() { echo "broker.sh: $*" >&2; exit 1; }

fetch() {
	[ -f "$LIBS/.complete" ] && return 0
	command -v mvn >/dev/null || die "mvn is not installed (scripts/install-deps.sh test)"
	mkdir -p "$CACHE"
	rm -rf "$LIBS.tmp"
	mvn -B -q -f "$HERE/pom.xml" -Dkafka.version=$VERSION dependency:copy-dependencies \
		-DincludeScope=runtime -DoutputDirectory="$LIBS.tmp" >&2 ||
		die "could not fetch org.apache.kafka:kafka_2.13:$VERSION from Maven Central"
	touch "$LIBS.tmp/.complete"
	rm -rf "$LIBS" && mv "$LIBS.tmp" "$LIBS"
}

free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

java_cmd() {
	java -Xms128m -Xmx512m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Xshare:auto \
		-Djava.awt.headless=true -cp "$LIBS/*" "$@"
}

start() {
	dir=$1; shift
	command -v java >/dev/null || die "java is not installed (scripts/install-deps.sh test)"
	fetch
	mkdir -p "$dir"
	dir=$(cd "$dir" && pwd)
	if [ -f "$dir/pid" ] && kill -0 "$(cat "$dir/pid")" 2>/dev/null; then
		die "a broker already runs from $dir (pid $(cat "$dir/pid"))"
	fi
	[ -f "$dir/port" ] || { free_port >"$dir/port"; free_port >"$dir/cport"; }
	port=$(cat "$dir/port"); cport=$(cat "$dir/cport")
	cat >"$dir/server.properties" <<PROPS
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$cport
listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$cport
advertised.listeners=PLAINTEXT://127.0.0.1:$port
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=$dir/logs
num.partitions=1
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
group.initial.rebalance.delay.ms=0
PROPS
	for kv in "$@"; do echo "$kv" >>"$dir/server.properties"; done
	if [ ! -f "$dir/logs/meta.properties" ]; then
		java_cmd kafka.tools.StorageTool format -t "$(java_cmd kafka.tools.StorageTool random-uuid)" \
			-c "$dir/server.properties" >"$dir/format.log" 2>&1 ||
			die "formatting the log dir failed: $(tail -5 "$dir/format.log")"
	fi
	# setsid: the broker must not receive the test runner's terminal signals.
	setsid java -Xms128m -Xmx512m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 \
		-Djava.awt.headless=true -cp "$LIBS/*" kafka.Kafka "$dir/server.properties" \
		>>"$dir/broker.log" 2>&1 </dev/null &
	echo $! >"$dir/pid"
	i=0
	while ! kcat -b "127.0.0.1:$port" -L -m 2 >/dev/null 2>&1; do
		kill -0 "$(cat "$dir/pid")" 2>/dev/null || die "broker exited: $(tail -20 "$dir/broker.log")"
		i=$((i + 1))
		[ $i -lt 120 ] || { stop "$dir"; die "broker did not answer on 127.0.0.1:$port within 60 s"; }
		sleep 0.5
	done
	echo "127.0.0.1:$port"
}

stop() {
	dir=$1
	[ -f "$dir/pid" ] || return 0
	pid=$(cat "$dir/pid")
	if kill -0 "$pid" 2>/dev/null; then
		kill -TERM "$pid" 2>/dev/null || true
		i=0
		while kill -0 "$pid" 2>/dev/null && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
		kill -KILL "$pid" 2>/dev/null || true
	fi
	rm -f "$dir/pid"
}

case "${1:-}" in
fetch) fetch; echo "$LIBS" ;;
start) [ $# -ge 2 ] || die "usage: broker.sh start DIR [key=value...]"; shift; start "$@" ;;
stop) [ $# -eq 2 ] || die "usage: broker.sh stop DIR"; stop "$2" ;;
*) die "usage: broker.sh fetch | start DIR [key=value...] | stop DIR" ;;
esac
