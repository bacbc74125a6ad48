package config

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
)

const testSecret = "0123456789abcdef0123456789abcdef" // 32 bytes

func TestClusterDefaults(t *testing.T) {
	cfg, err := Load(LoadOptions{Dir: t.TempDir(), Environ: []string{}})
	if err != nil {
		t.Fatal(err)
	}
	c := cfg.Cluster
	for _, x := range []struct {
		key       string
		got, want any
	}{
		{"cluster.join", len(c.Join), 0},
		{"cluster.bootstrap_expect", c.BootstrapExpect, 0},
		{"cluster.advertise_uri", c.AdvertiseURI, ""},
		{"cluster.p2p.host", c.P2P.Host, "0.0.0.0"},
		{"cluster.p2p.insecure", c.P2P.Insecure, false},
		{"cluster.p2p.connection_pool_size", c.P2P.ConnectionPoolSize, 1},
		{"cluster.secret", c.Secret, ""},
		{"cluster.zone", c.Zone, ""},
		{"cluster.region", c.Region, ""},
		{"cluster.labels", len(c.Labels), 0},
		{"cluster.dead_node_timeout", c.DeadNodeTimeout.Std(), 5 * time.Minute},
		{"cluster.node_down_after", c.NodeDownAfter.Std(), 10 * time.Second},
		{"cluster.max_transfers_per_node", c.MaxTransfersPerNode, 1},
		{"cluster.transfer_rate_limit_mb", c.TransferRateLimitMB, 0},
		{"cluster.restore_stage_timeout", c.RestoreStageTimeout.Std(), 10 * time.Minute},
		{"cluster.auto_heal", c.AutoHeal, true},
		{"cluster.rebalance", c.Rebalance, true},
		{"cluster.grpc_timeout_ms", c.GRPCTimeoutMS, 5000},
		{"cluster.connection_timeout_ms", c.ConnectionTimeoutMS, 5000},
		{"cluster.consensus.tick_period_ms", c.Consensus.TickPeriodMS, 100},
		{"cluster.consensus.bootstrap_timeout_sec", c.Consensus.BootstrapTimeoutSec, 15},
		{"cluster.consensus.max_message_queue_size", c.Consensus.MaxMessageQueueSize, 100},
		{"cluster.consensus.compact_wal_entries", c.Consensus.CompactWALEntries, 128},
		{"service.enforce_internal_auth", cfg.Service.EnforceInternalAuth, false},
	} {
		if x.got != x.want {
			t.Errorf("%s: default %v, want %v", x.key, x.got, x.want)
		}
	}
	if c.Join == nil || c.Labels == nil {
		t.Errorf("join %#v and labels %#v must be empty, not nil", c.Join, c.Labels)
	}
}

// TestClusterKeysFromEveryKindOfSource sets each cluster key from YAML, from
// the environment and (join, advertise_uri) from flags, and checks the
// decoded value.
func TestClusterKeysFromEveryKindOfSource(t *testing.T) {
	dir := t.TempDir()
	yamlCfg := filepath.Join(dir, "c.yaml")
	writeFile(t, yamlCfg, `
service:
  host: 10.1.2.3
cluster:
  join: [node1.example:6335, "10.0.0.2:6335"]
  bootstrap_expect: 2
  advertise_uri: http://node1.example:6335
  secret: `+testSecret+`
  zone: z1
  region: r1
  labels: {rack: a7, tier: hot}
  dead_node_timeout: 90s
  node_down_after: 2.5
  max_transfers_per_node: 3
  transfer_rate_limit_mb: 40
  restore_stage_timeout: 2m
  auto_heal: false
  rebalance: false
  grpc_timeout_ms: 700
  connection_timeout_ms: 800
  p2p:
    insecure: true
    connection_pool_size: 4
  consensus:
    tick_period_ms: 50
    bootstrap_timeout_sec: 30
    max_message_queue_size: 200
    compact_wal_entries: 256
`)
	cfg, err := Load(LoadOptions{Dir: dir, ConfigPath: yamlCfg, Environ: []string{}})
	if err != nil {
		t.Fatal(err)
	}
	c := cfg.Cluster
	want := ClusterConfig{
		Join: []string{"node1.example:6335", "10.0.0.2:6335"}, BootstrapExpect: 2,
		AdvertiseURI: "http://node1.example:6335", Secret: testSecret, Zone: "z1", Region: "r1",
		Labels:          map[string]string{"rack": "a7", "tier": "hot"},
		DeadNodeTimeout: Duration(90 * time.Second), NodeDownAfter: Duration(2500 * time.Millisecond),
		MaxTransfersPerNode: 3, TransferRateLimitMB: 40, RestoreStageTimeout: Duration(2 * time.Minute), GRPCTimeoutMS: 700, ConnectionTimeoutMS: 800,
		P2P:       P2PConfig{Port: DefaultP2PPort, Host: "10.1.2.3", Insecure: true, ConnectionPoolSize: 4},
		Consensus: ConsensusConfig{TickPeriodMS: 50, BootstrapTimeoutSec: 30, MaxMessageQueueSize: 200, CompactWALEntries: 256},
	}
	if !reflect.DeepEqual(c, want) {
		t.Fatalf("from YAML:\n got %+v\nwant %+v", c, want)
	}
	if cfg.P2PHost() != "10.1.2.3" {
		t.Fatalf("p2p host defaults to service.host: %q", cfg.P2PHost())
	}

	cfg, err = Load(LoadOptions{Dir: dir, Environ: []string{
		"SHOAL__CLUSTER__JOIN= h1:6335 , h2.example:7000,",
		"SHOAL__CLUSTER__BOOTSTRAP_EXPECT=2",
		"SHOAL__CLUSTER__SECRET=" + testSecret,
		"SHOAL__CLUSTER__ZONE=eu-1a",
		"SHOAL__CLUSTER__REGION=eu-1",
		"SHOAL__CLUSTER__LABELS__RACK=b2",
		"SHOAL__CLUSTER__DEAD_NODE_TIMEOUT=30",
		"SHOAL__CLUSTER__NODE_DOWN_AFTER=1s",
		"QDRANT__CLUSTER__P2P__HOST=127.0.0.2",
		"QDRANT__CLUSTER__GRPC_TIMEOUT_MS=1234",
		"QDRANT__CLUSTER__CONSENSUS__TICK_PERIOD_MS=20",
		"QDRANT__SERVICE__ENFORCE_INTERNAL_AUTH=true",
		"QDRANT__SERVICE__API_KEY=k",
	}})
	if err != nil {
		t.Fatal(err)
	}
	c = cfg.Cluster
	if !reflect.DeepEqual(c.Join, []string{"h1:6335", "h2.example:7000"}) || c.BootstrapExpect != 2 || c.Secret != testSecret ||
		c.Zone != "eu-1a" || c.Region != "eu-1" || !reflect.DeepEqual(c.Labels, map[string]string{"rack": "b2"}) ||
		c.DeadNodeTimeout.Std() != 30*time.Second || c.NodeDownAfter.Std() != time.Second || c.P2P.Host != "127.0.0.2" ||
		c.GRPCTimeoutMS != 1234 || c.Consensus.TickPeriodMS != 20 || !cfg.Service.EnforceInternalAuth {
		t.Fatalf("from env: %+v", c)
	}

	// --join is comma-separated and repeatable; --uri sets advertise_uri.
	flags := pflag.NewFlagSet("t", pflag.ContinueOnError)
	flags.StringSlice("join", nil, "")
	flags.String("uri", "", "")
	if err := flags.Parse([]string{"--join=a:1,b:2", "--join", "c:3", "--uri=https://me.example:6335"}); err != nil {
		t.Fatal(err)
	}
	cfg, err = Load(LoadOptions{Dir: dir, Environ: []string{"SHOAL__CLUSTER__JOIN=x:1"}, Flags: flags,
		FlagKeys: map[string]string{"join": "cluster.join", "uri": "cluster.advertise_uri"}})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(cfg.Cluster.Join, []string{"a:1", "b:2", "c:3"}) || cfg.Cluster.AdvertiseURI != "https://me.example:6335" {
		t.Fatalf("from flags: join %v uri %q", cfg.Cluster.Join, cfg.Cluster.AdvertiseURI)
	}
}

func TestClusterSecretAccessor(t *testing.T) {
	for _, c := range []struct {
		name    string
		secret  string
		enforce bool
		apiKey  string
		want    string
	}{
		{"nothing", "", false, "k", ""},
		{"secret", testSecret, false, "k", testSecret},
		{"api key when enforced", "", true, "k", "k"},
		{"secret wins over enforced api key", testSecret, true, "k", testSecret},
	} {
		cfg := Default()
		cfg.Cluster.Secret, cfg.Service.EnforceInternalAuth, cfg.Service.APIKey = c.secret, c.enforce, c.apiKey
		if got := cfg.ClusterSecret(); got != c.want {
			t.Errorf("%s: ClusterSecret() = %q, want %q", c.name, got, c.want)
		}
	}
}

// TestClusterValidation: each row is an invalid (or, with no want, valid)
// combination; every error must name its keys, and Load must fail.
func TestClusterValidation(t *testing.T) {
	dir := t.TempDir()
	cert, key, ca := filepath.Join(dir, "c.pem"), filepath.Join(dir, "k.pem"), filepath.Join(dir, "ca.pem")
	for _, f := range []string{cert, key, ca} {
		writeFile(t, f, "x")
	}
	tlsEnv := []string{"QDRANT__TLS__CERT=" + cert, "QDRANT__TLS__KEY=" + key, "QDRANT__TLS__CA_CERT=" + ca}
	for _, c := range []struct {
		name string
		env  []string
		want []string // nil: valid
	}{
		{"join dns names", []string{"SHOAL__CLUSTER__JOIN=a.example:6335,b-2.example:6335", "SHOAL__CLUSTER__BOOTSTRAP_EXPECT=3"}, nil},
		{"join ipv6", []string{"SHOAL__CLUSTER__JOIN=[::1]:6335,127.0.0.1:6335", "SHOAL__CLUSTER__BOOTSTRAP_EXPECT=2"}, nil},
		{"join no port", []string{"SHOAL__CLUSTER__JOIN=a.example"}, []string{"cluster.join: entry 0 \"a.example\": expected host:port"}},
		{"join bad port", []string{"SHOAL__CLUSTER__JOIN=a.example:6335,b:70000"}, []string{"cluster.join: entry 1 \"b:70000\": port \"70000\" must be a number from 1 to 65535"}},
		{"join port 0", []string{"SHOAL__CLUSTER__JOIN=b:0"}, []string{"cluster.join: entry 0"}},
		{"join empty host", []string{"SHOAL__CLUSTER__JOIN=:6335"}, []string{"cluster.join: entry 0 \":6335\": the host is empty"}},
		{"join bad host", []string{"SHOAL__CLUSTER__JOIN=a_b!:6335"}, []string{"neither an IP address nor a DNS name"}},
		{"ip join expect differs", []string{"SHOAL__CLUSTER__JOIN=127.0.0.1:6335,127.0.0.2:6335", "SHOAL__CLUSTER__BOOTSTRAP_EXPECT=3"},
			[]string{"cluster.bootstrap_expect", "cluster.join", "is 3 but cluster.join lists 2 IP addresses"}},
		{"ip join expect smaller", []string{"SHOAL__CLUSTER__JOIN=127.0.0.1:6335,127.0.0.2:6335,127.0.0.3:6335", "SHOAL__CLUSTER__BOOTSTRAP_EXPECT=1"},
			[]string{"cluster.bootstrap_expect", "cluster.join"}},
		{"ip join expect unset", []string{"SHOAL__CLUSTER__JOIN=127.0.0.1:6335,127.0.0.2:6335"}, nil},
		{"mixed join may grow", []string{"SHOAL__CLUSTER__JOIN=127.0.0.1:6335,n.example:6335", "SHOAL__CLUSTER__BOOTSTRAP_EXPECT=5"}, nil},
		{"expect without join", []string{"SHOAL__CLUSTER__BOOTSTRAP_EXPECT=3"}, []string{"cluster.bootstrap_expect: is 3 but cluster.join is empty"}},
		{"expect 1 without join", []string{"SHOAL__CLUSTER__BOOTSTRAP_EXPECT=1"}, nil},
		{"expect negative", []string{"SHOAL__CLUSTER__BOOTSTRAP_EXPECT=-1"}, []string{"cluster.bootstrap_expect: must not be negative"}},
		{"uri http", []string{"SHOAL__CLUSTER__ADVERTISE_URI=http://node1:6335"}, nil},
		{"uri https ip", []string{"SHOAL__CLUSTER__ADVERTISE_URI=https://10.0.0.1:6335/"}, nil},
		{"uri hostport", []string{"SHOAL__CLUSTER__ADVERTISE_URI=node1:6335"}, nil},
		{"uri no port", []string{"SHOAL__CLUSTER__ADVERTISE_URI=http://node1"}, []string{"cluster.advertise_uri", "expected host:port"}},
		{"uri scheme", []string{"SHOAL__CLUSTER__ADVERTISE_URI=grpc://node1:6335"}, []string{"cluster.advertise_uri", "scheme must be http or https"}},
		{"uri path", []string{"SHOAL__CLUSTER__ADVERTISE_URI=http://node1:6335/x"}, []string{"cluster.advertise_uri", "only a scheme, host and port"}},
		{"short secret", []string{"SHOAL__CLUSTER__SECRET=short"}, []string{"cluster.secret: must be at least 32 bytes, got 5"}},
		{"dead timeout too short", []string{"SHOAL__CLUSTER__DEAD_NODE_TIMEOUT=500ms"}, []string{"cluster.dead_node_timeout: must be at least 1s"}},
		{"dead timeout garbage", []string{"SHOAL__CLUSTER__DEAD_NODE_TIMEOUT=soon"}, []string{"dead_node_timeout", "neither a duration"}},
		{"down after too short", []string{"SHOAL__CLUSTER__NODE_DOWN_AFTER=10ms"}, []string{"cluster.node_down_after: must be at least 100ms"}},
		{"down after beyond dead", []string{"SHOAL__CLUSTER__NODE_DOWN_AFTER=10m"}, []string{"cluster.node_down_after: must not exceed cluster.dead_node_timeout"}},
		{"transfers", []string{"SHOAL__CLUSTER__MAX_TRANSFERS_PER_NODE=0"}, []string{"cluster.max_transfers_per_node: must be at least 1"}},
		{"rate", []string{"SHOAL__CLUSTER__TRANSFER_RATE_LIMIT_MB=-1"}, []string{"cluster.transfer_rate_limit_mb: must not be negative"}},
		{"stage timeout", []string{"SHOAL__CLUSTER__RESTORE_STAGE_TIMEOUT=0.5"}, []string{"cluster.restore_stage_timeout: must be at least 1s"}},
		{"qdrant timeouts", []string{"QDRANT__CLUSTER__GRPC_TIMEOUT_MS=0", "QDRANT__CLUSTER__CONNECTION_TIMEOUT_MS=0", "QDRANT__CLUSTER__P2P__CONNECTION_POOL_SIZE=0"},
			[]string{"cluster.grpc_timeout_ms", "cluster.connection_timeout_ms", "cluster.p2p.connection_pool_size"}},
		{"consensus", []string{"QDRANT__CLUSTER__CONSENSUS__TICK_PERIOD_MS=0", "QDRANT__CLUSTER__CONSENSUS__BOOTSTRAP_TIMEOUT_SEC=0",
			"QDRANT__CLUSTER__CONSENSUS__MAX_MESSAGE_QUEUE_SIZE=0", "QDRANT__CLUSTER__CONSENSUS__COMPACT_WAL_ENTRIES=0"},
			[]string{"cluster.consensus.tick_period_ms", "cluster.consensus.bootstrap_timeout_sec", "cluster.consensus.max_message_queue_size", "cluster.consensus.compact_wal_entries"}},
		{"enforce without key", []string{"QDRANT__SERVICE__ENFORCE_INTERNAL_AUTH=true"}, []string{"service.enforce_internal_auth: needs service.api_key"}},
		{"enabled without auth", []string{"QDRANT__CLUSTER__ENABLED=true"},
			[]string{"cluster.enabled: peers must authenticate", "cluster.secret", "cluster.p2p.enable_tls", "service.enforce_internal_auth", "cluster.p2p.insecure"}},
		{"enabled with api key but not enforced", []string{"QDRANT__CLUSTER__ENABLED=true", "QDRANT__SERVICE__API_KEY=k"}, []string{"cluster.enabled: peers must authenticate"}},
		{"enabled with secret", []string{"QDRANT__CLUSTER__ENABLED=true", "SHOAL__CLUSTER__SECRET=" + testSecret}, nil},
		{"enabled with internal auth", []string{"QDRANT__CLUSTER__ENABLED=true", "QDRANT__SERVICE__ENFORCE_INTERNAL_AUTH=true", "QDRANT__SERVICE__API_KEY=k"}, nil},
		{"enabled insecure", []string{"QDRANT__CLUSTER__ENABLED=true", "SHOAL__CLUSTER__P2P__INSECURE=true"}, nil},
		{"enabled tls", append([]string{"QDRANT__CLUSTER__ENABLED=true", "QDRANT__CLUSTER__P2P__ENABLE_TLS=true"}, tlsEnv...), nil},
		{"enabled tls without files", []string{"QDRANT__CLUSTER__ENABLED=true", "QDRANT__CLUSTER__P2P__ENABLE_TLS=true", "QDRANT__TLS__CA_CERT="},
			[]string{"tls.ca_cert: is required"}},
	} {
		_, err := Load(LoadOptions{Dir: dir, Environ: c.env})
		if c.want == nil {
			if err != nil {
				t.Errorf("%s: refused: %v", c.name, err)
			}
			continue
		}
		if err == nil {
			t.Errorf("%s: accepted", c.name)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error %q lacks %q", c.name, err, w)
			}
		}
	}
}

func TestClusterSecretRedacted(t *testing.T) {
	cfg := Default()
	cfg.Cluster.Secret = testSecret
	y, err := cfg.YAML()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(y), testSecret) || !strings.Contains(string(y), "secret: '***'") {
		t.Fatalf("cluster.secret not redacted:\n%s", y)
	}
	if cfg.Cluster.Secret != testSecret {
		t.Fatal("Redacted changed the original")
	}
	// The redacted dump loads back (durations in Go syntax).
	p := filepath.Join(t.TempDir(), "dump.yaml")
	if err := os.WriteFile(p, y, 0o644); err != nil {
		t.Fatal(err)
	}
	back, err := LoadUnvalidated(LoadOptions{Dir: t.TempDir(), ConfigPath: p, Environ: []string{}})
	if err != nil {
		t.Fatal(err)
	}
	if back.Cluster.DeadNodeTimeout != cfg.Cluster.DeadNodeTimeout || back.Cluster.NodeDownAfter != cfg.Cluster.NodeDownAfter {
		t.Fatalf("durations did not round-trip: %v %v", back.Cluster.DeadNodeTimeout, back.Cluster.NodeDownAfter)
	}
}
