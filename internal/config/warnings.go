package config

import (
	"fmt"
	"net"
	"sort"
	"strings"

	"github.com/knadh/koanf/parsers/yaml"
	"github.com/knadh/koanf/v2"
	goyaml "go.yaml.in/yaml/v3"
)

// UnknownSetting is one setting in a config source that maps to no config
// key: a misspelt or misplaced key, or a Qdrant key Shoal does not have.
type UnknownSetting struct {
	// Key is the dotted key the setting names ("http.api_key"), or "" when
	// an environment variable's name cannot be read as a key.
	Key string
	// Source is the file the key is in, or the environment variable's name
	// (QDRANT__HTTP__API_KEY).
	Source string
	// Env reports whether Source is an environment variable.
	Env bool
	// Suggestion is the closest real key, spelt as the source spells keys
	// (service.api_key, or QDRANT__SERVICE__API_KEY for a variable); "" when
	// nothing is close.
	Suggestion string
}

// Warning is something about a configuration that does not stop the start
// but must be logged: a setting that has no effect, or a risk.
type Warning struct {
	// Key is the config key (or environment variable) concerned.
	Key string
	// Message says what is wrong and what to do, naming the key.
	Message string
}

// openMaps are the keys whose values are free-form maps: any key below
// them is known.
var openMaps = []string{"snapshots", "cluster.labels"}

// knownKeys returns the leaf keys of the default configuration.
func knownKeys() (map[string]bool, error) {
	b, err := goyaml.Marshal(Default())
	if err != nil {
		return nil, fmt.Errorf("cannot marshal default config: %w", err)
	}
	k := koanf.New(".")
	if err := k.Load(bytesProvider(b), yaml.Parser()); err != nil {
		return nil, fmt.Errorf("cannot load default config: %w", err)
	}
	known := map[string]bool{}
	for _, key := range k.Keys() {
		known[key] = true
	}
	return known, nil
}

// Keys returns every config key (the leaf keys of the default
// configuration), sorted; keys below the free-form maps snapshots and
// cluster.labels are not listed.
func Keys() []string {
	known, err := knownKeys()
	if err != nil {
		return nil
	}
	keys := make([]string, 0, len(known))
	for k := range known {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// isKnown reports whether key names a config key (or lies in an open map).
func isKnown(known map[string]bool, key string) bool {
	if known[key] {
		return true
	}
	for _, m := range openMaps {
		if key == m || strings.HasPrefix(key, m+".") {
			return true
		}
	}
	return false
}

// suggest returns the known key closest to key: one with the same last
// segment (the closest of those by edit distance), else the closest by edit
// distance if it is near enough, else "".
func suggest(known map[string]bool, key string) string {
	if key == "" {
		return ""
	}
	keys := make([]string, 0, len(known))
	for k := range known {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	leaf := key[strings.LastIndex(key, ".")+1:]
	best, bestD := "", -1
	for _, k := range keys {
		if k[strings.LastIndex(k, ".")+1:] != leaf {
			continue
		}
		if d := editDistance(k, key); bestD < 0 || d < bestD {
			best, bestD = k, d
		}
	}
	if best != "" {
		return best
	}
	for _, k := range keys {
		if d := editDistance(k, key); bestD < 0 || d < bestD {
			best, bestD = k, d
		}
	}
	if bestD >= 0 && bestD <= max(2, len(key)/3) {
		return best
	}
	return ""
}

// editDistance is the Levenshtein distance of a and b (bytes).
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// envName spells key as an environment variable with prefix.
func envName(prefix, key string) string {
	return prefix + strings.ToUpper(strings.ReplaceAll(key, ".", "__"))
}

// unknownInFile lists the keys of the YAML file at path that map to
// nothing.
func unknownInFile(known map[string]bool, path string, k *koanf.Koanf) []UnknownSetting {
	var out []UnknownSetting
	for _, key := range k.Keys() {
		if isKnown(known, key) {
			continue
		}
		out = append(out, UnknownSetting{Key: key, Source: path, Suggestion: suggest(known, key)})
	}
	return out
}

// unknownInEnv lists the QDRANT__* and SHOAL__* variables that map to
// nothing.
func unknownInEnv(known map[string]bool, environ []string) []UnknownSetting {
	var out []UnknownSetting
	for _, kv := range environ {
		name, value, _ := strings.Cut(kv, "=")
		for _, prefix := range []string{EnvPrefixQdrant, EnvPrefixShoal} {
			if !strings.HasPrefix(name, prefix) {
				continue
			}
			key, _ := envTransform(prefix)(name, value)
			if key != "" && isKnown(known, key) {
				break
			}
			u := UnknownSetting{Key: key, Source: name, Env: true}
			if s := suggest(known, key); s != "" {
				u.Suggestion = envName(prefix, s)
			}
			out = append(out, u)
			break
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Source < out[j].Source })
	return out
}

// isLoopback reports whether host (a listen address) is reachable only
// from this machine.
func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(strings.Trim(host, "[]"))
	return ip != nil && ip.IsLoopback()
}

// Warnings returns what must be logged at start about c: every setting
// that maps to no key (with the closest real key), every setting that has
// no effect in this version at the value given, and the absence of any API
// key on an address other hosts can reach.
func (c Config) Warnings() []Warning {
	var ws []Warning
	for _, u := range c.UnknownSettings {
		var msg string
		switch {
		case u.Env && u.Key == "":
			msg = fmt.Sprintf("environment variable %s names no config key and has no effect", u.Source)
		case u.Env:
			msg = fmt.Sprintf("environment variable %s sets %s, which is not a config key: it has no effect", u.Source, u.Key)
		default:
			msg = fmt.Sprintf("config key %s in %s is not a config key of this version: it has no effect", u.Key, u.Source)
		}
		if u.Suggestion != "" {
			msg += "; did you mean " + u.Suggestion + "?"
		}
		key := u.Key
		if u.Env {
			key = u.Source
		}
		ws = append(ws, Warning{Key: key, Message: msg})
	}
	ws = append(ws, c.noEffectWarnings()...)
	s := c.Service
	if s.APIKey == "" && s.AltAPIKey == "" && s.ReadOnlyAPIKey == "" && !isLoopback(s.Host) {
		ws = append(ws, Warning{Key: "service.api_key", Message: fmt.Sprintf(
			"no API key is in effect: service.api_key is not set and the APIs listen on %s, which other hosts can reach; "+
				"anyone who can connect has full access (set QDRANT__SERVICE__API_KEY, or service.host: 127.0.0.1)", s.Host)})
	}
	return ws
}
