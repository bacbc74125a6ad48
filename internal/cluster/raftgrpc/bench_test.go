package raftgrpc

import (
	"context"
	"io"
	"net"
	"testing"

	"github.com/hashicorp/raft"
)

// transportPair returns a sending transport and a receiving one whose RPCs
// are answered at once, either this package's (over p2p with a secret) or
// raft's own TCP NetworkTransport.
func transportPair(b *testing.B, useNet bool) (from raft.Transport, to raft.Transport, target raft.ServerAddress) {
	if useNet {
		var ts [2]*raft.NetworkTransport
		for i := range ts {
			nt, err := raft.NewTCPTransport("127.0.0.1:0", nil, 3, DefaultTimeout, io.Discard)
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { _ = nt.Close() })
			ts[i] = nt
		}
		from, to = ts[0], ts[1]
	} else {
		lis, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			b.Fatal(err)
		}
		a := serveEndpoint(b, lis, 1, testSecret, Options{})
		if lis, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
			b.Fatal(err)
		}
		c := serveEndpoint(b, lis, 2, testSecret, Options{})
		from, to = a.t, c.t
	}
	ctx, cancel := context.WithCancel(context.Background())
	b.Cleanup(cancel)
	go func() {
		resp := &raft.AppendEntriesResponse{Term: 1, Success: true}
		for {
			select {
			case rpc := <-to.Consumer():
				rpc.Respond(resp, nil)
			case <-ctx.Done():
				return
			}
		}
	}()
	return from, to, to.LocalAddr()
}

// appendRequest returns an AppendEntries request with n entries of size
// bytes.
func appendRequest(n, size int) *raft.AppendEntriesRequest {
	req := &raft.AppendEntriesRequest{RPCHeader: raft.RPCHeader{ID: []byte("1"), Addr: []byte("127.0.0.1:1")}, Term: 1, PrevLogEntry: 1, PrevLogTerm: 1, LeaderCommitIndex: 1}
	for i := 0; i < n; i++ {
		req.Entries = append(req.Entries, &raft.Log{Index: uint64(i + 2), Term: 1, Data: make([]byte, size)})
	}
	return req
}

// BenchmarkAppendEntries measures the transport alone (no disk): one
// AppendEntries of 64 entries × 100 bytes per round trip (sync), or
// pipelined with the default window, against raft's NetworkTransport.
func BenchmarkAppendEntries(b *testing.B) {
	for _, bc := range []struct {
		name     string
		net      bool
		pipeline bool
	}{
		{"grpc/sync", false, false},
		{"raft-tcp/sync", true, false},
		{"grpc/pipeline", false, true},
		{"raft-tcp/pipeline", true, true},
	} {
		b.Run(bc.name, func(b *testing.B) {
			from, _, target := transportPair(b, bc.net)
			req := appendRequest(64, 100)
			b.ReportAllocs()
			b.SetBytes(64 * 100)
			if !bc.pipeline {
				for b.Loop() {
					var resp raft.AppendEntriesResponse
					if err := from.AppendEntries("2", target, req, &resp); err != nil || !resp.Success {
						b.Fatal(err)
					}
				}
				return
			}
			p, err := from.AppendEntriesPipeline("2", target)
			if err != nil {
				b.Fatal(err)
			}
			defer p.Close()
			done := make(chan error, 1)
			sent := make(chan int, 1)
			go func() {
				n := 0
				for {
					select {
					case f := <-p.Consumer():
						if err := f.Error(); err != nil {
							done <- err
							return
						}
						n++
					case total := <-sent:
						for ; n < total; n++ {
							if err := (<-p.Consumer()).Error(); err != nil {
								done <- err
								return
							}
						}
						done <- nil
						return
					}
				}
			}()
			count := 0
			for b.Loop() {
				if _, err := p.AppendEntries(req, new(raft.AppendEntriesResponse)); err != nil {
					b.Fatal(err)
				}
				count++
			}
			sent <- count
			if err := <-done; err != nil {
				b.Fatal(err)
			}
		})
	}
}
