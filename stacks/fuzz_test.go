package stacks

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Any archive handed to `lab up --bundle` is refused with an error or
// opened inside its folder — never a panic, never a file outside it.
func FuzzOpenBundle(f *testing.F) {
	for _, seed := range []string{"", "\x1f\x8b", "not a bundle"} {
		f.Add([]byte(seed))
	}
	f.Add(readSeed(f, writeArchive(f.TempDir(), entry{"bundle.json", `{"charts":[{"file":"../x","sha256":"00"}]}`})))
	f.Add(readSeed(f, writeArchive(f.TempDir(), entry{"bundle.json", `{}`}, entry{"../escape", "x"})))
	f.Fuzz(func(t *testing.T, raw []byte) {
		root := t.TempDir()
		p := filepath.Join(root, "b.tar.gz")
		os.WriteFile(p, raw, 0o600)
		dir := filepath.Join(root, "lab", "bundle")
		OpenBundle(p, dir, "")
		filepath.Walk(root, func(path string, _ os.FileInfo, _ error) error {
			if path != root && path != p && !strings.HasPrefix(path, filepath.Join(root, "lab")) {
				t.Fatalf("%s written outside the bundle's folder", path)
			}
			return nil
		})
	})
}

func readSeed(f *testing.F, path string) []byte {
	b, err := os.ReadFile(path)
	if err != nil {
		f.Fatal(err)
	}
	return b
}
