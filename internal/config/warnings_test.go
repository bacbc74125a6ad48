package config

import (
	"path/filepath"
	"strings"
	"testing"
)

// warningsOf loads a config (files in dir, environ) and returns its
// warnings joined by newlines.
func warningsOf(t *testing.T, dir string, environ []string) string {
	t.Helper()
	cfg, err := Load(LoadOptions{Dir: dir, Environ: environ})
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, w := range cfg.Warnings() {
		if !strings.Contains(w.Message, w.Key) {
			t.Errorf("warning %q does not name its key %q", w.Message, w.Key)
		}
		b.WriteString(w.Message + "\n")
	}
	return b.String()
}

func TestUnknownEnvironmentVariables(t *testing.T) {
	for _, c := range []struct {
		env, want string
	}{
		// The seed deployment's mistake: Qdrant ignores it silently.
		{"QDRANT__HTTP__API_KEY=k", "environment variable QDRANT__HTTP__API_KEY sets http.api_key, which is not a config key: it has no effect; did you mean QDRANT__SERVICE__API_KEY?"},
		{"SHOAL__HTTP__API_KEY=k", "did you mean SHOAL__SERVICE__API_KEY?"},
		// Leaf name first: read_only_api_key, not api_key.
		{"QDRANT__READ_ONLY_API_KEY=k", "did you mean QDRANT__SERVICE__READ_ONLY_API_KEY?"},
		// Edit distance when no leaf matches.
		{"QDRANT__SERVICE__HTTP_PROT=7000", "did you mean QDRANT__SERVICE__HTTP_PORT?"},
		{"QDRANT__STORAGE__STORAGE_PAHT=/d", "did you mean QDRANT__STORAGE__STORAGE_PATH?"},
		{"QDRANT__CLUSTER__JION=a:1", "did you mean QDRANT__CLUSTER__JOIN?"},
		// Nothing close: no suggestion.
		{"QDRANT__ZZZZZZZZZZZZ=1", "environment variable QDRANT__ZZZZZZZZZZZZ sets zzzzzzzzzzzz, which is not a config key: it has no effect\n"},
		// A name that is no key at all.
		{"QDRANT__SERVICE____HOST=x", "environment variable QDRANT__SERVICE____HOST names no config key and has no effect"},
	} {
		got := warningsOf(t, t.TempDir(), []string{c.env, "QDRANT__SERVICE__HOST=127.0.0.1"})
		if !strings.Contains(got, c.want) {
			t.Errorf("%s: warnings lack %q:\n%s", c.env, c.want, got)
		}
	}
	// Known keys, open maps and other variables: no warning.
	got := warningsOf(t, t.TempDir(), []string{"QDRANT__SERVICE__HOST=127.0.0.1", "QDRANT__SERVICE__API_KEY=k",
		"SHOAL__CLUSTER__LABELS__RACK=r1", "QDRANT__SNAPSHOTS__SCHEDULE=@hourly", "QDRANT_URI=http://x:1", "OTHER__X=1"})
	if got != "" {
		t.Errorf("known settings warned about:\n%s", got)
	}
}

func TestUnknownYAMLKeys(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "config/config.yaml"), `
service:
  host: 127.0.0.1
  htp_port: 7000
http:
  api_key: k
storage:
  wal:
    wal_capacity_mb: 64
cluster:
  labels: {rack: r1}
snapshots:
  anything: 1
`)
	got := warningsOf(t, dir, []string{})
	file := filepath.Join(dir, "config/config.yaml")
	for _, w := range []string{
		"config key http.api_key in " + file + " is not a config key of this version: it has no effect; did you mean service.api_key?",
		"config key service.htp_port in " + file + " is not a config key of this version: it has no effect; did you mean service.http_port?",
		"config key storage.wal.wal_capacity_mb in " + file,
	} {
		if !strings.Contains(got, w) {
			t.Errorf("warnings lack %q:\n%s", w, got)
		}
	}
	if strings.Contains(got, "labels") || strings.Contains(got, "snapshots") {
		t.Errorf("open maps warned about:\n%s", got)
	}
}

func TestNoAPIKeyWarning(t *testing.T) {
	const want = "no API key is in effect"
	for _, c := range []struct {
		env  []string
		warn bool
	}{
		{[]string{}, true}, // 0.0.0.0
		{[]string{"QDRANT__SERVICE__HOST=::"}, true},
		{[]string{"QDRANT__SERVICE__HOST=10.0.0.5"}, true},
		{[]string{"QDRANT__SERVICE__HOST=node1.example"}, true},
		{[]string{"QDRANT__SERVICE__HOST=127.0.0.1"}, false},
		{[]string{"QDRANT__SERVICE__HOST=127.0.0.2"}, false},
		{[]string{"QDRANT__SERVICE__HOST=::1"}, false},
		{[]string{"QDRANT__SERVICE__HOST=localhost"}, false},
		{[]string{"QDRANT__SERVICE__API_KEY=k"}, false},
		{[]string{"QDRANT__SERVICE__READ_ONLY_API_KEY=k"}, false},
		{[]string{"QDRANT__HTTP__API_KEY=k"}, true}, // the misplaced key sets nothing
	} {
		got := warningsOf(t, t.TempDir(), c.env)
		if strings.Contains(got, want) != c.warn {
			t.Errorf("%v: warned %v, want %v:\n%s", c.env, !c.warn, c.warn, got)
		}
		if c.warn && !strings.Contains(got, "service.api_key is not set") {
			t.Errorf("%v: warning does not name service.api_key:\n%s", c.env, got)
		}
	}
}

func TestSuggest(t *testing.T) {
	known, err := knownKeys()
	if err != nil {
		t.Fatal(err)
	}
	for key, want := range map[string]string{
		"http.api_key":                "service.api_key",
		"api_key":                     "service.api_key",
		"p2p.port":                    "cluster.p2p.port",
		"storage.hnsw.m":              "storage.hnsw_index.m",
		"service.max_request_size":    "service.max_request_size_mb",
		"cluster.consensus.tick_ms":   "cluster.consensus.tick_period_ms",
		"completely.unrelated.things": "",
		"":                            "",
	} {
		if got := suggest(known, key); got != want {
			t.Errorf("suggest(%q) = %q, want %q", key, got, want)
		}
	}
}
