#!/usr/bin/env bash
# Kafka Streams (Java) running the topologies the streams conformance tests and benchmark compare
# @sluice/streams with. Resolves kafka-streams with Maven into a cache outside the repository and
# compiles SluiceStreamsApp.java there.
#   streams-app.sh install            resolve and compile (once; later calls are no-ops)
#   streams-app.sh run <mode> args... run the app in the foreground (see SluiceStreamsApp.java)
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
KAFKA_VERSION="${SLUICE_KAFKA_VERSION:-4.4.0}"
LOG4J_VERSION="${SLUICE_KAFKA_LOG4J_VERSION:-2.24.3}"
HOME_DIR="${SLUICE_KAFKA_STREAMS_HOME:-${HOME}/.cache/sluice/kafka-streams-${KAFKA_VERSION}}"
HEAP_OPTS="${SLUICE_KAFKA_STREAMS_HEAP_OPTS:--Xms256m -Xmx512m}"

die() {
  echo "streams-app: $*" >&2
  exit 1
}

# The compiled class is keyed by the source's hash, so an edited app is compiled again.
src_hash() { sha256sum "${SCRIPT_DIR}/SluiceStreamsApp.java" | cut -c1-16; }

install() {
  local classes
  classes="${HOME_DIR}/classes-$(src_hash)"
  [[ -f "${classes}/SluiceStreamsApp.class" ]] && return 0
  command -v mvn >/dev/null || die "mvn not found (Maven is needed to resolve kafka-streams)"
  command -v javac >/dev/null || die "javac not found (a JDK 17+ is needed)"
  mkdir -p "$HOME_DIR"
  exec 9>"${HOME_DIR}/.install.lock"
  flock 9
  if [[ ! -f "${HOME_DIR}/libs/.complete" ]]; then
    local build="${HOME_DIR}/build"
    rm -rf "$build" "${HOME_DIR}/libs.partial"
    mkdir -p "$build"
    cp "${SCRIPT_DIR}/pom.xml" "${build}/pom.xml"
    local repo_opt=()
    if [[ -n "${SLUICE_KAFKA_MAVEN_REPO:-}" ]]; then repo_opt=("-Dmaven.repo.local=${SLUICE_KAFKA_MAVEN_REPO}"); fi
    if ! (cd "$build" && mvn -B -q "${repo_opt[@]+"${repo_opt[@]}"}" -Dkafka.version="$KAFKA_VERSION" \
      -Dlog4j.version="$LOG4J_VERSION" dependency:copy-dependencies -DincludeScope=runtime \
      -DoutputDirectory="${HOME_DIR}/libs.partial" >"${HOME_DIR}/install.log" 2>&1); then
      tail -n 30 "${HOME_DIR}/install.log" >&2 || true
      die "Maven could not resolve kafka-streams ${KAFKA_VERSION} (log: ${HOME_DIR}/install.log)"
    fi
    rm -rf "${HOME_DIR}/libs"
    mv "${HOME_DIR}/libs.partial" "${HOME_DIR}/libs"
    touch "${HOME_DIR}/libs/.complete"
  fi
  [[ -f "${classes}/SluiceStreamsApp.class" ]] && return 0
  rm -rf "${classes}.partial"
  mkdir -p "${classes}.partial"
  javac -nowarn -cp "${HOME_DIR}/libs/*" -d "${classes}.partial" "${SCRIPT_DIR}/SluiceStreamsApp.java"
  mv "${classes}.partial" "$classes"
}

case "${1:-}" in
  install) install ;;
  run)
    shift
    install
    # exec: the caller's pid is the JVM's (CPU is measured on it, SIGTERM closes the app).
    # shellcheck disable=SC2086
    exec java $HEAP_OPTS -XX:+UseG1GC -Dlog4j2.configurationFile="${SCRIPT_DIR}/../tools-log4j2.properties" -cp "${HOME_DIR}/classes-$(src_hash):${HOME_DIR}/libs/*" SluiceStreamsApp "$@"
    ;;
  *) die "usage: streams-app.sh install | run <mode> args..." ;;
esac
