// Package replica replicates a shard's writes from its primary to its
// other replicas. The primary (Primary) applies a write locally under the
// next sequence number of its epoch, then streams its op log to every
// backup through one sender per backup (the same stream carries live
// writes and the catch-up of a returning replica), and acknowledges the
// write only when every Active or in-sync replica has applied it or has
// been marked Dead through the cluster's metadata. Backups (Server) apply
// the operations at the primary's sequence numbers, refusing gaps and
// deposed primaries' epochs, so that replicas hold prefixes of one log.
package replica

import (
	"context"
	"errors"

	"google.golang.org/grpc"

	"github.com/shoal-db/shoal/internal/api"
	"github.com/shoal-db/shoal/internal/background"
	"github.com/shoal-db/shoal/internal/p2p"
	"github.com/shoal-db/shoal/internal/shard"
)

const serviceName = "shoal.replica.Replicas"

const (
	methodStatus    = "/" + serviceName + "/Status"
	methodReplicate = "/" + serviceName + "/Replicate"
	methodPing      = "/" + serviceName + "/Ping"
)

// Empty is the request and answer of Ping.
type Empty struct{}

// Target names one shard of one incarnation of a collection.
type Target struct {
	Collection string `json:"collection"`
	Generation uint64 `json:"generation"`
	Shard      int    `json:"shard"`
}

// StatusRequest asks a replica where its log ends.
type StatusRequest struct {
	Target
}

// StatusResponse is the epoch and sequence number of a replica's last
// operation.
type StatusResponse struct {
	Epoch uint64 `json:"epoch"`
	Seq   uint64 `json:"seq"`
}

// Op is one operation of a primary's log.
type Op struct {
	Seq   uint64               `json:"seq"`
	Epoch uint64               `json:"epoch"`
	Op    *api.UpdateOperation `json:"op"`
}

// ReplicateRequest carries consecutive operations from the primary of
// Epoch.
type ReplicateRequest struct {
	Target
	Epoch uint64 `json:"epoch"`
	Ops   []Op   `json:"ops"`
}

// ReplicateResponse reports the replica's last operation after the call.
// Gap is set when the operations did not follow it (the sender rewinds to
// Last+1); Stale when the sender's epoch is older than the replica knows
// (the sender is a deposed primary).
type ReplicateResponse struct {
	Last  uint64 `json:"last"`
	Gap   bool   `json:"gap,omitempty"`
	Stale bool   `json:"stale,omitempty"`
}

// Locator finds this node's replica of a shard for a call from its
// primary: the shard, the shard's epoch in this node's metadata (the
// newest primary it knows of), and a release to call when done.
type Locator func(ctx context.Context, t Target) (sh *shard.Shard, epoch uint64, release func(), err error)

// Server answers a primary's calls on a backup replica.
type Server struct {
	locate  Locator
	install Installer

	// checkpoints, stage, unstage and lease serve cluster snapshots
	// (checkpoint.go; nil without WithCheckpoints).
	checkpoints CheckpointSource
	stage       Stager
	unstage     Unstager
	lease       Leaser
	background  *background.Limiter
}

// NewServer returns a server that finds replicas with locate and installs
// checkpoints with install.
func NewServer(locate Locator, install Installer) *Server {
	return &Server{locate: locate, install: install}
}

// Register adds the Replicas service to the p2p server.
func (s *Server) Register(gs *grpc.Server) {
	ckMethods, ckStreams := s.checkpointMethods()
	gs.RegisterService(p2p.Service(serviceName, append([]grpc.MethodDesc{
		p2p.Unary("Ping", func(ctx context.Context, _ *Empty) (*Empty, error) {
			return &Empty{}, nil
		}),
		p2p.Unary("Status", func(ctx context.Context, r *StatusRequest) (*StatusResponse, error) {
			sh, _, release, err := s.locate(ctx, r.Target)
			if err != nil {
				return nil, err
			}
			defer release()
			e, n := sh.Position()
			return &StatusResponse{Epoch: e, Seq: n}, nil
		}),
		p2p.Unary("Replicate", func(ctx context.Context, r *ReplicateRequest) (*ReplicateResponse, error) {
			sh, known, release, err := s.locate(ctx, r.Target)
			if err != nil {
				return nil, err
			}
			defer release()
			if r.Epoch < known {
				return &ReplicateResponse{Last: sh.LastSeq(), Stale: true}, nil
			}
			for _, op := range r.Ops {
				if op.Epoch > r.Epoch {
					return nil, api.ErrBadRequest("operation %d of epoch %d sent in epoch %d", op.Seq, op.Epoch, r.Epoch)
				}
				err := sh.ApplyAt(ctx, op.Epoch, op.Seq, op.Op)
				var gap *shard.GapError
				switch {
				case errors.As(err, &gap):
					return &ReplicateResponse{Last: gap.Have, Gap: true}, nil
				case errors.Is(err, shard.ErrStaleEpoch):
					return &ReplicateResponse{Last: sh.LastSeq(), Stale: true}, nil
				case err != nil:
					return nil, err
				}
			}
			return &ReplicateResponse{Last: sh.LastSeq()}, nil
		}),
	}, ckMethods...), append([]grpc.StreamDesc{installStream(s.install)}, ckStreams...)), struct{}{})
}

// Ping checks that a peer's replica service answers.
func Ping(ctx context.Context, cc *grpc.ClientConn) error {
	_, err := p2p.Call[Empty, Empty](ctx, cc, methodPing, &Empty{})
	return err
}

// Status asks a replica where its log ends.
func Status(ctx context.Context, cc *grpc.ClientConn, t Target) (*StatusResponse, error) {
	return p2p.Call[StatusRequest, StatusResponse](ctx, cc, methodStatus, &StatusRequest{Target: t})
}

// replicate sends operations to a replica.
func replicate(ctx context.Context, cc *grpc.ClientConn, req *ReplicateRequest) (*ReplicateResponse, error) {
	return p2p.Call[ReplicateRequest, ReplicateResponse](ctx, cc, methodReplicate, req)
}
