// Package pii keeps people's personal data out of the immutable log and
// makes it erasable: crypto-shredding.
//
// Before an event is appended, the personal fields of every contact in it
// (email, first and last name) and a lead's address are sealed with a key
// of the person's own — one key per email address — kept in the table
// personal_keys, apart from the log. The log, the topic, the analytics
// stream and the projections hold only the sealed strings; the hash chain
// covers them. Who needs the plain values (the admin user step, the mails,
// the API's answers, tenantctl's history and export) opens them with the
// key. Erasing a person deletes the key row and records person.erased:
// from then on every sealed field of theirs opens as Erased, everywhere,
// and nothing can decrypt it again, while the log still verifies.
//
// A sealed field is "pii:1:<key id>:<base64 of nonce|ciphertext>",
// AES-256-GCM with the key id as associated data. The nonce is derived from
// the key and the plain value (deterministic, like AES-SIV): the same value
// seals the same way, so a retried append is still recognised as the same
// events, and equal values stay comparable; nothing else is revealed.
//
// The keys are wrapped with a master key (TENANTFLOW_PII_KEY) when one is
// configured (production requires it), so a copy of the database alone
// opens nothing; the person's id in personal_keys is an HMAC of the email
// under a key derived from it.
package pii

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/tenantflow/tenantflow/domain"
)

// Erased is what an erased person's sealed field opens as.
const Erased = "[erased]"

const prefix = "pii:1:"

// SealedWith is how every field sealed with key id begins: what to look
// for in the log to find whose data the key holds.
func SealedWith(id string) string { return prefix + id + ":" }

// sealedShape is a sealed field's prefix, of any format version, anywhere
// in a string.
var sealedShape = regexp.MustCompile(`pii:[0-9]+:`)

// LooksSealed reports whether s holds something shaped like a sealed field
// (any version, anywhere in it): input that must be refused, because
// whoever posts another person's sealed string would read it back opened.
func LooksSealed(s string) bool { return sealedShape.MatchString(s) }

// IsSealed reports whether s is a sealed field.
func IsSealed(s string) bool { return strings.HasPrefix(s, prefix) }

// Vault seals and opens personal fields with the keys in personal_keys.
// Keys are read from the table at every use and never cached, so an
// erasure takes effect at once in every process.
type Vault struct {
	pool   *pgxpool.Pool
	master cipher.AEAD // nil: keys are stored unwrapped (development)
	idKey  []byte      // the HMAC key of people's ids
}

// NewVault returns a vault on pool. masterKey is 32 bytes, or nil.
func NewVault(pool *pgxpool.Pool, masterKey []byte) (*Vault, error) {
	v := &Vault{pool: pool, idKey: []byte("tenantflow person id")}
	if masterKey != nil {
		if len(masterKey) != 32 {
			return nil, fmt.Errorf("the personal data master key must be 32 bytes, got %d", len(masterKey))
		}
		aead, err := gcm(masterKey)
		if err != nil {
			return nil, err
		}
		v.master = aead
		mac := hmac.New(sha256.New, masterKey)
		mac.Write([]byte("tenantflow person id"))
		v.idKey = mac.Sum(nil)
	}
	return v, nil
}

func gcm(key []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// person is the id of the person behind an email address.
func (v *Vault) person(email string) string {
	mac := hmac.New(sha256.New, v.idKey)
	mac.Write([]byte(strings.ToLower(strings.TrimSpace(email))))
	return hex.EncodeToString(mac.Sum(nil))
}

// key is one person's key.
type key struct {
	id  string
	raw []byte
}

// keyFor returns the person's key, made on first use.
func (v *Vault) keyFor(ctx context.Context, email string) (key, error) {
	person := v.person(email)
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return key{}, err
	}
	id := uuid.NewString()
	stored := raw
	if v.master != nil {
		stored = v.master.Seal(nil, make([]byte, v.master.NonceSize()), raw, []byte(id)) // a fresh key per id: a fixed nonce is safe
	}
	var k key
	var got []byte
	var err error
	// A concurrent first use of the same person commits after this
	// statement's snapshot: the insert does nothing and the select does not
	// see it yet, so the next statement, with a new snapshot, does.
	for range 3 {
		err = v.pool.QueryRow(ctx, `with made as (
				insert into personal_keys (id, person, key) values ($1, $2, $3) on conflict (person) do nothing returning id, key)
			select id::text, key from made union all select id::text, key from personal_keys where person = $2 limit 1`,
			id, person, stored).Scan(&k.id, &got)
		if !errors.Is(err, pgx.ErrNoRows) {
			break
		}
	}
	if err != nil {
		return key{}, fmt.Errorf("personal data key: %w", err)
	}
	k.raw, err = v.unwrap(k.id, got)
	return k, err
}

func (v *Vault) unwrap(id string, stored []byte) ([]byte, error) {
	if v.master == nil {
		return stored, nil
	}
	raw, err := v.master.Open(nil, make([]byte, v.master.NonceSize()), stored, []byte(id))
	if err != nil {
		return nil, fmt.Errorf("personal data key %s does not open with TENANTFLOW_PII_KEY: %w", id, err)
	}
	return raw, nil
}

func seal(k key, plain string) (string, error) {
	aead, err := gcm(k.raw)
	if err != nil {
		return "", err
	}
	mac := hmac.New(sha256.New, k.raw)
	mac.Write([]byte(plain))
	nonce := mac.Sum(nil)[:aead.NonceSize()]
	out := aead.Seal(nonce, nonce, []byte(plain), []byte(k.id))
	return prefix + k.id + ":" + base64.RawStdEncoding.EncodeToString(out), nil
}

// parse splits a sealed field into its key id and sealed bytes.
func parse(s string) (id string, sealed []byte, ok bool) {
	id, b64, found := strings.Cut(strings.TrimPrefix(s, prefix), ":")
	if !IsSealed(s) || !found {
		return "", nil, false
	}
	sealed, err := base64.RawStdEncoding.DecodeString(b64)
	return id, sealed, err == nil
}

// ContactFields are the personal fields of c, its email first.
func ContactFields(c *domain.Contact) []*string {
	return []*string{&c.Email, &c.FirstName, &c.LastName, &c.CommunicationEmail}
}

// AddressFields are the personal fields of a: all but the country, which
// stays readable (for tax and billing; it identifies nobody alone).
func AddressFields(a *domain.Address) []*string {
	return []*string{&a.Address, &a.City, &a.State, &a.Zip}
}

// SealContact seals c's personal fields (ContactFields, and extra fields
// of the same person, such as an address) under the key of c's email.
// Fields that are sealed already stay as they are.
func (v *Vault) SealContact(ctx context.Context, c *domain.Contact, extra ...*string) error {
	if IsSealed(c.Email) || c.Email == "" {
		return nil
	}
	k, err := v.keyFor(ctx, c.Email)
	if err != nil {
		return err
	}
	for _, f := range append(ContactFields(c)[1:], extra...) { // the email last: it picks the key
		if *f != "" && !IsSealed(*f) {
			if *f, err = seal(k, *f); err != nil {
				return err
			}
		}
	}
	c.Email, err = seal(k, c.Email)
	return err
}

// Open returns c with its sealed fields opened (Erased for an erased
// person). A Contact without sealed fields comes back as it is.
func (v *Vault) Open(ctx context.Context, c domain.Contact) (domain.Contact, error) {
	return c, v.OpenFields(ctx, ContactFields(&c)...)
}

// OpenFields opens each sealed field in place, with one read of the keys.
func (v *Vault) OpenFields(ctx context.Context, fields ...*string) error {
	ids := map[string]bool{}
	for _, f := range fields {
		if id, _, ok := parse(*f); ok {
			ids[id] = true
		}
	}
	if len(ids) == 0 {
		return nil
	}
	stored, err := v.keys(ctx, ids)
	if err != nil {
		return err
	}
	return v.OpenFieldsWith(stored, fields...)
}

// StoredKeys are personal-data keys as personal_keys stores them (wrapped
// when a master key is configured), by key id: what a statement reading
// sealed fields and their keys at once reads (GET /tenants/{id}: a key
// erased before its snapshot is not among them, so its fields open as
// Erased, as with OpenFields).
type StoredKeys map[string][]byte

// StoredKeysOf pairs a statement's key ids and keys.
func StoredKeysOf(ids []string, keys [][]byte) StoredKeys {
	out := make(StoredKeys, len(ids))
	for i, id := range ids {
		out[id] = keys[i]
	}
	return out
}

// OpenFieldsWith opens each sealed field in place with keys the caller read
// (StoredKeys); a field whose key is not among them opens as Erased.
func (v *Vault) OpenFieldsWith(stored StoredKeys, fields ...*string) error {
	opened := map[string]cipher.AEAD{}
	for _, f := range fields {
		id, sealed, ok := parse(*f)
		if !ok {
			continue
		}
		aead, found := opened[id]
		if !found {
			s, found := stored[id]
			if !found {
				*f = Erased
				continue
			}
			raw, err := v.unwrap(id, s)
			if err != nil {
				return err
			}
			if aead, err = gcm(raw); err != nil {
				return err
			}
			opened[id] = aead
		}
		n := aead.NonceSize()
		if len(sealed) < n {
			return fmt.Errorf("sealed field of key %s is truncated", id)
		}
		plain, err := aead.Open(nil, sealed[:n], sealed[n:], []byte(id))
		if err != nil {
			return fmt.Errorf("sealed field of key %s does not open: %w", id, err)
		}
		*f = string(plain)
	}
	return nil
}

// keys reads the stored keys of ids; an erased one is not among them.
func (v *Vault) keys(ctx context.Context, ids map[string]bool) (StoredKeys, error) {
	list := make([]string, 0, len(ids))
	for id := range ids {
		if _, err := uuid.Parse(id); err == nil {
			list = append(list, id)
		}
	}
	rows, err := v.pool.Query(ctx, `select id::text, key from personal_keys where id = any($1::uuid[])`, list)
	if err != nil {
		return nil, fmt.Errorf("read personal data keys: %w", err)
	}
	out := StoredKeys{}
	for rows.Next() {
		var id string
		var stored []byte
		if err := rows.Scan(&id, &stored); err != nil {
			rows.Close()
			return nil, err
		}
		out[id] = stored
	}
	rows.Close()
	return out, rows.Err()
}

// OpenJSON returns doc with the sealed strings of its personal members
// (PersonalFields, at any depth) opened: API answers, exports and histories
// (any event's data). A sealed-looking string under any other member stays
// as it is.
func (v *Vault) OpenJSON(ctx context.Context, doc []byte) ([]byte, error) {
	var x any
	if err := json.Unmarshal(doc, &x); err != nil {
		return nil, err
	}
	var fields []*string
	var walk func(p *any, personal bool)
	walk = func(p *any, personal bool) {
		switch t := (*p).(type) {
		case string:
			if personal && IsSealed(t) {
				s := t
				fields = append(fields, &s)
				*p = &s
			}
		case map[string]any: // an object under a personal member (an address) is personal throughout
			for k := range t {
				val := t[k]
				walk(&val, personal || slices.Contains(PersonalFields, k))
				t[k] = val
			}
		case []any:
			for i := range t {
				walk(&t[i], false)
			}
		}
	}
	walk(&x, false)
	if len(fields) == 0 {
		return doc, nil
	}
	if err := v.OpenFields(ctx, fields...); err != nil {
		return nil, err
	}
	return json.Marshal(x)
}

// PersonalFields are the members that hold personal data wherever a
// contact appears (a tenant's contact and contacts, a lead's or a tenant's
// address, in views and in events): the only places OpenJSON opens a
// sealed string. One found anywhere else was not put there by the sealer.
var PersonalFields = []string{"email", "firstName", "lastName", "communicationEmail", "address"}

// ErrUnknownPerson means nobody with that email address or lead has a key:
// nothing of theirs was kept, or it was erased already.
var ErrUnknownPerson = errors.New("no personal data kept for that person (never recorded, or erased already)")

// KeyIDs are the key ids sealed fields in doc (an event's data) use.
func KeyIDs(doc []byte) []string {
	var ids []string
	seen := map[string]bool{}
	for _, part := range strings.Split(string(doc), `"`+prefix)[1:] {
		id, _, _ := strings.Cut(part, ":")
		if !seen[id] {
			seen[id] = true
			ids = append(ids, id)
		}
	}
	return ids
}

// KeyOf is the id of the key of the person with that email address;
// ErrUnknownPerson when there is none.
func (v *Vault) KeyOf(ctx context.Context, email string) (string, error) {
	var id string
	err := v.pool.QueryRow(ctx, `select id::text from personal_keys where person = $1`, v.person(email)).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", ErrUnknownPerson
	}
	return id, err
}

// EraseKey destroys key id; ErrUnknownPerson when it is gone already.
func (v *Vault) EraseKey(ctx context.Context, id string) error {
	if _, err := uuid.Parse(id); err != nil {
		return ErrUnknownPerson
	}
	ct, err := v.pool.Exec(ctx, `delete from personal_keys where id = $1`, id)
	if err != nil {
		return err
	}
	if ct.RowsAffected() == 0 {
		return ErrUnknownPerson
	}
	return nil
}

// SealEvent seals the personal fields of an event's data before it is
// appended: its "contact" object (with a lead's "address", the same
// person's) and each entry of its "contacts" list. Data without them comes
// back unchanged.
func (v *Vault) SealEvent(ctx context.Context, data []byte) ([]byte, error) {
	if !bytes.Contains(data, []byte(`"contact`)) { // every append passes here: no copy of the data
		return data, nil
	}
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, err
	}
	changed := false
	if raw, ok := doc["contact"]; ok {
		var address *domain.Address // the same person's: a lead's, a tenant owner's
		if a, ok := doc["address"]; ok {
			address = &domain.Address{}
			if err := json.Unmarshal(a, address); err != nil {
				return nil, err
			}
		}
		var extras []*string
		if address != nil {
			extras = AddressFields(address)
		}
		out, err := v.sealObject(ctx, raw, extras...)
		if err != nil {
			return nil, err
		}
		doc["contact"], changed = out, true
		if address != nil {
			doc["address"], _ = json.Marshal(address)
		}
	}
	if raw, ok := doc["contacts"]; ok && string(raw) != "null" {
		var list []json.RawMessage
		if err := json.Unmarshal(raw, &list); err != nil {
			return nil, err
		}
		for i := range list {
			out, err := v.sealObject(ctx, list[i])
			if err != nil {
				return nil, err
			}
			list[i] = out
		}
		doc["contacts"], _ = json.Marshal(list)
		changed = true
	}
	if !changed {
		return data, nil
	}
	return json.Marshal(doc)
}

// sealObject seals the personal fields of one contact object, keeping its
// other members (a tenant contact's "primary", its "type") as they are.
func (v *Vault) sealObject(ctx context.Context, raw json.RawMessage, extra ...*string) (json.RawMessage, error) {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(raw, &obj); err != nil {
		return nil, err
	}
	var c domain.Contact
	fields := ContactFields(&c)
	names := []string{"email", "firstName", "lastName", "communicationEmail"} // ContactFields' order
	for i, name := range names {
		if m, ok := obj[name]; ok {
			if err := json.Unmarshal(m, fields[i]); err != nil {
				return nil, err
			}
		}
	}
	if err := v.SealContact(ctx, &c, extra...); err != nil {
		return nil, err
	}
	for i, name := range names {
		if _, ok := obj[name]; ok {
			obj[name], _ = json.Marshal(*fields[i])
		}
	}
	return json.Marshal(obj)
}

// Opener opens sealed fields in place: a *Vault, or nil where nothing is
// sealed (tests of one package, tools without a database).
type Opener interface {
	OpenFields(ctx context.Context, fields ...*string) error
}

// OpenContacts opens a contact and a list of contacts with one read of the
// keys. A nil Opener leaves them as they are.
func OpenContacts(ctx context.Context, o Opener, c *domain.Contact, cs []domain.TenantContact) error {
	if o == nil || (o == (*Vault)(nil)) {
		return nil
	}
	fields := []*string{}
	if c != nil {
		fields = append(fields, ContactFields(c)...)
	}
	for i := range cs {
		fields = append(fields, ContactFields(&cs[i].Contact)...)
	}
	return o.OpenFields(ctx, fields...)
}

// OpenTenant is t with its contacts' sealed personal fields opened (an
// erased person's read "[erased]"). The log and so the loaded tenant keep
// them sealed; only the steps that register or mail the people open them,
// right where they do. A nil opener leaves t as it is.
func OpenTenant(ctx context.Context, o Opener, t *domain.Tenant) (*domain.Tenant, error) {
	if o == nil {
		return t, nil
	}
	c, cs := t.Contact(), t.Contacts()
	if err := OpenContacts(ctx, o, &c, cs); err != nil {
		return nil, err
	}
	return t.WithContacts(c, cs), nil
}
