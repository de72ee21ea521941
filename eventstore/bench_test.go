package eventstore

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/tenantflow/tenantflow/internal/testkit/wait"
)

// Benchmarks (make bench). Appends are measured next to a raw pgx INSERT of
// the same rows into a bare table, in the same run, on the same database.

const rawTable = `create table if not exists raw_events (
	stream_id text not null, stream_version bigint not null, event_id uuid not null,
	event_type text not null, schema_version integer not null, data jsonb not null, metadata jsonb not null)`

// parallel runs b.N operations spread over writers goroutines and reports events/s.
func parallel(b *testing.B, writers, eventsPerOp int, op func(w, i int) error) {
	b.Helper()
	var next atomic.Int64
	var wg sync.WaitGroup
	b.ResetTimer()
	start := time.Now()
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				if next.Add(1) > int64(b.N) {
					return
				}
				if err := op(w, i); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	b.StopTimer()
	b.ReportMetric(float64(b.N*eventsPerOp)/time.Since(start).Seconds(), "events/s")
}

func rawInsert(ctx context.Context, pool *pgxpool.Pool, stream string, version int64, evs []NewEvent) error {
	n := len(evs)
	ids, types, data, meta := make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	versions, schemas := make([]int64, n), make([]int32, n)
	for i, e := range evs {
		ids[i], types[i], data[i], meta[i] = e.ID, e.Type, string(e.Data), `{"correlationId":"corr-1"}`
		versions[i], schemas[i] = version+int64(i)+1, 1
	}
	_, err := pool.Exec(ctx, `insert into raw_events select $1, v, id, t, s, d, m
		from unnest($2::bigint[], $3::uuid[], $4::text[], $5::int[], $6::jsonb[], $7::jsonb[]) as u(v, id, t, s, d, m)`,
		stream, versions, ids, types, schemas, data, meta)
	return err
}

func BenchmarkAppend(b *testing.B) {
	s := newPostgres(b)
	ctx := context.Background()
	if _, err := s.Pool().Exec(ctx, rawTable); err != nil {
		b.Fatal(err)
	}
	for _, size := range []int{1, 20} {
		for _, writers := range []int{1, 8, 32} {
			batches := make([][]NewEvent, 4096)
			for i := range batches {
				batches[i] = newEvents(size, "bench.happened")
			}
			name := fmt.Sprintf("events=%d/writers=%d", size, writers)
			// op appends the i-th batch of writer w (fresh ids) to that writer's stream.
			type op func(stream string, version int64, evs []NewEvent) error
			run := func(b *testing.B, write op) {
				streams := make([]string, writers)
				for i := range streams {
					streams[i] = streamID()
				}
				parallel(b, writers, size, func(w, i int) error {
					evs := slices.Clone(batches[(w*7919+i)%len(batches)])
					for j := range evs {
						evs[j].ID = uuid.NewString()
					}
					return write(streams[w], int64(i*size), evs)
				})
			}
			b.Run(name+"/store", func(b *testing.B) {
				run(b, func(stream string, version int64, evs []NewEvent) error {
					_, err := s.Append(ctx, stream, Exactly(version), evs...)
					return err
				})
			})
			b.Run(name+"/raw", func(b *testing.B) {
				run(b, func(stream string, version int64, evs []NewEvent) error {
					return rawInsert(ctx, s.Pool(), stream, version, evs)
				})
			})
		}
	}
}

// BenchmarkRelay measures relay throughput from a filled log to broker acks,
// and the commit-to-ack latency while events arrive at a steady 1,000/s.
// One iteration is the whole scenario: run it with -benchtime=1x.
func BenchmarkRelay(b *testing.B) {
	b.Run("throughput", func(b *testing.B) {
		for range b.N {
			env := newRelayEnv(b)
			const total = 20000
			for i := 0; i < total/20; i++ {
				mustAppend(b, env.store, streamID(), NoStream, newEvents(20, "bench.relayed")...)
			}
			var acked atomic.Int64
			done := make(chan struct{})
			start := time.Now()
			_, stop := env.start(b, func(_ context.Context, evs []Event) {
				if acked.Add(int64(len(evs))) == total {
					close(done)
				}
			})
			<-done
			b.ReportMetric(total/time.Since(start).Seconds(), "events/s")
			stop()
		}
	})
	b.Run("latency-at-1000/s", func(b *testing.B) {
		for range b.N {
			env := newRelayEnv(b)
			var mu sync.Mutex
			var lat []time.Duration
			warm := make(chan struct{})
			var warmOnce sync.Once
			const warmups = 200 // on 200 streams: every partition's producer is warm
			warmed := 0
			_, stop := env.start(b, func(_ context.Context, evs []Event) {
				now := time.Now()
				mu.Lock()
				for _, e := range evs {
					if e.Type == "bench.warmup" {
						if warmed++; warmed == warmups {
							warmOnce.Do(func() { close(warm) })
						}
						continue
					}
					lat = append(lat, now.Sub(e.RecordedAt))
				}
				mu.Unlock()
			})
			// Warm up first: leadership, producer id and per-partition producers
			// are one-off costs, not the steady state measured here.
			for range warmups {
				mustAppend(b, env.store, streamID(), NoStream, newEvents(1, "bench.warmup")...)
			}
			<-warm
			// 8 writers, each appending one event every 8 ms: 1,000 events/s for 5 s.
			var wg sync.WaitGroup
			for w := 0; w < 8; w++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					tick := time.NewTicker(8 * time.Millisecond)
					defer tick.Stop()
					stream := streamID()
					for i := 0; i < 625; i++ {
						<-tick.C
						mustAppend(b, env.store, stream, Exactly(int64(i)), newEvents(1, "bench.latency")...)
					}
				}()
			}
			wg.Wait()
			wait.For(b, time.Minute, func() error {
				mu.Lock()
				defer mu.Unlock()
				if len(lat) < 5000 {
					return fmt.Errorf("%d of 5000 appends seen by the subscriber", len(lat))
				}
				return nil
			})
			stop()
			slices.Sort(lat)
			b.ReportMetric(float64(lat[len(lat)*50/100].Microseconds())/1000, "p50-ms")
			b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
		}
	})
}
