package actorpool_test

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/flyteactors/flyteactors/actorpool"
)

func TestEnvironmentKeyIDsDoNotCollide(t *testing.T) {
	a := actorpool.EnvironmentKey{Namespace: "ns", Project: "p/q", Domain: "d", Name: "n", Version: "v"}
	b := actorpool.EnvironmentKey{Namespace: "ns", Project: "p", Domain: "q/d", Name: "n", Version: "v"}
	assert.Equal(t, a.String(), b.String(), "the readable form may look alike")
	assert.NotEqual(t, a.ID(), b.ID(), "the IDs never do")
	assert.Equal(t, a.ID(), a.ID())
}

// TestShardSeparatesEnvironments: one environment definition in two shards of FlytePropeller is two
// environments; an unsharded key keeps the ID it always had (an upgrade keeps its environments).
func TestShardSeparatesEnvironments(t *testing.T) {
	k := actorpool.EnvironmentKey{Namespace: "ns", Project: "p", Domain: "d", Name: "n", Version: "v", PodHash: "h"}
	assert.Equal(t, "3101dc284025a698a244", k.ID(), "an unsharded key hashes as it always did: sha256 of its fields as a JSON array")
	a, b := k, k
	a.Shard, b.Shard = "shard-a", "shard-b"
	assert.NotEqual(t, a.ID(), b.ID())
	assert.NotEqual(t, k.ID(), a.ID())
	assert.False(t, a.SameDefinition(b), "another shard's orphan is never adopted")
}
