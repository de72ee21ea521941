package domain

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/mail"
	"regexp"
	"sort"
	"strings"
	"unicode/utf8"
)

// ValidationError lists every invalid field of a request at once, keyed by
// the field's JSON name, so a client fixes them all in one round.
type ValidationError struct {
	Fields map[string]string
}

func (e *ValidationError) Error() string {
	names := make([]string, 0, len(e.Fields))
	for n := range e.Fields {
		names = append(names, n)
	}
	sort.Strings(names)
	parts := make([]string, len(names))
	for i, n := range names {
		parts[i] = n + ": " + e.Fields[n]
	}
	return "invalid request: " + strings.Join(parts, "; ")
}

// problems collects field errors; err returns nil when there are none.
type problems map[string]string

func (p problems) add(field, format string, args ...any) {
	if _, seen := p[field]; !seen { // the first problem of a field is the one to fix first
		p[field] = fmt.Sprintf(format, args...)
	}
}

func (p problems) err() error {
	if len(p) == 0 {
		return nil
	}
	return &ValidationError{Fields: p}
}

// keyPattern is ARC's own tenant key rule (^[a-z0-9]+$, at most 10): a
// key names a schema (tenant_<key>), a bucket (tenant-<key>) and a DNS
// label, each of which may start with a digit.
var keyPattern = regexp.MustCompile(`^[a-z0-9]{1,10}$`)

// Limits of free-text fields, in characters.
const (
	maxName     = 100
	maxCompany  = 200
	maxAddress  = 500
	maxZip      = 20
	maxDomains  = 20
	maxHostname = 253
	// maxDescription bounds a plan's description, which may span lines.
	maxDescription = 2000
	// maxPlanJSON bounds each free-form JSON object of a plan (metaData,
	// sizeConfig), in bytes: with the other limits, a provisioning request's
	// event stays well under the event size cap (TENANTFLOW_MAX_EVENT_BYTES).
	maxPlanJSON = 16 << 10
)

func checkKey(p problems, field, key string) {
	if !keyPattern.MatchString(key) {
		p.add(field, "must be 1 to 10 lower-case letters or digits")
	}
}

// checkText requires 1..max characters after trimming (or allows empty when optional).
func checkText(p problems, field, value string, max int, optional bool) string {
	v := strings.TrimSpace(value)
	switch n := utf8.RuneCountInString(v); {
	case !utf8.ValidString(value):
		p.add(field, "must be valid UTF-8")
	case n == 0 && !optional:
		p.add(field, "is required")
	case n > max:
		p.add(field, "must be at most %d characters", max)
	case strings.ContainsAny(v, "\x00\r\n"):
		p.add(field, "must be a single line")
	}
	return v
}

// checkParagraph is checkText for text that may span lines (a description).
func checkParagraph(p problems, field, value string, max int) string {
	v := strings.TrimSpace(value)
	switch {
	case !utf8.ValidString(value):
		p.add(field, "must be valid UTF-8")
	case utf8.RuneCountInString(v) > max:
		p.add(field, "must be at most %d characters", max)
	case strings.ContainsRune(v, 0):
		p.add(field, "must not contain NUL characters")
	}
	return v
}

// checkObject allows an absent (or null) value or a JSON object of at most
// max bytes.
func checkObject(p problems, field string, raw json.RawMessage, max int) {
	v := bytes.TrimSpace(raw)
	switch {
	case len(v) == 0 || bytes.Equal(v, []byte("null")):
	case len(v) > max:
		p.add(field, "must be at most %d bytes of JSON, got %d", max, len(v))
	case v[0] != '{' || !json.Valid(v):
		p.add(field, "must be a JSON object")
	}
}

// checkArray allows an absent (or null) value or a JSON array of at most
// max bytes.
func checkArray(p problems, field string, raw json.RawMessage, max int) {
	v := bytes.TrimSpace(raw)
	switch {
	case len(v) == 0 || bytes.Equal(v, []byte("null")):
	case len(v) > max:
		p.add(field, "must be at most %d bytes of JSON, got %d", max, len(v))
	case v[0] != '[' || !json.Valid(v):
		p.add(field, "must be a JSON array")
	}
}

// checkPipelineName: metaData.pipelineName, when present, is one line of
// at most maxName characters (the application plane gets it as a value).
func checkPipelineName(p problems, prefix string, meta json.RawMessage) {
	var m map[string]json.RawMessage
	if json.Unmarshal(meta, &m) != nil || m["pipelineName"] == nil {
		return
	}
	var name string
	if err := json.Unmarshal(m["pipelineName"], &name); err != nil {
		p.add(prefix+"metaData.pipelineName", "must be a string")
		return
	}
	checkText(p, prefix+"metaData.pipelineName", name, maxName, true)
}

// checkContact validates a contact's fields under prefix ("contact.").
func checkContact(p problems, prefix string, c Contact) Contact {
	out := Contact{
		Email:     checkEmail(p, prefix+"email", c.Email),
		FirstName: checkText(p, prefix+"firstName", c.FirstName, maxName, false),
		LastName:  checkText(p, prefix+"lastName", c.LastName, maxName, false),
		Type:      checkText(p, prefix+"type", c.Type, maxName, true),
	}
	if strings.TrimSpace(c.CommunicationEmail) != "" {
		out.CommunicationEmail = checkEmail(p, prefix+"communicationEmail", c.CommunicationEmail)
	}
	return out
}

// checkAddress validates the optional fields of an address; prefix is
// "" where they are a body's own fields (ARC's tenant) and "address."
// where they are an object (ARC's lead).
func checkAddress(p problems, prefix string, a Address) Address {
	return Address{
		Address: checkText(p, prefix+"address", a.Address, maxAddress, true),
		City:    checkText(p, prefix+"city", a.City, maxName, true),
		State:   checkText(p, prefix+"state", a.State, maxName, true),
		Zip:     checkText(p, prefix+"zip", a.Zip, maxZip, true),
		Country: checkText(p, prefix+"country", a.Country, maxName, true),
	}
}

// checkEmail accepts a bare address (no display name), returned lower-cased
// in its domain part.
func checkEmail(p problems, field, value string) string {
	v := strings.TrimSpace(value)
	a, err := mail.ParseAddress(v)
	if v == "" {
		p.add(field, "is required")
		return v
	}
	if err != nil || a.Address != v || len(v) > 254 || !strings.Contains(v, "@") {
		p.add(field, "must be an email address such as ops@example.com")
		return v
	}
	at := strings.LastIndex(v, "@")
	if !isHostname(v[at+1:]) {
		p.add(field, "must have a domain such as example.com")
	}
	return v[:at+1] + strings.ToLower(v[at+1:])
}

// checkDomains requires distinct host names, lower-cased.
func checkDomains(p problems, field string, domains []string) []string {
	if len(domains) > maxDomains {
		p.add(field, "at most %d domains", maxDomains)
		return nil
	}
	out := make([]string, 0, len(domains))
	seen := map[string]bool{}
	for i, d := range domains {
		d = strings.ToLower(strings.TrimSpace(d))
		if !isHostname(d) {
			p.add(fmt.Sprintf("%s[%d]", field, i), "must be a host name such as app.example.com")
			continue
		}
		if seen[d] {
			p.add(fmt.Sprintf("%s[%d]", field, i), "repeats %s", d)
			continue
		}
		seen[d] = true
		out = append(out, d)
	}
	return out
}

// isHostname: at least two dot-separated labels of 1..63 letters, digits and
// inner hyphens, 253 characters at most, the last label not all digits.
func isHostname(h string) bool {
	if len(h) == 0 || len(h) > maxHostname {
		return false
	}
	labels := strings.Split(h, ".")
	if len(labels) < 2 {
		return false
	}
	for _, l := range labels {
		if len(l) == 0 || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return false
		}
		for _, c := range l {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
				return false
			}
		}
	}
	return strings.Trim(labels[len(labels)-1], "0123456789") != ""
}
