package executor

import (
	"fmt"
	"net"

	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/flyteactors/flyteactors/go/contract"
	"github.com/flyteactors/flyteactors/go/servercert"
)

// transportCredentials are TLS that trusts only Config.CA and expects the pool address's host, or
// none without a CA.
func (x *Executor) transportCredentials() (credentials.TransportCredentials, error) {
	if x.cfg.CA == nil {
		return insecure.NewCredentials(), nil
	}
	host, _, err := net.SplitHostPort(x.cfg.PoolAddress)
	if err != nil {
		return nil, fmt.Errorf("pool address %q: %w", x.cfg.PoolAddress, err)
	}
	cfg, err := servercert.ClientTLS(x.cfg.CA, host)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", contract.EnvCA, err)
	}
	return credentials.NewTLS(cfg), nil
}
