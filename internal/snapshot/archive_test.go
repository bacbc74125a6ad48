package snapshot

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/shoal-db/shoal/internal/api"
)

func TestArchiveRoundTrip(t *testing.T) {
	src := makeTree(t, 1)
	m := testManifest("books")
	data, checksum := buildArchive(t, m, src)

	// The manifest is the first entry and lists every file with its hash.
	got, err := ReadManifest(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	if got.FormatVersion != FormatVersion || got.Collection != "books" || len(got.Files) != 8 || len(got.Dirs) != 5 {
		t.Fatalf("manifest: %+v", got)
	}
	if got.Points() != 7 || got.Config.Params.Vectors[""].Size != 4 {
		t.Fatalf("manifest lost collection facts: %+v", got)
	}

	target := filepath.Join(t.TempDir(), "restored")
	rm, err := Restore(context.Background(), bytes.NewReader(data), target, ReadOptions{ExpectedChecksum: checksum})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(rm.Files, got.Files) {
		t.Fatal("restored manifest differs")
	}
	if a, b := treeDigest(t, src), treeDigest(t, target); !reflect.DeepEqual(a, b) {
		t.Fatalf("restored tree differs:\n%v\n%v", a, b)
	}
	// Deterministic: the same tree and manifest give the same bytes.
	again, _ := buildArchive(t, testManifest("books"), src)
	if !bytes.Equal(again, data) {
		t.Fatal("archive is not deterministic")
	}
}

func TestRestoreReplacesExistingTargetAtomically(t *testing.T) {
	parent := t.TempDir()
	target := filepath.Join(parent, "books")
	old := makeTree(t, 2)
	if err := os.Rename(old, target); err != nil {
		t.Fatal(err)
	}
	src := makeTree(t, 3, 10, 20)
	data, checksum := buildArchive(t, testManifest("books"), src)
	if _, err := Restore(context.Background(), bytes.NewReader(data), target, ReadOptions{ExpectedChecksum: checksum}); err != nil {
		t.Fatal(err)
	}
	if a, b := treeDigest(t, src), treeDigest(t, target); !reflect.DeepEqual(a, b) {
		t.Fatalf("target not replaced:\n%v\n%v", a, b)
	}
	entries, _ := os.ReadDir(parent)
	if len(entries) != 1 {
		t.Fatalf("leftovers beside target: %v", entries)
	}
}

func TestCleanStaleRestores(t *testing.T) {
	parent := t.TempDir()
	// A staging dir of a killed restore, and a target moved aside whose
	// replacement never arrived.
	os.MkdirAll(filepath.Join(parent, "a"+restoreTmpInfix+"x", "shards"), 0o755)
	os.MkdirAll(filepath.Join(parent, "b"+restoreOldInfix+"y"), 0o755)
	os.WriteFile(filepath.Join(parent, "b"+restoreOldInfix+"y", "data"), []byte("keep"), 0o644)
	// A target moved aside whose replacement did arrive.
	os.MkdirAll(filepath.Join(parent, "c"), 0o755)
	os.MkdirAll(filepath.Join(parent, "c"+restoreOldInfix+"z"), 0o755)
	if err := CleanStaleRestores(parent); err != nil {
		t.Fatal(err)
	}
	var names []string
	entries, _ := os.ReadDir(parent)
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if !reflect.DeepEqual(names, []string{"b", "c"}) {
		t.Fatalf("after cleanup: %v", names)
	}
	if b, _ := os.ReadFile(filepath.Join(parent, "b", "data")); string(b) != "keep" {
		t.Fatal("rolled-back target lost its data")
	}
}

// hostile returns archives that must all be refused.
func hostile(t testing.TB) map[string]struct {
	data     []byte
	checksum string
	opts     ReadOptions
	want     string
} {
	src := makeTree(t, 4, 100)
	good, goodSum := buildArchive(t, testManifest("c"), src)
	m, err := ReadManifest(bytes.NewReader(good))
	if err != nil {
		t.Fatal(err)
	}
	body := make([]byte, 100)
	payload := func(name string, b []byte) FileEntry {
		return FileEntry{Path: name, Size: int64(len(b)), SHA256: sum(b)}
	}
	one := func(mut func(m *Manifest), entries ...rawEntry) []byte {
		mm := *testManifest("c")
		mm.FormatVersion = FormatVersion
		mm.Shards = nil
		mm.Dirs = nil
		mm.Files = nil
		if mut != nil {
			mut(&mm)
		}
		return rawTar(t, append([]rawEntry{manifestEntry(t, &mm)}, entries...)...)
	}
	flipped := bytes.Clone(good)
	// Flip a byte inside the first shard file's contents (after the
	// manifest and directory headers).
	idx := bytes.LastIndex(flipped, []byte("shards/0/000000.sst"))
	flipped[idx+512+10] ^= 0xff
	type c = struct {
		data     []byte
		checksum string
		opts     ReadOptions
		want     string
	}
	cases := map[string]c{
		"checksum mismatch": {data: good, checksum: strings.Repeat("0", 64), want: "Checksum mismatch"},
		"content changed":   {data: flipped, want: "sha256"},
		"dotdot path": {data: one(func(m *Manifest) { m.Files = []FileEntry{payload("../evil", body)} }, file("../evil", body)),
			want: "escapes"},
		"dotdot entry only": {data: one(nil, file("../evil", body)), want: "escapes"},
		"absolute path":     {data: one(nil, file("/tmp/evil", body)), want: "absolute"},
		"nested dotdot":     {data: one(nil, file("a/../../evil", body)), want: "unclean"},
		"symlink": {data: one(func(m *Manifest) { m.Files = []FileEntry{payload("link", nil)} },
			rawEntry{hdr: tar.Header{Typeflag: tar.TypeSymlink, Name: "link", Linkname: "/etc/passwd"}}), want: "no links or devices"},
		"hardlink": {data: one(func(m *Manifest) { m.Files = []FileEntry{payload("link", nil)} },
			rawEntry{hdr: tar.Header{Typeflag: tar.TypeLink, Name: "link", Linkname: "/etc/passwd"}}), want: "no links or devices"},
		"device": {data: one(nil, rawEntry{hdr: tar.Header{Typeflag: tar.TypeChar, Name: "dev", Devmajor: 1, Devminor: 3}}),
			want: "no links or devices"},
		"fifo": {data: one(nil, rawEntry{hdr: tar.Header{Typeflag: tar.TypeFifo, Name: "fifo"}}), want: "no links or devices"},
		"oversize entry": {data: one(func(m *Manifest) { m.Files = []FileEntry{payload("f", body[:10])} }, file("f", body)),
			want: "holds 100 bytes"},
		"extra file": {data: one(func(m *Manifest) { m.Files = []FileEntry{payload("f", body)} }, file("f", body), file("g", body)),
			want: "not in the manifest"},
		"missing file": {data: one(func(m *Manifest) { m.Files = []FileEntry{payload("f", body), payload("g", body)} }, file("f", body)),
			want: "missing"},
		"duplicate entry": {data: one(func(m *Manifest) { m.Files = []FileEntry{payload("f", body)} }, file("f", body), file("f", body)),
			want: "twice"},
		"unknown version":    {data: one(func(m *Manifest) { m.FormatVersion = 99 }), want: "unknown snapshot format version 99"},
		"manifest not first": {data: rawTar(t, file("f", body), manifestEntry(t, m)), want: "first entry"},
		"no manifest":        {data: rawTar(t), want: "first entry"},
		"not a tar":          {data: []byte("hello, this is not an archive at all"), want: "first entry"},
		"over global cap":    {data: good, checksum: goodSum, opts: ReadOptions{MaxTotalSize: 50}, want: "over the limit"},
		"refused by check": {data: good, checksum: goodSum, opts: ReadOptions{Check: func(m *Manifest) error {
			return api.ErrBadRequest("wrong vector size")
		}}, want: "wrong vector size"},
		"sparse file": {data: sparseTar(t, "f", manifestEntry(t, func() *Manifest {
			mm := *testManifest("c")
			mm.FormatVersion, mm.Shards, mm.Dirs = FormatVersion, nil, nil
			mm.Files = []FileEntry{payload("f", sparseContent())}
			return &mm
		}())), want: "sparse"},
		"trailing garbage": {data: append(bytes.Clone(good), bytes.Repeat([]byte{1}, maxTrailing+10)...), want: "follow the end"},
		"truncated":        {data: good[:len(good)/2], want: "invalid snapshot archive"},
	}
	return cases
}

func TestHostileArchivesAreRefusedAndTargetUntouched(t *testing.T) {
	for name, tc := range hostile(t) {
		t.Run(name, func(t *testing.T) {
			parent := t.TempDir()
			target := filepath.Join(parent, "c")
			if err := os.Rename(makeTree(t, 5, 3), target); err != nil {
				t.Fatal(err)
			}
			before := treeDigest(t, parent)
			opts := tc.opts
			if tc.checksum != "" {
				opts.ExpectedChecksum = tc.checksum
			}
			_, err := Restore(context.Background(), bytes.NewReader(tc.data), target, opts)
			if err == nil {
				t.Fatal("hostile archive was accepted")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q does not mention %q", err, tc.want)
			}
			if name == "checksum mismatch" && api.KindOf(err) != api.KindChecksumMismatch {
				t.Fatalf("checksum error has kind %v", api.KindOf(err))
			}
			if name != "checksum mismatch" && name != "refused by check" && !errors.Is(err, ErrInvalidArchive) {
				t.Fatalf("error %v does not wrap ErrInvalidArchive", err)
			}
			if after := treeDigest(t, parent); !reflect.DeepEqual(before, after) {
				t.Fatalf("target or its directory changed:\n%v\n%v", before, after)
			}
			if _, err := os.Lstat("/tmp/evil"); err == nil && name != "" {
				b, _ := os.ReadFile("/tmp/evil")
				if len(b) == 100 {
					t.Fatal("archive wrote outside the target")
				}
			}
		})
	}
}

func TestWriteArchiveRefusesSymlinks(t *testing.T) {
	src := makeTree(t, 6, 5)
	if err := os.Symlink("/etc/passwd", filepath.Join(src, "shards", "0", "link")); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	_, err := WriteArchive(context.Background(), &buf, testManifest("c"), src, nil)
	if err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Fatalf("got %v", err)
	}
}

func TestManifestValidate(t *testing.T) {
	base := func() *Manifest {
		m := testManifest("c")
		m.FormatVersion = FormatVersion
		m.Dirs = []string{"shards", "shards/0", "shards/1"}
		return m
	}
	if err := base().Validate(); err != nil {
		t.Fatal(err)
	}
	for name, mut := range map[string]func(m *Manifest){
		"no collection":     func(m *Manifest) { m.Collection = "" },
		"no config":         func(m *Manifest) { m.Config = nil },
		"bad kind":          func(m *Manifest) { m.Kind = "weird" },
		"shard dir missing": func(m *Manifest) { m.Dirs = m.Dirs[:2] },
		"shard dir wrong":   func(m *Manifest) { m.Shards[0].Dir = "shards/9" },
		"duplicate shard":   func(m *Manifest) { m.Shards[1].ID = 0; m.Shards[1].Dir = "shards/0" },
		"file parent not a dir": func(m *Manifest) {
			m.Files = []FileEntry{{Path: "x/y", SHA256: strings.Repeat("a", 64)}}
		},
		"bad hash":                   func(m *Manifest) { m.Files = []FileEntry{{Path: "x", SHA256: "zz"}} },
		"manifest name":              func(m *Manifest) { m.Files = []FileEntry{{Path: ManifestName, SHA256: strings.Repeat("a", 64)}} },
		"shard kind with two shards": func(m *Manifest) { m.Kind = KindShard },
		"full without entry":         func(m *Manifest) { m.Kind = KindFull; m.Collections = []string{"x"} },
	} {
		m := base()
		mut(m)
		if err := m.Validate(); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// sparseContent is what the PAX sparse entry of sparseEntry expands to:
// "hello" followed by 995 zero bytes that the archive does not contain.
func sparseContent() []byte {
	b := make([]byte, 1000)
	copy(b, "hello")
	return b
}

// sparseTar returns a tar (after the given leading entries) holding a PAX
// (GNU 1.0) sparse file: a sparse map, then 5 data bytes, expanding to
// 1000 bytes on read. archive/tar cannot write sparse files, so the blocks
// are built by hand.
func sparseTar(t testing.TB, name string, leading ...rawEntry) []byte {
	t.Helper()
	head := rawTar(t, leading...)
	head = head[:len(head)-1024] // drop the end-of-archive blocks
	records := ""
	for _, kv := range [][2]string{{"GNU.sparse.major", "1"}, {"GNU.sparse.minor", "0"}, {"GNU.sparse.name", name}, {"GNU.sparse.realsize", "1000"}} {
		rec := " " + kv[0] + "=" + kv[1] + "\n"
		n := len(rec) + 1
		for len(fmt.Sprint(n))+len(rec) != n {
			n = len(fmt.Sprint(n)) + len(rec)
		}
		records += fmt.Sprint(n) + rec
	}
	sparseMap := make([]byte, 512)
	copy(sparseMap, "1\n0\n5\n")
	body := append(sparseMap, "hello"...)
	out := append(head, ustarBlock("PaxHeaders/"+name, 'x', len(records))...)
	out = append(out, pad512([]byte(records))...)
	out = append(out, ustarBlock(name, '0', len(body))...)
	out = append(out, pad512(body)...)
	return append(out, make([]byte, 1024)...)
}

func pad512(b []byte) []byte {
	if r := len(b) % 512; r != 0 {
		b = append(b, make([]byte, 512-r)...)
	}
	return b
}

func ustarBlock(name string, typ byte, size int) []byte {
	b := make([]byte, 512)
	copy(b[0:100], name)
	copy(b[100:108], "0000644\x00")
	copy(b[108:116], "0000000\x00")
	copy(b[116:124], "0000000\x00")
	copy(b[124:136], fmt.Sprintf("%011o\x00", size))
	copy(b[136:148], "00000000000\x00")
	b[156] = typ
	copy(b[257:263], "ustar\x00")
	copy(b[263:265], "00")
	copy(b[148:156], "        ")
	sum := 0
	for _, c := range b {
		sum += int(c)
	}
	copy(b[148:156], fmt.Sprintf("%06o\x00 ", sum))
	return b
}

// TestSparseEntryWouldExpand shows why sparse entries are refused: Go's tar
// reader expands them to bytes the archive does not hold.
func TestSparseEntryWouldExpand(t *testing.T) {
	tr := tar.NewReader(bytes.NewReader(sparseTar(t, "f")))
	hdr, err := tr.Next()
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(tr)
	if hdr.Size != 1000 || !bytes.Equal(b, sparseContent()) {
		t.Fatalf("size %d, %d bytes read", hdr.Size, len(b))
	}
}

// TestExtractNoSyncAndBackgroundSyncs extracts an archive whose files are
// fsynced in the background, some not at all (ReadOptions.NoSync), and
// checks that the files NoSync names are still verified: a damaged one
// fails the extraction and leaves nothing behind, wherever it lies among
// files whose fsyncs are still in flight.
func TestExtractNoSyncAndBackgroundSyncs(t *testing.T) {
	sizes := make([]int, 12)
	for i := range sizes {
		sizes[i] = 1000 + 37*i
	}
	src := makeTree(t, 3, sizes...)
	data, checksum := buildArchive(t, testManifest("books"), src)
	var named []string
	noSync := func(p string) bool {
		named = append(named, p)
		return strings.HasPrefix(p, "shards/1/")
	}
	target := filepath.Join(t.TempDir(), "x")
	if _, err := Extract(context.Background(), bytes.NewReader(data), target, ReadOptions{ExpectedChecksum: checksum, NoSync: noSync}); err != nil {
		t.Fatal(err)
	}
	if a, b := treeDigest(t, src), treeDigest(t, target); !reflect.DeepEqual(a, b) {
		t.Fatalf("extracted tree differs:\n%v\n%v", a, b)
	}
	if len(named) != 2*len(sizes) {
		t.Fatalf("NoSync was asked about %d files, want %d: %v", len(named), 2*len(sizes), named)
	}
	m, err := ReadManifest(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	for _, victim := range []string{"shards/0/000003.sst", "shards/1/000000.sst", "shards/1/000011.sst"} {
		// Flip one byte inside the victim's content.
		at := -1
		for _, f := range m.Files {
			if f.Path == victim {
				at = bytes.Index(data, readFile(t, filepath.Join(src, filepath.FromSlash(f.Path))))
			}
		}
		if at < 0 {
			t.Fatalf("cannot find %s in the archive", victim)
		}
		bad := bytes.Clone(data)
		bad[at+10] ^= 0xff
		target := filepath.Join(t.TempDir(), "y")
		_, err := Extract(context.Background(), bytes.NewReader(bad), target, ReadOptions{NoSync: func(p string) bool { return strings.HasPrefix(p, "shards/1/") }})
		if !errors.Is(err, ErrInvalidArchive) || !strings.Contains(err.Error(), victim) {
			t.Fatalf("%s damaged: got %v", victim, err)
		}
		if _, err := os.Lstat(target); !os.IsNotExist(err) {
			t.Fatalf("%s damaged: the target is left behind (%v)", victim, err)
		}
	}
}

func readFile(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
