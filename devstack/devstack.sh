#!/usr/bin/env bash
# devstack.sh — the real PostgreSQL, Kafka, Keycloak, SMTP, DNS and S3 servers that tenantflow drives,
# run as plain processes (no container engine needed).
#
#   devstack.sh up      install what is missing, start what is not running, wait until each answers
#   devstack.sh down    stop everything this script started
#   devstack.sh status  one line per component: running / answering
#   devstack.sh env     the connection settings tenantd and the tests read (eval "$(devstack.sh env)")
#
# Everything it downloads, and all data and logs, live under .devstack/ in the
# repository (git-ignored), or under $TENANTFLOW_DEVSTACK_DIR when set.
# Every command is idempotent: a second `up` with everything running only checks.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
STATE=${TENANTFLOW_DEVSTACK_DIR:-$ROOT/.devstack}

PG_PORT=${DEVSTACK_PG_PORT:-15432}
KAFKA_PORT=${DEVSTACK_KAFKA_PORT:-19092}
KAFKA_CONTROLLER_PORT=${DEVSTACK_KAFKA_CONTROLLER_PORT:-19093}
KEYCLOAK_PORT=${DEVSTACK_KEYCLOAK_PORT:-18080}
KEYCLOAK_MGMT_PORT=${DEVSTACK_KEYCLOAK_MGMT_PORT:-18081}
KEYCLOAK_PG_PORT=${DEVSTACK_KEYCLOAK_PG_PORT:-15433}
KEYCLOAK_VERSION=${DEVSTACK_KEYCLOAK_VERSION:-26.4.7}
SMTP_PORT=${DEVSTACK_SMTP_PORT:-11025}
DNS_PORT=${DEVSTACK_DNS_PORT:-15353}
S3_PORT=${DEVSTACK_S3_PORT:-17070}
BILLING_PORT=${DEVSTACK_BILLING_PORT:-17111}
VERSITYGW_VERSION=${DEVSTACK_VERSITYGW_VERSION:-v1.8.0}
OPENTOFU_VERSION=${DEVSTACK_OPENTOFU_VERSION:-v1.12.6}
# Kafka's version is pinned in devstack/kafka/pom.xml.

# How long `up` waits for each component to answer before giving up.
PG_WAIT=${DEVSTACK_PG_WAIT:-60}
KAFKA_WAIT=${DEVSTACK_KAFKA_WAIT:-120}
KEYCLOAK_WAIT=${DEVSTACK_KEYCLOAK_WAIT:-300}

say() { printf 'devstack: %s\n' "$*" >&2; }
die() { say "ERROR: $*"; exit 1; }

# --- shared helpers -----------------------------------------------------------

apt_updated=0
# ensure_cmd CMD PACKAGE: install PACKAGE from Debian when CMD is missing.
ensure_cmd() {
  local cmd=$1 pkg=$2
  command -v "$cmd" >/dev/null 2>&1 && return 0
  say "installing $pkg (needed for $cmd)"
  install_pkg "$pkg"
}

# install_pkg PACKAGE: install a Debian package.
install_pkg() {
  local pkg=$1
  command -v apt-get >/dev/null 2>&1 || die "apt-get is not available to install $pkg"
  if [ "$apt_updated" = 0 ]; then
    DEBIAN_FRONTEND=noninteractive apt-get update -qq >"$STATE/apt.log" 2>&1 || { tail -20 "$STATE/apt.log" >&2; die "apt-get update failed"; }
    apt_updated=1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$pkg" >>"$STATE/apt.log" 2>&1 ||
    { tail -20 "$STATE/apt.log" >&2; die "apt-get install $pkg failed"; }
}

ensure_java() {
  command -v java >/dev/null 2>&1 || die "no JDK on PATH: Kafka and Keycloak need Java 17 or newer"
  local major
  major=$(java -XshowSettings:properties -version 2>&1 | awk -F'= ' '/java.specification.version/ {print $2}')
  [ "${major%%.*}" -ge 17 ] 2>/dev/null || die "java on PATH is version $major; Kafka 4 and Keycloak 26 need 17 or newer"
  ensure_cmd mvn maven
}

# wait_until NAME SECONDS LOG PIDFILE CHECK...: run CHECK until it succeeds.
# Fails fast when the process behind PIDFILE dies, and shows the log tail either way.
wait_until() {
  local name=$1 secs=$2 log=$3 pidfile=$4; shift 4
  local deadline=$((SECONDS + secs))
  until "$@" >/dev/null 2>&1; do
    if [ -n "$pidfile" ] && ! alive "$pidfile"; then
      say "$name exited during start-up; last lines of $log:"
      tail -n 40 "$log" >&2 || true
      die "$name failed to start"
    fi
    if [ "$SECONDS" -ge "$deadline" ]; then
      say "$name did not answer within ${secs}s; last lines of $log:"
      tail -n 40 "$log" >&2 || true
      die "$name is not ready"
    fi
    sleep 1
  done
}

alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

# start_bg PIDFILE LOG CMD...: start CMD detached from this shell, in its own session.
start_bg() {
  local pidfile=$1 log=$2; shift 2
  setsid nohup "$@" >>"$log" 2>&1 </dev/null &
  echo $! >"$pidfile"
}

# stop_pid NAME PIDFILE: SIGTERM, wait up to 30 s, then SIGKILL.
stop_pid() {
  local name=$1 pidfile=$2
  if ! alive "$pidfile"; then rm -f "$pidfile"; return 0; fi
  local pid; pid=$(cat "$pidfile")
  say "stopping $name (pid $pid)"
  kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 30); do kill -0 "$pid" 2>/dev/null || break; sleep 1; done
  if kill -0 "$pid" 2>/dev/null; then
    say "$name ignored SIGTERM for 30s; killing it"
    kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$pidfile"
}

# Generated once per .devstack folder, so no password is written into the repository.
load_secrets() {
  local f=$STATE/secrets.env
  if [ ! -f "$f" ]; then
    mkdir -p "$STATE"
    ( umask 077
      printf 'PG_PASSWORD=%s\nKEYCLOAK_ADMIN_PASSWORD=%s\n' \
        "$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')" \
        "$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')" >"$f" )
  fi
  # Settings added after a folder was created are generated on the next run.
  if ! grep -q '^JWT_SECRET=' "$f"; then
    printf 'JWT_SECRET=%s\n' "$(od -An -N32 -tx1 /dev/urandom | tr -d ' \n')" >>"$f"
  fi
  if ! grep -q '^S3_SECRET_KEY=' "$f"; then
    printf 'S3_ACCESS_KEY=tenantflow\nS3_SECRET_KEY=%s\n' "$(od -An -N20 -tx1 /dev/urandom | tr -d ' \n')" >>"$f"
  fi
  if ! grep -q '^AGENT_KEY=' "$f"; then
    printf 'DEPLOY_SIGNING_KEY=%s\nAGENT_KEY=%s\n' "$(od -An -N32 -tx1 /dev/urandom | tr -d ' \n')" \
      "$(od -An -N32 -tx1 /dev/urandom | tr -d ' \n')" >>"$f"
  fi
  if ! grep -q '^OPERATOR_PASSWORD=' "$f"; then
    printf 'OPERATOR_PASSWORD=%s\nCI_CLIENT_SECRET=%s\n' "$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')" \
      "$(od -An -N24 -tx1 /dev/urandom | tr -d ' \n')" >>"$f"
  fi
  if ! grep -q '^KAFKA_ADMIN_PASSWORD=' "$f"; then
    local u
    for u in ADMIN TENANTD RELAY AGENT ANALYTICS; do
      printf 'KAFKA_%s_PASSWORD=%s\n' "$u" "$(od -An -N18 -tx1 /dev/urandom | tr -d ' \n')" >>"$f"
    done
  fi
  if ! grep -q '^PII_KEY=' "$f"; then
    printf 'PII_KEY=%s\n' "$(od -An -N32 -tx1 /dev/urandom | tr -d ' \n')" >>"$f"
  fi
  if ! grep -q '^KC_CLIENT_SECRET=' "$f"; then
    printf 'KC_CLIENT_SECRET=%s\n' "$(od -An -N24 -tx1 /dev/urandom | tr -d ' \n')" >>"$f"
  fi
  if ! grep -q '^SEAL_KEY=' "$f"; then
    printf 'SEAL_KEY=%s\n' "$(od -An -N32 -tx1 /dev/urandom | tr -d ' \n')" >>"$f"
  fi
  # shellcheck disable=SC1090
  . "$f"
}

# --- PostgreSQL ---------------------------------------------------------------

pg_bindir() {
  local d
  d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1) || true
  [ -n "$d" ] && [ -x "$d/pg_ctl" ] && echo "$d"
}

# PostgreSQL refuses to run as root, so as root the cluster runs as the Debian
# package's `postgres` user. Its data must then sit where that user can reach;
# when the repository is not reachable (say, under /root), it goes to /var/tmp.
pg_dir() {
  local d=$STATE/pg
  if [ "$(id -u)" = 0 ] && ! runuser -u postgres -- test -x "$STATE" 2>/dev/null; then
    d=/var/tmp/tenantflow-devstack-$(printf '%s' "$ROOT" | md5sum | cut -c1-12)/pg
  fi
  echo "$d"
}

pg_as() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }

pg_answers() { PGPASSWORD=$PG_PASSWORD psql -h 127.0.0.1 -p "$PG_PORT" -U tenantflow -d tenantflow -tAc 'select 1' | grep -qx 1; }

# pg_cluster_up DIR PORT: a private PostgreSQL cluster in DIR on PORT, started.
pg_cluster_up() {
  local dir=$1 port=$2 bin log
  bin=$(pg_bindir) || die "PostgreSQL server binaries not found under /usr/lib/postgresql after installing"
  log=$dir/postgres.log
  mkdir -p "$dir/run"
  [ "$(id -u)" = 0 ] && chown -R postgres: "$dir"
  if [ ! -f "$dir/data/PG_VERSION" ]; then
    say "initialising a private PostgreSQL cluster in $dir/data"
    local pwfile=$dir/pwfile
    ( umask 077; printf '%s\n' "$PG_PASSWORD" >"$pwfile" )
    [ "$(id -u)" = 0 ] && chown postgres: "$pwfile"
    pg_as "$bin/initdb" -D "$dir/data" -U postgres --pwfile="$pwfile" \
      --auth-local=trust --auth-host=scram-sha-256 -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 ||
      { rm -f "$pwfile"; tail -20 "$dir/initdb.log" >&2; die "initdb failed"; }
    rm -f "$pwfile"
    cat >>"$dir/data/postgresql.conf" <<EOF
# tenantflow dev stack
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$dir/run'
max_connections = 300
shared_buffers = 256MB
EOF
  fi
  # The top statements of a profile (make profile) come from pg_stat_statements;
  # a cluster made before this line takes it at its next restart.
  if ! grep -q '^shared_preload_libraries' "$dir/data/postgresql.conf"; then
    printf "shared_preload_libraries = 'pg_stat_statements'\npg_stat_statements.track = top\n" >>"$dir/data/postgresql.conf"
  fi
  if ! pg_as "$bin/pg_ctl" -D "$dir/data" status >/dev/null 2>&1; then
    say "starting postgres on 127.0.0.1:$port ($dir)"
    pg_as "$bin/pg_ctl" -D "$dir/data" -l "$log" -w -t "$PG_WAIT" start >/dev/null ||
      { say "last lines of $log:"; tail -n 40 "$log" >&2; die "postgres failed to start"; }
  fi
}

# pg_role_db DIR PORT NAME [ATTRS]: login role and database NAME (owned by
# it) with the dev stack's password; idempotent. The password is set on
# every start, so a cluster kept from an earlier .devstack folder (the
# /var/tmp case above) takes this folder's generated password.
pg_role_db() {
  local q="psql -h $1/run -p $2 -U postgres -d postgres -v ON_ERROR_STOP=1 -qtA" name=$3 attrs=${4:-}
  if [ "$(pg_as $q -c "select 1 from pg_roles where rolname='$name'")" != 1 ]; then
    pg_as $q -c "create role $name login $attrs" >/dev/null
  fi
  pg_as $q -c "alter role $name password '$PG_PASSWORD'" >/dev/null
  if [ "$(pg_as $q -c "select 1 from pg_database where datname='$name'")" != 1 ]; then
    pg_as $q -c "create database $name owner $name" >/dev/null
  fi
}

# pg_runtime_role DIR PORT: the login role tenantd runs as, tenantflow_app, a
# member of tenantflow_runtime (the role migration 00011 grants reading and
# appending to the event log, and nothing more on it). The owner, tenantflow,
# runs the migrations and makes tenants' schemas and roles.
pg_runtime_role() {
  local q="psql -h $1/run -p $2 -U postgres -d postgres -v ON_ERROR_STOP=1 -qtA"
  if [ "$(pg_as $q -c "select 1 from pg_roles where rolname='tenantflow_runtime'")" != 1 ]; then
    pg_as $q -c "create role tenantflow_runtime nologin" >/dev/null
  fi
  pg_as $q -c "grant tenantflow_runtime to tenantflow" >/dev/null
  if [ "$(pg_as $q -c "select 1 from pg_roles where rolname='tenantflow_app'")" != 1 ]; then
    pg_as $q -c "create role tenantflow_app login in role tenantflow_runtime" >/dev/null
  fi
  pg_as $q -c "alter role tenantflow_app password '$PG_PASSWORD'" >/dev/null
  # OpenTofu's state role: it may create schemas (tofu_<tenant>) in the
  # database and owns only those; it reads nothing of the log's or the
  # tenants' (TENANTFLOW_INFRA_STATE_URL).
  if [ "$(pg_as $q -c "select 1 from pg_roles where rolname='tenantflow_tofu'")" != 1 ]; then
    pg_as $q -c "create role tenantflow_tofu login" >/dev/null
  fi
  pg_as $q -c "alter role tenantflow_tofu password '$PG_PASSWORD'" >/dev/null
  pg_as $q -c "grant create, connect on database tenantflow to tenantflow_tofu" >/dev/null
  # The pg backend numbers every state from one sequence it makes in public
  # (global_states_id_seq): the role may make it, and use it once made.
  local t="psql -h $1/run -p $2 -U postgres -d tenantflow -v ON_ERROR_STOP=1 -qtA"
  pg_as $t -c "grant create on schema public to tenantflow_tofu" >/dev/null
  # Made here, before either role runs OpenTofu, so both may use it whoever
  # comes first (the owner's tests keep state too).
  pg_as $t -c "create sequence if not exists public.global_states_id_seq as bigint" >/dev/null
  pg_as $t -c "alter sequence public.global_states_id_seq owner to tenantflow" >/dev/null
  pg_as $t -c "grant usage, select, update on sequence public.global_states_id_seq to tenantflow_tofu" >/dev/null
}

pg_up() {
  [ -n "$(pg_bindir)" ] || ensure_cmd /usr/lib/postgresql/15/bin/pg_ctl postgresql
  ensure_cmd psql postgresql-client
  local dir; dir=$(pg_dir)
  if pg_answers 2>/dev/null; then pg_runtime_role "$dir" "$PG_PORT"; say "postgres already up on 127.0.0.1:$PG_PORT"; return; fi
  pg_cluster_up "$dir" "$PG_PORT"
  pg_role_db "$dir" "$PG_PORT" tenantflow "createdb createrole"
  pg_runtime_role "$dir" "$PG_PORT"
  wait_until postgres "$PG_WAIT" "$dir/postgres.log" "" pg_answers
  say "postgres answers"
}

# pg_cluster_down DIR
pg_cluster_down() {
  local bin; bin=$(pg_bindir) || return 0
  [ -f "$1/data/postmaster.pid" ] || return 0
  say "stopping postgres ($1)"
  pg_as "$bin/pg_ctl" -D "$1/data" -m fast -w stop >/dev/null 2>&1 || true
}

pg_down() { pg_cluster_down "$(pg_dir)"; }

# pg_stat: "reset" clears pg_stat_statements of the event log's cluster;
# "top N" prints its N statements with the most execution time (make profile).
pg_stat() {
  local dir; dir=$(pg_dir)
  local q="env PGOPTIONS=-cclient_min_messages=warning psql -h $dir/run -p $PG_PORT -U postgres -d postgres -v ON_ERROR_STOP=1 -q"
  pg_as $q -tAc "show shared_preload_libraries" | grep -q pg_stat_statements ||
    die "pg_stat_statements is not loaded: run $0 restart postgres once"
  pg_as $q -c "create extension if not exists pg_stat_statements" >/dev/null
  case "${1:-}" in
    reset) pg_as $q -tAc "select pg_stat_statements_reset()" >/dev/null ;;
    top) pg_as $q -c "select calls, round(total_exec_time::numeric, 1) as total_ms, round(mean_exec_time::numeric, 3) as mean_ms,
           rows, round((100 * total_exec_time / sum(total_exec_time) over ())::numeric, 1) as pct,
           left(regexp_replace(query, '\s+', ' ', 'g'), 160) as query
           from pg_stat_statements order by total_exec_time desc limit ${2:-25}" ;;
    *) echo "usage: $0 pgstat reset|top [N]" >&2; exit 2 ;;
  esac
}

# --- Kafka (KRaft, single node) -----------------------------------------------

KAFKA_DIR=$STATE/kafka
KAFKA_TLS_DIR=$STATE/kafka-tls
# kcat as the dev stack's administrator, over TLS with PLAIN.
kcat_admin() {
  kcat -b "127.0.0.1:$KAFKA_PORT" -X security.protocol=SASL_SSL -X sasl.mechanisms=PLAIN \
    -X sasl.username=admin -X "sasl.password=$KAFKA_ADMIN_PASSWORD" -X "ssl.ca.location=$KAFKA_TLS_DIR/ca.pem" "$@"
}
kafka_answers() { kcat_admin -L -m 5 >/dev/null 2>&1; }

# kafka_tls: a private CA and the broker's certificate for 127.0.0.1 (once).
# Clients trust the CA through TENANTFLOW_KAFKA_TLS_CA_FILE.
kafka_tls() {
  [ -f "$KAFKA_TLS_DIR/broker.pem" ] && return
  ensure_cmd openssl openssl
  mkdir -p "$KAFKA_TLS_DIR"
  local d=$KAFKA_TLS_DIR
  ( umask 077
    openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=tenantflow dev stack CA" \
      -keyout "$d/ca.key" -out "$d/ca.pem" >/dev/null 2>&1 &&
    openssl req -newkey rsa:2048 -nodes -subj "/CN=127.0.0.1" -keyout "$d/broker.key" -out "$d/broker.csr" >/dev/null 2>&1 &&
    printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\n' >"$d/san.ext" &&
    openssl x509 -req -in "$d/broker.csr" -CA "$d/ca.pem" -CAkey "$d/ca.key" -CAcreateserial -days 3650 \
      -extfile "$d/san.ext" -out "$d/broker.crt" >/dev/null 2>&1 &&
    openssl pkcs8 -topk8 -nocrypt -in "$d/broker.key" -out "$d/broker.pk8" &&
    cat "$d/broker.pk8" "$d/broker.crt" "$d/ca.pem" >"$d/broker.pem" ) || die "could not make the Kafka TLS certificates"
  chmod 644 "$d/ca.pem"
  say "kafka: made a private CA and a broker certificate in $KAFKA_TLS_DIR"
}

kafka_up() {
  ensure_java
  ensure_cmd kcat kcat
  mkdir -p "$KAFKA_DIR"
  kafka_tls
  local log=$KAFKA_DIR/kafka.log pidfile=$KAFKA_DIR/kafka.pid
  if alive "$pidfile" && kafka_answers; then say "kafka already up on 127.0.0.1:$KAFKA_PORT"; kafka_principals; return; fi
  stop_pid kafka "$pidfile"

  local stamp=$KAFKA_DIR/libs/.pom.sha
  local want; want=$(sha256sum "$ROOT/devstack/kafka/pom.xml" | cut -d' ' -f1)
  if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    say "fetching Kafka and its runtime dependencies with mvn"
    rm -rf "$KAFKA_DIR/libs"
    mvn -q -B -f "$ROOT/devstack/kafka/pom.xml" dependency:copy-dependencies \
      -DincludeScope=runtime -DoutputDirectory="$KAFKA_DIR/libs" >"$KAFKA_DIR/mvn.log" 2>&1 ||
      { tail -30 "$KAFKA_DIR/mvn.log" >&2; die "mvn could not fetch Kafka"; }
    echo "$want" >"$stamp"
  fi

  # One listener for clients and the broker itself: TLS; the applications'
  # principals sign in with SCRAM-SHA-512 (credentials kept by the brokers,
  # set by devstack/kafkaauth); the administrator "admin", the only super
  # user, with PLAIN over that TLS from this file, so that it exists before
  # any SCRAM credential does; ACLs (StandardAuthorizer, nothing allowed
  # without one). The controller listener is loopback-only and signs in
  # with PLAIN too (KRaft controllers cannot use SCRAM).
  local props=$KAFKA_DIR/server.properties
  ( umask 077; cat >"$props" <<EOF
# Written by devstack.sh on every start; edit devstack.sh instead.
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$KAFKA_CONTROLLER_PORT
listeners=SASL_SSL://127.0.0.1:$KAFKA_PORT,CONTROLLER://127.0.0.1:$KAFKA_CONTROLLER_PORT
advertised.listeners=SASL_SSL://127.0.0.1:$KAFKA_PORT
controller.listener.names=CONTROLLER
inter.broker.listener.name=SASL_SSL
listener.security.protocol.map=CONTROLLER:SASL_PLAINTEXT,SASL_SSL:SASL_SSL
sasl.enabled.mechanisms=SCRAM-SHA-512,PLAIN
sasl.mechanism.inter.broker.protocol=PLAIN
sasl.mechanism.controller.protocol=PLAIN
listener.name.controller.sasl.enabled.mechanisms=PLAIN
listener.name.controller.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required username="admin" password="$KAFKA_ADMIN_PASSWORD" user_admin="$KAFKA_ADMIN_PASSWORD";
listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
listener.name.sasl_ssl.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required username="admin" password="$KAFKA_ADMIN_PASSWORD" user_admin="$KAFKA_ADMIN_PASSWORD";
ssl.keystore.type=PEM
ssl.keystore.location=$KAFKA_TLS_DIR/broker.pem
ssl.truststore.type=PEM
ssl.truststore.location=$KAFKA_TLS_DIR/ca.pem
authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer
super.users=User:admin
allow.everyone.if.no.acl.found=false
log.dirs=$KAFKA_DIR/data
num.partitions=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=12
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=false
EOF
  )
  local java=(java -Xms256m -Xmx768m -XX:+UseG1GC -Djava.awt.headless=true
    "-Dlog4j2.configurationFile=$ROOT/devstack/kafka/log4j2.properties" -cp "$KAFKA_DIR/libs/*")
  if [ ! -f "$KAFKA_DIR/data/meta.properties" ]; then
    say "formatting Kafka storage (once)"
    local cluster; cluster=$("${java[@]}" kafka.tools.StorageTool random-uuid 2>>"$log" | tail -1)
    "${java[@]}" kafka.tools.StorageTool format -t "$cluster" -c "$props" >>"$log" 2>&1 ||
      { tail -30 "$log" >&2; die "formatting Kafka storage failed"; }
  fi
  say "starting kafka on 127.0.0.1:$KAFKA_PORT (TLS, SCRAM-SHA-512, ACLs)"
  start_bg "$pidfile" "$log" "${java[@]}" kafka.Kafka "$props"
  wait_until kafka "$KAFKA_WAIT" "$log" "$pidfile" kafka_answers
  say "kafka answers a metadata request"
  kafka_principals
}

# The principals and their ACLs (devstack/kafkaauth): tenantflow (tenantd's
# readers, dead letters, topic creation), tenantflow-relay (the only writer
# of the event topics), tenantflow-agent and tenantflow-analytics (readers).
kafka_principals() {
  ( cd "$ROOT" && eval "$(cmd_env)" && go run ./devstack/kafkaauth ) || die "could not set up Kafka's principals and ACLs"
  say "kafka: principals tenantflow, tenantflow-relay, tenantflow-agent, tenantflow-analytics and their ACLs ready"
}

# The topics earlier test and benchmark runs left (tenant.events.test-…,
# tenant.events.bench-…, their dead-letter topics), deleted as the
# administrator: make test, make bench and make profile run this first, so a
# run does not pay for every run before it.
kafka_prune() {
  alive "$KAFKA_DIR/kafka.pid" || die "kafka is not running (make up)"
  ( cd "$ROOT" && eval "$(cmd_env)" && go run ./devstack/kafkaauth prune ) || die "could not delete the earlier runs' topics"
}

kafka_down() { stop_pid kafka "$KAFKA_DIR/kafka.pid"; }

# --- Keycloak -----------------------------------------------------------------

KC_DIR=$STATE/keycloak
KC_HOME=$KC_DIR/keycloak-$KEYCLOAK_VERSION
keycloak_answers() { curl -fsS -o /dev/null --max-time 5 "http://127.0.0.1:$KEYCLOAK_PORT/realms/master"; }

keycloak_up() {
  ensure_java
  ensure_cmd curl curl
  ensure_cmd unzip unzip
  mkdir -p "$KC_DIR"
  local log=$KC_DIR/keycloak.log pidfile=$KC_DIR/keycloak.pid
  if alive "$pidfile" && keycloak_answers; then say "keycloak already up on 127.0.0.1:$KEYCLOAK_PORT"; return; fi
  stop_pid keycloak "$pidfile"

  if [ ! -x "$KC_HOME/bin/kc.sh" ]; then
    say "fetching Keycloak $KEYCLOAK_VERSION with mvn"
    mvn -q -B dependency:copy "-Dartifact=org.keycloak:keycloak-quarkus-dist:$KEYCLOAK_VERSION:zip" \
      -DoutputDirectory="$KC_DIR" >"$KC_DIR/mvn.log" 2>&1 ||
      { tail -30 "$KC_DIR/mvn.log" >&2; die "mvn could not fetch keycloak-quarkus-dist $KEYCLOAK_VERSION"; }
    unzip -q -o "$KC_DIR/keycloak-quarkus-dist-$KEYCLOAK_VERSION.zip" -d "$KC_DIR"
    rm -f "$KC_DIR/keycloak-quarkus-dist-$KEYCLOAK_VERSION.zip"
  fi
  # Keycloak keeps its data in PostgreSQL — a cluster of its own on
  # $KEYCLOAK_PG_PORT, not start-dev's H2 file (under the chaos suite's
  # concurrent realm creations H2 closed its store and lost realms), and not
  # tenantflow's cluster: the event log reads up to the cluster-wide oldest
  # running transaction, and Keycloak keeps transactions open for minutes.
  [ -n "$(pg_bindir)" ] || ensure_cmd /usr/lib/postgresql/15/bin/pg_ctl postgresql
  pg_cluster_up "$(pg_dir)-keycloak" "$KEYCLOAK_PG_PORT"
  pg_role_db "$(pg_dir)-keycloak" "$KEYCLOAK_PG_PORT" keycloak
  say "starting keycloak on 127.0.0.1:$KEYCLOAK_PORT (start-dev on PostgreSQL; the first start takes a minute)"
  # The bootstrap admin is created only on the first start of an empty database.
  KC_BOOTSTRAP_ADMIN_USERNAME=admin KC_BOOTSTRAP_ADMIN_PASSWORD=$KEYCLOAK_ADMIN_PASSWORD \
    KC_DB_PASSWORD=$PG_PASSWORD JAVA_OPTS_KC_HEAP="-Xms128m -Xmx768m" \
    start_bg "$pidfile" "$log" "$KC_HOME/bin/kc.sh" start-dev \
      --db=postgres --db-url="jdbc:postgresql://127.0.0.1:$KEYCLOAK_PG_PORT/keycloak" --db-username=keycloak \
      --http-host=127.0.0.1 --http-port="$KEYCLOAK_PORT" \
      --http-management-port="$KEYCLOAK_MGMT_PORT" --health-enabled=true
  wait_until keycloak "$KEYCLOAK_WAIT" "$log" "$pidfile" keycloak_answers
  say "keycloak answers /realms/master"
}

# The operators' realm (tenantctl login): realm tenantflow-operators, user
# "operator" and client tenantflow-ci with the dev stack's generated secrets
# (devstack/operators, adapters/keycloak.EnsureOperatorsRealm). Idempotent.
operators_realm() {
  ( cd "$ROOT" && eval "$(cmd_env)" && go run ./devstack/operators ) || die "could not set up the operators' realm"
  say "keycloak: operators' realm tenantflow-operators ready (user operator, client tenantflow-ci); tenantd's service account tenantflow-provisioner (create-realm only), who made the organizations' shared realm tenants"
}

keycloak_down() { stop_pid keycloak "$KC_DIR/keycloak.pid"; pg_cluster_down "$(pg_dir)-keycloak"; }

# --- SMTP ---------------------------------------------------------------------
# Debian's aiosmtpd, a real RFC 5321 server, with its Mailbox handler: every
# mail it accepts is written as one file into the Maildir $SMTP_DIR/maildir
# (new/), where developers and the tests read verification mails.

SMTP_DIR=$STATE/smtp
MAILDIR=$SMTP_DIR/maildir
# Debian's interpreter, not a python3 that happens to be first on PATH.
SMTP_PYTHON=/usr/bin/python3
smtp_answers() { timeout 5 bash -c "exec 3<>/dev/tcp/127.0.0.1/$SMTP_PORT && head -c 3 <&3 | grep -q 220"; }

smtp_up() {
  "$SMTP_PYTHON" -c 'import aiosmtpd' 2>/dev/null || install_pkg python3-aiosmtpd
  mkdir -p "$SMTP_DIR"
  local log=$SMTP_DIR/smtp.log pidfile=$SMTP_DIR/smtp.pid
  if alive "$pidfile" && smtp_answers; then say "smtp already up on 127.0.0.1:$SMTP_PORT"; return; fi
  stop_pid smtp "$pidfile"
  say "starting smtp (aiosmtpd) on 127.0.0.1:$SMTP_PORT, writing mails to $MAILDIR"
  start_bg "$pidfile" "$log" "$SMTP_PYTHON" -m aiosmtpd -n -l "127.0.0.1:$SMTP_PORT" \
    -c aiosmtpd.handlers.Mailbox "$MAILDIR"
  wait_until smtp 30 "$log" "$pidfile" smtp_answers
  say "smtp answers with its greeting"
}

smtp_down() { stop_pid smtp "$SMTP_DIR/smtp.pid"; }

# --- DNS ----------------------------------------------------------------------
# Debian's BIND 9, authoritative for the zone tenants.test, accepting RFC 2136
# updates signed with the TSIG key "tenantflow" (generated once). It also
# serves customer.test, standing in for a customer's own DNS provider: a zone
# outside the platform's, where tests create the CNAME a customer would.

DNS_DIR=$STATE/bind
DNS_ZONE=tenants.test
CUSTOMER_ZONE=customer.test
dns_answers() {
  dig +short +time=2 +tries=1 -p "$DNS_PORT" @127.0.0.1 "$DNS_ZONE" SOA | grep -q . &&
    dig +short +time=2 +tries=1 -p "$DNS_PORT" @127.0.0.1 "$CUSTOMER_ZONE" SOA | grep -q .
}

dns_up() {
  ensure_cmd named bind9
  ensure_cmd dig bind9-dnsutils
  mkdir -p "$DNS_DIR"
  local log=$DNS_DIR/named.log pidfile=$DNS_DIR/named.pid.devstack
  if alive "$pidfile" && dns_answers; then say "dns already up on 127.0.0.1:$DNS_PORT"; return; fi
  stop_pid dns "$pidfile"
  if [ ! -f "$DNS_DIR/tsig.key" ]; then
    tsig-keygen -a hmac-sha256 tenantflow >"$DNS_DIR/tsig.key"
  fi
  local zone
  for zone in "$DNS_ZONE" "$CUSTOMER_ZONE"; do
    [ -f "$DNS_DIR/$zone.zone" ] && continue
    cat >"$DNS_DIR/$zone.zone" <<ZONE
\$TTL 60
@ IN SOA ns.$zone. hostmaster.$zone. 1 60 60 3600 60
@ IN NS ns.$zone.
ns IN A 127.0.0.1
ZONE
  done
  cat >"$DNS_DIR/named.conf" <<CONF
options {
  directory "$DNS_DIR";
  pid-file "$DNS_DIR/named.pid";
  listen-on port $DNS_PORT { 127.0.0.1; };
  listen-on-v6 { none; };
  recursion no;
  dnssec-validation no;
  allow-query { any; };
};
controls { };
include "$DNS_DIR/tsig.key";
zone "$DNS_ZONE" {
  type primary;
  file "$DNS_DIR/$DNS_ZONE.zone";
  journal "$DNS_DIR/$DNS_ZONE.zone.jnl";
  allow-update { key "tenantflow"; };
};
zone "$CUSTOMER_ZONE" {
  type primary;
  file "$DNS_DIR/$CUSTOMER_ZONE.zone";
  journal "$DNS_DIR/$CUSTOMER_ZONE.zone.jnl";
  allow-update { key "tenantflow"; };
};
CONF
  say "starting dns (BIND 9) on 127.0.0.1:$DNS_PORT for zone $DNS_ZONE"
  start_bg "$pidfile" "$log" named -g -c "$DNS_DIR/named.conf" -u "$(id -un)"
  wait_until dns 30 "$log" "$pidfile" dns_answers
  say "dns answers for $DNS_ZONE"
}

dns_down() { stop_pid dns "$DNS_DIR/named.pid.devstack"; }

dns_tsig_secret() { sed -n 's/.*secret "\(.*\)";/\1/p' "$DNS_DIR/tsig.key" 2>/dev/null; }

# --- S3 -----------------------------------------------------------------------
# versitygw (Versity's S3 gateway) with its POSIX back end: buckets are
# directories under .devstack/s3/data. Built once from the Go module proxy.

S3_DIR=$STATE/s3
s3_answers() { curl -s -o /dev/null --max-time 3 "http://127.0.0.1:$S3_PORT/"; }

s3_up() {
  ensure_cmd curl curl
  mkdir -p "$S3_DIR/data" "$STATE/bin"
  local log=$S3_DIR/s3.log pidfile=$S3_DIR/s3.pid bin=$STATE/bin/versitygw
  if alive "$pidfile" && s3_answers; then say "s3 already up on 127.0.0.1:$S3_PORT"; return; fi
  stop_pid s3 "$pidfile"
  if [ ! -x "$bin" ]; then
    command -v go >/dev/null 2>&1 || die "go is needed to build versitygw"
    say "building versitygw $VERSITYGW_VERSION from the Go module proxy"
    GOBIN=$STATE/bin go install "github.com/versity/versitygw/cmd/versitygw@$VERSITYGW_VERSION" >"$S3_DIR/build.log" 2>&1 ||
      { tail -20 "$S3_DIR/build.log" >&2; die "could not build versitygw"; }
  fi
  say "starting s3 (versitygw, POSIX back end) on 127.0.0.1:$S3_PORT"
  ROOT_ACCESS_KEY_ID=$S3_ACCESS_KEY ROOT_SECRET_ACCESS_KEY=$S3_SECRET_KEY \
    start_bg "$pidfile" "$log" "$bin" --port "127.0.0.1:$S3_PORT" posix "$S3_DIR/data"
  wait_until s3 60 "$log" "$pidfile" s3_answers
  say "s3 answers"
}

s3_down() { stop_pid s3 "$S3_DIR/s3.pid"; }

# --- billing ------------------------------------------------------------------
# A STAND-IN: Stripe's own API mock server (github.com/stripe/stripe-mock,
# built from the Go module proxy), answering Stripe's API from Stripe's
# OpenAPI document. It checks every request as Stripe would and answers with
# Stripe's shapes, but keeps nothing (every customer it "creates" is the
# same fixture). The billing step talks to it through stripe-go exactly as
# it would to api.stripe.com; docs/choreography.md#billing says why not a
# billing engine.

BILLING_DIR=$STATE/billing
STRIPE_MOCK_VERSION=v0.203.0
billing_answers() { curl -fsS -o /dev/null -u sk_test_devstack: "http://127.0.0.1:$BILLING_PORT/v1/customers?limit=1"; }

billing_up() {
  ensure_cmd curl curl
  mkdir -p "$BILLING_DIR" "$STATE/bin"
  local log=$BILLING_DIR/billing.log pidfile=$BILLING_DIR/billing.pid bin=$STATE/bin/stripe-mock
  if alive "$pidfile" && billing_answers; then say "billing (stripe-mock) already up on 127.0.0.1:$BILLING_PORT"; return; fi
  stop_pid billing "$pidfile"
  if [ ! -x "$bin" ]; then
    command -v go >/dev/null 2>&1 || die "go is needed to build stripe-mock"
    say "building stripe-mock $STRIPE_MOCK_VERSION from the Go module proxy"
    GOBIN=$STATE/bin go install "github.com/stripe/stripe-mock@$STRIPE_MOCK_VERSION" >"$BILLING_DIR/build.log" 2>&1 ||
      { tail -20 "$BILLING_DIR/build.log" >&2; die "could not build stripe-mock"; }
  fi
  say "starting billing (stripe-mock, a stand-in for Stripe's API) on 127.0.0.1:$BILLING_PORT"
  start_bg "$pidfile" "$log" "$bin" -http-addr "127.0.0.1:$BILLING_PORT" -https-addr "127.0.0.1:$((BILLING_PORT + 1))"
  wait_until billing 30 "$log" "$pidfile" billing_answers
  say "billing answers"
}

billing_down() { stop_pid billing "$BILLING_DIR/billing.pid"; }

# --- OpenTofu -----------------------------------------------------------------
# Built once from the Go module proxy (its go.mod has replace directives, so
# `go install pkg@version` is refused: the module is downloaded and built in
# place). The infrastructure step runs it on infra/modules/<tier>.

tofu_up() {
  local bin=$STATE/bin/tofu
  if [ -x "$bin" ]; then say "opentofu present ($bin)"; return; fi
  command -v go >/dev/null 2>&1 || die "go is needed to build OpenTofu"
  mkdir -p "$STATE/bin"
  say "building OpenTofu $OPENTOFU_VERSION from the Go module proxy (the first time takes minutes)"
  local dir
  dir=$(go mod download -json "github.com/opentofu/opentofu@$OPENTOFU_VERSION" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
  [ -d "$dir" ] || die "could not download github.com/opentofu/opentofu@$OPENTOFU_VERSION"
  (cd "$dir" && go build -o "$bin" ./cmd/tofu) >"$STATE/tofu-build.log" 2>&1 ||
    { tail -20 "$STATE/tofu-build.log" >&2; die "could not build OpenTofu"; }
  say "opentofu built"
}

# --- schemathesis --------------------------------------------------------------
# The API fuzzer the security test runs against a live tenantd, from PyPI,
# in a virtual environment of its own.

SCHEMATHESIS_VERSION=${DEVSTACK_SCHEMATHESIS_VERSION:-4.32.5}

schemathesis_up() {
  local venv=$STATE/venv
  if [ ! -x "$venv/bin/schemathesis" ]; then
    say "installing schemathesis $SCHEMATHESIS_VERSION from PyPI into $venv"
    python3 -m venv "$venv" >"$STATE/venv.log" 2>&1 &&
      "$venv/bin/pip" install -q "schemathesis==$SCHEMATHESIS_VERSION" >>"$STATE/venv.log" 2>&1 ||
      { tail -20 "$STATE/venv.log" >&2; die "could not install schemathesis"; }
  fi
  # The analytics guide's Python consumer (examples/analytics-python).
  if ! "$venv/bin/python" -c 'import confluent_kafka' 2>/dev/null; then
    say "installing the Python analytics consumer's client (examples/analytics-python/requirements.txt) into $venv"
    "$venv/bin/pip" install -q -r "$ROOT/examples/analytics-python/requirements.txt" >>"$STATE/venv.log" 2>&1 ||
      { tail -20 "$STATE/venv.log" >&2; die "could not install confluent-kafka"; }
  fi
}

# --- commands -----------------------------------------------------------------

cmd_env() {
  cat <<EOF
export TENANTFLOW_DATABASE_URL='postgres://tenantflow_app:$PG_PASSWORD@127.0.0.1:$PG_PORT/tenantflow?sslmode=disable'
export TENANTFLOW_DATABASE_MIGRATE_URL='postgres://tenantflow:$PG_PASSWORD@127.0.0.1:$PG_PORT/tenantflow?sslmode=disable'
export TENANTFLOW_TENANT_DATABASE_URL='postgres://tenantflow:$PG_PASSWORD@127.0.0.1:$PG_PORT/tenantflow?sslmode=disable'
export TENANTFLOW_KAFKA_BROKERS='127.0.0.1:$KAFKA_PORT'
export TENANTFLOW_KAFKA_TLS='true'
export TENANTFLOW_KAFKA_TLS_CA_FILE='$KAFKA_TLS_DIR/ca.pem'
export TENANTFLOW_KAFKA_SASL_MECHANISM='SCRAM-SHA-512'
export TENANTFLOW_KAFKA_USERNAME='tenantflow'
export TENANTFLOW_KAFKA_PASSWORD='$KAFKA_TENANTD_PASSWORD'
export TENANTFLOW_KAFKA_RELAY_USERNAME='tenantflow-relay'
export TENANTFLOW_KAFKA_RELAY_PASSWORD='$KAFKA_RELAY_PASSWORD'
export TENANTFLOW_KAFKA_REPLICATION_FACTOR='1'
export TENANTFLOW_KAFKA_MIN_INSYNC_REPLICAS='1'
export TENANTFLOW_DEVSTACK_KAFKA_ADMIN_PASSWORD='$KAFKA_ADMIN_PASSWORD'
export TENANTFLOW_DEVSTACK_KAFKA_AGENT_PASSWORD='$KAFKA_AGENT_PASSWORD'
export TENANTFLOW_DEVSTACK_KAFKA_ANALYTICS_PASSWORD='$KAFKA_ANALYTICS_PASSWORD'
export TENANTFLOW_KEYCLOAK_URL='http://127.0.0.1:$KEYCLOAK_PORT'
export TENANTFLOW_KEYCLOAK_ADMIN_USER='admin'
export TENANTFLOW_KEYCLOAK_ADMIN_PASSWORD='$KEYCLOAK_ADMIN_PASSWORD'
export TENANTFLOW_KEYCLOAK_CLIENT_ID='tenantflow-provisioner'
export TENANTFLOW_KEYCLOAK_CLIENT_SECRET='$KC_CLIENT_SECRET'
export TENANTFLOW_JWT_SECRET='$JWT_SECRET'
export TENANTFLOW_SEAL_KEY='$SEAL_KEY'
export TENANTFLOW_PII_KEY='$PII_KEY'
export TENANTFLOW_DEVSTACK_OPERATORS_ISSUER='http://127.0.0.1:$KEYCLOAK_PORT/realms/tenantflow-operators'
export TENANTFLOW_DEVSTACK_OPERATOR_PASSWORD='$OPERATOR_PASSWORD'
export TENANTFLOW_DEVSTACK_CI_CLIENT_SECRET='$CI_CLIENT_SECRET'
export TENANTFLOW_SMTP_ADDR='127.0.0.1:$SMTP_PORT'
export TENANTFLOW_DEVSTACK_MAILDIR='$MAILDIR'
export TENANTFLOW_STORAGE='s3'
export TENANTFLOW_S3_ENDPOINT='127.0.0.1:$S3_PORT'
export TENANTFLOW_S3_ACCESS_KEY='$S3_ACCESS_KEY'
export TENANTFLOW_S3_SECRET_KEY='$S3_SECRET_KEY'
export TENANTFLOW_S3_TLS='false'
export TENANTFLOW_DNS_TARGET='lb.$DNS_ZONE'
export TENANTFLOW_DEVSTACK_SCHEMATHESIS='$STATE/venv/bin/schemathesis'
export TENANTFLOW_DEVSTACK_PYTHON='$STATE/venv/bin/python'
export TENANTFLOW_INFRA_STATE_URL='postgres://tenantflow_tofu:$PG_PASSWORD@127.0.0.1:$PG_PORT/tenantflow?sslmode=disable'
export TENANTFLOW_INFRA_STATE_DIR='$STATE/infra'
export TENANTFLOW_DEPLOY_SIGNING_KEY='$DEPLOY_SIGNING_KEY'
export TENANTFLOW_AGENT_KEY='$AGENT_KEY'
export TENANTFLOW_DEVSTACK_APPPLANE_DIR='$STATE/appplane'
export TENANTFLOW_INFRA_BINARY='$STATE/bin/tofu'
export TENANTFLOW_TIERS='silo=silo,bridge=bridge,pooled=pooled,enterprise=silo:realm,standard=bridge:organization,basic=pooled:organization,PREMIUM=silo:realm,STANDARD=bridge:organization,BASIC=pooled:organization'
export TENANTFLOW_INFRA_MODULES='silo=$ROOT/infra/modules/silo,bridge=$ROOT/infra/modules/bridge'
export TENANTFLOW_DNS_SERVER='127.0.0.1:$DNS_PORT'
export TENANTFLOW_DNS_ZONE='$DNS_ZONE'
export TENANTFLOW_DEVSTACK_CUSTOMER_ZONE='$CUSTOMER_ZONE'
export TENANTFLOW_DEVSTACK_PG_DATA='$(pg_dir)/data'
export TENANTFLOW_DNS_TSIG_NAME='tenantflow'
export TENANTFLOW_BILLING='stripe'
export TENANTFLOW_STRIPE_API_URL='http://127.0.0.1:$BILLING_PORT'
export TENANTFLOW_STRIPE_API_KEY='sk_test_devstack'
export TENANTFLOW_STRIPE_WEBHOOK_SECRET='whsec_devstack'
export TENANTFLOW_DNS_TSIG_SECRET='$(dns_tsig_secret)'
EOF
}

status_line() {
  local name=$1 state=$2 addr=$3
  printf '%-9s %-12s %s\n' "$name" "$state" "$addr"
}

cmd_status() {
  local rc=0
  if pg_answers 2>/dev/null; then status_line postgres answering "127.0.0.1:$PG_PORT"
  else status_line postgres down "127.0.0.1:$PG_PORT"; rc=1; fi
  if kafka_answers; then status_line kafka answering "127.0.0.1:$KAFKA_PORT"
  else status_line kafka down "127.0.0.1:$KAFKA_PORT"; rc=1; fi
  if keycloak_answers 2>/dev/null; then status_line keycloak answering "http://127.0.0.1:$KEYCLOAK_PORT"
  else status_line keycloak down "http://127.0.0.1:$KEYCLOAK_PORT"; rc=1; fi
  if smtp_answers 2>/dev/null; then status_line smtp answering "127.0.0.1:$SMTP_PORT"
  else status_line smtp down "127.0.0.1:$SMTP_PORT"; rc=1; fi
  if dns_answers 2>/dev/null; then status_line dns answering "127.0.0.1:$DNS_PORT"
  else status_line dns down "127.0.0.1:$DNS_PORT"; rc=1; fi
  if s3_answers 2>/dev/null; then status_line s3 answering "127.0.0.1:$S3_PORT"
  else status_line s3 down "127.0.0.1:$S3_PORT"; rc=1; fi
  if billing_answers 2>/dev/null; then status_line billing answering "http://127.0.0.1:$BILLING_PORT (stripe-mock, a stand-in)"
  else status_line billing down "http://127.0.0.1:$BILLING_PORT"; rc=1; fi
  return $rc
}

main() {
  mkdir -p "$STATE"
  load_secrets
  case "${1:-}" in
    up)
      local t0=$SECONDS
      pg_up
      kafka_up
      keycloak_up
      operators_realm
      smtp_up
      dns_up
      s3_up
      billing_up
      tofu_up
      schemathesis_up
      # The console's browser test drives Debian's headless Chromium.
      ensure_cmd chromium chromium
      ensure_cmd chromedriver chromium-driver
      say "all up in $((SECONDS - t0))s; connection settings: $0 env"
      ;;
    down) billing_down; s3_down; dns_down; smtp_down; keycloak_down; kafka_down; pg_down; say "all down" ;;
    # One service at a time, for the chaos suite and for operators:
    # "stop kafka", "start kafka", "restart postgres".
    start|stop|restart)
      local fn
      case "${2:-}" in
        postgres) fn=pg ;;
        kafka|keycloak|smtp|dns|s3|billing) fn=$2 ;;
        *) echo "usage: $0 $1 postgres|kafka|keycloak|smtp|dns|s3|billing" >&2; exit 2 ;;
      esac
      case $1 in
        start) "${fn}_up" ;;
        stop) "${fn}_down" ;;
        restart) "${fn}_down"; "${fn}_up" ;;
      esac
      ;;
    # Crashes, not stops, for the chaos suite: PostgreSQL's immediate
    # shutdown (no checkpoint: WAL recovery at the next start, as after a
    # power cut) and SIGKILL of the broker. "start NAME" brings them back.
    crash)
      case "${2:-}" in
        postgres)
          say "crashing postgres (pg_ctl -m immediate: recovery at the next start)"
          pg_as "$(pg_bindir)/pg_ctl" -D "$(pg_dir)/data" -m immediate -w stop >/dev/null ;;
        kafka)
          if alive "$KAFKA_DIR/kafka.pid"; then
            say "crashing kafka (SIGKILL, pid $(cat "$KAFKA_DIR/kafka.pid"))"
            kill -KILL -- "-$(cat "$KAFKA_DIR/kafka.pid")" 2>/dev/null || kill -KILL "$(cat "$KAFKA_DIR/kafka.pid")"
            while alive "$KAFKA_DIR/kafka.pid"; do sleep 0.2; done
            rm -f "$KAFKA_DIR/kafka.pid"
          fi ;;
        *) echo "usage: $0 crash postgres|kafka" >&2; exit 2 ;;
      esac
      ;;
    status) cmd_status ;;
    env) cmd_env ;;
    pgstat) shift; pg_stat "$@" ;;
    kafka-prune) kafka_prune ;;
    *) echo "usage: $0 up|down|status|env|start NAME|stop NAME|restart NAME|crash postgres|kafka|pgstat reset|top [N]|kafka-prune" >&2; exit 2 ;;
  esac
}

main "$@"
