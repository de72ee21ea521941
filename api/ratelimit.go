package api

import (
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// rateLimiter limits requests per client address with a token bucket each
// (golang.org/x/time/rate). The address is the connection's peer: behind a
// proxy every client shares the proxy's bucket, which errs on the safe side;
// forwarded-for headers are not trusted, since any client can send them.
type rateLimiter struct {
	mu      sync.Mutex
	perSec  rate.Limit
	burst   int
	clients map[string]*client
	sweep   time.Time
}

type client struct {
	limiter *rate.Limiter
	seen    time.Time
}

// newRateLimiter allows n requests per period per address, in bursts of n.
func newRateLimiter(n int, period time.Duration) *rateLimiter {
	if n < 1 {
		n = 1
	}
	return &rateLimiter{perSec: rate.Limit(float64(n) / period.Seconds()), burst: n, clients: map[string]*client{}}
}

func (l *rateLimiter) allow(addr string, now time.Time) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Sub(l.sweep) > time.Minute { // forget idle clients, so the map stays small
		for a, c := range l.clients {
			if now.Sub(c.seen) > 10*time.Minute {
				delete(l.clients, a)
			}
		}
		l.sweep = now
	}
	c, ok := l.clients[addr]
	if !ok {
		c = &client{limiter: rate.NewLimiter(l.perSec, l.burst)}
		l.clients[addr] = c
	}
	c.seen = now
	r := c.limiter.ReserveN(now, 1)
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return false, d
	}
	return true, 0
}

// wrap answers 429 with Retry-After once an address has used its share.
func (l *rateLimiter) wrap(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		addr, _, err := net.SplitHostPort(r.RemoteAddr)
		if err != nil {
			addr = r.RemoteAddr
		}
		if ok, wait := l.allow(addr, time.Now()); !ok {
			w.Header().Set("Retry-After", strconv.Itoa(int(wait.Seconds())+1))
			writeProblem(w, problem{Status: http.StatusTooManyRequests, Detail: "too many sign-ups from this address; retry later"})
			return
		}
		next(w, r)
	}
}
