package config

import (
	"path/filepath"
	"reflect"
	"testing"
)

// TestShippedExampleMatchesDefaults loads the repository's example
// config/config.yaml and checks that it changes nothing: running from the
// repository root behaves like running with the built-in defaults.
func TestShippedExampleMatchesDefaults(t *testing.T) {
	withFile, err := Load(LoadOptions{Dir: "../..", Environ: []string{}})
	if err != nil {
		t.Fatal(err)
	}
	if len(withFile.Sources) == 0 || withFile.Sources[0] != filepath.Join("../..", "config", "config.yaml") {
		t.Fatalf("example not loaded: %v", withFile.Sources)
	}
	if len(withFile.Unknown) != 0 || len(withFile.UnknownSettings) != 0 {
		t.Fatalf("example has keys the loader does not know: %v %v", withFile.Unknown, withFile.UnknownSettings)
	}
	plain, err := Load(LoadOptions{Dir: t.TempDir(), Environ: []string{}})
	if err != nil {
		t.Fatal(err)
	}
	withFile.Sources, plain.Sources = nil, nil
	withFile.UnknownSettings, plain.UnknownSettings = nil, nil
	if !reflect.DeepEqual(withFile, plain) {
		a, _ := withFile.YAML()
		b, _ := plain.YAML()
		t.Fatalf("example differs from defaults:\n%s\nvs\n%s", a, b)
	}
}
