package executor

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/flyteactors/flyteactors/actorpool"
	"github.com/flyteactors/flyteactors/actorpool/pooltest"
	"github.com/flyteactors/flyteactors/go/servercert"
)

// TestExecutorVerifiesThePool: over TLS, an executor trusts only its installation's
// CA: a pool with another certificate gets nothing from it.
func TestExecutorVerifiesThePool(t *testing.T) {
	bundle, err := servercert.New("127.0.0.1", time.Now())
	require.NoError(t, err)
	serverTLS, err := bundle.ServerTLS()
	require.NoError(t, err)
	f := newFixtureTLS(t, 1, serverTLS)
	f.submit(t, "a", "ok")

	impostor, err := servercert.New("127.0.0.1", time.Now())
	require.NoError(t, err)
	wrong := f.executor(t, pooltest.Token(f.spec.Key, "pod-1"), 1)
	wrong.cfg.CA = impostor.CACert
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	require.NoError(t, wrong.Run(ctx))
	s, _ := f.pool.Status("a")
	assert.Equal(t, actorpool.TaskQueued, s.Phase(), "an executor that does not trust the pool's certificate never attached")
	assert.Contains(t, f.out.String(), "authentication handshake failed")

	right := f.executor(t, pooltest.Token(f.spec.Key, "pod-1"), 1)
	right.cfg.CA = bundle.CACert
	runExecutor(t, right)
	assert.Equal(t, actorpool.TaskSucceeded, f.waitTerminal(t, "a").Phase(), "over TLS")
}
