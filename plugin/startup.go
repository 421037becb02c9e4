package plugin

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"os"

	"k8s.io/client-go/kubernetes"

	propellerconfig "github.com/flyteorg/flyte/flytepropeller/pkg/controller/config"

	"github.com/flyteactors/flyteactors/actorpool/kubepods"
	"github.com/flyteactors/flyteactors/go/servercert"
)

// checkNotSharded refuses a sharded FlytePropeller: each shard would run a pool of its own, and two
// pools for one environment would each make its pods and could run one attempt twice.
func checkNotSharded(cfg *propellerconfig.Config) error {
	if len(cfg.IncludeShardKeyLabel) > 0 || len(cfg.ExcludeShardKeyLabel) > 0 {
		return fmt.Errorf("actor plugin: FlytePropeller runs sharded (propeller.include-shard-key-label %v, "+
			"exclude-shard-key-label %v); Flyte Actors needs one FlytePropeller to see every task of an environment, "+
			"so run it unsharded or leave the actor plugin out of the shards", cfg.IncludeShardKeyLabel, cfg.ExcludeShardKeyLabel)
	}
	return nil
}

// serverTLS returns the executor service's TLS and the CA certificate executors verify it against,
// as plugins.actor.tls says; nil, nil when TLS is disabled.
func serverTLS(ctx context.Context, client kubernetes.Interface, cfg *Config) (*tls.Config, []byte, error) {
	host, _, err := net.SplitHostPort(cfg.AdvertiseAddress)
	if err != nil {
		return nil, nil, fmt.Errorf("plugins.actor.advertise-address %q: %w", cfg.AdvertiseAddress, err)
	}
	var bundle servercert.Bundle
	switch cfg.TLS.Mode {
	case tlsDisabled:
		return nil, nil, nil
	case tlsAuto:
		namespace := cfg.TLS.SecretNamespace
		if namespace == "" {
			namespace = os.Getenv("POD_NAMESPACE")
		}
		if namespace == "" {
			namespace = "flyte"
		}
		if bundle, err = kubepods.EnsureServerCertificate(ctx, client, namespace, cfg.TLS.SecretName, host); err != nil {
			return nil, nil, fmt.Errorf("plugins.actor.tls (auto): %w", err)
		}
	case tlsFiles:
		for _, f := range []struct {
			into *[]byte
			path string
			name string
		}{{&bundle.ServerCert, cfg.TLS.CertFile, "cert-file"}, {&bundle.ServerKey, cfg.TLS.KeyFile, "key-file"}, {&bundle.CACert, cfg.TLS.CAFile, "ca-file"}} {
			if *f.into, err = os.ReadFile(f.path); err != nil {
				return nil, nil, fmt.Errorf("plugins.actor.tls.%s: %w", f.name, err)
			}
		}
	default:
		return nil, nil, fmt.Errorf("plugins.actor.tls.mode: must be %s, %s or %s, got %q", tlsAuto, tlsFiles, tlsDisabled, cfg.TLS.Mode)
	}
	server, err := bundle.ServerTLS()
	if err != nil {
		return nil, nil, fmt.Errorf("plugins.actor.tls: %w", err)
	}
	return server, bundle.CACert, nil
}
