package e2e

import (
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestReleaseBuilds (SHOAL_TEST_RELEASE=1) runs scripts/release.sh: a static linux/amd64 and
// linux/arm64 binary each (ELF for that machine, no program interpreter),
// their SHA256SUMS, and, where qemu-user is installed, the generic
// distance kernels' tests and `shoal version` on arm64 under it.
func TestReleaseBuilds(t *testing.T) {
	if os.Getenv("SHOAL_TEST_RELEASE") != "1" {
		t.Skip("cross-builds two binaries (minutes on a cold arm64 build cache): set SHOAL_TEST_RELEASE=1")
	}
	out := t.TempDir()
	cmd := exec.Command(filepath.Join(repoRoot(t), "scripts", "release.sh"))
	cmd.Dir = repoRoot(t)
	cmd.Env = append(os.Environ(), "SHOAL_RELEASE_DIR="+out)
	log, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("scripts/release.sh: %v\n%s", err, log)
	}
	sums, err := os.ReadFile(filepath.Join(out, "SHA256SUMS"))
	if err != nil {
		t.Fatal(err)
	}
	for arch, machine := range map[string]elf.Machine{"amd64": elf.EM_X86_64, "arm64": elf.EM_AARCH64} {
		name := "shoal-linux-" + arch
		f, err := elf.Open(filepath.Join(out, name))
		if err != nil {
			t.Fatal(err)
		}
		if f.Machine != machine {
			t.Errorf("%s is for %v", name, f.Machine)
		}
		for _, p := range f.Progs {
			if p.Type == elf.PT_INTERP {
				t.Errorf("%s is dynamically linked", name)
			}
		}
		f.Close()
		if !strings.Contains(string(sums), "  "+name+"\n") {
			t.Errorf("SHA256SUMS lacks %s:\n%s", name, sums)
		}
	}
	_, qerr := exec.LookPath("qemu-aarch64-static")
	switch {
	case qerr == nil && !strings.Contains(string(log), "ok  \tgithub.com/shoal-db/shoal/internal/vecmath"):
		t.Errorf("qemu-aarch64-static is installed but the arm64 kernel tests did not pass:\n%s", log)
	case qerr != nil:
		t.Logf("no qemu-aarch64-static: arm64 tests skipped:\n%s", log)
	}
}
