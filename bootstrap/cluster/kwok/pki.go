package kwok

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"

	"lab.dev/lab/core/state"
)

// PKI is a throwaway certificate authority for one control plane.
type PKI struct {
	Dir    string
	CACert *x509.Certificate
	CAKey  *ecdsa.PrivateKey
	CAFile string
}

// PKI files. ca.crt is written last: it marks a finished set.
const (
	caCert = "ca.crt"
	caKey  = "ca.key"
	saKey  = "sa.key"
	saPub  = "sa.pub"
)

// LoadOrCreatePKI reuses dir's PKI when the whole set is there and sound: the
// CA certificate and its key (which must belong together) and the
// service-account key pair. Without ca.crt the set was never finished (a
// `lab up` killed while making it): it is made anew. With ca.crt but another
// file missing or broken, the error names it and the way out.
func LoadOrCreatePKI(dir string) (*PKI, error) {
	if _, err := os.Stat(filepath.Join(dir, caCert)); errors.Is(err, os.ErrNotExist) {
		return NewPKI(dir)
	}
	p, err := loadPKI(dir)
	if err != nil {
		return nil, fmt.Errorf("the lab's control-plane PKI in %s is broken: %w; remove the lab with `lab down` and run `lab up` again", dir, err)
	}
	return p, nil
}

func loadPKI(dir string) (*PKI, error) {
	blocks := map[string]*pem.Block{}
	for _, name := range []string{caCert, caKey, saKey, saPub} {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			return nil, err
		}
		blk, _ := pem.Decode(b)
		if blk == nil {
			return nil, fmt.Errorf("%s is not PEM", name)
		}
		blocks[name] = blk
	}
	cert, err := x509.ParseCertificate(blocks[caCert].Bytes)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", caCert, err)
	}
	key, err := x509.ParseECPrivateKey(blocks[caKey].Bytes)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", caKey, err)
	}
	if !key.PublicKey.Equal(cert.PublicKey) {
		return nil, fmt.Errorf("%s is not the key of %s", caKey, caCert)
	}
	sa, err := x509.ParsePKCS1PrivateKey(blocks[saKey].Bytes)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", saKey, err)
	}
	pub, err := x509.ParsePKIXPublicKey(blocks[saPub].Bytes)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", saPub, err)
	}
	if !sa.PublicKey.Equal(pub) {
		return nil, fmt.Errorf("%s is not the public key of %s", saPub, saKey)
	}
	return &PKI{Dir: dir, CACert: cert, CAKey: key, CAFile: filepath.Join(dir, caCert)}, nil
}

// NewPKI writes the service-account RSA key pair (sa.key, sa.pub), then the
// CA's key and certificate (ECDSA P-256, 0600) into dir, each file
// atomically and ca.crt last, so a kill at any instant leaves either a
// finished set or one without ca.crt, which the next run makes anew.
func NewPKI(dir string) (*PKI, error) {
	sa, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	if err := writePEM(filepath.Join(dir, saKey), "RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(sa)); err != nil {
		return nil, err
	}
	pub, _ := x509.MarshalPKIXPublicKey(&sa.PublicKey)
	if err := writePEM(filepath.Join(dir, saPub), "PUBLIC KEY", pub); err != nil {
		return nil, err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "lab-test-ca"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(5 * 365 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	cert, _ := x509.ParseCertificate(der)
	p := &PKI{Dir: dir, CACert: cert, CAKey: key, CAFile: filepath.Join(dir, caCert)}
	kb, _ := x509.MarshalECPrivateKey(key)
	if err := writePEM(filepath.Join(dir, caKey), "EC PRIVATE KEY", kb); err != nil {
		return nil, err
	}
	return p, writePEM(p.CAFile, "CERTIFICATE", der)
}

// Issue writes name.crt/name.key signed by the CA. With hosts it is a serving
// certificate; otherwise a client certificate for cn in groups orgs.
func (p *PKI) Issue(name, cn string, orgs []string, hosts ...string) (certFile, keyFile string, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return "", "", err
	}
	serial, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: cn, Organization: orgs},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(365 * 24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	if len(hosts) > 0 {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.CACert, &key.PublicKey, p.CAKey)
	if err != nil {
		return "", "", err
	}
	certFile, keyFile = filepath.Join(p.Dir, name+".crt"), filepath.Join(p.Dir, name+".key")
	kb, _ := x509.MarshalECPrivateKey(key)
	if err := writePEM(keyFile, "EC PRIVATE KEY", kb); err != nil {
		return "", "", err
	}
	return certFile, keyFile, writePEM(certFile, "CERTIFICATE", der)
}

func writePEM(path, typ string, der []byte) error {
	return state.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600)
}
