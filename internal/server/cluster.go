package server

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"google.golang.org/grpc"

	"github.com/shoal-db/shoal/internal/api"
	"github.com/shoal-db/shoal/internal/cluster"
	"github.com/shoal-db/shoal/internal/collection"
	"github.com/shoal-db/shoal/internal/config"
	"github.com/shoal-db/shoal/internal/p2p"
	"github.com/shoal-db/shoal/internal/remote"
	"github.com/shoal-db/shoal/internal/replica"
	"github.com/shoal-db/shoal/internal/service"
	"github.com/shoal-db/shoal/internal/shard"
)

// clusterParts are what cluster mode adds to a server: the p2p server and
// its client pool, the Raft node and the shard server.
type clusterParts struct {
	pool   *p2p.Pool // control: Raft, metadata calls, pings
	bulk   *p2p.Pool // data: shard calls, replication, transfers
	p2pSrv *grpc.Server
	node   *cluster.Node
	ln     net.Listener
}

// advertise returns the host:port peers dial: cluster.advertise_uri, else
// this host's name, with the bound p2p port where the URI gives port 0.
func advertise(cfg config.Config, bound int) (string, error) {
	host, port := "", strconv.Itoa(bound)
	if cfg.Cluster.AdvertiseURI != "" {
		h, p, err := net.SplitHostPort(cluster.SeedAddr(cfg.Cluster.AdvertiseURI))
		if err != nil {
			return "", fmt.Errorf("cannot use cluster.advertise_uri %q: %w", cfg.Cluster.AdvertiseURI, err)
		}
		host = h
		if p != "0" {
			port = p
		}
	} else {
		h, err := os.Hostname()
		if err != nil {
			return "", fmt.Errorf("cannot name this node for its peers: set cluster.advertise_uri (--uri): %w", err)
		}
		host = h
	}
	return net.JoinHostPort(host, port), nil
}

// p2pOptions builds the peer authentication from the config.
func p2pOptions(cfg config.Config, s *Server, peerID uint64) (p2p.Options, error) {
	o := p2p.Options{PeerID: peerID, Logger: s.log.With("component", "p2p"), Registerer: s.reg,
		Insecure: cfg.Cluster.P2P.Insecure, Route: s.opts.PeerRoute,
		DialTimeout: msDuration(cfg.Cluster.ConnectionTimeoutMS)}
	if secret := cfg.ClusterSecret(); secret != "" {
		o.Secret = []byte(secret)
	}
	if cfg.Cluster.P2P.EnableTLS {
		cert, err := tls.LoadX509KeyPair(cfg.TLS.Cert, cfg.TLS.Key)
		if err != nil {
			return o, fmt.Errorf("cannot load the peer TLS certificate: %w", err)
		}
		pem, err := os.ReadFile(cfg.TLS.CACert)
		if err != nil {
			return o, fmt.Errorf("cannot read tls.ca_cert: %w", err)
		}
		roots := x509.NewCertPool()
		if !roots.AppendCertsFromPEM(pem) {
			return o, errors.New("cannot use tls.ca_cert: no PEM certificate found in " + cfg.TLS.CACert)
		}
		o.ServerTLS = &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert},
			ClientCAs: roots, ClientAuth: tls.RequireAndVerifyClientCert}
		o.ClientTLS = &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}, RootCAs: roots}
	}
	return o, nil
}

// newCluster builds the cluster parts; the service is built on the node
// afterwards (service.Options.Cluster), and registered as its listener.
//
// The peer port is bound here, not in Start, so that a node configured
// with port 0 (tests) knows the address it advertises.
func newCluster(cfg config.Config, s *Server, peerID uint64) (*clusterParts, error) {
	po, err := p2pOptions(cfg, s, peerID)
	if err != nil {
		return nil, err
	}
	ln := s.opts.P2PListener
	if ln == nil {
		if ln, err = net.Listen("tcp", net.JoinHostPort(cfg.P2PHost(), strconv.Itoa(cfg.Cluster.P2P.Port))); err != nil {
			return nil, fmt.Errorf("cannot listen for peers on cluster.p2p.port: %w", err)
		}
	}
	adv, err := advertise(cfg, ln.Addr().(*net.TCPAddr).Port)
	if err != nil {
		ln.Close()
		return nil, err
	}
	uri := "http://" + adv + "/"
	// Two connections per peer: pool carries Raft, the metadata calls and
	// liveness pings, bulk the data path (shard calls, replication,
	// checkpoint transfers), so that a transfer filling a connection's
	// flow-control window never delays a heartbeat.
	pool, err := p2p.NewPool(po)
	if err != nil {
		ln.Close()
		return nil, fmt.Errorf("cannot set up the peer port: %w", err)
	}
	bulk, err := p2p.NewPool(po)
	if err != nil {
		ln.Close()
		pool.Close()
		return nil, fmt.Errorf("cannot set up the peer port: %w", err)
	}
	srv, err := p2p.NewServer(po)
	if err != nil {
		ln.Close()
		pool.Close()
		bulk.Close()
		return nil, fmt.Errorf("cannot set up the peer port: %w", err)
	}
	node, err := cluster.New(cluster.Options{
		Dir:               filepath.Join(cfg.Storage.StoragePath, "raft"),
		PeerID:            peerID,
		Advertise:         adv,
		URI:               uri,
		Join:              cfg.Cluster.Join,
		BootstrapExpect:   cfg.Cluster.BootstrapExpect,
		Bootstrap:         s.opts.Bootstrap,
		Zone:              cfg.Cluster.Zone,
		Region:            cfg.Cluster.Region,
		Labels:            cfg.Cluster.Labels,
		Tick:              msDuration(cfg.Cluster.Consensus.TickPeriodMS),
		SnapshotThreshold: uint64(max(cfg.Cluster.Consensus.CompactWALEntries, 0)),
		Pool:              pool,
		Logger:            s.log.With("component", "cluster"),
		Registerer:        s.reg,
	})
	if err != nil {
		ln.Close()
		pool.Close()
		bulk.Close()
		return nil, err
	}
	node.Register(srv)
	return &clusterParts{pool: pool, bulk: bulk, p2pSrv: srv, node: node, ln: ln}, nil
}

// remoteShard returns the handle of a replica on another peer, dialled by
// the peer's current address in the metadata.
func (cp *clusterParts) remoteShard(t service.RemoteTarget) collection.Shard {
	return remote.NewClient(remote.Target{Collection: t.Collection, Generation: t.Generation, Shard: t.Shard}, t.Peer, cp.dialPeer)
}

// registerShards serves this node's replicas to the other peers.
func (cp *clusterParts) registerShards(svc *service.Service) {
	remote.NewServer(func(ctx context.Context, t remote.Target) (*shard.Shard, func(string) (api.Distance, error), func(), error) {
		return svc.LocateReadable(ctx, t.Collection, t.Generation, t.Shard)
	}, func(ctx context.Context, t remote.Target, op *api.UpdateOperation) (uint64, error) {
		return svc.PrimaryWrite(ctx, t.Collection, t.Generation, t.Shard, op)
	}).Register(cp.p2pSrv)
	replica.NewServer(svc.LocateReplica, svc.InstallReplica).
		WithCheckpoints(svc.CheckpointSource, svc.StageReplica, svc.UnstageReplicas, svc.LeaseStaged, svc.SnapshotLimiter()).Register(cp.p2pSrv)
}

// dialPeer returns a connection to a peer by its current address in the
// metadata.
func (cp *clusterParts) dialPeer(peer uint64) (*grpc.ClientConn, error) {
	p, ok := cp.node.State().Peers[peer]
	if !ok {
		return nil, api.ErrUnavailable("peer %d is not a member of the cluster", peer)
	}
	return cp.bulk.Conn(p.Addr)
}

// controlDial returns the control connection to a peer (liveness pings).
func (cp *clusterParts) controlDial(peer uint64) (*grpc.ClientConn, error) {
	p, ok := cp.node.State().Peers[peer]
	if !ok {
		return nil, api.ErrUnavailable("peer %d is not a member of the cluster", peer)
	}
	return cp.pool.Conn(p.Addr)
}

// start binds the peer port, serves it, and starts the node (Raft replays
// the metadata into the service, then formation runs in the background).
func (cp *clusterParts) start() error {
	go cp.p2pSrv.Serve(cp.ln)
	if err := cp.node.Start(); err != nil {
		cp.p2pSrv.Stop()
		return err
	}
	return nil
}

// close stops the node, then the peer port.
func (cp *clusterParts) close() error {
	err := cp.node.Close()
	cp.p2pSrv.Stop()
	cp.ln.Close()
	return errors.Join(err, cp.pool.Close(), cp.bulk.Close())
}

func msDuration(ms int) time.Duration { return time.Duration(ms) * time.Millisecond }
