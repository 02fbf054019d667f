package kwok

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A lab up killed while the PKI is being made (simulated: every prefix of
// NewPKI's writes) leaves a set that the next LoadOrCreatePKI either makes
// anew or refuses naming the broken file — never one the API server then
// fails on ("failed to parse service-account-issuer-key-file: … sa.key").
func TestPKIKilledBetweenFiles(t *testing.T) {
	order := []string{saKey, saPub, caKey, caCert} // NewPKI's write order
	for n := 0; n < len(order); n++ {
		t.Run("after "+strings.Join(order[:n], ","), func(t *testing.T) {
			dir := t.TempDir()
			if _, err := NewPKI(dir); err != nil {
				t.Fatal(err)
			}
			for _, f := range order[n:] { // what a kill before these left unwritten
				os.Remove(filepath.Join(dir, f))
			}
			p, err := LoadOrCreatePKI(dir)
			if err != nil {
				t.Fatalf("an unfinished set must be made anew: %v", err)
			}
			if _, err := loadPKI(dir); err != nil {
				t.Fatalf("the set made anew is not whole: %v", err)
			}
			if p.CACert == nil || p.CAKey == nil {
				t.Fatal("no CA")
			}
		})
	}
	// A finished set with a file later lost or truncated: named, with the way out.
	for _, f := range []string{saKey, saPub, caKey} {
		t.Run("broken "+f, func(t *testing.T) {
			dir := t.TempDir()
			if _, err := NewPKI(dir); err != nil {
				t.Fatal(err)
			}
			os.WriteFile(filepath.Join(dir, f), []byte("-----BEGIN"), 0o600)
			_, err := LoadOrCreatePKI(dir)
			if err == nil || !strings.Contains(err.Error(), f) || !strings.Contains(err.Error(), "lab down") {
				t.Fatalf("want an error naming %s and the way out, got %v", f, err)
			}
		})
	}
	dir := t.TempDir()
	a, _ := NewPKI(dir)
	b, err := LoadOrCreatePKI(dir)
	if err != nil || !a.CACert.Equal(b.CACert) {
		t.Fatalf("a whole set must be reused: %v", err)
	}
	for _, f := range order {
		if fi, _ := os.Stat(filepath.Join(dir, f)); fi.Mode().Perm() != 0o600 {
			t.Errorf("%s mode %v", f, fi.Mode())
		}
	}
}
