package cli

import (
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/shoal-db/shoal/internal/api"
)

// newPeerCommand is `shoal peer`: list a running cluster's peers, drain
// one (its replicas move to the others, then it leaves the cluster) or
// remove one at once with --force.
func newPeerCommand(env *Env) *cobra.Command {
	f := &snapshotFlags{}
	cmd := &cobra.Command{
		Use:   "peer",
		Short: "List, drain and remove the peers of a running cluster",
	}
	pf := cmd.PersistentFlags()
	pf.StringVar(&f.url, "url", envOr(env, "SHOAL_URL", "http://localhost:6333"), "REST address of any member (env SHOAL_URL)")
	pf.StringVar(&f.apiKey, "api-key", envOr(env, "SHOAL_API_KEY", ""), "API key (env SHOAL_API_KEY)")
	pf.DurationVar(&f.timeout, "timeout", 0, "give up after this long (0: no limit)")
	c := &snapshotClient{env: env, f: f, http: &http.Client{}}

	list := &cobra.Command{Use: "list", Short: "List the peers: zone, region, replicas, liveness, draining", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, cancel := c.ctx(cmd.Context())
			defer cancel()
			var st api.ClusterStatus
			if err := c.call(ctx, http.MethodGet, "/cluster", nil, "", &st); err != nil {
				return err
			}
			ids := make([]string, 0, len(st.Peers))
			for id := range st.Peers {
				ids = append(ids, id)
			}
			sort.Strings(ids)
			w := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "PEER\tURI\tREGION\tZONE\tREPLICAS\tLIVENESS\tDRAINING\tROLE")
			for _, id := range ids {
				p := st.Peers[id]
				role := ""
				if st.RaftInfo.Leader != nil && strconv.FormatUint(*st.RaftInfo.Leader, 10) == id {
					role = "leader"
				}
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%d\t%s\t%v\t%s\n", id, p.URI, p.Region, p.Zone, p.Replicas, p.Liveness, p.Draining, role)
			}
			return w.Flush()
		}}
	var wait time.Duration
	drain := &cobra.Command{Use: "drain PEER_ID", Short: "Move a peer's replicas to the others, then remove it from the cluster", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return removePeer(cmd, c, args[0], false, wait)
		}}
	drain.Flags().DurationVar(&wait, "wait", 10*time.Minute, "how long the server waits for the drain before answering (the drain goes on after)")
	var force bool
	remove := &cobra.Command{Use: "remove PEER_ID", Short: "Remove a peer: drained first, or at once with its replicas with --force", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return removePeer(cmd, c, args[0], force, wait)
		}}
	remove.Flags().BoolVar(&force, "force", false, "remove the peer at once, with the replicas it holds")
	remove.Flags().DurationVar(&wait, "wait", 10*time.Minute, "how long the server waits for a drain before answering")
	cmd.AddCommand(list, drain, remove)
	return cmd
}

func removePeer(cmd *cobra.Command, c *snapshotClient, id string, force bool, wait time.Duration) error {
	if _, err := strconv.ParseUint(id, 10, 64); err != nil {
		return usageError(fmt.Errorf("PEER_ID must be an unsigned integer, got %q", id))
	}
	ctx, cancel := c.ctx(cmd.Context())
	defer cancel()
	path := fmt.Sprintf("/cluster/peer/%s?timeout=%d&force=%v", id, max(int(wait.Seconds()), 1), force)
	if err := c.call(ctx, http.MethodDelete, path, nil, "", nil); err != nil {
		return err
	}
	fmt.Fprintf(c.env.Stdout, "peer %s removed\n", id)
	return nil
}
