package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/shoal-db/shoal/internal/snapshot"
)

// clusterSnapshotsPath is the REST path of cluster snapshots.
const clusterSnapshotsPath = "/cluster/snapshots"

// newClusterSnapshotCommand is `shoal snapshot cluster ...`: snapshots of
// a whole cluster through any member's REST API.
func newClusterSnapshotCommand(c *snapshotClient) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "cluster",
		Short: "Create, list, download, delete and restore snapshots of a whole cluster",
		Long: "Cluster snapshots hold every collection of a cluster (metadata, placement, each shard once, taken from an Active\n" +
			"replica while writes go on). They are stored in the snapshot store of the node that takes them (its snapshots\n" +
			"directory, or S3 with storage.snapshots_config).",
	}
	var labels []string
	create := &cobra.Command{Use: "create", Short: "Snapshot the whole cluster", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return c.clusterCreate(cmd.Context(), labels) }}
	create.Flags().StringArrayVarP(&labels, "label", "l", nil, "label KEY=VALUE stored with the snapshot (repeatable)")

	var output string
	download := &cobra.Command{Use: "download NAME", Short: "Download a cluster snapshot (and check its checksum)", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return c.downloadFrom(cmd.Context(), clusterSnapshotsPath, args[0], output)
		}}
	download.Flags().StringVarP(&output, "output", "o", "", "file to write (default: NAME in the current directory)")

	var location, checksum, collection, as string
	restore := &cobra.Command{Use: "restore", Short: "Restore a cluster snapshot (or one collection of it) into the cluster", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return c.clusterRestore(cmd.Context(), location, checksum, collection, as)
		}}
	restore.Flags().StringVar(&location, "location", "", "http(s) URL, cluster snapshot name, or file (uploaded when on this machine) (required)")
	restore.Flags().StringVar(&checksum, "checksum", "", "expected SHA-256 of the archive")
	restore.Flags().StringVar(&collection, "only", "", "restore only this collection (default: every collection and the aliases)")
	restore.Flags().StringVar(&as, "as", "", "with --only: restore the collection under this name")

	var lostShard int
	restoreLost := &cobra.Command{Use: "restore-lost-shard COLLECTION", Short: "Restore a shard that lost every replica from the newest snapshot holding it",
		Long: "Restores one shard of a collection whose every replica is lost (all its nodes gone) onto live nodes, from the\n" +
			"newest cluster or collection snapshot in the node's snapshot store that holds it, and reports the data loss\n" +
			"window: writes to the shard after the snapshot was taken are lost. Refused while the shard has an Active\n" +
			"replica on a live node, or when no snapshot holds it.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return c.restoreLostShard(cmd.Context(), args[0], lostShard)
		}}
	restoreLost.Flags().IntVar(&lostShard, "shard", -1, "the shard id (required)")

	cmd.AddCommand(create, download, restore, restoreLost,
		&cobra.Command{Use: "list", Short: "List cluster snapshots with their labels", Args: cobra.NoArgs,
			RunE: func(cmd *cobra.Command, _ []string) error { return c.clusterList(cmd.Context()) }},
		&cobra.Command{Use: "delete NAME", Short: "Delete a cluster snapshot", Args: cobra.ExactArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error { return c.clusterDelete(cmd.Context(), args[0]) }},
	)
	return cmd
}

// parseLabels reads KEY=VALUE flags.
func parseLabels(kvs []string) (map[string]string, error) {
	out := map[string]string{}
	for _, kv := range kvs {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, usageError(fmt.Errorf("invalid --label %q: want KEY=VALUE", kv))
		}
		out[k] = v
	}
	return out, nil
}

func (c *snapshotClient) clusterCreate(ctx context.Context, kvs []string) error {
	labels, err := parseLabels(kvs)
	if err != nil {
		return err
	}
	b, _ := json.Marshal(map[string]any{"labels": labels})
	ctx, cancel := c.ctx(ctx)
	defer cancel()
	var s snapshot.ClusterSnapshot
	if err := c.call(ctx, http.MethodPost, clusterSnapshotsPath+"?wait=true", bytes.NewReader(b), "application/json", &s); err != nil {
		return err
	}
	fmt.Fprintf(c.env.Stdout, "created %s (%d collections, %d points, %d bytes, sha256 %s)\n", s.Name, len(s.Collections), s.Points, s.Size, s.Checksum)
	return nil
}

func (c *snapshotClient) clusterList(ctx context.Context) error {
	ctx, cancel := c.ctx(ctx)
	defer cancel()
	var ss []snapshot.ClusterSnapshot
	if err := c.call(ctx, http.MethodGet, clusterSnapshotsPath, nil, "", &ss); err != nil {
		return err
	}
	tw := tabwriter.NewWriter(c.env.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tCREATED\tSIZE\tCOLLECTIONS\tPOINTS\tLABELS")
	for _, s := range ss {
		var ls []string
		for k, v := range s.Labels {
			ls = append(ls, k+"="+v)
		}
		sort.Strings(ls)
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%d\t%s\n", s.Name, s.CreationTime, s.Size, strings.Join(s.Collections, ","), s.Points, strings.Join(ls, ","))
	}
	return tw.Flush()
}

func (c *snapshotClient) clusterDelete(ctx context.Context, name string) error {
	ctx, cancel := c.ctx(ctx)
	defer cancel()
	if err := c.call(ctx, http.MethodDelete, clusterSnapshotsPath+"/"+url.PathEscape(name)+"?wait=true", nil, "", nil); err != nil {
		return err
	}
	fmt.Fprintf(c.env.Stdout, "deleted %s\n", name)
	return nil
}

func (c *snapshotClient) clusterRestore(ctx context.Context, location, checksum, collection, as string) error {
	if location == "" {
		return usageError(errors.New("--location is required"))
	}
	if as != "" && collection == "" {
		return usageError(errors.New("--as needs --only"))
	}
	body := map[string]any{"location": location}
	for k, v := range map[string]string{"checksum": checksum, "collection": collection, "as": as} {
		if v != "" {
			body[k] = v
		}
	}
	var res struct {
		Restored []string `json:"restored"`
		Points   uint64   `json:"points"`
	}
	if file, ok := localSnapshotFile(location); ok {
		q := url.Values{"wait": {"true"}}
		for k, v := range map[string]string{"checksum": checksum, "collection": collection, "as": as} {
			if v != "" {
				q.Set(k, v)
			}
		}
		if _, err := c.uploadFile(ctx, clusterSnapshotsPath+"/upload", file, q, &res); err != nil {
			return err
		}
		fmt.Fprintf(c.env.Stdout, "restored %s (%d points) from %s (uploaded)\n", strings.Join(res.Restored, ", "), res.Points, file)
		return nil
	}
	b, _ := json.Marshal(body)
	ctx, cancel := c.ctx(ctx)
	defer cancel()
	if err := c.call(ctx, http.MethodPost, clusterSnapshotsPath+"/recover?wait=true", bytes.NewReader(b), "application/json", &res); err != nil {
		return err
	}
	fmt.Fprintf(c.env.Stdout, "restored %s (%d points) from %s\n", strings.Join(res.Restored, ", "), res.Points, location)
	return nil
}

func (c *snapshotClient) restoreLostShard(ctx context.Context, collection string, shardID int) error {
	if shardID < 0 {
		return usageError(errors.New("--shard is required"))
	}
	b, _ := json.Marshal(map[string]any{"collection": collection, "shard_id": shardID})
	ctx, cancel := c.ctx(ctx)
	defer cancel()
	var rep snapshot.LostShardReport
	if err := c.call(ctx, http.MethodPost, clusterSnapshotsPath+"/recover-lost-shard", bytes.NewReader(b), "application/json", &rep); err != nil {
		return err
	}
	fmt.Fprintf(c.env.Stdout, "restored shard %d of %s (%d points, last operation %d) onto peers %v from %s snapshot %s taken %s\n",
		rep.ShardID, rep.Collection, rep.Points, rep.LastSeq, rep.Peers, rep.Kind, rep.Snapshot, rep.SnapshotTime.Format(time.RFC3339))
	fmt.Fprintf(c.env.Stdout, "data loss window: %.0f s (writes to the shard after the snapshot are lost)\n", rep.DataLossWindowSeconds)
	return nil
}
