package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
)

// maxBody bounds every request body.
const maxBody = 1 << 20

// decode reads a JSON body strictly: the right content type, at most 1 MiB,
// no unknown fields, exactly one value.
func decode(w http.ResponseWriter, r *http.Request, v any) error {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/json" {
		return &errRequest{status: http.StatusUnsupportedMediaType, detail: "send Content-Type: application/json"}
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return &errRequest{status: http.StatusRequestEntityTooLarge, detail: fmt.Sprintf("the body is over %d bytes", maxBody)}
		}
		return &errRequest{status: http.StatusBadRequest, detail: "malformed JSON: " + err.Error()}
	}
	if err := dec.Decode(&struct{}{}); !errors.Is(err, io.EOF) {
		return &errRequest{status: http.StatusBadRequest, detail: "the body must hold exactly one JSON value"}
	}
	return nil
}
