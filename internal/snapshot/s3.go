package snapshot

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"net/http"
	"path"
	"sort"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// S3Options configure an S3-compatible store.
type S3Options struct {
	// Endpoint is host[:port] of the S3 API (s3.amazonaws.com, a MinIO or
	// VersityGW server, ...).
	Endpoint string `json:"endpoint" yaml:"endpoint" koanf:"endpoint"`
	// Bucket holds the snapshots; it must exist.
	Bucket string `json:"bucket" yaml:"bucket" koanf:"bucket"`
	// Prefix is prepended to every key ("shoal/prod" stores under shoal/prod/).
	Prefix string `json:"prefix,omitempty" yaml:"prefix" koanf:"prefix"`
	// Region is the bucket's region (empty: discovered).
	Region string `json:"region,omitempty" yaml:"region" koanf:"region"`
	// AccessKey and SecretKey (and optional SessionToken) are static
	// credentials. When AccessKey is empty the chain is used: AWS_* and
	// MINIO_* environment variables, the AWS credentials file, then the
	// instance role (IAM / ECS / web identity).
	AccessKey    string `json:"access_key,omitempty" yaml:"access_key" koanf:"access_key"`
	SecretKey    string `json:"secret_key,omitempty" yaml:"secret_key" koanf:"secret_key"`
	SessionToken string `json:"session_token,omitempty" yaml:"session_token" koanf:"session_token"`
	// Insecure selects plain HTTP instead of HTTPS.
	Insecure bool `json:"insecure,omitempty" yaml:"insecure" koanf:"insecure"`
	// PathStyle forces path-style requests (most S3-compatible servers).
	PathStyle bool `json:"path_style,omitempty" yaml:"path_style" koanf:"path_style"`
	// PartSize is the multipart upload part size in bytes (default 64 MiB);
	// objects larger than one part are uploaded in parts.
	PartSize uint64 `json:"part_size,omitempty" yaml:"part_size" koanf:"part_size"`
	// MaxAttempts bounds attempts per request (default 5). An upload's
	// requests (each part of a multipart upload, or the single PUT) are
	// retried by the S3 client itself, with its exponential backoff (200ms
	// unit, 1s cap) and full jitter, so a failed part is sent again without
	// sending the whole object again; other operations retry with
	// exponential backoff from RetryBase (default 200ms) and full jitter.
	MaxAttempts int           `json:"max_attempts,omitempty" yaml:"max_attempts" koanf:"max_attempts"`
	RetryBase   time.Duration `json:"retry_base,omitempty" yaml:"retry_base" koanf:"retry_base"`
	// Transport overrides the HTTP transport (tests).
	Transport http.RoundTripper `json:"-" yaml:"-" koanf:"-"`
}

// S3Store keeps snapshots in an S3-compatible bucket. PutObject is atomic
// (a multipart upload becomes visible only when completed), so a killed
// writer never leaves a partial object listed.
type S3Store struct {
	opts S3Options
	// client makes one attempt per request (retry wraps its calls);
	// uploader retries each request itself (up to MaxAttempts), so a
	// multipart upload retries a failed part, not the whole object.
	client, uploader *minio.Client
	prefix           string
}

// NewS3Store returns a store for opts. It does not contact the server.
func NewS3Store(opts S3Options) (*S3Store, error) {
	if opts.Endpoint == "" || opts.Bucket == "" {
		return nil, fmt.Errorf("cannot configure S3 snapshot store: endpoint and bucket are required")
	}
	if opts.PartSize == 0 {
		opts.PartSize = 64 << 20
	}
	if opts.PartSize < 5<<20 {
		return nil, fmt.Errorf("cannot configure S3 snapshot store: part_size %d is below S3's minimum of 5 MiB", opts.PartSize)
	}
	if opts.MaxAttempts <= 0 {
		opts.MaxAttempts = 5
	}
	if opts.RetryBase <= 0 {
		opts.RetryBase = 200 * time.Millisecond
	}
	var creds *credentials.Credentials
	if opts.AccessKey != "" {
		creds = credentials.NewStaticV4(opts.AccessKey, opts.SecretKey, opts.SessionToken)
	} else {
		creds = credentials.NewChainCredentials([]credentials.Provider{
			&credentials.EnvAWS{},
			&credentials.EnvMinio{},
			&credentials.FileAWSCredentials{},
			&credentials.IAM{},
		})
	}
	lookup := minio.BucketLookupAuto
	if opts.PathStyle {
		lookup = minio.BucketLookupPath
	}
	newClient := func(retries int) (*minio.Client, error) {
		c, err := minio.New(opts.Endpoint, &minio.Options{
			Creds:        creds,
			Secure:       !opts.Insecure,
			Region:       opts.Region,
			BucketLookup: lookup,
			Transport:    opts.Transport,
			MaxRetries:   retries,
		})
		if err != nil {
			return nil, fmt.Errorf("cannot configure S3 snapshot store: %w", err)
		}
		return c, nil
	}
	client, err := newClient(1) // retries are ours, with jitter and context
	if err != nil {
		return nil, err
	}
	uploader, err := newClient(opts.MaxAttempts) // per request: per part
	if err != nil {
		return nil, err
	}
	return &S3Store{opts: opts, client: client, uploader: uploader, prefix: strings.Trim(opts.Prefix, "/")}, nil
}

// Options returns the options the store was made with, defaults applied
// (secrets included: never log them).
func (s *S3Store) Options() S3Options { return s.opts }

// Client returns the underlying minio client (tests, bucket setup).
func (s *S3Store) Client() *minio.Client { return s.client }

func (s *S3Store) String() string {
	if s.prefix == "" {
		return "s3://" + s.opts.Bucket
	}
	return "s3://" + s.opts.Bucket + "/" + s.prefix
}

func (s *S3Store) key(k string) (string, error) {
	if err := CheckKey(k); err != nil {
		return "", err
	}
	return path.Join(s.prefix, k), nil
}

// retryable reports whether an S3 error may succeed on retry: network
// errors, 5xx and throttling.
func retryable(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	resp := minio.ToErrorResponse(err)
	switch {
	case resp.StatusCode == 0:
		return true
	case resp.StatusCode >= 500, resp.StatusCode == http.StatusTooManyRequests, resp.StatusCode == http.StatusRequestTimeout:
		return true
	}
	return resp.Code == "SlowDown" || resp.Code == "RequestTimeout"
}

func notFound(err error) bool {
	resp := minio.ToErrorResponse(err)
	return resp.StatusCode == http.StatusNotFound || resp.Code == "NoSuchKey"
}

// retry runs op up to MaxAttempts times with exponential backoff and full
// jitter; rewind (when set) prepares the next attempt.
func (s *S3Store) retry(ctx context.Context, what string, rewind func() error, op func() error) error {
	var err error
	for attempt := 0; attempt < s.opts.MaxAttempts; attempt++ {
		if attempt > 0 {
			backoff := s.opts.RetryBase << min(attempt-1, 10)
			sleep := time.Duration(rand.Int64N(int64(backoff) + 1))
			t := time.NewTimer(sleep)
			select {
			case <-ctx.Done():
				t.Stop()
				return fmt.Errorf("cannot %s: %w (last error: %v)", what, ctx.Err(), err)
			case <-t.C:
			}
			if rewind != nil {
				if rerr := rewind(); rerr != nil {
					return fmt.Errorf("cannot %s: %w (cannot retry: %v)", what, err, rerr)
				}
			}
		}
		if err = op(); err == nil || !retryable(err) {
			break
		}
	}
	if err != nil {
		if notFound(err) {
			return fmt.Errorf("cannot %s: %w", what, fs.ErrNotExist)
		}
		return fmt.Errorf("cannot %s: %w", what, err)
	}
	return nil
}

// Put implements Store. Bodies larger than PartSize go up as multipart
// uploads. The S3 client retries each request of the upload (each part)
// up to MaxAttempts times, so a failure resends one part, not the object;
// it can resend a part only when r is an io.ReaderAt or io.Seeker (a
// multipart upload buffers each part of other readers, so those retry too).
func (s *S3Store) Put(ctx context.Context, key string, r io.Reader, size int64) error {
	k, err := s.key(key)
	if err != nil {
		return err
	}
	_, err = s.uploader.PutObject(ctx, s.opts.Bucket, k, r, size, minio.PutObjectOptions{
		PartSize:    s.opts.PartSize,
		ContentType: "application/octet-stream",
	})
	if err != nil {
		return fmt.Errorf("cannot upload %s to %s: %w", key, s, err)
	}
	return nil
}

// Get implements Store.
func (s *S3Store) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	k, err := s.key(key)
	if err != nil {
		return nil, err
	}
	var obj *minio.Object
	err = s.retry(ctx, "download "+key+" from "+s.String(), nil, func() error {
		o, err := s.client.GetObject(ctx, s.opts.Bucket, k, minio.GetObjectOptions{})
		if err != nil {
			return err
		}
		if _, err := o.Stat(); err != nil {
			o.Close()
			return err
		}
		obj = o
		return nil
	})
	if err != nil {
		return nil, err
	}
	return obj, nil
}

// Stat implements Store.
func (s *S3Store) Stat(ctx context.Context, key string) (ObjectInfo, error) {
	k, err := s.key(key)
	if err != nil {
		return ObjectInfo{}, err
	}
	var info minio.ObjectInfo
	err = s.retry(ctx, "stat "+key+" in "+s.String(), nil, func() error {
		var err error
		info, err = s.client.StatObject(ctx, s.opts.Bucket, k, minio.StatObjectOptions{})
		return err
	})
	if err != nil {
		return ObjectInfo{}, err
	}
	return ObjectInfo{Name: path.Base(key), Size: info.Size, ModTime: info.LastModified}, nil
}

// List implements Store.
func (s *S3Store) List(ctx context.Context, dir string) ([]ObjectInfo, error) {
	k, err := s.key(dir)
	if err != nil {
		return nil, err
	}
	prefix := k + "/"
	if k == "" {
		prefix = ""
	}
	var out []ObjectInfo
	err = s.retry(ctx, "list "+s.String()+"/"+dir, nil, func() error {
		out = out[:0]
		for o := range s.client.ListObjects(ctx, s.opts.Bucket, minio.ListObjectsOptions{Prefix: prefix}) {
			if o.Err != nil {
				return o.Err
			}
			name := strings.TrimPrefix(o.Key, prefix)
			if name == "" || strings.Contains(name, "/") || strings.HasPrefix(name, ".") {
				continue // a common prefix (subdirectory) or hidden
			}
			out = append(out, ObjectInfo{Name: name, Size: o.Size, ModTime: o.LastModified})
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// Delete implements Store.
func (s *S3Store) Delete(ctx context.Context, key string) error {
	k, err := s.key(key)
	if err != nil {
		return err
	}
	return s.retry(ctx, "delete "+key+" from "+s.String(), nil, func() error {
		err := s.client.RemoveObject(ctx, s.opts.Bucket, k, minio.RemoveObjectOptions{})
		if notFound(err) {
			return nil
		}
		return err
	})
}

// AbortIncompleteUploads removes multipart uploads under the prefix that a
// killed writer left unfinished (they are never listed as objects, but use
// space).
func (s *S3Store) AbortIncompleteUploads(ctx context.Context) error {
	for u := range s.client.ListIncompleteUploads(ctx, s.opts.Bucket, s.prefix, true) {
		if u.Err != nil {
			return fmt.Errorf("cannot list incomplete uploads in %s: %w", s, u.Err)
		}
		if err := s.client.RemoveIncompleteUpload(ctx, s.opts.Bucket, u.Key); err != nil {
			return fmt.Errorf("cannot abort upload of %s: %w", u.Key, err)
		}
	}
	return nil
}
