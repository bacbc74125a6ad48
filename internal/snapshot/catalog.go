package snapshot

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"sort"
	"strings"
	"time"
)

// Description is Qdrant's SnapshotDescription: what listing and creating
// snapshots return.
type Description struct {
	// Name is the archive's file name.
	Name string `json:"name"`
	// CreationTime is "YYYY-MM-DDTHH:MM:SS" (UTC), or empty when unknown.
	CreationTime string `json:"creation_time,omitempty"`
	// Size is the archive's length in bytes.
	Size int64 `json:"size"`
	// Checksum is the archive's lower-case hex SHA-256, when known.
	Checksum string `json:"checksum,omitempty"`
}

// qdrantTimeLayout is Qdrant's creation_time format.
const qdrantTimeLayout = "2006-01-02T15:04:05"

// Time returns the description's creation time, parsed.
func (d Description) Time() (time.Time, bool) {
	t, err := time.ParseInLocation(qdrantTimeLayout, d.CreationTime, time.UTC)
	return t, err == nil
}

// maxSidecar bounds the sidecars read back from stores.
const maxSidecar = 1 << 20

// ListSnapshots describes the snapshots in dir of st, oldest first. Objects
// that are not archives (sidecars) are skipped; the checksum comes from
// each archive's sidecar when present.
func ListSnapshots(ctx context.Context, st Store, dir string) ([]Description, error) {
	objs, err := st.List(ctx, dir)
	if err != nil {
		return nil, err
	}
	names := make(map[string]bool, len(objs))
	for _, o := range objs {
		names[o.Name] = true
	}
	var out []Description
	for _, o := range objs {
		if !strings.HasSuffix(o.Name, Ext) {
			continue
		}
		d := Description{Name: o.Name, Size: o.Size}
		t, ok := NameTime(o.Name)
		if !ok {
			t = o.ModTime
		}
		d.CreationTime = t.UTC().Format(qdrantTimeLayout)
		if names[o.Name+ChecksumExt] {
			if sum, err := readSidecar(ctx, st, Key(dir, o.Name+ChecksumExt)); err == nil {
				d.Checksum = strings.TrimSpace(string(sum))
			}
		}
		out = append(out, d)
	}
	sortDescriptions(out)
	return out, nil
}

// sortDescriptions orders by creation time, then name; CreationTime
// strings sort chronologically.
func sortDescriptions(ds []Description) {
	sort.Slice(ds, func(i, j int) bool {
		if ds[i].CreationTime != ds[j].CreationTime {
			return ds[i].CreationTime < ds[j].CreationTime
		}
		return ds[i].Name < ds[j].Name
	})
}

func readSidecar(ctx context.Context, st Store, key string) ([]byte, error) {
	rc, err := st.Get(ctx, key)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return io.ReadAll(io.LimitReader(rc, maxSidecar))
}

// DescribeSnapshot describes one snapshot in dir of st; the error wraps
// fs.ErrNotExist when there is none.
func DescribeSnapshot(ctx context.Context, st Store, dir, name string) (Description, error) {
	if err := CheckName(name); err != nil {
		return Description{}, err
	}
	info, err := st.Stat(ctx, Key(dir, name))
	if err != nil {
		return Description{}, err
	}
	d := Description{Name: name, Size: info.Size}
	t, ok := NameTime(name)
	if !ok {
		t = info.ModTime
	}
	d.CreationTime = t.UTC().Format(qdrantTimeLayout)
	if sum, err := readSidecar(ctx, st, Key(dir, name+ChecksumExt)); err == nil {
		d.Checksum = strings.TrimSpace(string(sum))
	}
	return d, nil
}

// PutArchive stores the archive file at src as dir/name in st with its
// checksum sidecar written first, so a listed archive always has its
// checksum. With move, the store may take src over (see FilePutter);
// otherwise src is left in place.
func PutArchive(ctx context.Context, st Store, dir, name, src, checksum string, move bool) error {
	if err := CheckName(name); err != nil {
		return err
	}
	if err := st.Put(ctx, Key(dir, name+ChecksumExt), strings.NewReader(checksum+"\n"), int64(len(checksum)+1)); err != nil {
		return fmt.Errorf("cannot store checksum of %s in %s: %w", name, st, err)
	}
	if fp, ok := st.(FilePutter); ok && move {
		if err := fp.PutFile(ctx, Key(dir, name), src); err != nil {
			return fmt.Errorf("cannot store %s in %s: %w", name, st, err)
		}
		return nil
	}
	f, err := os.Open(src)
	if err != nil {
		return fmt.Errorf("cannot open %s: %w", src, err)
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return fmt.Errorf("cannot stat %s: %w", src, err)
	}
	if err := st.Put(ctx, Key(dir, name), f, info.Size()); err != nil {
		return fmt.Errorf("cannot store %s in %s: %w", name, st, err)
	}
	return nil
}

// DeleteSnapshot removes dir/name and its sidecars from st. It reports
// false (and no error) when there was no such snapshot.
func DeleteSnapshot(ctx context.Context, st Store, dir, name string) (bool, error) {
	if err := CheckName(name); err != nil {
		return false, err
	}
	_, err := st.Stat(ctx, Key(dir, name))
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	// The archive goes first: a crash leaves orphan sidecars, never a listed
	// archive without its checksum.
	for _, k := range []string{name, name + ChecksumExt, name + VerifyExt} {
		if err := st.Delete(ctx, Key(dir, k)); err != nil {
			return true, fmt.Errorf("cannot delete %s from %s: %w", k, st, err)
		}
	}
	return true, nil
}

// removeOrphanSidecars deletes sidecars in dir whose archive is gone.
func removeOrphanSidecars(ctx context.Context, st Store, dir string) error {
	objs, err := st.List(ctx, dir)
	if err != nil {
		return err
	}
	names := make(map[string]bool, len(objs))
	for _, o := range objs {
		names[o.Name] = true
	}
	for _, o := range objs {
		for _, ext := range []string{ChecksumExt, VerifyExt} {
			if base, ok := strings.CutSuffix(o.Name, ext); ok && strings.HasSuffix(base, Ext) && !names[base] {
				if err := st.Delete(ctx, Key(dir, o.Name)); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// ReadVerifyReport returns the verification report stored beside a
// snapshot, or nil when it has none.
func ReadVerifyReport(ctx context.Context, st Store, dir, name string) (*VerifyReport, error) {
	b, err := readSidecar(ctx, st, Key(dir, name+VerifyExt))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	r := new(VerifyReport)
	if err := json.Unmarshal(b, r); err != nil {
		return nil, fmt.Errorf("cannot decode verification report of %s: %w", name, err)
	}
	return r, nil
}
