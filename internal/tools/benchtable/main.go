// Command benchtable turns `go test -bench` output (stdin) into the Markdown
// tables `make bench` prints: appends of the event store next to raw inserts
// with their ratio, and the relay's throughput and latency.
package main

import (
	"bufio"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
)

// line matches e.g. "BenchmarkAppend/events=1/writers=8/store-2  123  456 ns/op  3934 events/s".
var line = regexp.MustCompile(`^Benchmark(\S+?)(-\d+)?\s+\d+\s+(.*)$`)

func main() {
	metrics := map[string]map[string]float64{}
	var order []string
	sc := bufio.NewScanner(os.Stdin)
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
}

func opt(v map[string]float64, k, format string) string {
	x, ok := v[k]
	if !ok {
		return "—"
	}
	return fmt.Sprintf(format, x)
}
