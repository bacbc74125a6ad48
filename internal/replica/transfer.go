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
	"time"

	"google.golang.org/grpc"

	"github.com/shoal-db/shoal/internal/api"
	"github.com/shoal-db/shoal/internal/p2p"
	"github.com/shoal-db/shoal/internal/snapshot"
)

const methodInstall = "/" + serviceName + "/Install"

// chunkSize is the size of one checkpoint chunk on the wire.
const chunkSize = 1 << 20

// InstallChunk is one message of a checkpoint transfer: the first names
// the target and the checkpoint's position, every one carries the next
// bytes of a shard snapshot archive (docs/format/snapshot.md, kind
// "shard").
type InstallChunk struct {
	Target *Target `json:"target,omitempty"`
	Epoch  uint64  `json:"epoch,omitempty"`
	Seq    uint64  `json:"seq,omitempty"`
	Data   []byte  `json:"data"`
}

// Installer replaces this node's replica of t with the checkpoint archive
// read from r (taken by the primary of epoch at sequence seq) and returns
// the replica's new position.
type Installer func(ctx context.Context, t Target, epoch, seq uint64, r io.Reader) (*StatusResponse, error)

// chunkStream joins a client stream of chunks, first already received,
// into one reader of their data (Install and Stage); a failed receive
// fails the reader.
func chunkStream(first *InstallChunk, recv func() (*InstallChunk, error)) *io.PipeReader {
	pr, pw := io.Pipe()
	go func() {
		chunk := first
		for {
			if _, err := pw.Write(chunk.Data); err != nil {
				return
			}
			var err error
			if chunk, err = recv(); err != nil {
				if errors.Is(err, io.EOF) {
					err = nil
				}
				pw.CloseWithError(err)
				return
			}
		}
	}()
	return pr
}

// installStream is the Install method: it feeds the chunks to install as
// one archive stream.
func installStream(install Installer) grpc.StreamDesc {
	return p2p.ClientStream("Install", func(ctx context.Context, recv func() (*InstallChunk, error)) (*StatusResponse, error) {
		first, err := recv()
		if err != nil {
			return nil, err
		}
		if first.Target == nil {
			return nil, api.ErrBadRequest("a checkpoint transfer must name its target first")
		}
		pr := chunkStream(first, recv)
		st, err := install(ctx, *first.Target, first.Epoch, first.Seq, pr)
		pr.CloseWithError(errors.New("install ended"))
		return st, err
	})
}

// pacer sleeps so that bytes pass at most at rate bytes per second (no
// limit when rate <= 0).
type pacer struct {
	rate  float64
	start time.Time
	sent  int64
}

func (p *pacer) wait(ctx context.Context, n int) error {
	if p.rate <= 0 {
		return nil
	}
	if p.start.IsZero() {
		p.start = time.Now()
	}
	p.sent += int64(n)
	ahead := time.Duration(float64(p.sent)/p.rate*float64(time.Second)) - time.Since(p.start)
	if ahead <= 0 {
		return nil
	}
	t := time.NewTimer(ahead)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// transfer sends the replica a checkpoint of the shard, taken while
// writes continue, and records its new position: the stream then goes on
// from the checkpoint's sequence number.
func (s *sender) transfer() (err error) {
	p := s.p
	ctx, cancel := s.ctx(24 * time.Hour)
	defer cancel()
	start := time.Now()
	// The shard's reachability passes wait: they can take minutes of CPU
	// that the checkpoint, hashing and streaming need.
	defer p.sh.PauseReachChecks()()
	// A staging name beside the shard: the checkpoint hard-links the
	// shard's files, and a crash leaves a directory that start-up removes
	// (snapshot.CleanStaleRestores).
	dir := snapshot.StagingDir(p.sh.Dir())
	defer os.RemoveAll(dir)
	sub := path.Join("shards", strconv.Itoa(p.opts.Target.Shard))
	seq, points, err := p.sh.CheckpointCounted(ctx, filepath.Join(dir, filepath.FromSlash(sub)))
	if err != nil {
		return fmt.Errorf("cannot checkpoint the shard: %w", err)
	}
	checkpointed := time.Since(start)
	var firstByte time.Duration
	cc, err := p.opts.Env.Dial(s.peer)
	if err != nil {
		return err
	}
	send, closeAndRecv, err := p2p.OpenClientStream[InstallChunk, StatusResponse](ctx, cc, methodInstall)
	if err != nil {
		return err
	}
	cfg := p.opts.Config()
	m := &snapshot.Manifest{Kind: snapshot.KindShard, Collection: p.opts.Target.Collection, PeerID: p.opts.Self, Config: &cfg,
		Shards: []snapshot.ShardManifest{{ID: p.opts.Target.Shard, Dir: sub, LastSeq: seq, Points: points}}}
	pr, pw := io.Pipe()
	go func() {
		_, err := snapshot.WriteArchive(ctx, pw, m, dir, nil)
		pw.CloseWithError(err)
	}()
	defer pr.Close()
	t := p.opts.Target
	first := &InstallChunk{Target: &t, Epoch: p.sh.EpochOf(seq), Seq: seq}
	buf := make([]byte, chunkSize)
	pace := pacer{rate: p.opts.TransferRate}
	var total int64
	for {
		n, rerr := io.ReadFull(pr, buf)
		if firstByte == 0 {
			firstByte = time.Since(start)
		}
		if n > 0 {
			msg := &InstallChunk{Data: buf[:n]}
			if first != nil {
				first.Data, msg, first = buf[:n], first, nil
			}
			if err := send(msg); err != nil {
				return err
			}
			total += int64(n)
			if err := pace.wait(ctx, n); err != nil {
				return err
			}
		}
		if errors.Is(rerr, io.EOF) || errors.Is(rerr, io.ErrUnexpectedEOF) {
			break
		}
		if rerr != nil {
			return rerr
		}
	}
	streamed := time.Since(start)
	st, err := closeAndRecv()
	if err != nil {
		return err
	}
	d := time.Since(start)
	p.log.Info("checkpoint transferred", "peer", s.peer, "seq", seq, "points", points, "bytes", total,
		"checkpoint_s", checkpointed.Seconds(), "first_byte_s", firstByte.Seconds(), "streamed_s", streamed.Seconds(),
		"seconds", d.Seconds(), "mb_per_s", float64(total)/(1<<20)/d.Seconds())
	if p.opts.OnTransfer != nil {
		p.opts.OnTransfer(total, d)
	}
	p.mu.Lock()
	s.checkpointed = true
	p.mu.Unlock()
	s.ack(st.Seq)
	return nil
}
