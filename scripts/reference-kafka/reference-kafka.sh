#!/usr/bin/env bash
# Reference Apache Kafka broker for conformance tests and benchmarks.
# Resolves Kafka's jars with Maven into a cache outside the repository and runs a single-node
# KRaft broker (combined broker+controller) on loopback. See README.md beside this file.
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
KAFKA_VERSION="${SLUICE_KAFKA_VERSION:-4.4.0}"
LOG4J_VERSION="${SLUICE_KAFKA_LOG4J_VERSION:-2.24.3}"
DEFAULT_PORT=19092
START_TIMEOUT="${SLUICE_KAFKA_START_TIMEOUT:-90}"
STOP_TIMEOUT="${SLUICE_KAFKA_STOP_TIMEOUT:-30}"
HEAP_OPTS="${SLUICE_KAFKA_HEAP_OPTS:--Xms256m -Xmx512m}"
# Kafka's own default JVM flags from kafka-run-class.sh / kafka-server-start.sh, minus the heap.
JVM_OPTS="${SLUICE_KAFKA_JVM_OPTS:--server -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:InitiatingHeapOccupancyPercent=35 -XX:+ExplicitGCInvokesConcurrent -XX:+ExitOnOutOfMemoryError -Djava.awt.headless=true}"
TOOL_HEAP_OPTS="${SLUICE_KAFKA_TOOL_HEAP_OPTS:--Xmx512m}"

die() {
  echo "reference-kafka: $*" >&2
  exit 1
}
info() { echo "reference-kafka: $*" >&2; }

usage() {
  cat <<EOF
usage: reference-kafka.sh <command> [options]

  install [--version V]          resolve Kafka V (default $KAFKA_VERSION) into the cache with Maven
  start [--port P] [--controller-port C] [--dir D] [--fresh] [--set key=value]...
        [--node-id N --voters V --cluster-id ID]
                                 format a KRaft dir (once) and start a broker in the background: a
                                 single-node one, or node N of the quorum V (id@host:port,...) whose
                                 dirs are all formatted with cluster id ID
  cluster-id                     print a fresh KRaft cluster id (for --cluster-id)
  stop [--port P] [--dir D]      SIGTERM, then SIGKILL after ${STOP_TIMEOUT}s; no-op when not running
  status [--port P] [--dir D]    print state, pid, port and RSS; exit 0 when running, 3 when not
  run-class <class> [args...]    run any Kafka class (tool) with the broker's classpath
  classpath                      print the Java classpath (after install)
  home                           print the cache directory

environment: SLUICE_KAFKA_VERSION, SLUICE_KAFKA_HOME (cache, default ~/.cache/sluice/kafka-<version>),
  SLUICE_KAFKA_DIR (broker dir, default \${TMPDIR:-/tmp}/sluice-reference-kafka-<port>),
  SLUICE_KAFKA_MAVEN_REPO (Maven local repository, default ~/.m2/repository),
  SLUICE_KAFKA_HEAP_OPTS, SLUICE_KAFKA_JVM_OPTS, SLUICE_KAFKA_START_TIMEOUT, SLUICE_KAFKA_STOP_TIMEOUT
EOF
}

kafka_home() { echo "${SLUICE_KAFKA_HOME:-${HOME}/.cache/sluice/kafka-${KAFKA_VERSION}}"; }

# ---------------------------------------------------------------------------------------------- install

installed() { [[ -f "$(kafka_home)/libs/.complete" ]]; }

cmd_install() {
  while (($#)); do
    case "$1" in
      --version) KAFKA_VERSION="${2:?--version needs a value}"; shift 2 ;;
      *) die "install: unknown option $1" ;;
    esac
  done
  local home
  home="$(kafka_home)"
  if installed; then
    info "Kafka ${KAFKA_VERSION} already installed in ${home}"
    return 0
  fi
  command -v mvn >/dev/null || die "mvn not found (Maven is needed to resolve Kafka's jars)"
  command -v java >/dev/null || die "java not found (Kafka ${KAFKA_VERSION} needs Java 17+)"
  mkdir -p "$home"
  # Two installers (e.g. a test and a developer) must not interleave their copies.
  exec 9>"${home}/.install.lock"
  flock 9
  if installed; then
    info "Kafka ${KAFKA_VERSION} already installed in ${home}"
    return 0
  fi
  local started=$SECONDS build="${home}/build"
  info "resolving Kafka ${KAFKA_VERSION} with Maven into ${home}/libs ..."
  rm -rf "$build" "${home}/libs.partial"
  mkdir -p "$build"
  # Maven runs in the cache so its target/ and logs never land in the repository.
  cp "${SCRIPT_DIR}/pom.xml" "${build}/pom.xml"
  local repo_opt=()
  if [[ -n "${SLUICE_KAFKA_MAVEN_REPO:-}" ]]; then repo_opt=("-Dmaven.repo.local=${SLUICE_KAFKA_MAVEN_REPO}"); fi
  if ! (cd "$build" && mvn -B -q "${repo_opt[@]+"${repo_opt[@]}"}" -Dkafka.version="$KAFKA_VERSION" -Dlog4j.version="$LOG4J_VERSION" \
    dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="${home}/libs.partial" \
    >"${home}/install.log" 2>&1); then
    tail -n 30 "${home}/install.log" >&2 || true
    die "Maven could not resolve Kafka ${KAFKA_VERSION} (full log: ${home}/install.log)"
  fi
  [[ -f "${home}/libs.partial/kafka_2.13-${KAFKA_VERSION}.jar" ]] || die "kafka_2.13-${KAFKA_VERSION}.jar missing after resolve"
  rm -rf "${home}/libs"
  mv "${home}/libs.partial" "${home}/libs"
  echo "$KAFKA_VERSION" >"${home}/libs/.complete"
  info "installed Kafka ${KAFKA_VERSION}: $(find "${home}/libs" -name '*.jar' | wc -l) jars in $((SECONDS - started))s"
}

ensure_installed() {
  if ! installed; then cmd_install >&2; fi
}

# ---------------------------------------------------------------------------------------------- broker

PORT="" CONTROLLER_PORT="" DIR="" FRESH=0 NODE_ID="" VOTERS="" CLUSTER_ID=""
EXTRA_PROPS=()

parse_broker_opts() {
  while (($#)); do
    case "$1" in
      --port) PORT="${2:?--port needs a value}"; shift 2 ;;
      --controller-port) CONTROLLER_PORT="${2:?--controller-port needs a value}"; shift 2 ;;
      --dir) DIR="${2:?--dir needs a value}"; shift 2 ;;
      --fresh) FRESH=1; shift ;;
      --set) EXTRA_PROPS+=("${2:?--set needs key=value}"); shift 2 ;;
      --node-id) NODE_ID="${2:?--node-id needs a value}"; shift 2 ;;
      --voters) VOTERS="${2:?--voters needs a value}"; shift 2 ;;
      --cluster-id) CLUSTER_ID="${2:?--cluster-id needs a value}"; shift 2 ;;
      *) die "unknown option $1" ;;
    esac
  done
  PORT="${PORT:-$DEFAULT_PORT}"
  [[ "$PORT" =~ ^[0-9]+$ ]] && ((PORT > 0 && PORT < 65536)) || die "bad port $PORT"
  CONTROLLER_PORT="${CONTROLLER_PORT:-$((PORT + 1))}"
  [[ "$CONTROLLER_PORT" =~ ^[0-9]+$ ]] && ((CONTROLLER_PORT > 0 && CONTROLLER_PORT < 65536)) || die "bad controller port"
  NODE_ID="${NODE_ID:-1}"
  [[ "$NODE_ID" =~ ^[0-9]+$ ]] || die "bad node id $NODE_ID"
  VOTERS="${VOTERS:-${NODE_ID}@127.0.0.1:${CONTROLLER_PORT}}"
  [[ "$VOTERS" =~ ^[0-9]+@[^,@]+:[0-9]+(,[0-9]+@[^,@]+:[0-9]+)*$ ]] || die "bad voters $VOTERS (id@host:port,...)"
  if [[ -n "$CLUSTER_ID" ]]; then
    [[ "$CLUSTER_ID" =~ ^[A-Za-z0-9_][A-Za-z0-9_-]{21}$ ]] || die "bad cluster id $CLUSTER_ID (22 base64url characters)"
  fi
  DIR="${DIR:-${SLUICE_KAFKA_DIR:-${TMPDIR:-/tmp}/sluice-reference-kafka-${PORT}}}"
  mkdir -p "$DIR"
  DIR="$(cd "$DIR" && pwd)"
}

# The pid in the pid file, if that process is still our broker (guards against pid reuse).
running_pid() {
  local pidfile="${DIR}/kafka.pid" pid
  [[ -f "$pidfile" ]] || return 1
  pid="$(<"$pidfile")"
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  [[ -r "/proc/${pid}/cmdline" ]] || return 1
  tr '\0' ' ' <"/proc/${pid}/cmdline" | grep -q "kafka.Kafka ${DIR}/server.properties" || return 1
  echo "$pid"
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# Sends ApiVersions v0 (correlation id 7, client id "probe") and checks the response header:
# correlation id 7 and error code 0. Proves the broker answers requests, not just accepts sockets.
api_versions_ok() {
  local hex
  hex="$(timeout 5 bash -c '
    exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1
    printf "\x00\x00\x00\x0f\x00\x12\x00\x00\x00\x00\x00\x07\x00\x05probe" >&3
    head -c 10 <&3
  ' _ "$1" 2>/dev/null | od -An -v -tx1 | tr -d ' \n')" || return 1
  [[ "${hex:8:12}" == "000000070000" ]]
}

write_server_properties() {
  cat >"${DIR}/server.properties" <<EOF
# Generated by scripts/reference-kafka/reference-kafka.sh; rewritten on every start.
process.roles=broker,controller
node.id=${NODE_ID}
controller.quorum.voters=${VOTERS}
listeners=PLAINTEXT://127.0.0.1:${PORT},CONTROLLER://127.0.0.1:${CONTROLLER_PORT}
advertised.listeners=PLAINTEXT://127.0.0.1:${PORT}
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=${DIR}/data
num.partitions=1
auto.create.topics.enable=true
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
EOF
  local kv
  for kv in "${EXTRA_PROPS[@]+"${EXTRA_PROPS[@]}"}"; do
    [[ "$kv" == *=* ]] || die "--set expects key=value, got '$kv'"
    echo "$kv" >>"${DIR}/server.properties"
  done
}

java_cp() { echo "$(kafka_home)/libs/*"; }

# A KRaft cluster id is a base64url (unpadded) 16-byte UUID. One that starts with "-" reads as an
# option to the storage tool's argument parser (1 run in 64 failed that way), so draw again, as
# Kafka's own Uuid.randomUuid() does; the loop is bounded and all but never goes past one draw.
draw_cluster_id() {
  local cluster_id="-" draws=0
  while [[ "$cluster_id" == -* ]]; do
    ((draws += 1)) && ((draws <= 100)) || die "could not draw a cluster id"
    cluster_id="$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=')"
  done
  echo "$cluster_id"
}

cmd_start() {
  parse_broker_opts "$@"
  ensure_installed
  local pid
  if pid="$(running_pid)"; then
    info "already running (pid ${pid}, port ${PORT}, dir ${DIR})"
    return 0
  fi
  port_open "$PORT" && die "port ${PORT} is already in use by another process"
  port_open "$CONTROLLER_PORT" && die "controller port ${CONTROLLER_PORT} is already in use by another process"
  local started=$SECONDS
  if ((FRESH)); then rm -rf "${DIR}/data"; fi
  write_server_properties
  if [[ ! -f "${DIR}/data/meta.properties" ]]; then
    # The nodes of one quorum must share a cluster id, so a caller starting several passes one.
    local cluster_id="$CLUSTER_ID"
    [[ -n "$cluster_id" ]] || cluster_id="$(draw_cluster_id)"
    # shellcheck disable=SC2086
    if ! java $TOOL_HEAP_OPTS -Dlog4j2.configurationFile="${SCRIPT_DIR}/tools-log4j2.properties" -cp "$(java_cp)" \
      kafka.tools.StorageTool format -t "$cluster_id" -c "${DIR}/server.properties" >"${DIR}/format.log" 2>&1; then
      cat "${DIR}/format.log" >&2
      die "formatting ${DIR}/data failed"
    fi
  fi
  local log="${DIR}/kafka.log"
  : >"$log"
  # setsid: the broker outlives the caller's process group (test runners, terminals).
  # shellcheck disable=SC2086
  setsid java $HEAP_OPTS $JVM_OPTS -Dlog4j2.configurationFile="${SCRIPT_DIR}/broker-log4j2.properties" \
    -Dkafka.logs.dir="${DIR}/logs" -cp "$(java_cp)" kafka.Kafka "${DIR}/server.properties" \
    </dev/null >>"$log" 2>&1 &
  pid=$!
  echo "$pid" >"${DIR}/kafka.pid"
  local deadline=$((SECONDS + START_TIMEOUT))
  while :; do
    if ! kill -0 "$pid" 2>/dev/null; then
      tail -n 40 "$log" >&2 || true
      rm -f "${DIR}/kafka.pid"
      die "broker exited during start-up (log: ${log})"
    fi
    if grep -q 'Kafka Server started' "$log" && api_versions_ok "$PORT"; then
      break
    fi
    if ((SECONDS >= deadline)); then
      tail -n 40 "$log" >&2 || true
      kill -KILL "$pid" 2>/dev/null || true
      wait "$pid" 2>/dev/null || true
      rm -f "${DIR}/kafka.pid"
      die "broker did not answer on 127.0.0.1:${PORT} within ${START_TIMEOUT}s (log: ${log})"
    fi
    sleep 0.25
  done
  info "Kafka ${KAFKA_VERSION} ready on 127.0.0.1:${PORT} (pid ${pid}, dir ${DIR}) in $((SECONDS - started))s"
  echo "bootstrap=127.0.0.1:${PORT} pid=${pid} dir=${DIR}"
}

cmd_stop() {
  parse_broker_opts "$@"
  local pid
  if ! pid="$(running_pid)"; then
    rm -f "${DIR}/kafka.pid"
    info "not running (dir ${DIR})"
    return 0
  fi
  kill -TERM "$pid" 2>/dev/null || true
  local deadline=$((SECONDS + STOP_TIMEOUT))
  while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.2; done
  if kill -0 "$pid" 2>/dev/null; then
    info "broker ignored SIGTERM for ${STOP_TIMEOUT}s, sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
    while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
  fi
  rm -f "${DIR}/kafka.pid"
  info "stopped (pid ${pid})"
}

cmd_status() {
  parse_broker_opts "$@"
  local pid rss
  if pid="$(running_pid)"; then
    rss="$(awk '/^VmRSS:/ {print $2}' "/proc/${pid}/status" 2>/dev/null || echo '?')"
    echo "running pid=${pid} port=${PORT} dir=${DIR} rss_kb=${rss} version=${KAFKA_VERSION}"
    return 0
  fi
  echo "stopped port=${PORT} dir=${DIR}"
  return 3
}

cmd_run_class() {
  (($#)) || die "run-class needs a class name"
  ensure_installed
  # shellcheck disable=SC2086
  exec java $TOOL_HEAP_OPTS -Djava.awt.headless=true -Dlog4j2.configurationFile="${SCRIPT_DIR}/tools-log4j2.properties" \
    -cp "$(java_cp)" "$@"
}

main() {
  local cmd="${1:-help}"
  shift || true
  case "$cmd" in
    install) cmd_install "$@" ;;
    start) cmd_start "$@" ;;
    stop) cmd_stop "$@" ;;
    status) cmd_status "$@" ;;
    run-class) cmd_run_class "$@" ;;
    cluster-id) draw_cluster_id ;;
    classpath) installed || die "not installed; run: reference-kafka.sh install"; java_cp ;;
    home) kafka_home ;;
    help | -h | --help) usage ;;
    *) usage >&2; exit 2 ;;
  esac
}

main "$@"
