package kafka

import (
	"crypto/sha256"
	"crypto/sha512"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"hash"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/IBM/sarama"
	"github.com/xdg-go/scram"
)

// Settings is how every Kafka client of a process reaches the cluster: who
// it is (SASL), whether the connection is TLS, and how durable the topics
// it creates are. One process — tenantd, the agent, the analytics consumer,
// tenantctl, a test binary — talks to one cluster, so the settings are the
// process's: Configure sets them (tenantd, from its validated
// configuration); otherwise they are read once from the environment, with
// the same variable names, so that every program and test reaches the dev
// stack's authenticated brokers without threading them through each call.
type Settings struct {
	// Mechanism is the SASL mechanism: "" (none), SCRAM-SHA-512,
	// SCRAM-SHA-256 or PLAIN (PLAIN only over TLS).
	Mechanism          string
	Username, Password string
	// RelayUsername and RelayPassword are the relay's own principal, the
	// only one the brokers' ACLs let write the event topic. Empty: the
	// process's principal.
	RelayUsername, RelayPassword string
	// TLS turns TLS on; CAFile (PEM) replaces the system roots when set.
	TLS    bool
	CAFile string
	// ReplicationFactor and MinInsyncReplicas of the topics tenantd creates.
	ReplicationFactor int16
	MinInsyncReplicas int
}

// Defaults of the topics' durability: a record acknowledged by all in-sync
// replicas survives the loss of one broker.
const (
	DefaultReplicationFactor = 3
	DefaultMinInsyncReplicas = 2
)

// Mechanisms lists the SASL mechanisms tenantflow's clients speak.
var Mechanisms = []string{"SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN"}

var (
	settingsMu  sync.Mutex
	settings    Settings
	settingsSet bool
)

// Configure sets the process's settings; later clients use them.
func Configure(s Settings) {
	settingsMu.Lock()
	defer settingsMu.Unlock()
	settings, settingsSet = s, true
}

// Current is the process's settings: Configure's, else the environment's.
func Current() Settings {
	settingsMu.Lock()
	defer settingsMu.Unlock()
	if !settingsSet {
		settings, settingsSet = SettingsFromEnv(os.Getenv), true
	}
	return settings
}

// SettingsFromEnv reads TENANTFLOW_KAFKA_SASL_MECHANISM, _USERNAME,
// _PASSWORD, _RELAY_USERNAME, _RELAY_PASSWORD, _TLS, _TLS_CA_FILE,
// _REPLICATION_FACTOR and _MIN_INSYNC_REPLICAS through get. Values that do
// not parse are left to the configuration's validation (tenantd) or to the
// client's own (a refused connection naming the setting).
func SettingsFromEnv(get func(string) string) Settings {
	s := Settings{
		Mechanism: get("TENANTFLOW_KAFKA_SASL_MECHANISM"),
		Username:  get("TENANTFLOW_KAFKA_USERNAME"), Password: get("TENANTFLOW_KAFKA_PASSWORD"),
		RelayUsername: get("TENANTFLOW_KAFKA_RELAY_USERNAME"), RelayPassword: get("TENANTFLOW_KAFKA_RELAY_PASSWORD"),
		CAFile:            get("TENANTFLOW_KAFKA_TLS_CA_FILE"),
		ReplicationFactor: DefaultReplicationFactor, MinInsyncReplicas: DefaultMinInsyncReplicas,
	}
	s.TLS, _ = strconv.ParseBool(get("TENANTFLOW_KAFKA_TLS"))
	if n, err := strconv.ParseInt(get("TENANTFLOW_KAFKA_REPLICATION_FACTOR"), 10, 16); err == nil {
		s.ReplicationFactor = int16(n)
	}
	if n, err := strconv.Atoi(get("TENANTFLOW_KAFKA_MIN_INSYNC_REPLICAS")); err == nil {
		s.MinInsyncReplicas = n
	}
	return s
}

// Relay is s with the relay's principal in place of the process's.
func (s Settings) Relay() Settings {
	if s.RelayUsername != "" {
		s.Username, s.Password = s.RelayUsername, s.RelayPassword
	}
	return s
}

// As is s signing in as another principal (tests and tools that act as
// the relay, the agent or an administrator).
func (s Settings) As(username, password string) Settings {
	s.Username, s.Password = username, password
	return s
}

// Validate reports the first setting that cannot work: an unknown
// mechanism, PLAIN without TLS, a mechanism without a user, a CA file that
// cannot be read or holds no certificate, replication below 1.
func (s Settings) Validate() error {
	switch m := strings.ToUpper(s.Mechanism); {
	case m == "":
	case !slices.Contains(Mechanisms, m):
		return fmt.Errorf("TENANTFLOW_KAFKA_SASL_MECHANISM %q is not one of %v", s.Mechanism, Mechanisms)
	case m == "PLAIN" && !s.TLS:
		return fmt.Errorf("TENANTFLOW_KAFKA_SASL_MECHANISM=PLAIN sends the password in the clear: it needs TENANTFLOW_KAFKA_TLS=true")
	case s.Username == "" || s.Password == "":
		return fmt.Errorf("TENANTFLOW_KAFKA_USERNAME and TENANTFLOW_KAFKA_PASSWORD are required with TENANTFLOW_KAFKA_SASL_MECHANISM")
	}
	if s.CAFile != "" {
		if _, err := s.roots(); err != nil {
			return err
		}
	}
	if s.ReplicationFactor < 1 || s.MinInsyncReplicas < 1 || s.MinInsyncReplicas > int(s.ReplicationFactor) {
		return fmt.Errorf("TENANTFLOW_KAFKA_REPLICATION_FACTOR %d and TENANTFLOW_KAFKA_MIN_INSYNC_REPLICAS %d: both at least 1, the second at most the first",
			s.ReplicationFactor, s.MinInsyncReplicas)
	}
	return nil
}

func (s Settings) roots() (*x509.CertPool, error) {
	pem, err := os.ReadFile(s.CAFile)
	if err != nil {
		return nil, fmt.Errorf("TENANTFLOW_KAFKA_TLS_CA_FILE: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("TENANTFLOW_KAFKA_TLS_CA_FILE %s holds no PEM certificate", s.CAFile)
	}
	return pool, nil
}

// apply sets c's network security from s (checked by Validate: a CA file
// that cannot be read here leaves no trusted root, so the handshake fails).
func (s Settings) apply(c *sarama.Config) {
	if s.TLS {
		cfg := &tls.Config{MinVersion: tls.VersionTLS12}
		if s.CAFile != "" {
			cfg.RootCAs, _ = s.roots()
			if cfg.RootCAs == nil {
				cfg.RootCAs = x509.NewCertPool()
			}
		}
		c.Net.TLS.Enable, c.Net.TLS.Config = true, cfg
	}
	switch strings.ToUpper(s.Mechanism) {
	case "SCRAM-SHA-512":
		c.Net.SASL.Mechanism = sarama.SASLTypeSCRAMSHA512
		c.Net.SASL.SCRAMClientGeneratorFunc = func() sarama.SCRAMClient { return &scramClient{hash: sha512.New} }
	case "SCRAM-SHA-256":
		c.Net.SASL.Mechanism = sarama.SASLTypeSCRAMSHA256
		c.Net.SASL.SCRAMClientGeneratorFunc = func() sarama.SCRAMClient { return &scramClient{hash: sha256.New} }
	case "PLAIN":
		c.Net.SASL.Mechanism = sarama.SASLTypePlaintext
	default:
		return
	}
	// Kafka 4 removed the first SASL handshake version, sarama's default.
	c.Net.SASL.Enable, c.Net.SASL.Handshake, c.Net.SASL.Version = true, true, sarama.SASLHandshakeV1
	c.Net.SASL.User, c.Net.SASL.Password = s.Username, s.Password
}

// scramClient is sarama's SCRAM conversation on xdg-go/scram (the library
// sarama's own examples use; sarama ships the interface, not an
// implementation).
type scramClient struct {
	hash func() hash.Hash
	conv *scram.ClientConversation
}

func (c *scramClient) Begin(user, password, authzID string) error {
	client, err := scram.HashGeneratorFcn(c.hash).NewClient(user, password, authzID)
	if err != nil {
		return err
	}
	c.conv = client.NewConversation()
	return nil
}

func (c *scramClient) Step(challenge string) (string, error) { return c.conv.Step(challenge) }

func (c *scramClient) Done() bool { return c.conv.Done() }
