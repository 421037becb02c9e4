// Package servercert makes the certificates that keep the executor protocol private: a CA of the
// installation and a server certificate for the pool's executor service, signed by it. Executors
// verify the pool against the CA; the pool authenticates each executor by its pod's token.
package servercert

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"strings"
	"sync"
	"time"
)

// Bundle is a server certificate, its key, and the CA that signed it, all PEM.
type Bundle struct {
	CACert     []byte
	CAKey      []byte
	ServerCert []byte
	ServerKey  []byte
}

// validity of what New makes. Rotating them is a matter of deleting the Secret that keeps them and
// restarting the pool (see the chart's README).
const validity = 10 * 365 * 24 * time.Hour

// New makes a CA and a server certificate for host (a DNS name or an IP address).
func New(host string, now time.Time) (Bundle, error) {
	caKey, caDER, err := selfSigned(now)
	if err != nil {
		return Bundle{}, err
	}
	caCert, err := x509.ParseCertificate(caDER)
	if err != nil {
		return Bundle{}, err
	}
	b := Bundle{CACert: pemOf("CERTIFICATE", caDER)}
	if b.CAKey, err = keyPEM(caKey); err != nil {
		return Bundle{}, err
	}
	return b, b.issueServer(host, caCert, caKey, now)
}

// ForHost returns b if its server certificate is valid for host at now, or b with a new server
// certificate for host from the same CA (the pool's address changed).
func (b Bundle) ForHost(host string, now time.Time) (Bundle, bool, error) {
	if err := b.Verify(host, now); err == nil {
		return b, false, nil
	}
	caCert, caKey, err := b.ca()
	if err != nil {
		return Bundle{}, false, err
	}
	err = b.issueServer(host, caCert, caKey, now)
	return b, true, err
}

// Verify checks that the server certificate was signed by the CA, is valid at now and names host.
func (b Bundle) Verify(host string, now time.Time) error {
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b.CACert) {
		return errors.New("no CA certificate")
	}
	block, _ := pem.Decode(b.ServerCert)
	if block == nil {
		return errors.New("no server certificate")
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return err
	}
	_, err = cert.Verify(x509.VerifyOptions{DNSName: host, Roots: pool, CurrentTime: now})
	return err
}

// ServerTLS is the pool's TLS configuration.
func (b Bundle) ServerTLS() (*tls.Config, error) {
	pair, err := tls.X509KeyPair(b.ServerCert, b.ServerKey)
	if err != nil {
		return nil, fmt.Errorf("server certificate: %w", err)
	}
	return &tls.Config{Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12}, nil
}

// ClientTLS is an executor's TLS configuration: it trusts only the CA (PEM) and expects host.
func ClientTLS(caPEM []byte, host string) (*tls.Config, error) {
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return nil, errors.New("the CA certificate is not PEM")
	}
	return &tls.Config{RootCAs: pool, ServerName: host, MinVersion: tls.VersionTLS12}, nil
}

// issueServer makes b's server certificate for host, signed by the CA.
func (b *Bundle) issueServer(host string, caCert *x509.Certificate, caKey *ecdsa.PrivateKey, now time.Time) error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: host},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(validity),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	if ip := net.ParseIP(host); ip != nil {
		tmpl.IPAddresses = []net.IP{ip}
	} else {
		tmpl.DNSNames = []string{host}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &key.PublicKey, caKey)
	if err != nil {
		return fmt.Errorf("issue server certificate: %w", err)
	}
	b.ServerCert = pemOf("CERTIFICATE", der)
	b.ServerKey, err = keyPEM(key)
	return err
}

func (b Bundle) ca() (*x509.Certificate, *ecdsa.PrivateKey, error) {
	certBlock, _ := pem.Decode(b.CACert)
	keyBlock, _ := pem.Decode(b.CAKey)
	if certBlock == nil || keyBlock == nil {
		return nil, nil, errors.New("the CA certificate or key is missing")
	}
	cert, err := x509.ParseCertificate(certBlock.Bytes)
	if err != nil {
		return nil, nil, err
	}
	key, err := x509.ParseECPrivateKey(keyBlock.Bytes)
	if err != nil {
		return nil, nil, err
	}
	return cert, key, nil
}

func selfSigned(now time.Time) (*ecdsa.PrivateKey, []byte, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: "flyte-actors executor protocol CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(validity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, fmt.Errorf("make CA: %w", err)
	}
	return key, der, nil
}

func serial() *big.Int {
	n, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	return n
}

func keyPEM(key *ecdsa.PrivateKey) ([]byte, error) {
	der, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, err
	}
	return pemOf("EC PRIVATE KEY", der), nil
}

func pemOf(kind string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: kind, Bytes: der})
}

// FileCertificate is a server certificate and key kept in files that someone else renews (cert-manager
// rotates them before they expire). Each TLS handshake looks at the files and reads them again when
// either changed, so the pool serves the renewed certificate without a restart; while a pair read
// back is not valid (a rotation half written), the last valid one is served.
type FileCertificate struct {
	certFile, keyFile string

	mu sync.Mutex // guards the fields below
	// stamp says which versions of the files cert was read from.
	stamp string
	cert  *tls.Certificate
}

// LoadFileCertificate reads the certificate and key in certFile and keyFile, which must be a valid pair.
func LoadFileCertificate(certFile, keyFile string) (*FileCertificate, error) {
	f := &FileCertificate{certFile: certFile, keyFile: keyFile}
	stamp, err := f.currentStamp()
	if err != nil {
		return nil, err
	}
	if err := f.read(stamp); err != nil {
		return nil, err
	}
	return f, nil
}

// ServerTLS is the pool's TLS configuration, serving the files' current certificate.
func (f *FileCertificate) ServerTLS() *tls.Config {
	return &tls.Config{GetCertificate: f.GetCertificate, MinVersion: tls.VersionTLS12}
}

// GetCertificate returns the files' current certificate (tls.Config.GetCertificate).
func (f *FileCertificate) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if stamp, err := f.currentStamp(); err == nil && stamp != f.stamp {
		_ = f.readLocked(stamp) // on error, keep serving the last valid pair
	}
	return f.cert, nil
}

// currentStamp describes the files as they are now: their sizes and modification times (a Secret
// volume's update swaps a symlink, which changes both as seen through the paths).
func (f *FileCertificate) currentStamp() (string, error) {
	var stamp strings.Builder
	for _, name := range []string{f.certFile, f.keyFile} {
		info, err := os.Stat(name)
		if err != nil {
			return "", err
		}
		fmt.Fprintf(&stamp, "%s:%d:%d;", name, info.Size(), info.ModTime().UnixNano())
	}
	return stamp.String(), nil
}

func (f *FileCertificate) read(stamp string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.readLocked(stamp)
}

// readLocked reads the pair, recording it as of stamp if it is valid. f.mu must be held.
func (f *FileCertificate) readLocked(stamp string) error {
	pair, err := tls.LoadX509KeyPair(f.certFile, f.keyFile)
	if err != nil {
		return fmt.Errorf("server certificate %s and key %s: %w", f.certFile, f.keyFile, err)
	}
	f.cert, f.stamp = &pair, stamp
	return nil
}
