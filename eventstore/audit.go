package eventstore

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
)

// Audit: every event's hash covers its content and the previous hash of its
// stream (append_events computes it under the stream's lock, so no writer
// waits for another stream's). A sealer follows the log in commit-safe
// order and chains the heads of the streams written since the previous seal
// into signed seals (HMAC with the seal key). Verify recomputes both: an
// altered event breaks its stream's chain, a deleted one leaves a gap, and
// a deleted or rewritten stream no longer matches the head a seal recorded.

// Head is a stream's last version and hash as a seal recorded it.
type Head struct {
	Version int64  `json:"version"`
	Hash    string `json:"hash"` // hex
}

// sealHash chains a seal: HMAC-SHA256 with key (sha256 without one) over
// the previous seal's hash and the heads in canonical JSON (sorted keys).
func sealHash(key, prev []byte, heads map[string]Head) ([]byte, error) {
	canonical, err := json.Marshal(heads) // maps marshal with sorted keys
	if err != nil {
		return nil, err
	}
	var h interface {
		Write([]byte) (int, error)
		Sum([]byte) []byte
	} = sha256.New()
	if len(key) > 0 {
		h = hmac.New(sha256.New, key)
	}
	h.Write(prev)
	h.Write(canonical)
	return h.Sum(nil), nil
}

// Sealer writes seals. Several may run: a transaction-scoped advisory lock
// lets one seal at a time.
type Sealer struct {
	Store  *Postgres
	Key    []byte        // empty: seals are chained but not signed
	Every  time.Duration // default 10s
	Logger *slog.Logger
}

// Run seals every Every until ctx ends.
func (s Sealer) Run(ctx context.Context) error {
	if s.Every <= 0 {
		s.Every = 10 * time.Second
	}
	t := time.NewTicker(s.Every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
			if _, err := s.SealOnce(ctx); err != nil && ctx.Err() == nil && s.Logger != nil {
				s.Logger.Warn("sealing the log failed; retrying", "error", err)
			}
		}
	}
}

// SealOnce seals what was committed since the last seal, if anything, and
// returns how many stream heads the new seal holds.
func (s Sealer) SealOnce(ctx context.Context) (int, error) {
	var n int
	err := pgx.BeginFunc(ctx, s.Store.pool, func(tx pgx.Tx) error {
		var got bool
		if err := tx.QueryRow(ctx, `select pg_try_advisory_xact_lock(1952805749, 0)`).Scan(&got); err != nil || !got {
			return err
		}
		var cursor Cursor
		var prev []byte
		var txText string
		err := tx.QueryRow(ctx, `select upto_tx::text, upto_position, hash from seals order by id desc limit 1`).Scan(&txText, &cursor.Position, &prev)
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		if txText != "" {
			if cursor.TxID, err = strconv.ParseUint(txText, 10, 64); err != nil {
				return err
			}
		}
		heads := map[string]Head{}
		for {
			batch, err := s.Store.ReadAll(ctx, cursor, 5000)
			if err != nil {
				return err
			}
			if len(batch) == 0 {
				break
			}
			for _, e := range batch {
				if h, ok := heads[e.Stream]; !ok || e.Version > h.Version {
					heads[e.Stream] = Head{Version: e.Version, Hash: hex.EncodeToString(e.Hash)}
				}
			}
			cursor = batch[len(batch)-1].After()
		}
		if len(heads) == 0 {
			return nil
		}
		hash, err := sealHash(s.Key, prev, heads)
		if err != nil {
			return err
		}
		raw, _ := json.Marshal(heads)
		_, err = tx.Exec(ctx, `insert into seals (upto_tx, upto_position, heads, prev_hash, hash, signed) values ($1::text::xid8, $2, $3, $4, $5, $6)`,
			strconv.FormatUint(cursor.TxID, 10), cursor.Position, raw, prev, hash, len(s.Key) > 0)
		n = len(heads)
		return err
	})
	return n, err
}

// Problem is one finding of Verify.
type Problem struct {
	Stream   string `json:"stream"`
	Version  int64  `json:"version"`
	EventID  string `json:"eventId,omitempty"`
	Position int64  `json:"position,omitempty"`
	Seal     int64  `json:"seal,omitempty"`
	What     string `json:"what"`
}

func (p Problem) String() string {
	s := fmt.Sprintf("%s version %d", p.Stream, p.Version)
	if p.EventID != "" {
		s += " (event " + p.EventID + ")"
	}
	if p.Seal != 0 {
		s += fmt.Sprintf(" [seal %d]", p.Seal)
	}
	return s + ": " + p.What
}

// VerifyReport is what Verify found.
type VerifyReport struct {
	Events   int64     `json:"events"`
	Seals    int64     `json:"seals"`
	Unsigned int64     `json:"unsignedSeals"`
	Problems []Problem `json:"problems"` // stream chains first (in log order), then seals
}

// Verify recomputes every stream's hash chain and every seal. key is the
// seal key the sealer used (empty if none).
func (s *Postgres) Verify(ctx context.Context, key []byte) (VerifyReport, error) {
	var r VerifyReport
	rows, err := s.pool.Query(ctx, `
		select stream_id, stream_version, event_id::text, position,
		       lag(stream_version) over w,
		       hash = event_hash(lag(hash) over w, event_hash_input(stream_id, stream_version, event_id, event_type,
		                                                           schema_version, data, metadata, recorded_at))
		  from events window w as (partition by stream_id order by stream_version)`)
	if err != nil {
		return r, fmt.Errorf("verify the chains: %w", err)
	}
	var chain []Problem
	for rows.Next() {
		var p Problem
		var prev *int64
		var ok bool
		if err := rows.Scan(&p.Stream, &p.Version, &p.EventID, &p.Position, &prev, &ok); err != nil {
			rows.Close()
			return r, err
		}
		r.Events++
		switch {
		case prev == nil && p.Version != 1:
			p.What = fmt.Sprintf("the stream starts at version %d: versions 1 to %d were deleted", p.Version, p.Version-1)
		case prev != nil && *prev != p.Version-1:
			p.What = fmt.Sprintf("version %d follows version %d: the events between were deleted", p.Version, *prev)
		case !ok:
			p.What = "the event does not match its hash: it was altered (or the event before it was)"
		default:
			continue
		}
		chain = append(chain, p)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return r, err
	}
	sort.SliceStable(chain, func(i, j int) bool { return chain[i].Position < chain[j].Position })
	r.Problems = chain

	seals, err := s.pool.Query(ctx, `select id, heads, prev_hash, hash, signed from seals order by id`)
	if err != nil {
		return r, fmt.Errorf("read seals: %w", err)
	}
	type seal struct {
		id         int64
		heads      map[string]Head
		prev, hash []byte
		signed     bool
	}
	var all []seal
	for seals.Next() {
		var x seal
		if err := seals.Scan(&x.id, &x.heads, &x.prev, &x.hash, &x.signed); err != nil {
			seals.Close()
			return r, err
		}
		all = append(all, x)
	}
	seals.Close()
	var prev []byte
	for _, x := range all {
		r.Seals++
		if !x.signed {
			r.Unsigned++
		}
		want, err := sealHash(key, prev, x.heads)
		if err != nil {
			return r, err
		}
		if !bytes.Equal(x.prev, prev) || !bytes.Equal(want, x.hash) {
			r.Problems = append(r.Problems, Problem{Seal: x.id, What: "the seal does not match its chain or signature: seals were altered or removed (or the seal key differs)"})
		}
		prev = x.hash
		streams := make([]string, 0, len(x.heads))
		for st := range x.heads {
			streams = append(streams, st)
		}
		sort.Strings(streams)
		for _, st := range streams {
			h := x.heads[st]
			var stored []byte
			err := s.pool.QueryRow(ctx, `select hash from events where stream_id = $1 and stream_version = $2`, st, h.Version).Scan(&stored)
			switch {
			case errors.Is(err, pgx.ErrNoRows):
				r.Problems = append(r.Problems, Problem{Stream: st, Version: h.Version, Seal: x.id,
					What: "a sealed event is gone: the stream (or its end) was deleted"})
			case err != nil:
				return r, err
			case hex.EncodeToString(stored) != h.Hash:
				r.Problems = append(r.Problems, Problem{Stream: st, Version: h.Version, Seal: x.id,
					What: "the stream differs from what was sealed: it was rewritten"})
			}
		}
	}
	return r, nil
}
