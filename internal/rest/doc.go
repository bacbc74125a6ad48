// Package rest is Shoal's Qdrant-compatible HTTP API (port 6333): a thin
// adapter that authenticates each request, decodes its body into package
// api's types (refusing members the types do not know), calls service.API,
// and encodes the answer in Qdrant's JSON envelope. It holds no business
// logic: validation, access checks and limits live in the service layer and
// in package api's checks the gRPC adapter shares, and the one table that
// turns an api.Kind into an HTTP status lives in envelope.go.
//
// Routes follow Qdrant v1.19's OpenAPI spec (testdata/qdrant-openapi.json)
// plus the deprecated search, recommend and discover routes that Qdrant still
// serves. Cluster routes answer as a standalone Qdrant node does; the
// snapshot routes (snapshots.go) call Options.Snapshots, a SnapshotManager,
// with the same routing, envelope and error table as every other route.
package rest
