package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tenantflow/tenantflow/internal/loadgen"
)

// cpuSplit samples the CPU time of the processes a run costs: tenantd
// (the child process with every role), the load generator (this benchmark
// process: HTTP client and topic watcher), the event log's PostgreSQL (its
// postmaster, named by TENANTFLOW_DEVSTACK_PG_DATA, and its backends) and
// the Kafka broker's JVM.
type cpuSplit map[string]time.Duration

var cpuParts = []string{"tenantd", "loadgen", "postgres", "kafka"}

func (s *system) sampleCPU() cpuSplit {
	out := cpuSplit{"tenantd": loadgen.ProcessCPU([]int{s.tenantd}), "loadgen": loadgen.ProcessCPU([]int{os.Getpid()})}
	if dir := os.Getenv("TENANTFLOW_DEVSTACK_PG_DATA"); dir != "" {
		if raw, err := os.ReadFile(filepath.Join(dir, "postmaster.pid")); err == nil {
			first, _, _ := strings.Cut(string(raw), "\n")
			if pid, err := strconv.Atoi(strings.TrimSpace(first)); err == nil {
				out["postgres"] = loadgen.ProcessCPU(loadgen.ProcessTree(pid))
			}
		}
	}
	out["kafka"] = loadgen.ProcessCPU(loadgen.FindProcesses("kafka.Kafka"))
	return out
}

// report adds each part's CPU per tenant since before (ms) to the
// benchmark's line and, when TENANTFLOW_PROFILE_DIR is set, to
// <dir>/cpu-by-process.txt.
func (after cpuSplit) report(b *testing.B, before cpuSplit, tenants int) {
	if tenants == 0 {
		return
	}
	var lines []string
	for _, part := range cpuParts {
		used := after[part] - before[part]
		perTenant := float64(used) / float64(time.Millisecond) / float64(tenants)
		b.ReportMetric(perTenant, part+"-cpu-ms/tenant")
		lines = append(lines, fmt.Sprintf("%-10s %8.2f CPU-s  %7.2f ms/tenant", part, used.Seconds(), perTenant))
	}
	if dir := os.Getenv("TENANTFLOW_PROFILE_DIR"); dir != "" {
		text := fmt.Sprintf("%s, %d tenants\n%s\n", b.Name(), tenants, strings.Join(lines, "\n"))
		f, err := os.OpenFile(filepath.Join(dir, "cpu-by-process.txt"), os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
		if err == nil {
			_, _ = f.WriteString(text)
			_ = f.Close()
		}
	}
}
