package snapshot

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"
)

// PolicyConfig is one entry of the `snapshots:` config section:
//
//	snapshots:
//	  - name: nightly
//	    collections: ["*"]          # names, or "*" for every collection
//	    cron: "0 3 * * *"           # or interval: 15m
//	    retention: {keep_last: 3, hourly: 24, daily: 30, weekly: 8, monthly: 12}
//	    destinations:
//	      - local
//	      - fs: /mnt/efs/shoal
//	      - s3: {endpoint: s3.amazonaws.com, bucket: b, prefix: shoal, region: eu-west-1}
//	    verify: true
type PolicyConfig struct {
	Name         string              `json:"name"`
	Collections  []string            `json:"collections"`
	Interval     Duration            `json:"interval,omitempty"`
	Cron         string              `json:"cron,omitempty"`
	Retention    Retention           `json:"retention"`
	Destinations []DestinationConfig `json:"destinations"`
	Verify       bool                `json:"verify,omitempty"`
	// Full takes full-storage snapshots (every collection and the aliases
	// in one archive) instead of one per collection; Collections must then
	// be empty.
	Full bool `json:"full,omitempty"`
	// Cluster takes cluster snapshots (every collection of the cluster,
	// each shard once) on the Raft leader only, once per run for the whole
	// cluster; Collections must then be empty.
	Cluster bool `json:"cluster,omitempty"`
}

// DestinationConfig is one destination: the string "local" (the node's
// snapshots directory), {fs: path}, or {s3: {...}}.
type DestinationConfig struct {
	Local bool       `json:"-"`
	FS    string     `json:"fs,omitempty"`
	S3    *S3Options `json:"s3,omitempty"`
}

// UnmarshalJSON reads "local" or an object with exactly one of fs, s3.
func (d *DestinationConfig) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		if s != "local" {
			return fmt.Errorf("unknown snapshot destination %q (want local, {fs: path} or {s3: {...}})", s)
		}
		*d = DestinationConfig{Local: true}
		return nil
	}
	type plain DestinationConfig
	var p plain
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		return fmt.Errorf("invalid snapshot destination: %w", err)
	}
	if (p.FS == "") == (p.S3 == nil) {
		return fmt.Errorf("invalid snapshot destination %s: set exactly one of fs, s3", b)
	}
	*d = DestinationConfig(p)
	return nil
}

// MarshalJSON writes the form UnmarshalJSON reads.
func (d DestinationConfig) MarshalJSON() ([]byte, error) {
	if d.Local {
		return []byte(`"local"`), nil
	}
	type plain DestinationConfig
	return json.Marshal(plain(d))
}

// Duration is a time.Duration written as a Go duration string ("15m").
type Duration time.Duration

// UnmarshalJSON reads "15m" or a number of nanoseconds.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		v, err := time.ParseDuration(s)
		if err != nil {
			return fmt.Errorf("invalid interval %q: %w", s, err)
		}
		*d = Duration(v)
		return nil
	}
	var n int64
	if err := json.Unmarshal(b, &n); err != nil {
		return fmt.Errorf("invalid interval %s", b)
	}
	*d = Duration(n)
	return nil
}

// MarshalJSON writes the duration string.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// DecodePolicies decodes the `snapshots:` config section from its generic
// form (as a YAML or koanf loader produces it: []any of map[string]any) and
// validates it.
func DecodePolicies(raw any) ([]PolicyConfig, error) {
	if raw == nil {
		return nil, nil
	}
	b, err := json.Marshal(raw)
	if err != nil {
		return nil, fmt.Errorf("cannot decode snapshots config: %w", err)
	}
	var ps []PolicyConfig
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&ps); err != nil {
		return nil, fmt.Errorf("cannot decode snapshots config: %w", err)
	}
	for i := range ps {
		if ps[i].Name == "" {
			ps[i].Name = fmt.Sprintf("policy-%d", i)
		}
		if err := ps[i].Validate(); err != nil {
			return nil, err
		}
	}
	return ps, nil
}

// Validate checks a policy: collections, exactly one of interval and cron,
// retention, at least one destination.
func (p *PolicyConfig) Validate() error {
	switch {
	case p.Full && p.Cluster:
		return fmt.Errorf("snapshot policy %q: set full or cluster, not both", p.Name)
	case (p.Full || p.Cluster) && len(p.Collections) > 0:
		return fmt.Errorf("snapshot policy %q: a full or cluster policy snapshots everything; remove collections", p.Name)
	case !p.Full && !p.Cluster && len(p.Collections) == 0:
		return fmt.Errorf("snapshot policy %q: collections must list names or \"*\"", p.Name)
	}
	for _, c := range p.Collections {
		if c != "*" {
			if err := CheckName(c); err != nil {
				return fmt.Errorf("snapshot policy %q: %w", p.Name, err)
			}
		}
	}
	switch {
	case p.Interval != 0 && p.Cron != "":
		return fmt.Errorf("snapshot policy %q: set interval or cron, not both", p.Name)
	case p.Interval == 0 && p.Cron == "":
		return fmt.Errorf("snapshot policy %q: set interval or cron", p.Name)
	case p.Interval < 0 || (p.Interval > 0 && time.Duration(p.Interval) < time.Second):
		return fmt.Errorf("snapshot policy %q: interval %s must be at least 1s", p.Name, time.Duration(p.Interval))
	case p.Cron != "":
		if _, err := ParseCron(p.Cron); err != nil {
			return fmt.Errorf("snapshot policy %q: %w", p.Name, err)
		}
	}
	if err := p.Retention.Validate(); err != nil {
		return fmt.Errorf("snapshot policy %q: %w", p.Name, err)
	}
	if len(p.Destinations) == 0 {
		return fmt.Errorf("snapshot policy %q: no destinations", p.Name)
	}
	return nil
}

// Policy is a resolved policy the Scheduler runs.
type Policy struct {
	// Name labels metrics and logs.
	Name string
	// Collections are names, or "*" for every collection.
	Collections []string
	// Interval, when set, runs the policy every Interval from the
	// scheduler's start; otherwise Cron decides.
	Interval time.Duration
	Cron     *Cron
	// Retention prunes every destination after each run.
	Retention Retention
	// Destinations receive every snapshot.
	Destinations []Store
	// Verify restores each new snapshot into a scratch directory and checks it.
	Verify bool
	// Full takes one full-storage snapshot per run instead of one per collection.
	Full bool
	// Cluster takes one cluster snapshot per run, on the leader only
	// (scheduler_cluster.go).
	Cluster bool
}

// Resolve turns a policy config into a Policy; local is the node's
// snapshots store, used for the "local" destination.
func (p *PolicyConfig) Resolve(local Store) (*Policy, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	out := &Policy{Name: p.Name, Collections: p.Collections, Interval: time.Duration(p.Interval), Retention: p.Retention, Verify: p.Verify, Full: p.Full, Cluster: p.Cluster}
	if p.Cron != "" {
		c, err := ParseCron(p.Cron)
		if err != nil {
			return nil, err
		}
		out.Cron = c
	}
	for _, d := range p.Destinations {
		switch {
		case d.Local:
			if local == nil {
				return nil, fmt.Errorf("snapshot policy %q: no local snapshots directory", p.Name)
			}
			out.Destinations = append(out.Destinations, local)
		case d.FS != "":
			st, err := OpenDirStore(d.FS, "fs:"+d.FS)
			if err != nil {
				return nil, fmt.Errorf("snapshot policy %q: %w", p.Name, err)
			}
			out.Destinations = append(out.Destinations, st)
		case d.S3 != nil:
			st, err := NewS3Store(*d.S3)
			if err != nil {
				return nil, fmt.Errorf("snapshot policy %q: %w", p.Name, err)
			}
			out.Destinations = append(out.Destinations, st)
		}
	}
	return out, nil
}

// next returns the policy's next run time after now.
func (p *Policy) next(now time.Time) time.Time {
	if p.Cron != nil {
		return p.Cron.Next(now)
	}
	return now.Add(p.Interval)
}

// matches reports whether the policy covers collection name.
func (p *Policy) matches(name string) bool {
	for _, c := range p.Collections {
		if c == "*" || c == name {
			return true
		}
	}
	return false
}
