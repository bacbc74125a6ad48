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
	// recovers calls until one succeeds: a call that races a connection
	// the proxy resets fails with Unavailable (with "connection reset by
	// peer", or EOF once gRPC's writer has consumed the reset), and the
	// client then reconnects.
	recovers := func(after string) {
		for i := 0; ; i++ {
			err := check(10 * time.Second)
			if err == nil {
				return
			}
			if status.Code(err) != codes.Unavailable || i == 5 {
				t.Fatalf("call %d after %s: %v", i, after, err)
			}
		}
	}
	p.Blackhole(true)
	if err := check(300 * time.Millisecond); status.Code(err) != codes.DeadlineExceeded {
		t.Fatalf("call during a blackhole: %v, want DeadlineExceeded", err)
	}
	p.Heal()
	if err := check(10 * time.Second); err != nil {
		t.Fatalf("a blackhole's heal must keep the connection: %v", err)
	}
	p.Drop(true)
	if err := check(300 * time.Millisecond); status.Code(err) != codes.DeadlineExceeded {
		t.Fatalf("call during a drop: %v, want DeadlineExceeded", err)
	}
	p.Heal()
	recovers("the drop healed")
	p.Reset()
	recovers("a reset")
}
