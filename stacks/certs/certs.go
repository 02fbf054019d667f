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

	"lab.dev/lab/core/state"
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

// ErrBroken means a certificate file is there but unusable (truncated, not
// PEM, or a key that does not belong to its certificate).
var ErrBroken = errors.New("broken certificate file")

// Ensure loads the certificates in dir, creating what is missing. The set is
// checked whole, not by its first file: an anchor certificate without its
// key (a run killed between the two files) is made anew, as is a missing or
// unusable issuer pair (re-issued under the anchor). An existing, usable
// anchor is never replaced; one whose key is broken is reported with the
// file and the way out, since replacing it changes the mesh's root of trust.
func Ensure(dir string) (*Set, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	switch _, _, err := loadPair(dir, AnchorCert, AnchorKey); {
	case errors.Is(err, os.ErrNotExist):
		// Files are written key first, then certificate: a missing one means
		// the anchor was never finished (or was removed), so there is nothing
		// usable to keep.
		if err := newAnchor(dir); err != nil {
			return nil, err
		}
		_ = os.Remove(filepath.Join(dir, IssuerCert)) // re-issued below under the new anchor
	case err != nil:
		return nil, fmt.Errorf("%w; to start over with a new trust anchor, remove %s (lab up then reinstalls Linkerd with it)", err, dir)
	}
	if _, _, err := loadPair(dir, IssuerCert, IssuerKey); err != nil {
		if err := Rotate(dir); err != nil {
			return nil, err
		}
	}
	return Load(dir)
}

// loadPair reads a certificate and its private key and checks they belong
// together. A missing file wraps os.ErrNotExist; anything unusable, ErrBroken.
func loadPair(dir, certName, keyName string) (*x509.Certificate, *ecdsa.PrivateKey, error) {
	cb, err := os.ReadFile(filepath.Join(dir, certName))
	if err != nil {
		return nil, nil, err
	}
	kb, err := os.ReadFile(filepath.Join(dir, keyName))
	if err != nil {
		return nil, nil, err
	}
	cblk, _ := pem.Decode(cb)
	kblk, _ := pem.Decode(kb)
	if cblk == nil {
		return nil, nil, fmt.Errorf("%w: %s is not PEM", ErrBroken, filepath.Join(dir, certName))
	}
	if kblk == nil {
		return nil, nil, fmt.Errorf("%w: %s is not PEM", ErrBroken, filepath.Join(dir, keyName))
	}
	cert, err := x509.ParseCertificate(cblk.Bytes)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %s: %v", ErrBroken, filepath.Join(dir, certName), err)
	}
	key, err := x509.ParseECPrivateKey(kblk.Bytes)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %s: %v", ErrBroken, filepath.Join(dir, keyName), err)
	}
	if !key.PublicKey.Equal(cert.PublicKey) {
		return nil, nil, fmt.Errorf("%w: %s is not the key of %s", ErrBroken, filepath.Join(dir, keyName), filepath.Join(dir, certName))
	}
	return cert, key, nil
}

// Ephemeral makes a throwaway set in memory (nothing is written): what a dry
// run renders with before the lab's own certificates exist.
func Ephemeral() (*Set, error) {
	ader, akey, err := newCA(AnchorCN, AnchorLifetime, nil, nil)
	if err != nil {
		return nil, err
	}
	anchor, err := x509.ParseCertificate(ader)
	if err != nil {
		return nil, err
	}
	ider, ikey, err := newCA(IssuerCN, IssuerLifetime, anchor, akey)
	if err != nil {
		return nil, err
	}
	issuer, err := x509.ParseCertificate(ider)
	if err != nil {
		return nil, err
	}
	kb, err := x509.MarshalECPrivateKey(ikey)
	if err != nil {
		return nil, err
	}
	return &Set{AnchorPEM: string(certPEM(ader)), IssuerPEM: string(certPEM(ider)), IssuerKeyPEM: string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb})), Anchor: anchor, Issuer: issuer}, nil
}

func certPEM(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
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
	anchor, akey, err := loadPair(dir, AnchorCert, AnchorKey)
	if err != nil {
		return fmt.Errorf("reading the trust anchor: %w", err)
	}
	der, key, err := newCA(IssuerCN, IssuerLifetime, anchor, akey)
	if err != nil {
		return err
	}
	return writePair(dir, IssuerCert, IssuerKey, der, key)
}

// writePair writes the key (0600), then the certificate, each atomically:
// a kill at any instant leaves whole files, and a certificate on disk always
// has its key beside it.
func writePair(dir, certName, keyName string, der []byte, key *ecdsa.PrivateKey) error {
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return err
	}
	if err := state.WriteFile(filepath.Join(dir, keyName), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		return err
	}
	return state.WriteFile(filepath.Join(dir, certName), certPEM(der), 0o644)
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
