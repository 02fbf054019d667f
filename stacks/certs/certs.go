// Package certs makes Linkerd's identity certificates the way the Linkerd
// docs make them with step (or openssl): a trust anchor (ECDSA P-256 root CA,
// 10 years, CN root.linkerd.cluster.local) and an issuer (ECDSA P-256
// intermediate CA, 1 year, CN identity.linkerd.cluster.local, signed by the
// anchor). The anchor's key stays on the host (0600) and never enters the
// cluster; the issuer can be rotated under the same anchor.
package certs

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha1"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"time"
)

// Names and lifetimes Linkerd expects.
const (
	AnchorCN       = "root.linkerd.cluster.local"
	IssuerCN       = "identity.linkerd.cluster.local"
	AnchorLifetime = 10 * 365 * 24 * time.Hour
	IssuerLifetime = 365 * 24 * time.Hour
)

// Files in the certs folder.
const (
	AnchorCert = "ca.crt"
	AnchorKey  = "ca.key"
	IssuerCert = "issuer.crt"
	IssuerKey  = "issuer.key"
)

// Set is the PEM material Helm needs (identityTrustAnchorsPEM,
// identity.issuer.tls.crtPEM / keyPEM). The anchor key is not in it.
type Set struct {
	AnchorPEM    string
	IssuerPEM    string
	IssuerKeyPEM string
	Anchor       *x509.Certificate
	Issuer       *x509.Certificate
}

// Ensure loads the certificates in dir, creating the anchor and the issuer
// when missing. An existing anchor is never replaced.
func Ensure(dir string) (*Set, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	if _, err := os.Stat(filepath.Join(dir, AnchorCert)); errors.Is(err, os.ErrNotExist) {
		if err := newAnchor(dir); err != nil {
			return nil, err
		}
	}
	if _, err := os.Stat(filepath.Join(dir, IssuerCert)); errors.Is(err, os.ErrNotExist) {
		if err := Rotate(dir); err != nil {
			return nil, err
		}
	}
	return Load(dir)
}

// Load reads the set from dir.
func Load(dir string) (*Set, error) {
	read := func(name string) ([]byte, *x509.Certificate, error) {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			return nil, nil, err
		}
		blk, _ := pem.Decode(b)
		if blk == nil {
			return b, nil, fmt.Errorf("%s: no PEM block", name)
		}
		if blk.Type != "CERTIFICATE" {
			return b, nil, nil
		}
		c, err := x509.ParseCertificate(blk.Bytes)
		return b, c, err
	}
	a, ac, err := read(AnchorCert)
	if err != nil {
		return nil, err
	}
	i, ic, err := read(IssuerCert)
	if err != nil {
		return nil, err
	}
	k, _, err := read(IssuerKey)
	if err != nil {
		return nil, err
	}
	return &Set{AnchorPEM: string(a), IssuerPEM: string(i), IssuerKeyPEM: string(k), Anchor: ac, Issuer: ic}, nil
}

func newAnchor(dir string) error {
	der, key, err := newCA(AnchorCN, AnchorLifetime, nil, nil)
	if err != nil {
		return err
	}
	return writePair(dir, AnchorCert, AnchorKey, der, key)
}

// newCA makes an ECDSA P-256 CA certificate: self-signed (a root that may
// sign one intermediate) when parent is nil, else an intermediate (pathlen 0)
// signed by parent.
func newCA(cn string, lifetime time.Duration, parent *x509.Certificate, parentKey *ecdsa.PrivateKey) ([]byte, *ecdsa.PrivateKey, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: cn},
		NotBefore:             now.Add(-5 * time.Minute),
		NotAfter:              now.Add(lifetime),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		SubjectKeyId:          keyID(&key.PublicKey),
	}
	if parent == nil {
		tmpl.MaxPathLen = 1
		parent, parentKey = tmpl, key
	} else {
		tmpl.MaxPathLen, tmpl.MaxPathLenZero = 0, true
		tmpl.AuthorityKeyId = parent.SubjectKeyId
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, parentKey)
	return der, key, err
}

// Rotate issues a new issuer certificate and key signed by the anchor in dir.
func Rotate(dir string) error {
	ab, err := os.ReadFile(filepath.Join(dir, AnchorCert))
	if err != nil {
		return fmt.Errorf("reading the trust anchor: %w", err)
	}
	kb, err := os.ReadFile(filepath.Join(dir, AnchorKey))
	if err != nil {
		return fmt.Errorf("reading the trust anchor key: %w", err)
	}
	ablk, _ := pem.Decode(ab)
	kblk, _ := pem.Decode(kb)
	if ablk == nil || kblk == nil {
		return errors.New("trust anchor files are not PEM")
	}
	anchor, err := x509.ParseCertificate(ablk.Bytes)
	if err != nil {
		return err
	}
	akey, err := x509.ParseECPrivateKey(kblk.Bytes)
	if err != nil {
		return err
	}
	der, key, err := newCA(IssuerCN, IssuerLifetime, anchor, akey)
	if err != nil {
		return err
	}
	return writePair(dir, IssuerCert, IssuerKey, der, key)
}

func writePair(dir, certName, keyName string, der []byte, key *ecdsa.PrivateKey) error {
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, keyName), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, certName), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
}

func serial() *big.Int {
	n, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	return n
}

// keyID is the RFC 5280 method-1 key identifier: SHA-1 of the public key bits.
func keyID(pub *ecdsa.PublicKey) []byte {
	b := elliptic.Marshal(pub.Curve, pub.X, pub.Y) //nolint:staticcheck // the raw point is what the method hashes
	sum := sha1.Sum(b)
	return sum[:]
}

// Status is one certificate's expiry, for `lab certs status`.
type Status struct {
	Name      string        `json:"name"`
	Subject   string        `json:"subject"`
	NotAfter  time.Time     `json:"notAfter"`
	Remaining time.Duration `json:"remainingNs"`
	Warn      bool          `json:"warn"` // under 30 days left
}

// Statuses reports the anchor's and the issuer's expiry.
func (s *Set) Statuses(now time.Time) []Status {
	var out []Status
	for _, c := range []struct {
		name string
		cert *x509.Certificate
	}{{"trust anchor", s.Anchor}, {"issuer", s.Issuer}} {
		left := c.cert.NotAfter.Sub(now)
		out = append(out, Status{Name: c.name, Subject: c.cert.Subject.CommonName, NotAfter: c.cert.NotAfter, Remaining: left, Warn: left < 30*24*time.Hour})
	}
	return out
}
