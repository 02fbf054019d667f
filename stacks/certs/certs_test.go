package certs

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func openssl(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command("openssl", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("openssl %v: %v\n%s", args, err, out)
	}
	return string(out)
}

// The real openssl CLI verifies the chain, the key types and the extensions.
func TestCertificatesWithOpenSSL(t *testing.T) {
	if _, err := exec.LookPath("openssl"); err != nil {
		t.Fatal("openssl is required (apt-get install openssl)")
	}
	dir := t.TempDir()
	set, err := Ensure(dir)
	if err != nil {
		t.Fatal(err)
	}
	ca, issuer := filepath.Join(dir, AnchorCert), filepath.Join(dir, IssuerCert)
	if out := openssl(t, "verify", "-CAfile", ca, issuer); !strings.Contains(out, "OK") {
		t.Fatalf("verify: %s", out)
	}
	for _, f := range []string{ca, issuer} {
		text := openssl(t, "x509", "-in", f, "-noout", "-text")
		for _, want := range []string{"Public Key Algorithm: id-ecPublicKey", "ASN1 OID: prime256v1", "CA:TRUE", "Certificate Sign", "Signature Algorithm: ecdsa-with-SHA256", "X509v3 Subject Key Identifier"} {
			if !strings.Contains(text, want) {
				t.Errorf("%s lacks %q", filepath.Base(f), want)
			}
		}
	}
	it := openssl(t, "x509", "-in", issuer, "-noout", "-text")
	if !strings.Contains(it, "pathlen:0") || !strings.Contains(it, "Authority Key Identifier") {
		t.Errorf("issuer extensions:\n%s", it)
	}
	if subj := openssl(t, "x509", "-in", issuer, "-noout", "-subject"); !strings.Contains(subj, IssuerCN) {
		t.Errorf("issuer subject %s", subj)
	}
	for _, k := range []string{AnchorKey, IssuerKey} {
		if out := openssl(t, "ec", "-in", filepath.Join(dir, k), "-noout", "-check"); !strings.Contains(out, "valid") && !strings.Contains(out, "EC Key valid") {
			t.Errorf("%s: %s", k, out)
		}
		fi, _ := os.Stat(filepath.Join(dir, k))
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s mode %o, want 0600", k, fi.Mode().Perm())
		}
	}
	days := func(c time.Time) int { return int(time.Until(c).Hours() / 24) }
	if d := days(set.Anchor.NotAfter); d < 3640 || d > 3651 {
		t.Errorf("anchor valid %d days, want ~3650", d)
	}
	if d := days(set.Issuer.NotAfter); d < 360 || d > 366 {
		t.Errorf("issuer valid %d days, want ~365", d)
	}
	if strings.Contains(set.AnchorPEM+set.IssuerPEM+set.IssuerKeyPEM, mustRead(t, filepath.Join(dir, AnchorKey))) {
		t.Error("the anchor key is part of what goes to the cluster")
	}
}

func TestRotateKeepsAnchor(t *testing.T) {
	dir := t.TempDir()
	a, err := Ensure(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := Rotate(dir); err != nil {
		t.Fatal(err)
	}
	b, err := Ensure(dir)
	if err != nil {
		t.Fatal(err)
	}
	if a.AnchorPEM != b.AnchorPEM {
		t.Error("rotation replaced the trust anchor")
	}
	if a.IssuerPEM == b.IssuerPEM || a.IssuerKeyPEM == b.IssuerKeyPEM {
		t.Error("rotation kept the issuer")
	}
	if out := openssl(t, "verify", "-CAfile", filepath.Join(dir, AnchorCert), filepath.Join(dir, IssuerCert)); !strings.Contains(out, "OK") {
		t.Errorf("rotated issuer does not verify: %s", out)
	}
	st := b.Statuses(time.Now())
	if len(st) != 2 || st[0].Warn || st[1].Warn {
		t.Errorf("statuses: %+v", st)
	}
}

func mustRead(t *testing.T, p string) string {
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
