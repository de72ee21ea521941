package api

import (
	"bufio"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/tenantflow/tenantflow/eventstore"
	"github.com/tenantflow/tenantflow/internal/auth"
)

// The console's event streams are bounded: each ends when its viewer's
// token expires, a viewer may hold maxStreamsPerViewer at once (429
// beyond), and CloseStreams (graceful shutdown) ends them all.
func TestConsoleStreamsAreBounded(t *testing.T) {
	signer, _ := auth.NewHS256(testSecret, "tenantflow")
	rt := NewRouter(nil, time.Second)
	rt.Mount(Deps{Store: eventstore.NewMemory(), Verifier: signer, Logger: quietLogger()})
	srv := httptest.NewServer(rt)
	t.Cleanup(srv.Close)
	open := func(token string) (*http.Response, *bufio.Reader) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, srv.URL+"/console/stream", nil)
		req.AddCookie(&http.Cookie{Name: consoleCookie, Value: token})
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		return resp, bufio.NewReader(resp.Body)
	}
	// ended reads until the stream closes, or fails after within.
	ended := func(r *bufio.Reader, within time.Duration) {
		t.Helper()
		done := make(chan struct{})
		go func() {
			for {
				if _, err := r.ReadString('\n'); err != nil {
					close(done)
					return
				}
			}
		}()
		select {
		case <-done:
		case <-time.After(within):
			t.Fatalf("the stream was still open after %s", within)
		}
	}

	short, _ := signer.Mint("brief", []string{auth.ViewTenant}, "", 2*time.Second, time.Now())
	resp, body := open(short)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("stream: %d", resp.StatusCode)
	}
	started := time.Now()
	ended(body, 10*time.Second)
	if time.Since(started) < time.Second {
		t.Errorf("the stream ended after %s, before the token expired", time.Since(started))
	}
	resp.Body.Close()

	long, _ := signer.Mint("tabs", []string{auth.ViewTenant}, "", time.Hour, time.Now())
	var bodies []*http.Response
	for range maxStreamsPerViewer {
		resp, _ := open(long)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("stream within the cap: %d", resp.StatusCode)
		}
		bodies = append(bodies, resp)
	}
	if resp, _ := open(long); resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("a stream over the cap: %d", resp.StatusCode)
	}
	other, _ := signer.Mint("someone-else", []string{auth.ViewTenant}, "", time.Hour, time.Now())
	resp, body = open(other)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("another viewer's stream: %d", resp.StatusCode)
	}
	rt.CloseStreams()
	ended(body, 5*time.Second)
	for _, b := range bodies {
		b.Body.Close()
	}
}
