package api

import (
	_ "embed"
	"net/http"
)

// openAPI documents every route; openapi_test.go holds it and the router
// to each other.
//
//go:embed openapi.json
var openAPI []byte

func serveOpenAPI(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(openAPI)
}
