package eventstore

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/tenantflow/tenantflow/internal/testkit/wait"
)

// auditedLog writes three streams of four events and seals them.
func auditedLog(t *testing.T, key []byte) (*Postgres, []string) {
	t.Helper()
	s := newPostgres(t)
	ctx := context.Background()
	var streams []string
	for i := range 3 {
		stream := fmt.Sprintf("tenant-%d-%s", i, uuid.NewString()[:8])
		streams = append(streams, stream)
		for v := range 4 {
			if _, err := s.Append(ctx, stream, Exactly(int64(v)), NewEvent{ID: uuid.NewString(), Type: "tenant.audit.tested",
				Data: []byte(fmt.Sprintf(`{"n":%d}`, v)), Metadata: Metadata{Actor: "audit"}}); err != nil {
				t.Fatal(err)
			}
		}
	}
	waitHorizon(t, s)
	n, err := Sealer{Store: s, Key: key}.SealOnce(ctx)
	if err != nil || n != 3 {
		t.Fatalf("seal: %d heads, %v", n, err)
	}
	return s, streams
}

// waitHorizon waits until every event is below the log's read horizon.
func waitHorizon(t *testing.T, s *Postgres) {
	t.Helper()
	wait.For(t, 30*time.Second, func() error {
		all, err := s.ReadAll(context.Background(), Cursor{}, 100000)
		var n int
		_ = s.pool.QueryRow(context.Background(), `select count(*) from events`).Scan(&n)
		if err != nil || len(all) != n {
			return fmt.Errorf("%d of %d events below the horizon (%v)", len(all), n, err)
		}
		return nil
	})
}

func TestVerifyCleanLog(t *testing.T) {
	s, _ := auditedLog(t, []byte("0123456789abcdef0123456789abcdef"))
	r, err := s.Verify(context.Background(), []byte("0123456789abcdef0123456789abcdef"))
	if err != nil || len(r.Problems) != 0 || r.Events != 12 || r.Seals != 1 || r.Unsigned != 0 {
		t.Fatalf("%+v %v", r, err)
	}
	if r, _ := s.Verify(context.Background(), []byte("another key another key another!")); len(r.Problems) != 1 || r.Problems[0].Seal != 1 {
		t.Fatalf("a wrong seal key went unnoticed: %+v", r)
	}
}

// Tampering with SQL, three ways; Verify names each.
func TestVerifyFindsTampering(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		name   string
		tamper func(s *Postgres, streams []string) error
		want   func(p Problem, streams []string) bool
	}{
		{"altered row", func(s *Postgres, st []string) error {
			_, err := s.pool.Exec(ctx, `update events set data = '{"n":99}' where stream_id = $1 and stream_version = 2`, st[0])
			return err
		}, func(p Problem, st []string) bool {
			return p.Stream == st[0] && p.Version == 2 && strings.Contains(p.What, "altered")
		}},
		{"deleted event", func(s *Postgres, st []string) error {
			_, err := s.pool.Exec(ctx, `delete from events where stream_id = $1 and stream_version = 2`, st[1])
			return err
		}, func(p Problem, st []string) bool {
			return p.Stream == st[1] && p.Version == 3 && strings.Contains(p.What, "deleted")
		}},
		{"deleted stream", func(s *Postgres, st []string) error {
			_, err := s.pool.Exec(ctx, `delete from events where stream_id = $1`, st[2])
			return err
		}, func(p Problem, st []string) bool {
			return p.Stream == st[2] && p.Seal == 1 && strings.Contains(p.What, "deleted")
		}},
		{"stream rewritten with fresh hashes", func(s *Postgres, st []string) error {
			// A careful forger recomputes the whole chain: only the seal sees it.
			_, err := s.pool.Exec(ctx, fmt.Sprintf(`
				update events set data = '{"n":7}' where stream_id = '%[1]s';
				do $$ declare r record; v bytea := null; begin
				  for r in select * from events where stream_id = '%[1]s' order by stream_version loop
				    v := event_hash(v, event_hash_input(r.stream_id, r.stream_version, r.event_id, r.event_type,
				                                        r.schema_version, r.data, r.metadata, r.recorded_at));
				    update events set hash = v where stream_id = r.stream_id and stream_version = r.stream_version;
				  end loop; end $$;`, st[0]))
			return err
		}, func(p Problem, st []string) bool {
			return p.Stream == st[0] && p.Seal == 1 && strings.Contains(p.What, "rewritten")
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s, streams := auditedLog(t, nil)
			if err := c.tamper(s, streams); err != nil {
				t.Fatal(err)
			}
			r, err := s.Verify(ctx, nil)
			if err != nil {
				t.Fatal(err)
			}
			if len(r.Problems) == 0 || !c.want(r.Problems[0], streams) {
				t.Fatalf("first problem %+v of %d, want it to name the tampering", r.Problems, len(r.Problems))
			}
		})
	}
}
