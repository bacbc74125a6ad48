// Package canary is every node's built-in canary: on a timer it writes a
// few points to the node's own small collection through the node's own
// service (the path client requests take), reads them back, searches
// them, and reports each step's success and latency as Prometheus
// metrics. A canary that fails says the node cannot serve what clients
// ask of it, whatever its other gauges say.
//
// The collection (service.CanaryCollection: named with the node's peer
// id, so that the nodes of a cluster never share one) is created on the
// first run and then reused; service.ListCollections leaves it out.
package canary

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/shoal-db/shoal/internal/api"
	"github.com/shoal-db/shoal/internal/auth"
	"github.com/shoal-db/shoal/internal/service"
)

// The steps of a run, the values of the op label.
const (
	OpCreate   = "create"   // the collection exists (created on the first run)
	OpReadable = "readable" // every shard of it has an Active replica
	OpUpsert   = "upsert"   // the points are written (wait=true)
	OpRead     = "read"     // the points read back hold this run's payload
	OpSearch   = "search"   // a nearest-neighbour query finds the expected point
)

// Ops lists the steps in run order.
var Ops = []string{OpCreate, OpReadable, OpUpsert, OpRead, OpSearch}

// Points is the number of points a run writes; Dim is their dimension
// (point i's vector is the i-th unit vector, so a query for it finds it
// first with score 1).
const (
	Points = 8
	Dim    = 8
)

// Options configure a Canary.
type Options struct {
	// Service is the node's service layer.
	Service service.API
	// Health returns the health of the node's metadata (the service's
	// LocalHealth); nil skips the readable step.
	Health func() *api.ClusterHealth
	// Collection is the canary collection's name.
	Collection string
	// ShardNumber is the canary collection's shard count (0: 2).
	ShardNumber int
	// Interval is the time between runs (0: 30 s).
	Interval time.Duration
	// Timeout bounds one run (0: 10 s; a run longer than Interval
	// delays the next, runs never overlap).
	Timeout time.Duration
	// Ready, when set, gates every run (a node not ready skips it).
	Ready func() bool
	// Registerer receives the shoal_canary_* metrics (none when nil).
	Registerer prometheus.Registerer
	// Logger receives failures; nil discards.
	Logger *slog.Logger
}

// Canary runs the checks. Start starts the timer; Close stops it.
type Canary struct {
	opts Options
	log  *slog.Logger

	success  *prometheus.GaugeVec
	latency  *prometheus.HistogramVec
	runs     *prometheus.CounterVec
	lastOK   prometheus.Gauge
	created  bool // the collection is known to exist (run goroutine only)
	run      uint64
	stop     chan struct{}
	done     chan struct{}
	stopOnce sync.Once
	started  atomic.Bool
}

// New returns a canary; it registers its metrics on opts.Registerer.
func New(opts Options) (*Canary, error) {
	if opts.Service == nil || opts.Collection == "" {
		return nil, errors.New("cannot create canary: no service or collection name")
	}
	if opts.Interval <= 0 {
		opts.Interval = 30 * time.Second
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 10 * time.Second
	}
	if opts.ShardNumber <= 0 {
		opts.ShardNumber = 2
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	c := &Canary{opts: opts, log: opts.Logger, stop: make(chan struct{}), done: make(chan struct{}),
		success: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "shoal_canary_success",
			Help: "1 when the canary's last run of the step succeeded, 0 when it failed (op: create, readable, upsert, read, search)",
		}, []string{"op"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "shoal_canary_latency_seconds",
			Help:    "time the canary's steps took, failed ones included",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16),
		}, []string{"op"}),
		runs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "shoal_canary_runs_total",
			Help: "canary steps run, by op and result (ok, failed)",
		}, []string{"op", "result"}),
		lastOK: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "shoal_canary_last_success_timestamp_seconds",
			Help: "Unix time of the canary's last run in which every step succeeded",
		}),
	}
	if opts.Registerer != nil {
		for _, m := range []prometheus.Collector{c.success, c.latency, c.runs, c.lastOK} {
			if err := opts.Registerer.Register(m); err != nil {
				return nil, fmt.Errorf("cannot register canary metrics: %w", err)
			}
		}
	}
	return c, nil
}

// Start runs the canary every Interval, the first time one Interval from
// now, until Close.
func (c *Canary) Start() {
	if c.started.Swap(true) {
		return
	}
	go func() {
		defer close(c.done)
		t := time.NewTicker(c.opts.Interval)
		defer t.Stop()
		for {
			select {
			case <-c.stop:
				return
			case <-t.C:
			}
			if c.opts.Ready != nil && !c.opts.Ready() {
				continue
			}
			ctx, cancel := context.WithTimeout(context.Background(), c.opts.Timeout)
			go func() {
				select {
				case <-c.stop:
					cancel()
				case <-ctx.Done():
				}
			}()
			c.RunOnce(ctx)
			cancel()
		}
	}()
}

// Close stops the timer and waits for a run in progress (which it
// cancels). It is safe to call more than once, and without Start.
func (c *Canary) Close() {
	c.stopOnce.Do(func() { close(c.stop) })
	if c.started.Load() {
		<-c.done
	}
}

// Report is the outcome of one run: each step's error (nil: success), in
// run order; a step not reached is absent.
type Report struct {
	Errors map[string]error
}

// OK reports whether every step ran and succeeded.
func (r Report) OK() bool {
	if len(r.Errors) != len(Ops) {
		return false
	}
	for _, err := range r.Errors {
		if err != nil {
			return false
		}
	}
	return true
}

// RunOnce runs every step once now and records the metrics. A failing
// step ends the run, except readable: the writes and reads still run, and
// say how the unreadable shard shows to clients.
func (c *Canary) RunOnce(ctx context.Context) Report {
	ctx = auth.WithAccess(ctx, auth.Full)
	c.run++
	rep := Report{Errors: map[string]error{}}
	steps := []struct {
		op    string
		fn    func(context.Context) error
		fatal bool
	}{
		{OpCreate, c.ensureCollection, true},
		{OpReadable, c.readable, false},
		{OpUpsert, c.upsert, true},
		{OpRead, c.read, true},
		{OpSearch, c.search, true},
	}
	for _, s := range steps {
		start := time.Now()
		err := s.fn(ctx)
		c.latency.WithLabelValues(s.op).Observe(time.Since(start).Seconds())
		rep.Errors[s.op] = err
		if err != nil {
			c.success.WithLabelValues(s.op).Set(0)
			c.runs.WithLabelValues(s.op, "failed").Inc()
			c.log.Warn("canary step failed", "op", s.op, "collection", c.opts.Collection, "err", err)
			if s.fatal {
				// The later steps count as failed: they could not run.
				for _, later := range Ops[indexOf(s.op)+1:] {
					c.success.WithLabelValues(later).Set(0)
				}
				return rep
			}
			continue
		}
		c.success.WithLabelValues(s.op).Set(1)
		c.runs.WithLabelValues(s.op, "ok").Inc()
	}
	if rep.OK() {
		c.lastOK.SetToCurrentTime()
	}
	return rep
}

func indexOf(op string) int {
	for i, o := range Ops {
		if o == op {
			return i
		}
	}
	return len(Ops) - 1
}

func decode[T any](s string) (*T, error) {
	var v T
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		return nil, fmt.Errorf("cannot build canary request: %w", err)
	}
	return &v, nil
}

func unit(i int) string {
	v := make([]string, Dim)
	for j := range v {
		v[j] = "0"
	}
	v[i%Dim] = "1"
	return "[" + strings.Join(v, ",") + "]"
}

// ensureCollection creates the collection unless it is known to exist.
func (c *Canary) ensureCollection(ctx context.Context) error {
	if c.created {
		return nil
	}
	ok, err := c.opts.Service.CollectionExists(ctx, c.opts.Collection)
	if err != nil {
		return err
	}
	if !ok {
		req, err := decode[api.CreateCollection](fmt.Sprintf(`{"vectors":{"size":%d,"distance":"Dot"},"shard_number":%d}`, Dim, c.opts.ShardNumber))
		if err != nil {
			return err
		}
		if err := c.opts.Service.CreateCollection(ctx, c.opts.Collection, req); err != nil && !strings.Contains(api.Message(err), "already exists") {
			return err
		}
	}
	c.created = true
	return nil
}

// readable fails when a shard of the collection has no Active replica.
func (c *Canary) readable(context.Context) error {
	if c.opts.Health == nil {
		return nil
	}
	h, ok := c.opts.Health().Collections[c.opts.Collection]
	if !ok {
		c.created = false // deleted meanwhile: create it again next run
		return fmt.Errorf("collection %s is not in the metadata", c.opts.Collection)
	}
	if h.ShardsUnreadable > 0 {
		return fmt.Errorf("%d of %d shards have no Active replica: %s", h.ShardsUnreadable, h.ShardCount, strings.Join(h.Reasons, "; "))
	}
	return nil
}

func (c *Canary) upsert(ctx context.Context) error {
	var pts []string
	for i := range Points {
		pts = append(pts, fmt.Sprintf(`{"id":%d,"vector":%s,"payload":{"run":%d}}`, i+1, unit(i), c.run))
	}
	req, err := decode[api.UpsertPoints](`{"points":[` + strings.Join(pts, ",") + `]}`)
	if err != nil {
		return err
	}
	_, err = c.opts.Service.Upsert(ctx, c.opts.Collection, req, api.WriteParams{Wait: true})
	if err != nil && api.KindOf(err) == api.KindNotFound {
		c.created = false
	}
	return err
}

func (c *Canary) read(ctx context.Context) error {
	ids := make([]string, Points)
	for i := range ids {
		ids[i] = fmt.Sprint(i + 1)
	}
	req, err := decode[api.GetPoints](`{"ids":[` + strings.Join(ids, ",") + `],"with_payload":true}`)
	if err != nil {
		return err
	}
	recs, err := c.opts.Service.GetPoints(ctx, c.opts.Collection, req, api.ReadParams{})
	if err != nil {
		return err
	}
	if len(recs) != Points {
		return fmt.Errorf("read back %d of %d points", len(recs), Points)
	}
	for _, r := range recs {
		b, _ := json.Marshal(r.Payload)
		var p struct {
			Run uint64 `json:"run"`
		}
		if err := json.Unmarshal(b, &p); err != nil || p.Run != c.run {
			return fmt.Errorf("point %v holds payload %s, want run %d", r.ID, b, c.run)
		}
	}
	return nil
}

func (c *Canary) search(ctx context.Context) error {
	want := int(c.run % Points)
	req, err := decode[api.QueryRequest](`{"query":` + unit(want) + `,"limit":1}`)
	if err != nil {
		return err
	}
	res, err := c.opts.Service.Query(ctx, c.opts.Collection, req, api.ReadParams{})
	if err != nil {
		return err
	}
	if len(res.Points) != 1 || res.Points[0].ID != api.NumID(uint64(want+1)) {
		return fmt.Errorf("nearest point to %d is %+v", want+1, res.Points)
	}
	return nil
}
