// Command benchtable turns `go test -bench` output (stdin) into the Markdown
// tables `make bench` prints: appends of the event store next to raw inserts
// with their ratio, the relay's throughput and latency, end-to-end
// provisioning next to the Temporal baseline with their ratio, rollback,
// projection lag, replay and REST figures, and the machine they ran on.
package main

import (
	"bufio"
	"fmt"
	"os"
	"regexp"
	"runtime"
	"strconv"
	"strings"
)

// machineLine describes this machine: CPU model, cores, memory.
func machineLine() string {
	var model, mem string
	if raw, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(raw), "\n") {
			if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
				model = strings.TrimSpace(v)
				break
			}
		}
	}
	if raw, err := os.ReadFile("/proc/meminfo"); err == nil {
		f := strings.Fields(string(raw))
		if len(f) > 1 {
			if kb, err := strconv.ParseFloat(f[1], 64); err == nil {
				mem = fmt.Sprintf("%.0f GiB", kb/1024/1024)
			}
		}
	}
	return fmt.Sprintf("%s, %d cores, %s", model, runtime.NumCPU(), mem)
}

// line matches e.g. "BenchmarkAppend/events=1/writers=8/store-2  123  456 ns/op  3934 events/s".
var line = regexp.MustCompile(`^Benchmark(\S+?)(-\d+)?\s+\d+\s+(.*)$`)

func main() {
	metrics := map[string]map[string]float64{}
	var order []string
	sc := bufio.NewScanner(os.Stdin)
	machine := machineLine()
	for sc.Scan() {
		m := line.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		name, fields := m[1], strings.Fields(m[3])
		vals := map[string]float64{}
		for i := 0; i+1 < len(fields); i += 2 {
			if v, err := strconv.ParseFloat(fields[i], 64); err == nil {
				vals[fields[i+1]] = v
			}
		}
		if _, seen := metrics[name]; !seen {
			order = append(order, name)
		}
		metrics[name] = vals
	}
	if err := sc.Err(); err != nil {
		fmt.Fprintln(os.Stderr, "benchtable:", err)
		os.Exit(1)
	}

	fmt.Println("| append | writers | store events/s | raw INSERT events/s | store/raw |")
	fmt.Println("|---|---|---|---|---|")
	for _, name := range order {
		base, ok := strings.CutSuffix(name, "/store")
		if !ok {
			continue
		}
		store, raw := metrics[name]["events/s"], metrics[base+"/raw"]["events/s"]
		parts := strings.Split(strings.TrimPrefix(base, "Append/"), "/")
		if len(parts) != 2 || raw == 0 {
			continue
		}
		events := strings.TrimPrefix(parts[0], "events=")
		writers := strings.TrimPrefix(parts[1], "writers=")
		fmt.Printf("| %s event(s)/tx | %s | %.0f | %.0f | %.2f |\n", events, writers, store, raw, store/raw)
	}
	fmt.Println()
	fmt.Println("| relay | events/s | p50 commit→ack ms | p99 commit→ack ms |")
	fmt.Println("|---|---|---|---|")
	for _, name := range order {
		if !strings.HasPrefix(name, "Relay/") {
			continue
		}
		v := metrics[name]
		fmt.Printf("| %s | %s | %s | %s |\n", strings.TrimPrefix(name, "Relay/"), opt(v, "events/s", "%.0f"), opt(v, "p50-ms", "%.1f"), opt(v, "p99-ms", "%.1f"))
	}
	e2e(metrics, order)
	if machine != "" {
		fmt.Println()
		fmt.Println("Measured on:", machine)
	}
}

func opt(v map[string]float64, k, format string) string {
	x, ok := v[k]
	if !ok {
		return "—"
	}
	return fmt.Sprintf(format, x)
}

// section prints a Markdown table of the benchmarks named prefix+run, in
// the order they ran: header (with its separator row) and one row per run.
// Nothing, not even the header, when none ran.
func section(order []string, prefix, header string, row func(run, name string) string) {
	printed := false
	for _, name := range order {
		run, ok := strings.CutPrefix(name, prefix)
		if !ok {
			continue
		}
		if !printed {
			fmt.Println()
			fmt.Println(header)
			fmt.Println("|" + strings.Repeat("---|", strings.Count(header, "|")-1))
			printed = true
		}
		fmt.Println(row(run, name))
	}
}

// e2e prints tenantflow's end-to-end runs next to the Temporal baseline's
// (same run names under Tenantflow/Provisioning/ and Temporal/Provisioning/), then the
// projection lag, rollback, replay and REST figures.
func e2e(metrics map[string]map[string]float64, order []string) {
	section(order, "Tenantflow/Provisioning/", "| provisioning run | tenantflow tenants/s | p50 / p95 / p99 ms | CPU s/tenant | Temporal tenants/s | p50 / p95 / p99 ms | CPU s/tenant | throughput ratio | p99 ratio (Temporal/tenantflow) |",
		func(run, name string) string {
			tf, tp := metrics[name], metrics["Temporal/Provisioning/"+run]
			ratio, p99 := "—", "—"
			switch {
			case tp != nil && (tf["failed"] > 0 || tp["failed"] > 0):
				// A loop whose requests failed did not sustain its rate: its
				// throughput and latency are those of the survivors.
				ratio = fmt.Sprintf("— (failed: tenantflow %.0f, Temporal %.0f)", tf["failed"], tp["failed"])
			case tp != nil && tp["tenants/s"] > 0 && tf["p99-ms"] > 0:
				ratio = fmt.Sprintf("%.2f×", tf["tenants/s"]/tp["tenants/s"])
				p99 = fmt.Sprintf("%.2f×", tp["p99-ms"]/tf["p99-ms"])
			}
			return fmt.Sprintf("| %s | %s | %s | %s | %s | %s | %s | %s | %s |", run,
				opt(tf, "tenants/s", "%.1f"), lat(tf), opt(tf, "cpu-s/tenant", "%.3f"),
				opt(tp, "tenants/s", "%.1f"), lat(tp), opt(tp, "cpu-s/tenant", "%.3f"), ratio, p99)
		})
	section(order, "Tenantflow/Provisioning/", "| CPU ms/tenant by process | tenantd | load generator | PostgreSQL | Kafka | Temporal server | worker and starter | PostgreSQL |",
		func(run, name string) string {
			tf, tp := metrics[name], metrics["Temporal/Provisioning/"+run]
			return fmt.Sprintf("| %s | %s | %s | %s | %s | %s | %s | %s |", run, opt(tf, "tenantd-cpu-ms/tenant", "%.1f"),
				opt(tf, "loadgen-cpu-ms/tenant", "%.1f"), opt(tf, "postgres-cpu-ms/tenant", "%.1f"), opt(tf, "kafka-cpu-ms/tenant", "%.1f"),
				opt(tp, "server-cpu-ms/tenant", "%.1f"), opt(tp, "worker-cpu-ms/tenant", "%.1f"), opt(tp, "postgres-cpu-ms/tenant", "%.1f"))
		})
	section(order, "Tenantflow/Provisioning/", "| tenantflow run | projection lag of every event p50 / p99 / max ms | write transactions/tenant | round trips/tenant |",
		func(run, name string) string {
			v := metrics[name]
			return fmt.Sprintf("| %s | %s / %s / %s | %s | %s |", run, opt(v, "proj-lag-p50-ms", "%.0f"), opt(v, "proj-lag-p99-ms", "%.0f"),
				opt(v, "proj-lag-max-ms", "%.0f"), opt(v, "commits/tenant", "%.1f"), opt(v, "round-trips/tenant", "%.1f"))
		})
	ceiling(metrics, order)
	if v, ok := metrics["Tenantflow/Rollback"]; ok {
		fmt.Println()
		fmt.Println("| rollback (dns fails, six steps undone) | p50 ms | p99 ms |")
		fmt.Println("|---|---|---|")
		fmt.Printf("| failure committed → PROVISION_FAILED | %s | %s |\n", opt(v, "failure→failed-p50-ms", "%.0f"), opt(v, "failure→failed-p99-ms", "%.0f"))
		fmt.Printf("| provisioning request → PROVISION_FAILED | %s | %s |\n", opt(v, "p50-ms", "%.0f"), opt(v, "p99-ms", "%.0f"))
	}
	section(order, "Replay/", "| replay (rebuild from the log) | events | events/s |", func(run, name string) string {
		if wall, ok := metrics[name]["wall-s"]; ok { // the "all" row: the log over the wall clock of every rebuild
			run = fmt.Sprintf("every projection in one pass (%.1f s wall clock)", wall)
		}
		return fmt.Sprintf("| %s | %s | %s |", run, opt(metrics[name], "events", "%.0f"), opt(metrics[name], "events/s", "%.0f"))
	})
	section(order, "Tenantflow/REST/", "| REST, 32 connections, 10 s | requests/s | p50 ms | p99 ms | CPU ms/request: tenantd / PostgreSQL / Kafka / load generator |", func(run, name string) string {
		v := metrics[name]
		cpu := strings.Join([]string{opt(v, "tenantd-cpu-ms/request", "%.3f"), opt(v, "postgres-cpu-ms/request", "%.3f"),
			opt(v, "kafka-cpu-ms/request", "%.3f"), opt(v, "loadgen-cpu-ms/request", "%.3f")}, " / ")
		return fmt.Sprintf("| %s | %s | %s | %s | %s |", run, opt(v, "req/s", "%.0f"), opt(v, "p50-ms", "%.1f"), opt(v, "p99-ms", "%.1f"), cpu)
	})
}

// ceiling prints pgbench's single-row INSERT transactions per second and
// how close tenantflow's closed loops came to them: the write transactions
// (commits that flush the WAL) per second they made, and the tenants per
// second the 32-client ceiling would allow at their commits per tenant.
func ceiling(metrics map[string]map[string]float64, order []string) {
	section(order, "Ceiling/", "| commit ceiling (pgbench, one-row INSERT transactions, 10 s) | commits/s |", func(run, name string) string {
		return fmt.Sprintf("| %s | %s |", strings.TrimPrefix(run, "insert/"), opt(metrics[name], "commits/s", "%.0f"))
	})
	top := metrics["Ceiling/insert/clients=32"]["commits/s"]
	if top == 0 {
		return
	}
	for _, name := range order {
		run, ok := strings.CutPrefix(name, "Tenantflow/Provisioning/closed-")
		v := metrics[name]
		if !ok || v["commits/tenant"] == 0 {
			continue
		}
		made := v["commits/tenant"] * v["tenants/s"]
		fmt.Printf("\nclosed-%s: %.1f commits/tenant × %.1f tenants/s = %.0f commits/s, %.0f %% of the 32-client ceiling; at %.1f commits/tenant the ceiling allows %.0f tenants/s\n",
			run, v["commits/tenant"], v["tenants/s"], made, 100*made/top, v["commits/tenant"], top/v["commits/tenant"])
	}
}

func lat(v map[string]float64) string {
	if v == nil {
		return "—"
	}
	return fmt.Sprintf("%.0f / %.0f / %.0f", v["p50-ms"], v["p95-ms"], v["p99-ms"])
}
