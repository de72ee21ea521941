package api

import (
	"context"
	"net/http"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/gorilla/mux"
	"github.com/tenantflow/tenantflow/app"
	"github.com/tenantflow/tenantflow/eventstore"
)

// The document is valid OpenAPI 3, every route of the router is in it with
// its methods, and everything in it is a route.
func TestOpenAPIMatchesRouter(t *testing.T) {
	doc, err := openapi3.NewLoader().LoadFromData(openAPI)
	if err != nil {
		t.Fatal(err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatalf("openapi.json is not valid OpenAPI 3: %v", err)
	}
	documented := map[string]bool{}
	for path, item := range doc.Paths.Map() {
		for method := range item.Operations() {
			documented[method+" "+path] = true
		}
	}

	rt := NewRouter(nil, time.Second)
	rt.Mount(Deps{App: app.NewService(eventstore.NewMemory(), ""), Logger: quietLogger()})
	routed := map[string]bool{}
	err = rt.mux.Walk(func(route *mux.Route, _ *mux.Router, _ []*mux.Route) error {
		path, err := route.GetPathTemplate()
		if err != nil {
			return err
		}
		methods, err := route.GetMethods()
		if err != nil {
			return err
		}
		if strings.HasPrefix(path, "/console") {
			return nil // the operator console serves HTML, not the API
		}
		for _, m := range methods {
			routed[m+" "+path] = true
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if missing := diff(routed, documented); len(missing) > 0 {
		t.Errorf("routes not in openapi.json: %v", missing)
	}
	if extra := diff(documented, routed); len(extra) > 0 {
		t.Errorf("openapi.json documents routes that do not exist: %v", extra)
	}
	if len(routed) < 14 {
		t.Errorf("only %d routes walked: %v", len(routed), routed)
	}

	// Every POST that takes a body documents the errors decode gives.
	for key := range routed {
		method, path, _ := strings.Cut(key, " ")
		item := doc.Paths.Find(path)
		if item == nil {
			continue // reported above
		}
		op := item.GetOperation(method)
		if method == http.MethodPost && op.RequestBody != nil && op.Responses.Value("415") == nil {
			t.Errorf("%s does not document 415", key)
		}
	}
}

func diff(a, b map[string]bool) []string {
	var out []string
	for k := range a {
		if !b[k] {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return slices.Clip(out)
}
