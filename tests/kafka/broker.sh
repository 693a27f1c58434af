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
# A cluster of N combined broker+controller nodes (KRaft quorum of N voters), node K's state in
# DIR/nK; replication factor N and min.insync.replicas 2 for new topics, timeouts cut for a
# fail-over in seconds, a small heap per JVM (2 cores run three of them):
#   broker.sh cluster-start DIR N [key=value...]  start every node (ports chosen free on the first
#                                       start, kept for restarts) and wait until each one lists
#                                       all N brokers; prints "127.0.0.1:P1,127.0.0.1:P2,..."
#   broker.sh node-start DIR K          (re)start node K alone; waits until it answers and
#                                       lists itself; prints "127.0.0.1:PORT"
#   broker.sh node-stop DIR K [TERM|KILL]   stop node K (TERM waits 10 s, then SIGKILL)
#   broker.sh cluster-stop DIR          stop every node (SIGTERM, then SIGKILL), in parallel
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
	launch "$dir" 512m
	i=0
	while ! kcat -b "127.0.0.1:$port" -L -m 2 >/dev/null 2>&1; do
		kill -0 "$(cat "$dir/pid")" 2>/dev/null || die "broker exited: $(tail -20 "$dir/broker.log")"
		i=$((i + 1))
		[ $i -lt 120 ] || { stop "$dir"; die "broker did not answer on 127.0.0.1:$port within 60 s"; }
		sleep 0.5
	done
	echo "127.0.0.1:$port"
}

# launch DIR HEAP: run the broker of DIR/server.properties in the background, its PID in DIR/pid.
launch() {
	# setsid: the broker must not receive the test runner's terminal signals.
	setsid java -Xms64m -Xmx"$2" -XX:+UseSerialGC -XX:TieredStopAtLevel=1 \
		-Djava.awt.headless=true -cp "$LIBS/*" kafka.Kafka "$1/server.properties" \
		>>"$1/broker.log" 2>&1 </dev/null &
	echo $! >"$1/pid"
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

# ---- cluster ----

# node_props DIR K: write DIR/nK/server.properties from the ports of every node and DIR/extra.
node_props() {
	n=$(cat "$1/size"); nd="$1/n$2"
	voters=""
	for j in $(seq 1 "$n"); do voters="$voters${voters:+,}$j@127.0.0.1:$(cat "$1/n$j/cport")"; done
	minisr=2; [ "$n" -ge 2 ] || minisr=1
	port=$(cat "$nd/port"); cport=$(cat "$nd/cport")
	cat >"$nd/server.properties" <<PROPS
process.roles=broker,controller
node.id=$2
controller.quorum.voters=$voters
listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$cport
advertised.listeners=PLAINTEXT://127.0.0.1:$port
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=$nd/logs
num.partitions=1
default.replication.factor=$n
min.insync.replicas=$minisr
offsets.topic.replication.factor=$n
transaction.state.log.replication.factor=$n
transaction.state.log.min.isr=$minisr
group.initial.rebalance.delay.ms=0
num.network.threads=2
num.io.threads=2
background.threads=2
# fail-over in seconds: a dead broker is fenced after 3 s without a heartbeat, a follower
# leaves the ISR after 4 s behind, a controller election starts after 1 s of silence
broker.session.timeout.ms=3000
broker.heartbeat.interval.ms=500
replica.lag.time.max.ms=4000
controller.quorum.election.timeout.ms=1000
controller.quorum.fetch.timeout.ms=2000
PROPS
	cat "$1/extra" >>"$nd/server.properties"
}

# node_up DIR K: launch node K, formatting its log dir on its first start.
node_up() {
	nd="$1/n$2"
	if [ -f "$nd/pid" ] && kill -0 "$(cat "$nd/pid")" 2>/dev/null; then
		die "node $2 already runs from $nd (pid $(cat "$nd/pid"))"
	fi
	node_props "$1" "$2"
	if [ ! -f "$nd/logs/meta.properties" ]; then
		java_cmd kafka.tools.StorageTool format -t "$(cat "$1/cluster.id")" \
			-c "$nd/server.properties" >"$nd/format.log" 2>&1 ||
			die "formatting node $2 failed: $(tail -5 "$nd/format.log")"
	fi
	launch "$nd" 256m
}

# wait_node DIR K PATTERN: until node K's metadata answer matches PATTERN (grep -E), 90 s.
wait_node() {
	nd="$1/n$2"; port=$(cat "$nd/port")
	i=0
	while ! kcat -b "127.0.0.1:$port" -L -m 2 2>/dev/null | grep -Eq "$3"; do
		kill -0 "$(cat "$nd/pid")" 2>/dev/null || die "node $2 exited: $(tail -20 "$nd/broker.log")"
		i=$((i + 1))
		[ $i -lt 180 ] || die "node $2 (127.0.0.1:$port) did not show /$3/ within 90 s"
		sleep 0.5
	done
}

cluster_start() {
	dir=$1; n=$2; shift 2
	command -v java >/dev/null || die "java is not installed (scripts/install-deps.sh test)"
	case "$n" in '' | *[!0-9]*) die "cluster size must be a number" ;; esac
	[ "$n" -ge 1 ] || die "cluster size must be at least 1"
	fetch
	mkdir -p "$dir"
	dir=$(cd "$dir" && pwd)
	if [ ! -f "$dir/size" ]; then
		for k in $(seq 1 "$n"); do
			mkdir -p "$dir/n$k"
			free_port >"$dir/n$k/port"; free_port >"$dir/n$k/cport"
		done
		java_cmd kafka.tools.StorageTool random-uuid >"$dir/cluster.id"
		: >"$dir/extra"
		for kv in "$@"; do echo "$kv" >>"$dir/extra"; done
		echo "$n" >"$dir/size"
	fi
	[ "$(cat "$dir/size")" = "$n" ] || die "$dir holds a cluster of $(cat "$dir/size") nodes"
	# Every node first: a node waits for a quorum of controllers before it serves.
	for k in $(seq 1 "$n"); do
		[ -f "$dir/n$k/pid" ] && kill -0 "$(cat "$dir/n$k/pid")" 2>/dev/null && continue
		node_up "$dir" "$k"
	done
	boot=""
	for k in $(seq 1 "$n"); do
		wait_node "$dir" "$k" "^ *$n brokers:"
		boot="$boot${boot:+,}127.0.0.1:$(cat "$dir/n$k/port")"
	done
	echo "$boot"
}

node_start() {
	[ -f "$1/size" ] || die "$1 holds no cluster"
	dir=$(cd "$1" && pwd)
	fetch
	node_up "$dir" "$2"
	wait_node "$dir" "$2" "broker $2 at "
	echo "127.0.0.1:$(cat "$dir/n$2/port")"
}

node_stop() {
	nd="$1/n$2"
	[ -f "$nd/pid" ] || return 0
	if [ "${3:-TERM}" = KILL ]; then
		kill -KILL "$(cat "$nd/pid")" 2>/dev/null || true
		while kill -0 "$(cat "$nd/pid")" 2>/dev/null; do sleep 0.05; done
		rm -f "$nd/pid"
		return 0
	fi
	stop "$nd"
}

cluster_stop() {
	[ -f "$1/size" ] || return 0
	for k in $(seq 1 "$(cat "$1/size")"); do node_stop "$1" "$k" & done
	wait
}

case "${1:-}" in
cluster-start) [ $# -ge 3 ] || die "usage: broker.sh cluster-start DIR N [key=value...]"; shift; cluster_start "$@" ;;
node-start) [ $# -eq 3 ] || die "usage: broker.sh node-start DIR K"; node_start "$2" "$3" ;;
node-stop) [ $# -ge 3 ] || die "usage: broker.sh node-stop DIR K [TERM|KILL]"; node_stop "$2" "$3" "${4:-TERM}" ;;
cluster-stop) [ $# -eq 2 ] || die "usage: broker.sh cluster-stop DIR"; cluster_stop "$2" ;;
fetch) fetch; echo "$LIBS" ;;
start) [ $# -ge 2 ] || die "usage: broker.sh start DIR [key=value...]"; shift; start "$@" ;;
stop) [ $# -eq 2 ] || die "usage: broker.sh stop DIR"; stop "$2" ;;
*) die "usage: broker.sh fetch | start DIR [key=value...] | stop DIR | cluster-start DIR N [key=value...] | node-start DIR K | node-stop DIR K [TERM|KILL] | cluster-stop DIR" ;;
esac
