package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/tenantflow/tenantflow/internal/testkit/testenv"
)

// BenchmarkCeiling is the physical limit the event log works under, in the
// same run: pgbench's single-row INSERT transactions (a 400-byte row, about
// an event's size, into a table with a bigint identity) at 1, 8 and 32
// clients for 10 s each, on the dev stack's PostgreSQL in a database of its
// own. benchtable sets tenantflow's commits per tenant against it.
func BenchmarkCeiling(b *testing.B) {
	bin, err := pgbench()
	if err != nil {
		b.Fatal(err)
	}
	url := testenv.NewDatabase(b)
	pool, err := pgxpool.New(context.Background(), url)
	if err != nil {
		b.Fatal(err)
	}
	_, err = pool.Exec(context.Background(), `create table ceiling (id bigint generated always as identity primary key, body text not null)`)
	pool.Close()
	if err != nil {
		b.Fatal(err)
	}
	script := filepath.Join(b.TempDir(), "insert.sql")
	if err := os.WriteFile(script, []byte("insert into ceiling (body) values (repeat('x', 400));\n"), 0o600); err != nil {
		b.Fatal(err)
	}
	for _, clients := range []int{1, 8, 32} {
		b.Run(fmt.Sprintf("insert/clients=%d", clients), func(b *testing.B) {
			out, err := exec.Command(bin, "-n", "-M", "prepared", "-T", "10", "-c", strconv.Itoa(clients),
				"-j", strconv.Itoa(min(clients, 2)), "-f", script, url).CombinedOutput()
			if err != nil {
				b.Fatalf("pgbench: %v\n%s", err, out)
			}
			m := tps.FindSubmatch(out)
			if m == nil {
				b.Fatalf("pgbench printed no tps:\n%s", out)
			}
			v, _ := strconv.ParseFloat(string(m[1]), 64)
			b.ReportMetric(v, "commits/s")
		})
	}
}

var tps = regexp.MustCompile(`tps = ([0-9.]+) \(without initial connection time\)`)

// pgbench is the dev stack's PostgreSQL's pgbench (the newest installed
// version's, as devstack.sh picks its server).
func pgbench() (string, error) {
	found, _ := filepath.Glob("/usr/lib/postgresql/*/bin/pgbench")
	if len(found) == 0 {
		if p, err := exec.LookPath("pgbench"); err == nil {
			return p, nil
		}
		return "", fmt.Errorf("pgbench not found (it comes with the dev stack's PostgreSQL packages)")
	}
	slices.SortFunc(found, func(a, b string) int { return versionOf(a) - versionOf(b) })
	return found[len(found)-1], nil
}

func versionOf(path string) int {
	v, _ := strconv.Atoi(strings.Split(path, "/")[4])
	return v
}
