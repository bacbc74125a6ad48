package server

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/shoal-db/shoal/internal/config"
)

// TestECSMetadata serves the ECS task metadata document (the fields a
// node reads, in the layout of the v4 endpoint) on a real loopback
// listener: unset zone, region and advertised address come from it; set
// ones stay; off ECS nothing changes; a failing endpoint is an error.
func TestECSMetadata(t *testing.T) {
	doc := `{"Cluster":"shoal","TaskARN":"arn:aws:ecs:eu-west-1:1:task/shoal/abc","AvailabilityZone":"eu-west-1b",
	  "Containers":[{"Name":"shoal","Networks":[{"NetworkMode":"awsvpc","IPv4Addresses":["10.0.2.17"]}]}]}`
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v4/abc/task" {
			http.NotFound(w, r)
			return
		}
		w.Write([]byte(doc))
	}))
	defer srv.Close()
	env := func(uri string) func(string) string {
		return func(k string) string {
			if k == ecsMetadataEnv {
				return uri
			}
			return ""
		}
	}
	cfg := config.Default()
	if err := applyECSMetadata(context.Background(), &cfg, env(srv.URL+"/v4/abc")); err != nil {
		t.Fatal(err)
	}
	if cfg.Cluster.Zone != "eu-west-1b" || cfg.Cluster.Region != "eu-west-1" || cfg.Cluster.AdvertiseURI != "http://10.0.2.17:6335" {
		t.Fatalf("%+v", cfg.Cluster)
	}
	cfg = config.Default()
	cfg.Cluster.Zone, cfg.Cluster.AdvertiseURI = "z9", "http://node1:6335"
	if err := applyECSMetadata(context.Background(), &cfg, env(srv.URL+"/v4/abc/")); err != nil {
		t.Fatal(err)
	}
	if cfg.Cluster.Zone != "z9" || cfg.Cluster.Region != "eu-west-1" || cfg.Cluster.AdvertiseURI != "http://node1:6335" {
		t.Fatalf("set keys changed: %+v", cfg.Cluster)
	}
	cfg = config.Default()
	if err := applyECSMetadata(context.Background(), &cfg, env("")); err != nil || cfg.Cluster.Zone != "" || cfg.Cluster.AdvertiseURI != "" {
		t.Fatalf("off ECS: %v %+v", err, cfg.Cluster)
	}
	if err := applyECSMetadata(context.Background(), &cfg, env(srv.URL+"/v4/missing")); err == nil || !strings.Contains(err.Error(), "404") {
		t.Fatalf("failing endpoint: %v", err)
	}
}
