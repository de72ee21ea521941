# tenantflow — the whole set-up is `make run` and `make test`.
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c

DEVSTACK := devstack/devstack.sh
# Connection settings of the dev stack, exported for the command that follows.
WITH_ENV := eval "$$($(DEVSTACK) env)" &&
TEST_TIMEOUT ?= 30m

.PHONY: run test chaos lint bench fleet profile up down status build

## run: start the dev stack, then the application plane (the agent, and a web server on 127.0.0.1:14080 serving what it
## deployed; logs in .devstack/) and tenantd in the foreground (Ctrl-C stops them all)
run: up build
	$(WITH_ENV) { mkdir -p $$TENANTFLOW_DEVSTACK_APPPLANE_DIR; python3 -m http.server 14080 --bind 127.0.0.1 \
	    --directory $$TENANTFLOW_DEVSTACK_APPPLANE_DIR > .devstack/appplane-web.log 2>&1 & web=$$!; \
	  TENANTFLOW_KAFKA_USERNAME=tenantflow-agent TENANTFLOW_KAFKA_PASSWORD=$$TENANTFLOW_DEVSTACK_KAFKA_AGENT_PASSWORD \
	  APPPLANE_DIR=$$TENANTFLOW_DEVSTACK_APPPLANE_DIR bin/appplane-agent --control http://127.0.0.1:14000 \
	    --pass-env APPPLANE_DIR --state .devstack/appplane-agent.state.json --deploy devstack/appplane-deploy.sh \
	    --undo devstack/appplane-undo.sh > .devstack/appplane-agent.log 2>&1 & agent=$$!; \
	  trap 'kill $$agent $$web 2>/dev/null' EXIT INT TERM; \
	  TENANTFLOW_JWT_JWKS_URL=$$TENANTFLOW_DEVSTACK_OPERATORS_ISSUER/protocol/openid-connect/certs TENANTFLOW_JWT_AUDIENCE=tenantflow-api \
	  TENANTFLOW_JWT_HS256_OPERATORS=true bin/tenantd; }

## test: start the dev stack, delete the topics earlier runs left (test, bench, profile and chaos do this first), run the whole suite with the race detector, then the chaos suite's short profile
## (alone: it stops and restarts the dev stack's Kafka and PostgreSQL)
test: up
	$(DEVSTACK) kafka-prune
	$(WITH_ENV) export TENANTFLOW_TEST_ARTIFACTS=$(CURDIR)/.devstack/artifacts && go test -race -count=1 -timeout $(TEST_TIMEOUT) ./... && \
	  $(CHAOS) -timeout 30m

CHAOS := go test -race -tags chaos -run '^TestChaos$$' -count=1 -v ./cmd/tenantd/

## chaos: the chaos suite's full profile (200 tenants a scenario; report in .devstack/artifacts/chaos-full.md)
chaos: up
	$(DEVSTACK) kafka-prune
	$(WITH_ENV) export TENANTFLOW_TEST_ARTIFACTS=$(CURDIR)/.devstack/artifacts TENANTFLOW_CHAOS_PROFILE=full && $(CHAOS) -timeout 240m

## lint: go vet plus staticcheck (version pinned in go.mod's tool block)
lint:
	@unformatted=$$(gofmt -l .); if [ -n "$$unformatted" ]; then echo "gofmt would change: $$unformatted"; exit 1; fi
	go vet ./... && go vet -tags chaos ./cmd/tenantd/
	go tool staticcheck -checks 'all,-ST1000,-ST1003' ./...
	go tool staticcheck -checks 'all,-ST1000,-ST1003' -tags chaos ./cmd/tenantd/

## bench: benchmarks on the dev stack, printed as Markdown tables (raw output in .devstack/bench.txt): the event
## store, the relay, end to end with no-op adapters next to the Temporal baseline (bench/temporal, a module of its
## own; closed loops of 30 s at 32 and 128 outstanding, open loops of 10 s at 100, 200 and 350 arrivals/s, both
## systems alike), rollback, projection lag, replay of a 1,000,000-event log and REST
bench: up
	$(DEVSTACK) kafka-prune
	$(WITH_ENV) { go test -run '^$$' -bench 'Append' -benchtime 3s ./eventstore/ && \
	  go test -run '^$$' -bench 'Relay' -benchtime 1x ./eventstore/ && \
	  go test -run '^$$' -bench 'Ceiling|Tenantflow' -benchtime 1x -timeout 60m ./bench/e2e/ && \
	  (cd bench/temporal && go test -run '^$$' -bench 'Temporal' -benchtime 1x -timeout 60m .) && \
	  go test -run '^$$' -bench 'Replay' -benchtime 1x -timeout 60m ./projections/; } | tee .devstack/bench.txt | go run ./internal/tools/benchtable

## fleet: a fleet through a real tenantd and agent on the dev stack (Keycloak, PostgreSQL, S3, DNS, SMTP; pooled
## tiers, no OpenTofu), per identity model: TENANTFLOW_FLEET_ORGANIZATIONS (1000) tenants of tier basic, then
## TENANTFLOW_FLEET_REALMS (300) of tier pooled, TENANTFLOW_FLEET_OUTSTANDING (16) in flight; provisioned, then
## deprovisioned, a table per block of 100; then the back ends compared with before (output in .devstack/fleet.txt)
fleet: up
	$(WITH_ENV) go test -run '^$$' -bench '^BenchmarkFleet$$' -benchtime 1x -timeout 180m ./bench/fleet/ | tee .devstack/fleet.txt

## profile: the closed-loop provisioning benchmark, profiled: CPU profiles of tenantd (the benchmark's child process,
## every role) and of the load generator, the top PostgreSQL statements (pg_stat_statements) and CPU per process
## (tenantd, load generator, postgres, Kafka) into
## .devstack/artifacts/profile/ (TENANTFLOW_BENCH_TENANTS sets the tenants, default 1000; TENANTFLOW_PROFILE_OUTSTANDING
## the closed loop's outstanding requests, 32 or 128)
PROFILE := $(CURDIR)/.devstack/artifacts/profile
profile: up
	$(DEVSTACK) kafka-prune
	rm -rf $(PROFILE) && mkdir -p $(PROFILE)
	$(WITH_ENV) $(DEVSTACK) pgstat reset && \
	  TENANTFLOW_BENCH_TENANTS=$${TENANTFLOW_BENCH_TENANTS:-1000} TENANTFLOW_PROFILE_DIR=$(PROFILE) go test -run '^$$' -bench "Tenantflow/Provisioning/closed-$${TENANTFLOW_PROFILE_OUTSTANDING:-32}\$$" -benchtime 1x -timeout 30m \
	    -o $(PROFILE)/e2e.test -cpuprofile $(PROFILE)/loadgen.cpu.pprof ./bench/e2e/ | tee $(PROFILE)/bench.txt && \
	  $(DEVSTACK) pgstat top 30 > $(PROFILE)/pg-top-statements.txt && \
	  go tool pprof -top -nodecount 60 $(PROFILE)/e2e.test $(PROFILE)/tenantd.cpu.pprof > $(PROFILE)/tenantd.cpu.top.txt 2>/dev/null && \
	  go tool pprof -top -cum -nodecount 60 $(PROFILE)/e2e.test $(PROFILE)/tenantd.cpu.pprof > $(PROFILE)/tenantd.cpu.cum.txt 2>/dev/null && \
	  cat $(PROFILE)/cpu-by-process.txt && head -15 $(PROFILE)/pg-top-statements.txt && ls $(PROFILE)

## build: the binaries into bin/
build:
	go build -o bin/ ./cmd/tenantd ./cmd/tenantctl ./cmd/appplane-agent ./cmd/analytics-consumer

up:
	$(DEVSTACK) up

down:
	$(DEVSTACK) down

status:
	$(DEVSTACK) status
