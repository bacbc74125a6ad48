// Package remote reaches shard replicas held by other peers. Client is a
// collection.Shard whose calls travel over the p2p port to the peer that
// holds the shard; Server answers them there from the local replica. A
// request names the collection, its generation (so that a replica of an
// earlier collection of the same name never answers) and the shard id.
package remote

import (
	"context"

	"google.golang.org/grpc"

	"github.com/shoal-db/shoal/internal/api"
	"github.com/shoal-db/shoal/internal/collection"
	"github.com/shoal-db/shoal/internal/p2p"
	"github.com/shoal-db/shoal/internal/shard"
)

const serviceName = "shoal.shard.Shards"

const (
	methodApply  = "/" + serviceName + "/Apply"
	methodCheck  = "/" + serviceName + "/Check"
	methodGet    = "/" + serviceName + "/Get"
	methodScroll = "/" + serviceName + "/Scroll"
	methodCount  = "/" + serviceName + "/Count"
	methodFacet  = "/" + serviceName + "/Facet"
	methodSample = "/" + serviceName + "/Sample"
	methodSearch = "/" + serviceName + "/Search"
	methodSparse = "/" + serviceName + "/SparseStats"
)

// SparseStatsRequest asks for a sparse vector's IDF statistics.
type SparseStatsRequest struct {
	Target
	Name    string   `json:"name"`
	Indices []uint32 `json:"indices"`
}

// SparseStatsResponse carries them.
type SparseStatsResponse struct {
	N  int   `json:"n"`
	DF []int `json:"df"`
}

// Target names one shard replica.
type Target struct {
	Collection string `json:"collection"`
	Generation uint64 `json:"generation"`
	Shard      int    `json:"shard"`
}

// ApplyRequest carries a write to a shard.
type ApplyRequest struct {
	Target
	Op *api.UpdateOperation `json:"op"`
}

// ApplyResponse returns the shard's sequence number for the write.
type ApplyResponse struct {
	Seq uint64 `json:"seq"`
}

// GetRequest reads points by id.
type GetRequest struct {
	Target
	IDs         []api.PointID        `json:"ids"`
	WithPayload *api.PayloadSelector `json:"with_payload,omitempty"`
	WithVector  *api.VectorSelector  `json:"with_vector,omitempty"`
}

// RecordsResponse returns records.
type RecordsResponse struct {
	Records []api.Record `json:"records"`
}

// ScrollRequest pages through a shard.
type ScrollRequest struct {
	Target
	Req shard.ScrollRequest `json:"req"`
}

// CountRequest counts points.
type CountRequest struct {
	Target
	Filter *api.Filter `json:"filter,omitempty"`
	Exact  bool        `json:"exact"`
}

// CountResponse returns a count.
type CountResponse struct {
	Count uint64 `json:"count"`
}

// FacetRequest counts the values of a payload key.
type FacetRequest struct {
	Target
	Key    string      `json:"key"`
	Filter *api.Filter `json:"filter,omitempty"`
	Limit  int         `json:"limit"`
	Exact  bool        `json:"exact"`
}

// FacetResponse returns facet hits.
type FacetResponse struct {
	Hits []api.FacetHit `json:"hits"`
}

// SampleRequest draws random point ids.
type SampleRequest struct {
	Target
	N      int         `json:"n"`
	Filter *api.Filter `json:"filter,omitempty"`
}

// SampleResponse returns point ids.
type SampleResponse struct {
	IDs []api.PointID `json:"ids"`
}

// SearchRequest is a vector search on a shard.
type SearchRequest struct {
	Target
	Req shard.SearchRequest `json:"req"`
}

// SearchResponse returns scored points.
type SearchResponse struct {
	Points []api.ScoredPoint `json:"points"`
}

// Dialer returns a connection to a peer by id.
type Dialer func(peer uint64) (*grpc.ClientConn, error)

// Client is a shard held by another peer.
type Client struct {
	target Target
	peer   uint64
	dial   Dialer
}

var _ collection.Shard = (*Client)(nil)

// NewClient returns the handle of shard t on peer.
func NewClient(t Target, peer uint64, dial Dialer) *Client {
	return &Client{target: t, peer: peer, dial: dial}
}

func call[Req, Resp any](ctx context.Context, c *Client, method string, req *Req) (*Resp, error) {
	cc, err := c.dial(c.peer)
	if err != nil {
		return nil, err
	}
	return p2p.Call[Req, Resp](ctx, cc, method, req)
}

// Apply implements collection.Shard.
func (c *Client) Apply(ctx context.Context, op *api.UpdateOperation) (uint64, error) {
	r, err := call[ApplyRequest, ApplyResponse](ctx, c, methodApply, &ApplyRequest{Target: c.target, Op: op})
	if err != nil {
		return 0, err
	}
	return r.Seq, nil
}

// Check validates a write against the replica's current state without
// applying it: the first phase of a write over several shards.
func (c *Client) Check(ctx context.Context, op *api.UpdateOperation) error {
	_, err := call[ApplyRequest, ApplyResponse](ctx, c, methodCheck, &ApplyRequest{Target: c.target, Op: op})
	return err
}

// Get implements collection.Shard.
func (c *Client) Get(ctx context.Context, ids []api.PointID, wp *api.PayloadSelector, wv *api.VectorSelector) ([]api.Record, error) {
	r, err := call[GetRequest, RecordsResponse](ctx, c, methodGet, &GetRequest{Target: c.target, IDs: ids, WithPayload: wp, WithVector: wv})
	if err != nil {
		return nil, err
	}
	return nonNil(r.Records), nil
}

// Scroll implements collection.Shard.
func (c *Client) Scroll(ctx context.Context, req shard.ScrollRequest) ([]api.Record, error) {
	r, err := call[ScrollRequest, RecordsResponse](ctx, c, methodScroll, &ScrollRequest{Target: c.target, Req: req})
	if err != nil {
		return nil, err
	}
	return nonNil(r.Records), nil
}

// Count implements collection.Shard.
func (c *Client) Count(ctx context.Context, f *api.Filter, exact bool) (uint64, error) {
	r, err := call[CountRequest, CountResponse](ctx, c, methodCount, &CountRequest{Target: c.target, Filter: f, Exact: exact})
	if err != nil {
		return 0, err
	}
	return r.Count, nil
}

// Facet implements collection.Shard.
func (c *Client) Facet(ctx context.Context, key string, f *api.Filter, limit int, exact bool) ([]api.FacetHit, error) {
	r, err := call[FacetRequest, FacetResponse](ctx, c, methodFacet, &FacetRequest{Target: c.target, Key: key, Filter: f, Limit: limit, Exact: exact})
	if err != nil {
		return nil, err
	}
	return nonNil(r.Hits), nil
}

// Sample implements collection.Shard.
func (c *Client) Sample(ctx context.Context, n int, f *api.Filter) ([]api.PointID, error) {
	r, err := call[SampleRequest, SampleResponse](ctx, c, methodSample, &SampleRequest{Target: c.target, N: n, Filter: f})
	if err != nil {
		return nil, err
	}
	return nonNil(r.IDs), nil
}

// Search implements collection.Shard.
func (c *Client) Search(ctx context.Context, req shard.SearchRequest) ([]api.ScoredPoint, error) {
	req.Scorer = nil // travels as req.Custom
	r, err := call[SearchRequest, SearchResponse](ctx, c, methodSearch, &SearchRequest{Target: c.target, Req: req})
	if err != nil {
		return nil, err
	}
	return nonNil(r.Points), nil
}

// SparseStats implements collection.Shard.
func (c *Client) SparseStats(ctx context.Context, name string, indices []uint32) (int, []int, error) {
	r, err := call[SparseStatsRequest, SparseStatsResponse](ctx, c, methodSparse, &SparseStatsRequest{Target: c.target, Name: name, Indices: indices})
	if err != nil {
		return 0, nil, err
	}
	return r.N, r.DF, nil
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// Locator finds the local replica a request names. The returned release
// must be called when the call is done; a missing collection, generation
// or local replica is an error.
type Locator func(ctx context.Context, t Target) (s *shard.Shard, dist func(using string) (api.Distance, error), release func(), err error)

// Writer applies a write forwarded to the shard's primary (its
// replication path).
type Writer func(ctx context.Context, t Target, op *api.UpdateOperation) (uint64, error)

// Server answers shard calls from local replicas.
type Server struct {
	locate Locator
	write  Writer
}

// NewServer returns a server that finds replicas with locate and applies
// forwarded writes with write (nil: on the local replica directly).
func NewServer(locate Locator, write Writer) *Server { return &Server{locate: locate, write: write} }

// Register adds the Shards service to the p2p server.
func (s *Server) Register(gs *grpc.Server) {
	gs.RegisterService(p2p.Service(serviceName, []grpc.MethodDesc{
		p2p.Unary("Apply", func(ctx context.Context, r *ApplyRequest) (*ApplyResponse, error) {
			if s.write != nil {
				seq, err := s.write(ctx, r.Target, r.Op)
				if err != nil {
					return nil, err
				}
				return &ApplyResponse{Seq: seq}, nil
			}
			return with(s, ctx, r.Target, func(sh *shard.Shard, _ func(string) (api.Distance, error)) (*ApplyResponse, error) {
				seq, err := sh.Apply(ctx, r.Op)
				return &ApplyResponse{Seq: seq}, err
			})
		}),
		p2p.Unary("Check", func(ctx context.Context, r *ApplyRequest) (*ApplyResponse, error) {
			return with(s, ctx, r.Target, func(sh *shard.Shard, _ func(string) (api.Distance, error)) (*ApplyResponse, error) {
				pd, err := sh.Prepare(ctx, r.Op)
				if err != nil {
					return nil, err
				}
				pd.Abort()
				return &ApplyResponse{}, nil
			})
		}),
		p2p.Unary("Get", func(ctx context.Context, r *GetRequest) (*RecordsResponse, error) {
			return with(s, ctx, r.Target, func(sh *shard.Shard, _ func(string) (api.Distance, error)) (*RecordsResponse, error) {
				recs, err := sh.Get(ctx, r.IDs, r.WithPayload, r.WithVector)
				return &RecordsResponse{Records: recs}, err
			})
		}),
		p2p.Unary("Scroll", func(ctx context.Context, r *ScrollRequest) (*RecordsResponse, error) {
			return with(s, ctx, r.Target, func(sh *shard.Shard, _ func(string) (api.Distance, error)) (*RecordsResponse, error) {
				recs, err := sh.Scroll(ctx, r.Req)
				return &RecordsResponse{Records: recs}, err
			})
		}),
		p2p.Unary("Count", func(ctx context.Context, r *CountRequest) (*CountResponse, error) {
			return with(s, ctx, r.Target, func(sh *shard.Shard, _ func(string) (api.Distance, error)) (*CountResponse, error) {
				n, err := sh.Count(ctx, r.Filter, r.Exact)
				return &CountResponse{Count: n}, err
			})
		}),
		p2p.Unary("Facet", func(ctx context.Context, r *FacetRequest) (*FacetResponse, error) {
			return with(s, ctx, r.Target, func(sh *shard.Shard, _ func(string) (api.Distance, error)) (*FacetResponse, error) {
				hits, err := sh.Facet(ctx, r.Key, r.Filter, r.Limit, r.Exact)
				return &FacetResponse{Hits: hits}, err
			})
		}),
		p2p.Unary("Sample", func(ctx context.Context, r *SampleRequest) (*SampleResponse, error) {
			return with(s, ctx, r.Target, func(sh *shard.Shard, _ func(string) (api.Distance, error)) (*SampleResponse, error) {
				ids, err := sh.Sample(ctx, r.N, r.Filter)
				return &SampleResponse{IDs: ids}, err
			})
		}),
		p2p.Unary("SparseStats", func(ctx context.Context, r *SparseStatsRequest) (*SparseStatsResponse, error) {
			return with(s, ctx, r.Target, func(sh *shard.Shard, _ func(string) (api.Distance, error)) (*SparseStatsResponse, error) {
				n, df, err := sh.SparseStats(ctx, r.Name, r.Indices)
				return &SparseStatsResponse{N: n, DF: df}, err
			})
		}),
		p2p.Unary("Search", func(ctx context.Context, r *SearchRequest) (*SearchResponse, error) {
			return with(s, ctx, r.Target, func(sh *shard.Shard, dist func(string) (api.Distance, error)) (*SearchResponse, error) {
				req := r.Req
				if req.Custom != nil {
					d, err := dist(req.Using)
					if err != nil {
						return nil, err
					}
					if req.Scorer = collection.CustomScorer(d, req.Custom); req.Scorer == nil {
						return nil, api.ErrBadInput("unknown custom score %q", req.Custom.Kind)
					}
				}
				pts, err := sh.Search(ctx, req)
				return &SearchResponse{Points: pts}, err
			})
		}),
	}, nil), struct{}{})
}

func with[Resp any](s *Server, ctx context.Context, t Target, fn func(*shard.Shard, func(string) (api.Distance, error)) (*Resp, error)) (*Resp, error) {
	sh, dist, release, err := s.locate(ctx, t)
	if err != nil {
		return nil, err
	}
	defer release()
	return fn(sh, dist)
}
