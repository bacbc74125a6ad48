// Package api holds Shoal's data model: the Qdrant wire types (point ids,
// vectors, payloads, filters, requests and responses) in the shape of Qdrant's
// REST JSON, and the typed errors that every layer returns.
//
// It is the lingua franca between the service layer and its two adapters
// (REST and gRPC): REST decodes straight into these types, gRPC converts its
// protobuf messages into them. The package does no I/O and imports nothing of
// Shoal's.
//
// Payload values use encoding/json's generic types decoded with UseNumber:
// nil, bool, json.Number, string, []any and map[string]any. Every producer of
// payloads (REST, gRPC, storage) must hand over values of exactly these types
// so that filters and indexes see one representation.
package api
