package e2e

import (
	"os"

	"github.com/tenantflow/tenantflow/internal/loadgen"
)

// sampleCPU samples the CPU time of the processes a run costs: tenantd
// (the child process with every role), the load generator (this benchmark
// process: HTTP client and topic watcher), the event log's PostgreSQL (its
// postmaster and backends) and the Kafka broker's JVM.
func (s *system) sampleCPU() loadgen.Split {
	return loadgen.Split{
		"tenantd":  loadgen.ProcessCPU([]int{s.tenantd}),
		"loadgen":  loadgen.ProcessCPU([]int{os.Getpid()}),
		"postgres": loadgen.ProcessCPU(loadgen.DevStackPostgres()),
		"kafka":    loadgen.ProcessCPU(loadgen.FindProcesses("kafka.Kafka")),
	}
}
