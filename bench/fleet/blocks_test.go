package fleet

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/tenantflow/tenantflow/internal/loadgen"
)

// parts are the processes whose CPU time each block reports.
var parts = []string{"keycloak", "keycloak-db", "postgres", "kafka", "tenantd", "agent", "s3", "dns", "smtp"}

// sample reads each part's CPU time so far, and the machine's.
func sample(svc *service) (map[string]time.Duration, time.Duration) {
	tenantd, agent := svc.pids()
	out := map[string]time.Duration{
		"keycloak": loadgen.ProcessCPU(loadgen.FindProcesses("kc.config.built")),
		"kafka":    loadgen.ProcessCPU(loadgen.FindProcesses("kafka.Kafka")),
		"tenantd":  loadgen.ProcessCPU([]int{tenantd}),
		"agent":    loadgen.ProcessCPU([]int{agent}),
		"s3":       loadgen.ProcessCPU(loadgen.FindProcesses("versitygw", "posix")),
		"dns":      loadgen.ProcessCPU(loadgen.FindProcesses("named", "-c")),
		"smtp":     loadgen.ProcessCPU(loadgen.FindProcesses("aiosmtpd")),
	}
	if dir := os.Getenv("TENANTFLOW_DEVSTACK_PG_DATA"); dir != "" {
		out["postgres"] = loadgen.ProcessCPU(postmasterTree(dir))
		out["keycloak-db"] = loadgen.ProcessCPU(postmasterTree(strings.Replace(dir, "/pg/data", "/pg-keycloak/data", 1)))
	}
	return out, loadgen.MachineCPU()
}

// postmasterTree is the PostgreSQL cluster of data directory dir: its
// postmaster and backends.
func postmasterTree(dir string) []int {
	raw, err := os.ReadFile(filepath.Join(dir, "postmaster.pid"))
	if err != nil {
		return nil
	}
	first, _, _ := strings.Cut(string(raw), "\n")
	pid, err := strconv.Atoi(strings.TrimSpace(first))
	if err != nil {
		return nil
	}
	return loadgen.ProcessTree(pid)
}

// block is one block of completions: when it ended, its latencies, and
// the CPU time used since the block before.
type block struct {
	end       time.Time
	latencies []time.Duration
	failed    int
	parts     map[string]time.Duration
	machine   time.Duration
}

// recorder cuts completions into blocks of size, sampling CPU at each cut.
type recorder struct {
	mu        sync.Mutex
	size      int
	svc       *service
	start     time.Time
	lastParts map[string]time.Duration
	lastCPU   time.Duration
	current   block
	blocks    []block
}

func newRecorder(size int, svc *service) *recorder {
	r := &recorder{size: size, svc: svc, start: time.Now()}
	r.lastParts, r.lastCPU = sample(svc)
	return r
}

func (r *recorder) done(took time.Duration, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err != nil {
		r.current.failed++
		fmt.Fprintf(os.Stderr, "fleet: %v\n", err)
	} else {
		r.current.latencies = append(r.current.latencies, took)
	}
	if len(r.current.latencies)+r.current.failed == r.size {
		r.cut()
	}
}

func (r *recorder) cut() {
	now, machine := sample(r.svc)
	b := r.current
	b.end, b.parts, b.machine = time.Now(), map[string]time.Duration{}, machine-r.lastCPU
	for _, p := range parts {
		b.parts[p] = now[p] - r.lastParts[p]
	}
	slices.Sort(b.latencies)
	r.blocks = append(r.blocks, b)
	r.current, r.lastParts, r.lastCPU = block{}, now, machine
}

// print writes the blocks as a Markdown table.
func (r *recorder) print(what string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.current.latencies)+r.current.failed > 0 {
		r.cut()
	}
	fmt.Printf("%s, by block of completions: CPU ms per tenant of each process\n\n", what)
	fmt.Printf("| tenants | per minute | p50 s | p99 s | failed | Keycloak CPU share | %s |\n", strings.Join(parts, " | "))
	fmt.Printf("|---|---|---|---|---|---|%s\n", strings.Repeat("---|", len(parts)))
	from, done := r.start, 0
	for _, b := range r.blocks {
		n := len(b.latencies) + b.failed
		share := 0.0
		if b.machine > 0 {
			share = 100 * float64(b.parts["keycloak"]) / float64(b.machine)
		}
		var cpu []string
		for _, p := range parts {
			cpu = append(cpu, fmt.Sprintf("%.0f", float64(b.parts[p])/float64(time.Millisecond)/float64(max(n, 1))))
		}
		fmt.Printf("| %d–%d | %.0f | %.1f | %.1f | %d | %.0f %% | %s |\n", done+1, done+n, float64(n)/b.end.Sub(from).Minutes(),
			loadgen.Percentile(b.latencies, 50).Seconds(), loadgen.Percentile(b.latencies, 99).Seconds(), b.failed, share,
			strings.Join(cpu, " | "))
		from, done = b.end, done+n
	}
}
