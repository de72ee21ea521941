package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"

	"github.com/tenantflow/tenantflow/platform/pii"
)

// maxBody bounds every request body.
const maxBody = 1 << 20

// decode reads a JSON body strictly: the right content type, at most 1 MiB,
// no unknown fields, exactly one value.
func decode(w http.ResponseWriter, r *http.Request, v any) error {
	raw, err := readJSON(w, r)
	if err != nil {
		return err
	}
	if v := bytes.TrimSpace(raw); len(v) == 0 || v[0] != '{' {
		return &errRequest{status: http.StatusBadRequest, detail: "the body must be a JSON object"}
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return &errRequest{status: http.StatusBadRequest, detail: "malformed JSON: " + err.Error()}
	}
	if err := dec.Decode(&struct{}{}); !errors.Is(err, io.EOF) {
		return &errRequest{status: http.StatusBadRequest, detail: "the body must hold exactly one JSON value"}
	}
	if looksSealed(raw) {
		return &errRequest{status: http.StatusBadRequest, detail: "a value looks like sealed personal data (pii:<n>:…): send plain values; " +
			"tenantflow seals personal fields itself and opens only what it sealed"}
	}
	return nil
}

// readJSON reads a body sent as JSON, at most 1 MiB, as it is.
func readJSON(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/json" {
		return nil, &errRequest{status: http.StatusUnsupportedMediaType, detail: "send Content-Type: application/json"}
	}
	raw, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return nil, &errRequest{status: http.StatusRequestEntityTooLarge, detail: fmt.Sprintf("the body is over %d bytes", maxBody)}
		}
		return nil, &errRequest{status: http.StatusBadRequest, detail: "the body could not be read"}
	}
	return raw, nil
}

// looksSealed reports whether any string of the JSON document raw (keys
// included, escapes decoded) holds something shaped like a sealed personal
// field. Such input is refused: a caller could otherwise post someone
// else's sealed string (from a backup, the topic, an export) and read it
// back opened.
func looksSealed(raw []byte) bool {
	if !bytes.Contains(raw, []byte("pii")) && !bytes.Contains(raw, []byte(`\u`)) {
		return false // the common case: no decoding needed
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	for {
		tok, err := dec.Token()
		if err != nil {
			return false
		}
		if s, ok := tok.(string); ok && pii.LooksSealed(s) {
			return true
		}
	}
}
