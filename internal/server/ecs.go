package server

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/shoal-db/shoal/internal/config"
)

// ecsMetadataEnv names the variable Amazon ECS sets in every container to
// the task metadata endpoint (version 4).
const ecsMetadataEnv = "ECS_CONTAINER_METADATA_URI_V4"

// ecsTask is the part of the ECS task metadata (GET ${uri}/task) a node
// uses.
type ecsTask struct {
	AvailabilityZone string `json:"AvailabilityZone"`
	Containers       []struct {
		Networks []struct {
			IPv4Addresses []string `json:"IPv4Addresses"`
		} `json:"Networks"`
	} `json:"Containers"`
}

// applyECSMetadata fills cluster.zone, cluster.region and
// cluster.advertise_uri, where the config leaves them unset, from the ECS
// task metadata when the node runs on Amazon ECS (getenv(ecsMetadataEnv)
// is set): the zone is the task's availability zone, the region that zone
// without its letter, and the advertised address the task's first IPv4
// address (awsvpc networking) with the peer port. Off ECS it changes
// nothing.
func applyECSMetadata(ctx context.Context, cfg *config.Config, getenv func(string) string) error {
	uri := getenv(ecsMetadataEnv)
	if uri == "" || (cfg.Cluster.Zone != "" && cfg.Cluster.Region != "" && cfg.Cluster.AdvertiseURI != "") {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(uri, "/")+"/task", nil)
	if err != nil {
		return fmt.Errorf("cannot read the ECS task metadata (%s): %w", ecsMetadataEnv, err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("cannot read the ECS task metadata (%s): %w", ecsMetadataEnv, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("cannot read the ECS task metadata (%s): %s", ecsMetadataEnv, resp.Status)
	}
	var t ecsTask
	if err := json.NewDecoder(resp.Body).Decode(&t); err != nil {
		return fmt.Errorf("cannot read the ECS task metadata (%s): %w", ecsMetadataEnv, err)
	}
	if cfg.Cluster.Zone == "" {
		cfg.Cluster.Zone = t.AvailabilityZone
	}
	if cfg.Cluster.Region == "" && len(t.AvailabilityZone) > 1 {
		cfg.Cluster.Region = t.AvailabilityZone[:len(t.AvailabilityZone)-1]
	}
	if cfg.Cluster.AdvertiseURI == "" {
		for _, c := range t.Containers {
			for _, n := range c.Networks {
				if len(n.IPv4Addresses) > 0 {
					cfg.Cluster.AdvertiseURI = "http://" + net.JoinHostPort(n.IPv4Addresses[0], fmt.Sprint(cfg.Cluster.P2P.Port))
					return nil
				}
			}
		}
	}
	return nil
}
