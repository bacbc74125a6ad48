package cli

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"

	"github.com/shoal-db/shoal/internal/durable"
	"github.com/shoal-db/shoal/internal/service"
	"github.com/shoal-db/shoal/internal/snapshot"
)

// snapshotFlags address a running server's snapshot API.
type snapshotFlags struct {
	url        string
	apiKey     string
	collection string
	shard      int
	full       bool
	quiet      bool
	timeout    time.Duration
}

// snapshotClient talks to the snapshot REST API of a running server.
type snapshotClient struct {
	env  *Env
	f    *snapshotFlags
	http *http.Client
}

func newSnapshotCommand(env *Env) *cobra.Command {
	f := &snapshotFlags{}
	cmd := &cobra.Command{
		Use:   "snapshot",
		Short: "List, create, download, upload and restore snapshots of a running server",
		Long: "Manage snapshots through a running server's REST API (Qdrant-compatible).\n" +
			"Collection snapshots need --collection; add --shard for one shard, or use --full for full-storage snapshots.",
	}
	pf := cmd.PersistentFlags()
	pf.StringVar(&f.url, "url", envOr(env, "SHOAL_URL", "http://localhost:6333"), "REST address of the server (env SHOAL_URL)")
	pf.StringVar(&f.apiKey, "api-key", envOr(env, "SHOAL_API_KEY", ""), "API key (env SHOAL_API_KEY)")
	pf.StringVarP(&f.collection, "collection", "c", "", "collection name")
	pf.IntVar(&f.shard, "shard", -1, "shard id (shard snapshots)")
	pf.BoolVar(&f.full, "full", false, "full-storage snapshots instead of a collection's")
	pf.BoolVarP(&f.quiet, "quiet", "q", false, "no progress bars")
	pf.DurationVar(&f.timeout, "timeout", 0, "give up after this long (0: no limit)")
	c := &snapshotClient{env: env, f: f, http: &http.Client{}}

	var output string
	download := &cobra.Command{
		Use:   "download NAME",
		Short: "Download a snapshot (and check its checksum)",
		Args:  cobra.ExactArgs(1),
		RunE:  func(cmd *cobra.Command, args []string) error { return c.download(cmd.Context(), args[0], output) },
	}
	download.Flags().StringVarP(&output, "output", "o", "", "file to write (default: NAME in the current directory)")

	var priority, checksum, location string
	upload := &cobra.Command{
		Use:   "upload FILE",
		Short: "Upload a snapshot file and recover the collection (or shard) from it",
		Args:  cobra.ExactArgs(1),
		RunE:  func(cmd *cobra.Command, args []string) error { return c.upload(cmd.Context(), args[0], priority) },
	}
	upload.Flags().StringVar(&priority, "priority", "", "replica, snapshot or no_sync")
	restore := &cobra.Command{
		Use:   "restore",
		Short: "Recover a collection (or shard) from a URL, a snapshot name, or a file (uploaded when it is on this machine)",
		Long: "Recover a collection (or shard) from --location: an http(s) URL the server downloads, the name of one of its\n" +
			"snapshots, or a file. A file on this machine (file:///path, /path or ./path) is uploaded to the server; another\n" +
			"file:// location is read by the server, which accepts only files inside its snapshots directory.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return c.restore(cmd.Context(), location, priority, checksum)
		},
	}
	restore.Flags().StringVar(&location, "location", "", "http(s) URL, snapshot name, or file (uploaded when on this machine) (required)")
	restore.Flags().StringVar(&priority, "priority", "", "replica, snapshot or no_sync")
	restore.Flags().StringVar(&checksum, "checksum", "", "expected SHA-256 of the archive")

	verify := &cobra.Command{
		Use:   "verify FILE",
		Short: "Verify a snapshot file offline: checksum, manifest, every file's hash, then open each shard, count, sample and search",
		Args:  cobra.ExactArgs(1),
		RunE:  func(cmd *cobra.Command, args []string) error { return verifyFile(cmd.Context(), env, args[0]) },
	}
	cmd.AddCommand(
		verify,
		&cobra.Command{Use: "list", Short: "List snapshots", Args: cobra.NoArgs,
			RunE: func(cmd *cobra.Command, _ []string) error { return c.list(cmd.Context()) }},
		&cobra.Command{Use: "create", Short: "Create a snapshot", Args: cobra.NoArgs,
			RunE: func(cmd *cobra.Command, _ []string) error { return c.create(cmd.Context()) }},
		&cobra.Command{Use: "delete NAME", Short: "Delete a snapshot", Args: cobra.ExactArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error { return c.delete(cmd.Context(), args[0]) }},
		download, upload, restore,
		newClusterSnapshotCommand(c),
	)
	return cmd
}

func envOr(env *Env, key, def string) string {
	for _, kv := range env.Environ {
		if k, v, ok := strings.Cut(kv, "="); ok && k == key && v != "" {
			return v
		}
	}
	return def
}

// base returns the REST path of the selected snapshots.
func (c *snapshotClient) base() (string, error) {
	f := c.f
	switch {
	case f.full && (f.collection != "" || f.shard >= 0):
		return "", usageError(errors.New("--full cannot be combined with --collection or --shard"))
	case f.full:
		return "/snapshots", nil
	case f.collection == "":
		return "", usageError(errors.New("--collection is required (or --full)"))
	case f.shard >= 0:
		return "/collections/" + url.PathEscape(f.collection) + "/shards/" + strconv.Itoa(f.shard) + "/snapshots", nil
	}
	return "/collections/" + url.PathEscape(f.collection) + "/snapshots", nil
}

func (c *snapshotClient) ctx(ctx context.Context) (context.Context, context.CancelFunc) {
	if c.f.timeout > 0 {
		return context.WithTimeout(ctx, c.f.timeout)
	}
	return context.WithCancel(ctx)
}

func (c *snapshotClient) request(ctx context.Context, method, path string, body io.Reader, ctype string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimRight(c.f.url, "/")+path, body)
	if err != nil {
		return nil, usageError(fmt.Errorf("invalid --url: %w", err))
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	if c.f.apiKey != "" {
		req.Header.Set("api-key", c.f.apiKey)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("cannot reach %s: %w", c.f.url, err)
	}
	return resp, nil
}

// call sends a request and decodes Qdrant's envelope into result.
func (c *snapshotClient) call(ctx context.Context, method, path string, body io.Reader, ctype string, result any) error {
	resp, err := c.request(ctx, method, path, body, ctype)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	return decodeEnvelope(resp, result)
}

func decodeEnvelope(resp *http.Response, result any) error {
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return fmt.Errorf("cannot read response: %w", err)
	}
	var env struct {
		Result json.RawMessage `json:"result"`
		Status json.RawMessage `json:"status"`
	}
	if err := json.Unmarshal(raw, &env); err != nil {
		return fmt.Errorf("server answered %s: %s", resp.Status, bytes.TrimSpace(raw))
	}
	if resp.StatusCode >= 300 {
		var st struct {
			Error string `json:"error"`
		}
		json.Unmarshal(env.Status, &st)
		if st.Error == "" {
			st.Error = string(raw)
		}
		return fmt.Errorf("server answered %s: %s", resp.Status, st.Error)
	}
	if result != nil {
		if err := json.Unmarshal(env.Result, result); err != nil {
			return fmt.Errorf("cannot decode response: %w", err)
		}
	}
	return nil
}

func (c *snapshotClient) list(ctx context.Context) error {
	path, err := c.base()
	if err != nil {
		return err
	}
	ctx, cancel := c.ctx(ctx)
	defer cancel()
	var ds []snapshot.Description
	if err := c.call(ctx, http.MethodGet, path, nil, "", &ds); err != nil {
		return err
	}
	tw := tabwriter.NewWriter(c.env.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tCREATED\tSIZE\tCHECKSUM")
	for _, d := range ds {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\n", d.Name, d.CreationTime, d.Size, d.Checksum)
	}
	return tw.Flush()
}

func (c *snapshotClient) create(ctx context.Context) error {
	path, err := c.base()
	if err != nil {
		return err
	}
	ctx, cancel := c.ctx(ctx)
	defer cancel()
	var d snapshot.Description
	if err := c.call(ctx, http.MethodPost, path+"?wait=true", nil, "", &d); err != nil {
		return err
	}
	fmt.Fprintf(c.env.Stdout, "created %s (%d bytes, sha256 %s)\n", d.Name, d.Size, d.Checksum)
	return nil
}

func (c *snapshotClient) delete(ctx context.Context, name string) error {
	path, err := c.base()
	if err != nil {
		return err
	}
	ctx, cancel := c.ctx(ctx)
	defer cancel()
	if err := c.call(ctx, http.MethodDelete, path+"/"+url.PathEscape(name)+"?wait=true", nil, "", nil); err != nil {
		return err
	}
	fmt.Fprintf(c.env.Stdout, "deleted %s\n", name)
	return nil
}

func (c *snapshotClient) bar(size int64, what string) io.Writer {
	if c.f.quiet {
		return io.Discard
	}
	return progressbar.NewOptions64(size,
		progressbar.OptionSetWriter(c.env.Stderr),
		progressbar.OptionSetDescription(what),
		progressbar.OptionShowBytes(true),
		progressbar.OptionShowCount(),
		progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionOnCompletion(func() { fmt.Fprintln(c.env.Stderr) }),
	)
}

// download streams a snapshot into a temporary file beside the output,
// hashing it, checks the hash against the server's checksum, and only then
// renames it into place (with a .checksum sidecar).
func (c *snapshotClient) download(ctx context.Context, name, output string) error {
	path, err := c.base()
	if err != nil {
		return err
	}
	return c.downloadFrom(ctx, path, name, output)
}

// downloadFrom downloads snapshot name of the snapshots at path.
func (c *snapshotClient) downloadFrom(ctx context.Context, path, name, output string) error {
	if output == "" {
		output = name
	}
	ctx, cancel := c.ctx(ctx)
	defer cancel()
	resp, err := c.request(ctx, http.MethodGet, path+"/"+url.PathEscape(name), nil, "")
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return decodeEnvelope(resp, nil)
	}
	want := resp.Header.Get("X-Snapshot-Checksum")
	h := sha256.New()
	err = durable.WriteFileFunc(output, 0o644, func(w io.Writer) error {
		n, err := io.Copy(io.MultiWriter(w, h, c.bar(resp.ContentLength, "downloading")), resp.Body)
		if err != nil {
			return err
		}
		if resp.ContentLength >= 0 && n != resp.ContentLength {
			return fmt.Errorf("got %d of %d bytes", n, resp.ContentLength)
		}
		if got := hex.EncodeToString(h.Sum(nil)); want != "" && got != want {
			return fmt.Errorf("checksum mismatch: server says %s, downloaded %s", want, got)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("cannot download %s: %w", name, err)
	}
	sum := hex.EncodeToString(h.Sum(nil))
	if err := durable.WriteFile(output+snapshot.ChecksumExt, []byte(sum+"\n"), 0o644); err != nil {
		return err
	}
	fmt.Fprintf(c.env.Stdout, "downloaded %s to %s (sha256 %s)\n", name, output, sum)
	return nil
}

// upload hashes the file, then streams it as a multipart body (field
// "snapshot") with its checksum, so the server verifies every byte.
func (c *snapshotClient) upload(ctx context.Context, file, priority string) error {
	path, err := c.base()
	if err != nil {
		return err
	}
	if c.f.full {
		return usageError(errors.New("full-storage snapshots are recovered at start: shoal --storage-snapshot FILE"))
	}
	q := url.Values{"wait": {"true"}}
	if priority != "" {
		q.Set("priority", priority)
	}
	sum, err := c.uploadFile(ctx, path+"/upload", file, q, nil)
	if err != nil {
		return err
	}
	fmt.Fprintf(c.env.Stdout, "recovered %s from %s (sha256 %s)\n", c.target(), file, sum)
	return nil
}

// uploadFile streams file as the "snapshot" part of a multipart POST to
// path with the query q, whose checksum is the file's SHA-256 unless q
// names one, and decodes the answer into result. It returns the checksum
// sent.
func (c *snapshotClient) uploadFile(ctx context.Context, path, file string, q url.Values, result any) (string, error) {
	sum := q.Get("checksum")
	if sum == "" {
		var err error
		if sum, _, err = snapshot.ChecksumFile(file); err != nil {
			return "", err
		}
		q.Set("checksum", sum)
	}
	f, err := os.Open(file)
	if err != nil {
		return "", fmt.Errorf("cannot open %s: %w", file, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return "", fmt.Errorf("cannot open %s: %w", file, err)
	}
	ctx, cancel := c.ctx(ctx)
	defer cancel()
	pr, pw := io.Pipe()
	mw := multipart.NewWriter(pw)
	go func() {
		part, err := mw.CreateFormFile("snapshot", filepath.Base(file))
		if err == nil {
			_, err = io.Copy(io.MultiWriter(part, c.bar(st.Size(), "uploading")), f)
		}
		if err == nil {
			err = mw.Close()
		}
		pw.CloseWithError(err)
	}()
	if err := c.call(ctx, http.MethodPost, path+"?"+q.Encode(), pr, mw.FormDataContentType(), result); err != nil {
		pr.CloseWithError(err)
		return "", err
	}
	return sum, nil
}

// localSnapshotFile reports whether a restore location names a file on
// this machine: a file:// URL (host empty or localhost) or a path with a
// directory part (not a bare snapshot name) whose file exists here. A
// server reads file locations only inside its snapshots directory (as
// Qdrant), so the CLI uploads such a file instead of naming it.
func localSnapshotFile(location string) (string, bool) {
	p := location
	if strings.HasPrefix(location, "file:") {
		u, err := url.Parse(location)
		if err != nil || (u.Host != "" && u.Host != "localhost") || !filepath.IsAbs(u.Path) {
			return "", false
		}
		p = u.Path
	} else if strings.Contains(location, "://") || !strings.ContainsRune(location, filepath.Separator) {
		return "", false
	}
	st, err := os.Stat(p)
	if err != nil || !st.Mode().IsRegular() {
		return "", false
	}
	return p, true
}

func (c *snapshotClient) target() string {
	if c.f.shard >= 0 {
		return fmt.Sprintf("%s shard %d", c.f.collection, c.f.shard)
	}
	return c.f.collection
}

func (c *snapshotClient) restore(ctx context.Context, location, priority, checksum string) error {
	path, err := c.base()
	if err != nil {
		return err
	}
	if c.f.full {
		return usageError(errors.New("full-storage snapshots are recovered at start: shoal --storage-snapshot FILE"))
	}
	if location == "" {
		return usageError(errors.New("--location is required"))
	}
	if file, ok := localSnapshotFile(location); ok {
		q := url.Values{"wait": {"true"}}
		for k, v := range map[string]string{"priority": priority, "checksum": checksum} {
			if v != "" {
				q.Set(k, v)
			}
		}
		sum, err := c.uploadFile(ctx, path+"/upload", file, q, nil)
		if err != nil {
			return err
		}
		fmt.Fprintf(c.env.Stdout, "recovered %s from %s (uploaded, sha256 %s)\n", c.target(), file, sum)
		return nil
	}
	body := map[string]any{"location": location}
	if priority != "" {
		body["priority"] = priority
	}
	if checksum != "" {
		body["checksum"] = checksum
	}
	b, _ := json.Marshal(body)
	ctx, cancel := c.ctx(ctx)
	defer cancel()
	if err := c.call(ctx, http.MethodPut, path+"/recover?wait=true", bytes.NewReader(b), "application/json", nil); err != nil {
		return err
	}
	fmt.Fprintf(c.env.Stdout, "recovered %s from %s\n", c.target(), location)
	return nil
}

// verifyFile verifies a snapshot archive on this machine, without a
// server: the archive checks, then the engine checks (each shard opened
// from a scratch restore). The checksum comes from FILE.checksum if present.
func verifyFile(ctx context.Context, env *Env, file string) error {
	sum, err := os.ReadFile(file + snapshot.ChecksumExt)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("cannot read checksum of %s: %w", file, err)
	}
	f, err := os.Open(file)
	if err != nil {
		return usageError(fmt.Errorf("cannot open %s: %w", file, err))
	}
	defer f.Close()
	scratch, err := os.MkdirTemp(filepath.Dir(file), ".shoal-verify-*")
	if err != nil {
		scratch, err = os.MkdirTemp("", "shoal-verify-*")
		if err != nil {
			return err
		}
	}
	defer os.RemoveAll(scratch)
	svc, err := service.New(service.Options{StorageDir: filepath.Join(scratch, "storage")})
	if err != nil {
		return err
	}
	defer svc.Close()
	hooks := svc.SnapshotHooks(filepath.Join(scratch, "tmp"))
	rep, err := snapshot.Verify(ctx, f, filepath.Base(file), strings.TrimSpace(string(sum)), scratch, hooks, time.Now, nil)
	if err != nil {
		return err
	}
	b, _ := json.MarshalIndent(rep, "", "  ")
	fmt.Fprintln(env.Stdout, string(b))
	if !rep.OK {
		return fmt.Errorf("snapshot %s failed verification: %s", file, rep.Error)
	}
	return nil
}
