package canary

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/shoal-db/shoal/internal/auth"
	"github.com/shoal-db/shoal/internal/service"
)

func newCanary(t testing.TB, interval time.Duration) (*Canary, *service.Service, *prometheus.Registry) {
	t.Helper()
	svc, err := service.New(service.Options{StorageDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { svc.Close() })
	reg := prometheus.NewRegistry()
	c, err := New(Options{Service: svc, Health: svc.LocalHealth, Collection: service.CanaryCollection(42), Interval: interval, Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c, svc, reg
}

func TestRunOnce(t *testing.T) {
	c, svc, reg := newCanary(t, time.Hour)
	ctx := context.Background()
	for run := 1; run <= 3; run++ {
		if rep := c.RunOnce(ctx); !rep.OK() {
			t.Fatalf("run %d: %+v", run, rep.Errors)
		}
	}
	for _, op := range Ops {
		if v := testutil.ToFloat64(c.success.WithLabelValues(op)); v != 1 {
			t.Fatalf("success{op=%s} = %v", op, v)
		}
		if v := testutil.ToFloat64(c.runs.WithLabelValues(op, "ok")); v != 3 {
			t.Fatalf("runs{op=%s,ok} = %v", op, v)
		}
	}
	if n, err := testutil.GatherAndCount(reg, "shoal_canary_latency_seconds"); err != nil || n != len(Ops) {
		t.Fatalf("latency series %d %v", n, err)
	}
	if testutil.ToFloat64(c.lastOK) < float64(time.Now().Add(-time.Minute).Unix()) {
		t.Fatal("no last success time")
	}
	// Hidden from the listing, still there.
	list, err := svc.ListCollections(ctx)
	if err != nil || len(list) != 0 {
		t.Fatalf("listing %v %v", list, err)
	}
	if ok, _ := svc.CollectionExists(ctx, service.CanaryCollection(42)); !ok {
		t.Fatal("no canary collection")
	}

	// The collection deleted under it: the run fails, the next one
	// creates it again.
	if _, err := svc.DeleteCollection(auth.WithAccess(ctx, auth.Full), service.CanaryCollection(42)); err != nil {
		t.Fatal(err)
	}
	rep := c.RunOnce(ctx)
	if rep.OK() || rep.Errors[OpReadable] == nil {
		t.Fatalf("run over a deleted collection: %+v", rep.Errors)
	}
	for _, op := range []string{OpUpsert, OpRead, OpSearch} {
		if testutil.ToFloat64(c.success.WithLabelValues(op)) != 0 {
			t.Fatalf("success{op=%s} after a failed run", op)
		}
	}
	if rep := c.RunOnce(ctx); !rep.OK() {
		t.Fatalf("run after re-creating: %+v", rep.Errors)
	}
}

func TestStartRunsOnTheTimer(t *testing.T) {
	c, _, _ := newCanary(t, 50*time.Millisecond)
	c.Start()
	deadline := time.Now().Add(10 * time.Second)
	for testutil.ToFloat64(c.runs.WithLabelValues(OpSearch, "ok")) < 2 {
		if time.Now().After(deadline) {
			t.Fatal("the canary did not run twice")
		}
		time.Sleep(10 * time.Millisecond)
	}
	c.Close()
	n := testutil.ToFloat64(c.runs.WithLabelValues(OpSearch, "ok"))
	time.Sleep(150 * time.Millisecond)
	if testutil.ToFloat64(c.runs.WithLabelValues(OpSearch, "ok")) != n {
		t.Fatal("the canary ran after Close")
	}
	c.Close() // twice is fine
}

func TestNotReadySkips(t *testing.T) {
	svc, err := service.New(service.Options{StorageDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Close()
	c, err := New(Options{Service: svc, Collection: "__shoal_canary_1", Interval: 20 * time.Millisecond, Ready: func() bool { return false }})
	if err != nil {
		t.Fatal(err)
	}
	c.Start()
	time.Sleep(150 * time.Millisecond)
	c.Close()
	if ok, _ := svc.CollectionExists(context.Background(), "__shoal_canary_1"); ok {
		t.Fatal("a canary that is not ready ran")
	}
	if _, err := New(Options{Collection: "x"}); err == nil || !strings.Contains(err.Error(), "no service") {
		t.Fatal(err)
	}
	// Close without Start returns.
	c2, _ := New(Options{Service: svc, Collection: "y"})
	c2.Close()
}
