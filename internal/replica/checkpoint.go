package replica

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strconv"

	"google.golang.org/grpc"

	"github.com/shoal-db/shoal/internal/api"
	"github.com/shoal-db/shoal/internal/background"
	"github.com/shoal-db/shoal/internal/p2p"
	"github.com/shoal-db/shoal/internal/shard"
	"github.com/shoal-db/shoal/internal/snapshot"
)

// The checkpoint service carries whole-shard archives for cluster
// snapshots: Fetch streams a checkpoint of a replica to the node that
// assembles a cluster snapshot, Stage writes a shard archive into a
// collection generation that is not in the metadata yet (a cluster
// restore stages every replica, then proposes the collection), Lease
// gives such a generation an owner and a deadline (staged data whose
// restore does not finish in time is removed by its node), and Unstage
// removes it again when the restore fails.
const (
	methodFetch   = "/" + serviceName + "/Fetch"
	methodStage   = "/" + serviceName + "/Stage"
	methodUnstage = "/" + serviceName + "/Unstage"
	methodLease   = "/" + serviceName + "/Lease"
)

// LeaseRequest takes or renews the lease on the replicas staged for the
// generation of Target (its Shard is ignored): Owner, the peer running the
// restore in its process incarnation Boot, holds them for TTLMillis more.
// A renewal (Renew) fails when the node no longer holds a lease for the
// generation (it expired and the staged replicas were removed).
type LeaseRequest struct {
	Target
	Owner     uint64 `json:"owner"`
	Boot      string `json:"boot"`
	TTLMillis int64  `json:"ttl_ms"`
	Renew     bool   `json:"renew,omitempty"`
}

// Leaser takes or renews a staging lease on this node.
type Leaser func(ctx context.Context, r *LeaseRequest) error

// FetchRequest asks a replica for a checkpoint archive of its shard, sent
// at most at Rate bytes per second (unpaced when 0).
type FetchRequest struct {
	Target
	Rate float64 `json:"rate,omitempty"`
}

// CheckpointInfo describes a checkpoint written by WriteCheckpoint.
type CheckpointInfo struct {
	// Seq is the sequence number of the last operation it holds, Epoch
	// that operation's epoch.
	Seq, Epoch uint64
	// Points is its point count.
	Points uint64
	// Bytes is the archive's length.
	Bytes int64
}

// CheckpointSource finds this node's replica of a shard for a Fetch: the
// shard, the collection's configuration (recorded in the archive), and a
// release to call when done. It refuses a replica that is not Active.
type CheckpointSource func(ctx context.Context, t Target) (sh *shard.Shard, cfg api.CollectionConfig, release func(), err error)

// Stager writes the shard archive read from r as this node's replica of t,
// a generation of the collection that the metadata does not hold yet.
type Stager func(ctx context.Context, t Target, r io.Reader) error

// Unstager removes what Stage wrote for the generation of t.
type Unstager func(ctx context.Context, t Target) error

// WriteCheckpoint takes a checkpoint of sh (shard t.Shard of collection
// t.Collection, configuration cfg) while writes continue and writes it to
// w as a shard snapshot archive (docs/format/snapshot.md, kind shard),
// at most rate bytes per second (unpaced when rate <= 0), reading and
// hashing within bg's share of a core while the node's writes come in
// (bg may be nil). The checkpoint is hard-linked into a staging directory
// beside the shard, removed when done. self names the writing peer in the
// manifest.
func WriteCheckpoint(ctx context.Context, sh *shard.Shard, t Target, cfg api.CollectionConfig, self uint64, rate float64, bg *background.Limiter, w io.Writer) (CheckpointInfo, error) {
	dir := snapshot.StagingDir(sh.Dir())
	defer os.RemoveAll(dir)
	sub := path.Join("shards", strconv.Itoa(t.Shard))
	seq, points, err := sh.CheckpointCounted(ctx, filepath.Join(dir, filepath.FromSlash(sub)))
	if err != nil {
		return CheckpointInfo{}, fmt.Errorf("cannot checkpoint shard %d of %s: %w", t.Shard, t.Collection, err)
	}
	m := &snapshot.Manifest{Kind: snapshot.KindShard, Collection: t.Collection, PeerID: self, Config: &cfg,
		Shards: []snapshot.ShardManifest{{ID: t.Shard, Dir: sub, LastSeq: seq, Points: points}}}
	pw := &pacedWriter{ctx: ctx, w: w, pace: pacer{rate: rate}}
	meter := bg.Start(ctx)
	defer meter.Stop()
	n, err := snapshot.WriteArchive(ctx, pw, m, dir, meter.Yield)
	if err != nil {
		return CheckpointInfo{}, err
	}
	return CheckpointInfo{Seq: seq, Epoch: sh.EpochOf(seq), Points: points, Bytes: n}, nil
}

// pacedWriter paces the bytes written through it.
type pacedWriter struct {
	ctx  context.Context
	w    io.Writer
	pace pacer
}

func (p *pacedWriter) Write(b []byte) (int, error) {
	n, err := p.w.Write(b)
	if err != nil {
		return n, err
	}
	return n, p.pace.wait(p.ctx, n)
}

// chunkWriter sends what is written to it as InstallChunks of at most
// chunkSize bytes; the first carries first's header fields.
type chunkWriter struct {
	send  func(*InstallChunk) error
	first *InstallChunk
}

func (c *chunkWriter) Write(b []byte) (int, error) {
	total := len(b)
	for len(b) > 0 {
		n := min(len(b), chunkSize)
		msg := &InstallChunk{Data: b[:n]}
		if c.first != nil {
			msg, c.first = c.first, nil
			msg.Data = b[:n]
		}
		if err := c.send(msg); err != nil {
			return total - len(b), err
		}
		b = b[n:]
	}
	return total, nil
}

// checkpointStreams returns the Fetch and Stage methods, and the Unstage
// method, of a server with a checkpoint source and a stager (none without).
func (s *Server) checkpointMethods() ([]grpc.MethodDesc, []grpc.StreamDesc) {
	if s.checkpoints == nil {
		return nil, nil
	}
	src, stage, unstage := s.checkpoints, s.stage, s.unstage
	fetch := p2p.ServerStream("Fetch", func(r *FetchRequest, send func(*InstallChunk) error, ctx context.Context) error {
		sh, cfg, release, err := src(ctx, r.Target)
		if err != nil {
			return err
		}
		defer release()
		// The archive is written before the header is known: the first
		// message carries the target only, the last (empty) one the
		// checkpoint's position.
		t := r.Target
		cw := &chunkWriter{send: send, first: &InstallChunk{Target: &t}}
		info, err := WriteCheckpoint(ctx, sh, r.Target, cfg, 0, r.Rate, s.background, cw)
		if err != nil {
			return err
		}
		return send(&InstallChunk{Target: &t, Epoch: info.Epoch, Seq: info.Seq})
	})
	staged := p2p.ClientStream("Stage", func(ctx context.Context, recv func() (*InstallChunk, error)) (*Empty, error) {
		first, err := recv()
		if err != nil {
			return nil, err
		}
		if first.Target == nil {
			return nil, api.ErrBadRequest("a staged shard must name its target first")
		}
		pr := chunkStream(first, recv)
		err = stage(ctx, *first.Target, pr)
		pr.CloseWithError(errors.New("stage ended"))
		return &Empty{}, err
	})
	lease := s.lease
	methods := []grpc.MethodDesc{p2p.Unary("Unstage", func(ctx context.Context, t *Target) (*Empty, error) {
		return &Empty{}, unstage(ctx, *t)
	}), p2p.Unary("Lease", func(ctx context.Context, r *LeaseRequest) (*Empty, error) {
		return &Empty{}, lease(ctx, r)
	})}
	return methods, []grpc.StreamDesc{fetch, staged}
}

// WithCheckpoints adds the Fetch, Stage, Unstage and Lease methods
// (cluster snapshots and their restore) to the server. bg (nil: no limit)
// bounds the CPU that a Fetch's checkpoint takes while the node's writes
// come in.
func (s *Server) WithCheckpoints(src CheckpointSource, stage Stager, unstage Unstager, lease Leaser, bg *background.Limiter) *Server {
	s.checkpoints, s.stage, s.unstage, s.lease, s.background = src, stage, unstage, lease, bg
	return s
}

// Fetch asks the peer behind cc for a checkpoint of its replica of t and
// writes the archive to w as it arrives, paced by the peer at rate bytes
// per second. It returns the checkpoint's position (Points is left zero:
// the archive's manifest holds it).
func Fetch(ctx context.Context, cc *grpc.ClientConn, t Target, rate float64, w io.Writer) (CheckpointInfo, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	recv, err := p2p.OpenServerStream[FetchRequest, InstallChunk](ctx, cc, methodFetch, &FetchRequest{Target: t, Rate: rate})
	if err != nil {
		return CheckpointInfo{}, err
	}
	var info CheckpointInfo
	done := false
	for {
		msg, err := recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return CheckpointInfo{}, err
		}
		if done {
			return CheckpointInfo{}, fmt.Errorf("cannot fetch shard %d of %s: data after the end of the checkpoint", t.Shard, t.Collection)
		}
		if len(msg.Data) > 0 {
			n, err := w.Write(msg.Data)
			info.Bytes += int64(n)
			if err != nil {
				return CheckpointInfo{}, err
			}
			continue
		}
		if msg.Seq != 0 || msg.Epoch != 0 || msg.Target != nil {
			info.Seq, info.Epoch, done = msg.Seq, msg.Epoch, true
		}
	}
	if !done {
		return CheckpointInfo{}, fmt.Errorf("cannot fetch shard %d of %s: the stream ended before the checkpoint did", t.Shard, t.Collection)
	}
	return info, nil
}

// Stage sends the shard archive read from r to the peer behind cc, which
// writes it as its replica of t (a generation the metadata does not hold
// yet).
func Stage(ctx context.Context, cc *grpc.ClientConn, t Target, r io.Reader) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	send, closeAndRecv, err := p2p.OpenClientStream[InstallChunk, Empty](ctx, cc, methodStage)
	if err != nil {
		return err
	}
	cw := &chunkWriter{send: send, first: &InstallChunk{Target: &t}}
	if _, err := io.CopyBuffer(cw, r, make([]byte, chunkSize)); err != nil {
		return err
	}
	if cw.first != nil { // an empty archive still names its target
		if err := send(cw.first); err != nil {
			return err
		}
	}
	_, err = closeAndRecv()
	return err
}

// Lease takes or renews a staging lease on the peer behind cc.
func Lease(ctx context.Context, cc *grpc.ClientConn, r *LeaseRequest) error {
	_, err := p2p.Call[LeaseRequest, Empty](ctx, cc, methodLease, r)
	return err
}

// Unstage asks the peer behind cc to remove what Stage wrote for the
// generation of t.
func Unstage(ctx context.Context, cc *grpc.ClientConn, t Target) error {
	_, err := p2p.Call[Target, Empty](ctx, cc, methodUnstage, &t)
	return err
}
