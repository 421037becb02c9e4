package plugin

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/types"

	propellerconfig "github.com/flyteorg/flyte/flytepropeller/pkg/controller/config"

	"github.com/flyteactors/flyteactors/actorpool"
	"github.com/flyteactors/flyteactors/actorpool/pooltest"
)

// TestShardedPropellerIsRefused: the plugin does not start in a shard of FlytePropeller.
func TestShardedPropellerIsRefused(t *testing.T) {
	assert.NoError(t, checkNotSharded(&propellerconfig.Config{}))
	err := checkNotSharded(&propellerconfig.Config{IncludeShardKeyLabel: []string{"shard-1"}})
	assert.ErrorContains(t, err, "FlytePropeller runs sharded")
}

// TestSecondLoadWithAnotherConfigIsAnError: the process has one pool; a plugin loaded later with
// another plugins.actor section must not silently run with the first one.
func TestSecondLoadWithAnotherConfigIsAnError(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	pool := actorpool.New(ctx, pooltest.NewCluster(), func(types.NamespacedName) {}, actorpool.Options{})
	t.Cleanup(func() {
		cancel()
		pool.Wait()
	})
	once := poolOnce{pool: pool, cfg: defaultConfig}

	same := defaultConfig
	got, err := once.get(ctx, nil, &same)
	require.NoError(t, err)
	assert.Same(t, pool, got)

	other := defaultConfig
	other.ListenAddress = ":9999"
	_, err = once.get(ctx, nil, &other)
	assert.ErrorContains(t, err, "restart FlytePropeller")
}
