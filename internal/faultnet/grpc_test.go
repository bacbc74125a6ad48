package faultnet

import (
	"context"
	"net"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
)

// TestGRPCThroughFaults runs a real gRPC (HTTP/2) client and server through
// a proxy: a blackhole makes calls time out and delivers them at the heal
// on the same connection; a drop makes calls time out and its heal resets
// the connection, after which the client reconnects; after a reset, the
// call that races the dying connection may fail with Unavailable, and the
// client reconnects within a few calls.
func TestGRPCThroughFaults(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	healthpb.RegisterHealthServer(srv, health.NewServer())
	go srv.Serve(ln)
	defer srv.Stop()
	p := newProxy(t, ln.Addr().String())
	cc, err := grpc.NewClient("passthrough:///"+p.Addr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	client := healthpb.NewHealthClient(cc)
	check := func(timeout time.Duration) error {
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		_, err := client.Check(ctx, &healthpb.HealthCheckRequest{}, grpc.WaitForReady(true))
		return err
	}
	if err := check(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	for _, fault := range []struct {
		name string
		on   func()
	}{
		{"blackhole", func() { p.Blackhole(true) }},
		{"drop", func() { p.Drop(true) }},
	} {
		fault.on()
		if err := check(300 * time.Millisecond); status.Code(err) != codes.DeadlineExceeded {
			t.Fatalf("%s: call %v, want DeadlineExceeded", fault.name, err)
		}
		p.Heal()
		if err := check(10 * time.Second); err != nil {
			t.Fatalf("after the %s healed: %v", fault.name, err)
		}
	}
	p.Reset()
	for i := 0; ; i++ {
		err := check(10 * time.Second)
		if err == nil {
			break
		}
		t.Logf("call %d after a reset: %v", i, err)
		if status.Code(err) != codes.Unavailable || i == 5 {
			t.Fatalf("no reconnection after a reset: %v", err)
		}
	}
}
