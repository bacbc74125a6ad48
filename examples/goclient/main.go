// Command goclient shows the official Qdrant Go client
// (github.com/qdrant/go-client) working against Shoal's gRPC API: it
// connects, creates a collection, upserts a few points with payloads, runs
// a filtered nearest-neighbour query and prints the hits.
//
//	go run ./examples/goclient -addr 127.0.0.1:6334 [-api-key KEY] [-collection NAME]
package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"os"
	"strconv"
	"time"

	"github.com/qdrant/go-client/qdrant"
)

func main() {
	addr := flag.String("addr", envOr("SHOAL_GRPC_ADDR", "127.0.0.1:6334"), "host:port of the gRPC API (env SHOAL_GRPC_ADDR)")
	apiKey := flag.String("api-key", os.Getenv("SHOAL_API_KEY"), "API key, if the server requires one (env SHOAL_API_KEY)")
	collection := flag.String("collection", "example_cities", "collection to (re)create")
	flag.Parse()
	if err := run(*addr, *apiKey, *collection); err != nil {
		fmt.Fprintln(os.Stderr, "goclient:", err)
		os.Exit(1)
	}
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

func run(addr, apiKey, collection string) error {
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("cannot parse address %q: %w", addr, err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil {
		return fmt.Errorf("cannot parse port %q: %w", portStr, err)
	}
	client, err := qdrant.NewClient(&qdrant.Config{Host: host, Port: port, APIKey: apiKey, PoolSize: 1})
	if err != nil {
		return fmt.Errorf("cannot connect: %w", err)
	}
	defer client.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	health, err := client.HealthCheck(ctx)
	if err != nil {
		return fmt.Errorf("cannot check health: %w", err)
	}
	fmt.Printf("connected to %s (Qdrant API %s)\n", health.GetTitle(), health.GetVersion())

	// Start from a fresh collection of 4-dimensional vectors.
	if exists, err := client.CollectionExists(ctx, collection); err != nil {
		return fmt.Errorf("cannot check collection: %w", err)
	} else if exists {
		if err := client.DeleteCollection(ctx, collection); err != nil {
			return fmt.Errorf("cannot delete collection: %w", err)
		}
	}
	err = client.CreateCollection(ctx, &qdrant.CreateCollection{
		CollectionName: collection,
		VectorsConfig:  qdrant.NewVectorsConfig(&qdrant.VectorParams{Size: 4, Distance: qdrant.Distance_Dot}),
	})
	if err != nil {
		return fmt.Errorf("cannot create collection: %w", err)
	}
	fmt.Printf("created collection %s\n", collection)

	cities := []struct {
		id      uint64
		name    string
		country string
		vector  []float32
	}{
		{1, "Berlin", "DE", []float32{0.05, 0.61, 0.76, 0.74}},
		{2, "London", "UK", []float32{0.19, 0.81, 0.75, 0.11}},
		{3, "Moscow", "RU", []float32{0.36, 0.55, 0.47, 0.94}},
		{4, "New York", "US", []float32{0.18, 0.01, 0.85, 0.80}},
		{5, "Beijing", "CN", []float32{0.24, 0.18, 0.22, 0.44}},
		{6, "Munich", "DE", []float32{0.35, 0.08, 0.11, 0.44}},
	}
	points := make([]*qdrant.PointStruct, len(cities))
	for i, c := range cities {
		points[i] = &qdrant.PointStruct{
			Id:      qdrant.NewIDNum(c.id),
			Vectors: qdrant.NewVectors(c.vector...),
			Payload: qdrant.NewValueMap(map[string]any{"city": c.name, "country": c.country}),
		}
	}
	res, err := client.Upsert(ctx, &qdrant.UpsertPoints{CollectionName: collection, Wait: qdrant.PtrOf(true), Points: points})
	if err != nil {
		return fmt.Errorf("cannot upsert: %w", err)
	}
	fmt.Printf("upserted %d points: %s\n", len(points), res.GetStatus())

	query := []float32{0.2, 0.1, 0.9, 0.7}
	hits, err := client.Query(ctx, &qdrant.QueryPoints{
		CollectionName: collection,
		Query:          qdrant.NewQuery(query...),
		Limit:          qdrant.PtrOf(uint64(3)),
		WithPayload:    qdrant.NewWithPayload(true),
	})
	if err != nil {
		return fmt.Errorf("cannot query: %w", err)
	}
	fmt.Println("nearest to", query)
	for _, h := range hits {
		fmt.Printf("  id=%d score=%.4f city=%s\n", h.GetId().GetNum(), h.GetScore(), h.GetPayload()["city"].GetStringValue())
	}

	hits, err = client.Query(ctx, &qdrant.QueryPoints{
		CollectionName: collection,
		Query:          qdrant.NewQuery(query...),
		Filter:         &qdrant.Filter{Must: []*qdrant.Condition{qdrant.NewMatch("country", "DE")}},
		Limit:          qdrant.PtrOf(uint64(3)),
		WithPayload:    qdrant.NewWithPayload(true),
	})
	if err != nil {
		return fmt.Errorf("cannot query with filter: %w", err)
	}
	fmt.Println("nearest in country=DE")
	for _, h := range hits {
		fmt.Printf("  id=%d score=%.4f city=%s\n", h.GetId().GetNum(), h.GetScore(), h.GetPayload()["city"].GetStringValue())
	}
	return nil
}
