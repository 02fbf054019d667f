package v1alpha1

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzLoad: no input may panic the loader, and every error names the file.
// Seeds: every fixture in testdata plus testdata/fuzz/FuzzLoad.
func FuzzLoad(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.yaml")
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		l, err := Load("f.yaml", data)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "f.yaml") {
				t.Fatalf("error without file name: %q", err)
			}
			return
		}
		if l.APIVersion != APIVersion || l.Kind != Kind {
			t.Fatalf("accepted a document with apiVersion %q kind %q", l.APIVersion, l.Kind)
		}
		if errs := Validate(l); len(errs) > 0 {
			t.Fatalf("Load accepted what Validate rejects: %v", errs)
		}
	})
}
