package config

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"

	"github.com/go-viper/mapstructure/v2"
	"github.com/knadh/koanf/parsers/yaml"
	"github.com/knadh/koanf/providers/env/v2"
	"github.com/knadh/koanf/providers/file"
	"github.com/knadh/koanf/providers/posflag"
	"github.com/knadh/koanf/v2"
	"github.com/spf13/pflag"
	goyaml "go.yaml.in/yaml/v3"
)

// Environment variable prefixes. SHOAL__ is read after QDRANT__, so it wins
// when both name the same key.
const (
	EnvPrefixQdrant = "QDRANT__"
	EnvPrefixShoal  = "SHOAL__"
)

// LoadOptions say where Load looks.
type LoadOptions struct {
	// ConfigPath is the file given with --config-path; it must exist.
	ConfigPath string
	// Dir is the directory holding the implicit config/ files
	// (config/config.yaml, config/$RUN_MODE.yaml, config/local.yaml);
	// "" means the working directory.
	Dir string
	// Environ is the environment as KEY=VALUE strings; nil means
	// os.Environ().
	Environ []string
	// Flags are command-line flags; the ones the user set override every
	// other source. A flag counts when its name is a config key (for
	// example "service.http_port") or is mapped by FlagKeys.
	Flags *pflag.FlagSet
	// FlagKeys maps flag names to config keys (for example
	// "disable-telemetry" to "telemetry_disabled").
	FlagKeys map[string]string
}

// Load builds the configuration from defaults, files, environment and
// flags (see the package comment) and validates it.
func Load(opts LoadOptions) (Config, error) {
	cfg, err := load(opts)
	if err != nil {
		return Config{}, err
	}
	if err := cfg.Validate(); err != nil {
		return Config{}, err
	}
	return cfg, nil
}

// LoadUnvalidated is Load without Validate, for tools that only read a few
// keys (or want to print every problem themselves).
func LoadUnvalidated(opts LoadOptions) (Config, error) { return load(opts) }

func load(opts LoadOptions) (Config, error) {
	k := koanf.New(".")
	def, err := goyaml.Marshal(Default())
	if err != nil {
		return Config{}, fmt.Errorf("cannot marshal default config: %w", err)
	}
	if err := k.Load(bytesProvider(def), yaml.Parser()); err != nil {
		return Config{}, fmt.Errorf("cannot load default config: %w", err)
	}

	environ := opts.Environ
	if environ == nil {
		environ = os.Environ()
	}
	var sources []string
	known, err := knownKeys()
	if err != nil {
		return Config{}, err
	}
	var unknown []UnknownSetting

	// Implicit files, as Qdrant: config/config, config/$RUN_MODE,
	// config/local; each only when present.
	dir := filepath.Join(opts.Dir, "config")
	implicit := []string{"config"}
	if mode := lookupEnv(environ, "RUN_MODE"); mode != "" && mode != "config" && mode != "local" && !strings.ContainsAny(mode, `/\`) {
		implicit = append(implicit, mode)
	}
	implicit = append(implicit, "local")
	for _, name := range implicit {
		for _, ext := range []string{".yaml", ".yml"} {
			p := filepath.Join(dir, name+ext)
			if _, err := os.Stat(p); err != nil {
				if errors.Is(err, fs.ErrNotExist) {
					continue
				}
				return Config{}, fmt.Errorf("cannot read config file %s: %w", p, err)
			}
			if opts.ConfigPath != "" && sameFile(p, opts.ConfigPath) {
				continue // loaded below, in its own place
			}
			if err := loadFile(k, p, known, &unknown); err != nil {
				return Config{}, err
			}
			sources = append(sources, p)
			break
		}
	}

	if opts.ConfigPath != "" {
		if _, err := os.Stat(opts.ConfigPath); err != nil {
			return Config{}, fmt.Errorf("cannot read config file given by --config-path: %w", err)
		}
		if err := loadFile(k, opts.ConfigPath, known, &unknown); err != nil {
			return Config{}, err
		}
		sources = append(sources, opts.ConfigPath)
	}

	for _, prefix := range []string{EnvPrefixQdrant, EnvPrefixShoal} {
		p := env.Provider(".", env.Opt{
			Prefix:        prefix,
			EnvironFunc:   func() []string { return environ },
			TransformFunc: envTransform(prefix),
		})
		if err := k.Load(p, nil); err != nil {
			return Config{}, fmt.Errorf("cannot load %s* environment variables: %w", prefix, err)
		}
	}

	if opts.Flags != nil {
		p := posflag.ProviderWithFlag(opts.Flags, ".", k, func(f *pflag.Flag) (string, any) {
			if !f.Changed {
				return "", nil
			}
			key, ok := opts.FlagKeys[f.Name]
			if !ok {
				if !isDefaultKey(f.Name) {
					return "", nil
				}
				key = f.Name
			}
			return key, posflag.FlagVal(opts.Flags, f)
		})
		if err := k.Load(p, nil); err != nil {
			return Config{}, fmt.Errorf("cannot load command-line flags: %w", err)
		}
	}

	var cfg Config
	var md mapstructure.Metadata
	err = k.UnmarshalWithConf("", &cfg, koanf.UnmarshalConf{
		Tag: "yaml",
		DecoderConfig: &mapstructure.DecoderConfig{
			DecodeHook: mapstructure.ComposeDecodeHookFunc(
				durationHook,
				mapstructure.StringToTimeDurationHookFunc(),
				mapstructure.StringToSliceHookFunc(","),
			),
			WeaklyTypedInput: true,
			Metadata:         &md,
		},
	})
	if err != nil {
		return Config{}, fmt.Errorf("cannot decode config: %w", err)
	}
	cfg.Unknown = unknownKeys(md.Unused)
	cfg.UnknownSettings = append(unknown, unknownInEnv(known, environ)...)
	cfg.Sources = sources
	normalize(&cfg)
	return cfg, nil
}

// normalize trims list entries given as comma-separated strings and fills
// keys whose default is another key's value.
func normalize(cfg *Config) {
	join := make([]string, 0, len(cfg.Cluster.Join))
	for _, j := range cfg.Cluster.Join {
		if j = strings.TrimSpace(j); j != "" {
			join = append(join, j)
		}
	}
	cfg.Cluster.Join = join
	if cfg.Cluster.Labels == nil {
		cfg.Cluster.Labels = map[string]string{}
	}
	if cfg.Cluster.P2P.Host == "" {
		cfg.Cluster.P2P.Host = cfg.Service.Host
	}
}

// durationHook decodes a Duration from a Go duration string or a number of
// seconds.
func durationHook(from, to reflect.Type, data any) (any, error) {
	if to != reflect.TypeFor[Duration]() {
		return data, nil
	}
	switch v := data.(type) {
	case string:
		return parseDuration(v)
	case int:
		return secondsDuration(float64(v))
	case int64:
		return secondsDuration(float64(v))
	case uint64:
		return secondsDuration(float64(v))
	case float64:
		return secondsDuration(v)
	case Duration:
		return v, nil
	}
	return nil, fmt.Errorf("cannot read a duration from %v (%s): give a duration such as \"30s\" or a number of seconds", data, from)
}

// loadFile merges the YAML file at path into k and adds its keys that map
// to nothing to unknown.
func loadFile(k *koanf.Koanf, path string, known map[string]bool, unknown *[]UnknownSetting) error {
	fk := koanf.New(".")
	if err := fk.Load(file.Provider(path), yaml.Parser()); err != nil {
		return fmt.Errorf("cannot load config file %s: %w", path, err)
	}
	if err := k.Merge(fk); err != nil {
		return fmt.Errorf("cannot load config file %s: %w", path, err)
	}
	*unknown = append(*unknown, unknownInFile(known, path, fk)...)
	return nil
}

// envTransform maps PREFIX_SECTION__KEY=value to section.key: "__"
// separates levels, single underscores stay, names are lower-cased.
// Values are trimmed; "null" or "~" become nil (a YAML null).
func envTransform(prefix string) func(k, v string) (string, any) {
	return func(k, v string) (string, any) {
		key := strings.ToLower(strings.TrimPrefix(k, prefix))
		if key == "" {
			return "", nil
		}
		parts := strings.Split(key, "__")
		for _, p := range parts {
			if p == "" {
				return "", nil // QDRANT__A____B: malformed, ignore
			}
		}
		v = strings.TrimSpace(v)
		if v == "null" || v == "~" {
			return strings.Join(parts, "."), nil
		}
		return strings.Join(parts, "."), v
	}
}

// unknownKeys turns mapstructure's unused keys ("storage.wal[...]") into a
// sorted list of dotted keys.
func unknownKeys(unused []string) []string {
	if len(unused) == 0 {
		return nil
	}
	out := make([]string, 0, len(unused))
	for _, u := range unused {
		if strings.HasPrefix(u, "snapshots.") {
			continue
		}
		out = append(out, u)
	}
	sort.Strings(out)
	return out
}

// isDefaultKey reports whether key is a leaf key of the default config.
func isDefaultKey(key string) bool {
	b, err := goyaml.Marshal(Default())
	if err != nil {
		return false
	}
	k := koanf.New(".")
	if err := k.Load(bytesProvider(b), yaml.Parser()); err != nil {
		return false
	}
	return k.Exists(key)
}

func lookupEnv(environ []string, name string) string {
	for _, kv := range environ {
		if k, v, ok := strings.Cut(kv, "="); ok && k == name {
			return v
		}
	}
	return ""
}

func sameFile(a, b string) bool {
	sa, err1 := os.Stat(a)
	sb, err2 := os.Stat(b)
	return err1 == nil && err2 == nil && os.SameFile(sa, sb)
}

// bytesProvider is a koanf.Provider over YAML bytes.
type bytesProvider []byte

// ReadBytes returns the bytes.
func (b bytesProvider) ReadBytes() ([]byte, error) { return b, nil }

// Read is not supported; a parser is always given.
func (b bytesProvider) Read() (map[string]any, error) {
	return nil, errors.New("bytes provider needs a parser")
}
