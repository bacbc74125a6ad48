package p2p_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/shoal-db/shoal/internal/api"
	"github.com/shoal-db/shoal/internal/p2p"
	"google.golang.org/grpc"
)

type greetRequest struct{ Name string }

type greetReply struct {
	Text   string
	Caller uint64
}

// A unary service on an authenticated p2p server, called through a pool.
func Example() {
	secret := bytes.Repeat([]byte("k"), p2p.MinSecretLen)

	srv, err := p2p.NewServer(p2p.Options{Secret: secret})
	if err != nil {
		panic(err)
	}
	greet := func(ctx context.Context, req *greetRequest) (*greetReply, error) {
		if req.Name == "" {
			return nil, api.ErrBadInput("name is empty")
		}
		caller, _ := p2p.CallerPeerID(ctx)
		return &greetReply{Text: "hello " + req.Name, Caller: caller}, nil
	}
	srv.RegisterService(p2p.Service("shoal.example.Greeter",
		[]grpc.MethodDesc{p2p.Unary("Greet", greet)}, nil), struct{}{})
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	go func() { _ = srv.Serve(lis) }()
	defer srv.Stop()

	pool, err := p2p.NewPool(p2p.Options{PeerID: 7, Secret: secret})
	if err != nil {
		panic(err)
	}
	defer pool.Close()
	cc, err := pool.Conn(lis.Addr().String())
	if err != nil {
		panic(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()

	reply, err := p2p.Call[greetRequest, greetReply](ctx, cc, "/shoal.example.Greeter/Greet", &greetRequest{Name: "shoal"})
	fmt.Println(reply.Text, reply.Caller, err)

	_, err = p2p.Call[greetRequest, greetReply](ctx, cc, "/shoal.example.Greeter/Greet", &greetRequest{})
	var ae *api.Error
	fmt.Println(errors.As(err, &ae), ae.Kind == api.KindBadInput, ae.Message)
	// Output:
	// hello shoal 7 <nil>
	// true true Wrong input: name is empty
}
