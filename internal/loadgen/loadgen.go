// Package loadgen drives the end-to-end benchmarks: a closed loop (N
// requests always outstanding) or an open loop (arrivals at a fixed rate,
// whether or not earlier ones finished), each timing one operation —
// request to ACTIVE — and the machine's CPU time meanwhile. tenantflow's
// benchmark and the Temporal baseline (its own module under bench/) both
// use it, so the two are measured the same way. Standard library only, so
// the baseline's module pulls in nothing of tenantflow's.
package loadgen

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Op runs one operation and returns how long it took from its own start
// (e.g. from the provisioning request to ACTIVE).
type Op func(ctx context.Context, i int) (time.Duration, error)

// Result is one run's figures.
type Result struct {
	Done, Failed int
	Elapsed      time.Duration
	Latencies    []time.Duration // sorted
	CPU          time.Duration   // the whole machine's busy CPU time during the run
}

// Closed keeps concurrency operations outstanding until n have been started.
func Closed(ctx context.Context, concurrency, n int, op Op) Result {
	return closed(ctx, ctx, concurrency, n, op)
}

// ClosedRun is the benchmarks' closed loop: concurrency operations always
// outstanding, for TENANTFLOW_BENCH_TENANTS operations when that is set,
// else for TENANTFLOW_BENCH_SECONDS (default 30 s; the operations in flight
// then finish). Long enough to be steady, whatever the rate.
func ClosedRun(ctx context.Context, concurrency int, op Op) Result {
	if n, err := strconv.Atoi(os.Getenv("TENANTFLOW_BENCH_TENANTS")); err == nil && n > 0 {
		return Closed(ctx, concurrency, n, op)
	}
	window, cancel := context.WithTimeout(ctx, Seconds("TENANTFLOW_BENCH_SECONDS", 30))
	defer cancel()
	return closed(window, ctx, concurrency, 1<<30, op)
}

// Seconds reads a duration in seconds from the variable name, or returns def
// seconds.
func Seconds(name string, def float64) time.Duration {
	if v, err := strconv.ParseFloat(os.Getenv(name), 64); err == nil && v > 0 {
		def = v
	}
	return time.Duration(def * float64(time.Second))
}

// closed hands out operations until n have been started or handout ends;
// the operations run on ctx.
func closed(handout, ctx context.Context, concurrency, n int, op Op) Result {
	next := make(chan int)
	go func() {
		defer close(next)
		for i := range n {
			select {
			case next <- i:
			case <-handout.Done():
				return
			}
		}
	}()
	rec := newRecorder()
	var wg sync.WaitGroup
	for range concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				rec.add(op(ctx, i))
			}
		}()
	}
	wg.Wait()
	return rec.result()
}

// Open starts operations at rate per second for d, each in its own goroutine,
// and waits for all of them.
func Open(ctx context.Context, rate float64, d time.Duration, op Op) Result {
	rec := newRecorder()
	var wg sync.WaitGroup
	interval := time.Duration(float64(time.Second) / rate)
	start := time.Now()
	for i := 0; time.Since(start) < d && ctx.Err() == nil; i++ {
		// Arrivals follow the schedule, not the previous arrival: a slow
		// start does not thin out the load (no coordinated omission).
		if wait := time.Until(start.Add(time.Duration(i) * interval)); wait > 0 {
			time.Sleep(wait)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			rec.add(op(ctx, i))
		}()
	}
	wg.Wait()
	return rec.result()
}

type recorder struct {
	mu    sync.Mutex
	start time.Time
	cpu0  time.Duration
	lat   []time.Duration
	fail  int
}

func newRecorder() *recorder { return &recorder{start: time.Now(), cpu0: MachineCPU()} }

func (r *recorder) add(d time.Duration, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err != nil {
		r.fail++
		return
	}
	r.lat = append(r.lat, d)
}

func (r *recorder) result() Result {
	r.mu.Lock()
	defer r.mu.Unlock()
	slices.Sort(r.lat)
	return Result{Done: len(r.lat), Failed: r.fail, Elapsed: time.Since(r.start), Latencies: r.lat, CPU: MachineCPU() - r.cpu0}
}

// Percentile returns the p-th percentile (0 < p ≤ 100) of sorted latencies.
func Percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(float64(len(sorted))*p/100+0.5) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

// PerSecond is completed operations per second of the run.
func (r Result) PerSecond() float64 { return float64(r.Done) / r.Elapsed.Seconds() }

// Report adds the run's figures to a benchmark's output line, in the units
// benchtable reads.
func (r Result) Report(b *testing.B) {
	b.ReportMetric(r.PerSecond(), "tenants/s")
	b.ReportMetric(ms(Percentile(r.Latencies, 50)), "p50-ms")
	b.ReportMetric(ms(Percentile(r.Latencies, 95)), "p95-ms")
	b.ReportMetric(ms(Percentile(r.Latencies, 99)), "p99-ms")
	if r.Done > 0 {
		b.ReportMetric(r.CPU.Seconds()/float64(r.Done), "cpu-s/tenant")
	}
	b.ReportMetric(float64(r.Failed), "failed")
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// MachineCPU is the busy time of all CPUs since boot (/proc/stat: user,
// nice, system, irq, softirq, steal), so that a run's CPU cost includes the
// database, the broker and every other process it needs. Zero where
// /proc/stat is not there.
func MachineCPU() time.Duration {
	raw, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(raw), "\n")
	f := strings.Fields(line) // cpu user nice system idle iowait irq softirq steal ...
	if len(f) < 9 || f[0] != "cpu" {
		return 0
	}
	var ticks int64
	for _, i := range []int{1, 2, 3, 6, 7, 8} {
		n, _ := strconv.ParseInt(f[i], 10, 64)
		ticks += n
	}
	return time.Duration(ticks) * time.Second / 100 // USER_HZ is 100 on Linux
}

// DefaultRates are the open loops' arrival rates (tenants/s): the ones a
// control plane ten times the workflow engine's throughput must sustain.
var DefaultRates = []float64{100, 200, 350}

// OpenSeconds is how long an open loop brings arrivals:
// TENANTFLOW_BENCH_OPEN_SECONDS, default 10 s.
func OpenSeconds() time.Duration { return Seconds("TENANTFLOW_BENCH_OPEN_SECONDS", 10) }

// Rates reads the open-loop arrival rates (tenants/s) from
// TENANTFLOW_BENCH_RATES ("5,10"), or returns def.
func Rates(def []float64) ([]float64, error) {
	spec := os.Getenv("TENANTFLOW_BENCH_RATES")
	if spec == "" {
		return def, nil
	}
	var out []float64
	for _, s := range strings.Split(spec, ",") {
		v, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
		if err != nil || v <= 0 {
			return nil, fmt.Errorf("TENANTFLOW_BENCH_RATES: %q is not a positive number", s)
		}
		out = append(out, v)
	}
	return out, nil
}

// Tenants is how many tenants a closed-loop run provisions:
// TENANTFLOW_BENCH_TENANTS, default 400.
func Tenants() int {
	if n, err := strconv.Atoi(os.Getenv("TENANTFLOW_BENCH_TENANTS")); err == nil && n > 0 {
		return n
	}
	return 400
}
