package plugin

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"os"

	"k8s.io/client-go/kubernetes"

	"github.com/flyteactors/flyteactors/actorpool/kubepods"
	"github.com/flyteactors/flyteactors/go/servercert"
)

// serverTLS returns the executor service's TLS and the CA certificate executors verify it against,
// as plugins.actor.tls says, for the advertise address of place; nil, nil when TLS is disabled.
func serverTLS(ctx context.Context, client kubernetes.Interface, cfg *Config, place placement) (*tls.Config, []byte, error) {
	host, _, err := net.SplitHostPort(place.advertiseAddress)
	if err != nil {
		return nil, nil, fmt.Errorf("plugins.actor.advertise-address %q: %w", place.advertiseAddress, err)
	}
	var bundle servercert.Bundle
	switch cfg.TLS.Mode {
	case tlsDisabled:
		return nil, nil, nil
	case tlsAuto:
		namespace := ownNamespace(cfg.TLS.SecretNamespace)
		if bundle, err = kubepods.EnsureServerCertificate(ctx, client, namespace, place.tlsSecret, host); err != nil {
			return nil, nil, fmt.Errorf("plugins.actor.tls (auto): %w", err)
		}
	case tlsFiles:
		// The operator's certificate is renewed in place (cert-manager): it is read again whenever its
		// files change. The CA is read once; executor pods get it through their anchors.
		ca, err := os.ReadFile(cfg.TLS.CAFile)
		if err != nil {
			return nil, nil, fmt.Errorf("plugins.actor.tls.ca-file: %w", err)
		}
		cert, err := servercert.LoadFileCertificate(cfg.TLS.CertFile, cfg.TLS.KeyFile)
		if err != nil {
			return nil, nil, fmt.Errorf("plugins.actor.tls.cert-file, key-file: %w", err)
		}
		return cert.ServerTLS(), ca, nil
	default:
		return nil, nil, fmt.Errorf("plugins.actor.tls.mode: must be %s, %s or %s, got %q", tlsAuto, tlsFiles, tlsDisabled, cfg.TLS.Mode)
	}
	server, err := bundle.ServerTLS()
	if err != nil {
		return nil, nil, fmt.Errorf("plugins.actor.tls: %w", err)
	}
	return server, bundle.CACert, nil
}
