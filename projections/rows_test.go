package projections

import (
	"context"
	"strings"
	"testing"
)

// A projector's mistake in a row (a value of another type than the rows
// before it, a value missing) fails the batch with what is wrong, before
// anything is sent.
func TestRowsThatDoNotMatchFailTheBatch(t *testing.T) {
	for name, rows := range map[string][][]any{
		"another type":    {{"a", int64(1)}, {"b", "2"}},
		"a value short":   {{"a", int64(1)}, {"b"}},
		"an unknown type": {{struct{}{}}},
	} {
		q := newQueue()
		for _, r := range rows {
			q.Row("insert into t select * from unnest($1::text[], $2::bigint[])", r...)
		}
		err := q.flush()
		if err == nil || !strings.Contains(err.Error(), "insert into t") {
			t.Errorf("%s: flush gave %v, want an error naming the statement", name, err)
		}
	}
	q := newQueue()
	_, _ = q.Exec(context.Background(), "delete from t")
	q.Row("insert into t select * from unnest($1::text[], $2::bigint[])", "a", int64(1))
	q.Row("insert into t select * from unnest($1::text[], $2::bigint[])", "b", int64(2))
	if err := q.flush(); err != nil {
		t.Fatal(err)
	}
	if n := q.b.Len(); n != 2 {
		t.Fatalf("%d statements queued, want the Exec and one for both rows", n)
	}
	args := q.b.QueuedQueries[1].Arguments
	if s, ok := args[0].([]string); !ok || strings.Join(s, ",") != "a,b" {
		t.Errorf("first column sent as %#v, want []string{a, b}", args[0])
	}
}
