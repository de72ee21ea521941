package loadgen

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// A run's CPU cost split by process: the service itself, the database and
// the broker (/proc on Linux; zero elsewhere). The machine-wide figure
// (MachineCPU) says what a tenant costs; this says where.

// ProcessCPU is the CPU time (user and system, with that of reaped
// children) the processes have used so far; a process that is gone counts
// zero, so sample the same live set before and after a run.
func ProcessCPU(pids []int) time.Duration {
	var ticks int64
	for _, pid := range pids {
		raw, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
		if err != nil {
			continue
		}
		// The command name (field 2) may hold spaces: count fields after its ")".
		_, rest, ok := strings.Cut(string(raw), ") ")
		f := strings.Fields(rest)
		if !ok || len(f) < 15 {
			continue
		}
		for _, i := range []int{11, 12, 13, 14} { // utime stime cutime cstime (fields 14-17)
			n, _ := strconv.ParseInt(f[i], 10, 64)
			ticks += n
		}
	}
	return time.Duration(ticks) * time.Second / 100 // USER_HZ is 100 on Linux
}

// ProcessTree is pid and its live children (a PostgreSQL postmaster and
// its backends).
func ProcessTree(pid int) []int {
	out := []int{pid}
	eachProcess("stat", func(child int, stat string) {
		_, rest, _ := strings.Cut(stat, ") ")
		if f := strings.Fields(rest); len(f) > 1 && f[1] == strconv.Itoa(pid) {
			out = append(out, child)
		}
	})
	return out
}

// FindProcesses lists the processes whose command line holds every word.
func FindProcesses(words ...string) []int {
	var out []int
	eachProcess("cmdline", func(pid int, raw string) {
		cmdline, all := strings.ReplaceAll(raw, "\x00", " "), len(words) > 0
		for _, w := range words {
			all = all && strings.Contains(cmdline, w)
		}
		if all {
			out = append(out, pid)
		}
	})
	return out
}

// eachProcess calls fn with every live process's /proc/<pid>/<file>.
func eachProcess(file string, fn func(pid int, content string)) {
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if raw, err := os.ReadFile(filepath.Join("/proc", e.Name(), file)); err == nil {
			fn(pid, string(raw))
		}
	}
}

// DevStackPostgres is the dev stack's PostgreSQL (the postmaster named by
// TENANTFLOW_DEVSTACK_PG_DATA's postmaster.pid) with its backends; none
// when that is not set or not running.
func DevStackPostgres() []int {
	dir := os.Getenv("TENANTFLOW_DEVSTACK_PG_DATA")
	if dir == "" {
		return nil
	}
	raw, err := os.ReadFile(filepath.Join(dir, "postmaster.pid"))
	if err != nil {
		return nil
	}
	first, _, _ := strings.Cut(string(raw), "\n")
	pid, err := strconv.Atoi(strings.TrimSpace(first))
	if err != nil {
		return nil
	}
	return ProcessTree(pid)
}

// Split is the CPU time each part of a system (a process, or a set of
// them) has used, sampled before and after a run.
type Split map[string]time.Duration

// Report adds each part's CPU per tenant since before to the benchmark's
// line ("<part>-cpu-ms/tenant") and, when TENANTFLOW_PROFILE_DIR is set, to
// <dir>/cpu-by-process.txt.
func (after Split) Report(b *testing.B, before Split, tenants int) {
	after.ReportPer(b, before, tenants, "tenant")
}

// ReportPer is Report for n of something else than tenants (requests).
func (after Split) ReportPer(b *testing.B, before Split, n int, unit string) {
	if n == 0 {
		return
	}
	parts := slices.Sorted(maps.Keys(after))
	var lines []string
	for _, part := range parts {
		used := after[part] - before[part]
		per := float64(used) / float64(time.Millisecond) / float64(n)
		b.ReportMetric(per, part+"-cpu-ms/"+unit)
		lines = append(lines, fmt.Sprintf("%-10s %8.2f CPU-s  %7.2f ms/%s", part, used.Seconds(), per, unit))
	}
	if dir := os.Getenv("TENANTFLOW_PROFILE_DIR"); dir != "" {
		text := fmt.Sprintf("%s, %d %ss\n%s\n", b.Name(), n, unit, strings.Join(lines, "\n"))
		f, err := os.OpenFile(filepath.Join(dir, "cpu-by-process.txt"), os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
		if err == nil {
			_, _ = f.WriteString(text)
			_ = f.Close()
		}
	}
}
