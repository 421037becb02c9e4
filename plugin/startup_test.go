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

// TestShardOfPropellerNamesItsOwn: an unsharded FlytePropeller has no shard; a shard's name follows the
// workflows it selects (whatever their order), and names its advertise address, Service and TLS secret.
func TestShardOfPropellerNamesItsOwn(t *testing.T) {
	assert.Empty(t, shardOf(&propellerconfig.Config{}))
	a := shardOf(&propellerconfig.Config{IncludeShardKeyLabel: []string{"1", "2"}})
	assert.Equal(t, a, shardOf(&propellerconfig.Config{IncludeShardKeyLabel: []string{"2", "1"}}))
	assert.NotEqual(t, a, shardOf(&propellerconfig.Config{ExcludeShardKeyLabel: []string{"1", "2"}}))
	assert.NotEqual(t, a, shardOf(&propellerconfig.Config{IncludeProjectLabel: []string{"1", "2"}}))
	assert.Regexp(t, `^shard-[0-9a-f]{10}$`, a, "a label value and a DNS label")

	cfg := defaultConfig
	cfg.AdvertiseAddress = "flyte-actors{shard}.flyte.svc.cluster.local:8089"
	place := placementOf(&cfg, &propellerconfig.Config{IncludeShardKeyLabel: []string{"1", "2"}})
	assert.Equal(t, "flyte-actors-"+a+".flyte.svc.cluster.local:8089", place.advertiseAddress)
	assert.Equal(t, "flyte-actors-tls-"+a, place.tlsSecret)
	assert.Equal(t, "flyte-actors-"+a, withShard(cfg.Endpoint.Service, a))
	unsharded := placementOf(&cfg, &propellerconfig.Config{})
	assert.Equal(t, "flyte-actors.flyte.svc.cluster.local:8089", unsharded.advertiseAddress)
	assert.Equal(t, "flyte-actors-tls", unsharded.tlsSecret)
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
	got, _, err := once.get(ctx, nil, &same)
	require.NoError(t, err)
	assert.Same(t, pool, got)

	other := defaultConfig
	other.ListenAddress = ":9999"
	_, _, err = once.get(ctx, nil, &other)
	assert.ErrorContains(t, err, "restart FlytePropeller")
}

func TestPoolConfigMistakesNameTheKey(t *testing.T) {
	cfg := defaultConfig
	require.NoError(t, checkPoolConfig(&cfg))
	cfg.QueueOrder = "lifo"
	assert.EqualError(t, checkPoolConfig(&cfg), `plugins.actor.queue-order: must be "fair" or "fifo", got "lifo"`)
	cfg = defaultConfig
	cfg.MaxExecutorsPerNamespace = -1
	assert.EqualError(t, checkPoolConfig(&cfg), "plugins.actor.max-executors-per-namespace: must be 0 (no cap) or more, got -1")
}
