// Package p2p is the plumbing of Shoal's node-to-node gRPC port (6335): an
// authenticated gRPC server, a pool of authenticated client connections, and
// generic helpers that turn plain Go structs and functions into gRPC services
// and calls without protoc.
//
// Why it exists: every cluster protocol (the Raft transport, metadata
// forwarding, shard forwarding, replication and transfers) needs the same
// things — authentication of the calling peer, a codec, metrics, error kinds
// that survive the wire — and none of them should re-implement that.
//
// Messages are ordinary Go structs encoded with encoding/json by a codec
// (CodecName) that is forced per call and per server, never registered
// globally; a message type may instead encode itself (WireMarshaler,
// WireUnmarshaler), for bulk data such as Raft log batches or vectors. Services are hand-written grpc.ServiceDesc values assembled with
// Unary, ServerStream, ClientStream, BidiStream and Service; callers use Call,
// OpenServerStream, OpenClientStream and OpenBidiStream on a connection from
// a Pool.
//
// Authentication (Options): with a shared Secret every RPC carries the
// metadata shoal-peer-id, shoal-ts (Unix milliseconds) and shoal-auth =
// hex(HMAC-SHA256(secret, "<peer_id>|<ts>|<full method>")), checked in
// constant time within ±60 s of the server's clock; with TLS the server
// requires and verifies client certificates. Both may be combined. A request
// that fails authentication is refused with codes.Unauthenticated before any
// handler runs and is counted in shoal_p2p_auth_failures_total. The secret
// authenticates but does not encrypt, and a captured request can be replayed
// within the skew window: use it on private networks or together with TLS.
//
// Errors: a handler's *api.Error travels as a gRPC status whose code comes
// from one table (kindCodes) and whose details carry the Kind, so the caller
// gets back an *api.Error with the same Kind and Message (errors.As works);
// any other failure arrives as an *api.Error too, its Kind derived from the
// status code, wrapping the gRPC status error (status.Code still works).
package p2p
