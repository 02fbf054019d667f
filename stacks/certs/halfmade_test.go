package certs

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A `lab up` killed between two files of the set (simulated by removing or
// truncating what a kill would leave) is rebuilt by the next Ensure, or
// refused with the file named; never a half set that Linkerd then rejects.
func TestEnsureRebuildsAHalfMadeSet(t *testing.T) {
	full := func(t *testing.T) string {
		dir := t.TempDir()
		if _, err := Ensure(dir); err != nil {
			t.Fatal(err)
		}
		return dir
	}
	for _, c := range []struct {
		name      string
		break_    func(dir string)
		newAnchor bool   // the anchor is made anew
		err       string // or Ensure refuses, naming this
	}{
		{"killed after the anchor key", func(d string) {
			os.Remove(filepath.Join(d, AnchorCert))
			os.Remove(filepath.Join(d, IssuerCert))
			os.Remove(filepath.Join(d, IssuerKey))
		}, true, ""},
		{"killed after the anchor", func(d string) { os.Remove(filepath.Join(d, IssuerCert)); os.Remove(filepath.Join(d, IssuerKey)) }, false, ""},
		{"killed after the issuer key", func(d string) { os.Remove(filepath.Join(d, IssuerCert)) }, false, ""},
		{"issuer key truncated", func(d string) { os.WriteFile(filepath.Join(d, IssuerKey), []byte("-----BEGIN EC PRI"), 0o600) }, false, ""},
		{"anchor key truncated", func(d string) { os.WriteFile(filepath.Join(d, AnchorKey), []byte("-----BEGIN EC PRI"), 0o600) }, false, AnchorKey},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := full(t)
			before, _ := os.ReadFile(filepath.Join(dir, AnchorCert))
			c.break_(dir)
			set, err := Ensure(dir)
			if c.err != "" {
				if !errors.Is(err, ErrBroken) || !strings.Contains(err.Error(), c.err) || !strings.Contains(err.Error(), "remove "+dir) {
					t.Fatalf("want ErrBroken naming %s and the way out, got %v", c.err, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if err := set.Issuer.CheckSignatureFrom(set.Anchor); err != nil {
				t.Errorf("issuer not signed by the anchor: %v", err)
			}
			after, _ := os.ReadFile(filepath.Join(dir, AnchorCert))
			if replaced := string(after) != string(before); replaced != c.newAnchor {
				t.Errorf("anchor replaced = %v, want %v", replaced, c.newAnchor)
			}
			for _, k := range []string{AnchorKey, IssuerKey} {
				if fi, err := os.Stat(filepath.Join(dir, k)); err != nil || fi.Mode().Perm() != 0o600 {
					t.Errorf("%s: %v %v, want 0600", k, fi.Mode(), err)
				}
			}
			if left, _ := filepath.Glob(filepath.Join(dir, ".*tmp*")); len(left) > 0 {
				t.Errorf("temporary files left: %v", left)
			}
		})
	}
}

func TestEphemeralWritesNothing(t *testing.T) {
	s, err := Ephemeral()
	if err != nil || s.Issuer.CheckSignatureFrom(s.Anchor) != nil || !strings.Contains(s.IssuerKeyPEM, "EC PRIVATE KEY") {
		t.Fatalf("%+v %v", s, err)
	}
}
