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
