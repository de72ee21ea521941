package api

import (
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// rateLimiter limits requests per key (a client address, a recipient, a
// domain, or one key for all) with a token bucket each
// (golang.org/x/time/rate).
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

// wrap answers 429 with Retry-After once a client address has used its
// share. The address is the connection's peer, unless the peer is one of
// trusted (the operator's proxies): then it is the nearest address in
// X-Forwarded-For that is not a trusted proxy. Anyone can send that header,
// so it is believed only from the proxies that set it.
func (l *rateLimiter) wrap(trusted []netip.Prefix, next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !refuse(w, l, clientAddr(r, trusted), "too many sign-ups from this address; retry later") {
			next(w, r)
		}
	}
}

// refuse answers 429 with Retry-After when key has used its share of l.
func refuse(w http.ResponseWriter, l *rateLimiter, key, detail string) bool {
	err := limited(l, key, detail)
	if err != nil {
		writeError(w, nil, err)
	}
	return err != nil
}

// limited is refuse's verdict as an error (429, with its Retry-After).
func limited(l *rateLimiter, key, detail string) error {
	if ok, wait := l.allow(key, time.Now()); !ok {
		return &errRequest{status: http.StatusTooManyRequests, detail: detail, retryAfter: strconv.Itoa(int(wait.Seconds()) + 1)}
	}
	return nil
}

// clientAddr is the request's client address (see wrap).
func clientAddr(r *http.Request, trusted []netip.Prefix) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	isTrusted := func(s string) bool {
		ip, err := netip.ParseAddr(strings.TrimSpace(s))
		return err == nil && slices.ContainsFunc(trusted, func(p netip.Prefix) bool { return p.Contains(ip.Unmap()) })
	}
	if !isTrusted(host) {
		return host
	}
	hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		hop := strings.TrimSpace(hops[i])
		if _, err := netip.ParseAddr(hop); err == nil && !isTrusted(hop) {
			return hop
		}
	}
	return host
}
