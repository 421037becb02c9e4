package servercert

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestBundleServesItsHostOnly(t *testing.T) {
	now := time.Now()
	b, err := New("flytepropeller.flyte.svc.cluster.local", now)
	require.NoError(t, err)
	require.NoError(t, b.Verify("flytepropeller.flyte.svc.cluster.local", now))
	assert.Error(t, b.Verify("elsewhere.example.com", now))
	assert.Error(t, b.Verify("flytepropeller.flyte.svc.cluster.local", now.Add(11*365*24*time.Hour)), "expired")

	moved, changed, err := b.ForHost("127.0.0.1", now)
	require.NoError(t, err)
	assert.True(t, changed)
	require.NoError(t, moved.Verify("127.0.0.1", now), "an IP address works too")
	assert.Equal(t, b.CACert, moved.CACert, "the same CA: executors that trust it go on trusting")
	same, changed, err := moved.ForHost("127.0.0.1", now)
	require.NoError(t, err)
	assert.False(t, changed)
	assert.Equal(t, moved, same)

	other, err := New("127.0.0.1", now)
	require.NoError(t, err)
	mixed := moved
	mixed.CACert = other.CACert
	assert.Error(t, mixed.Verify("127.0.0.1", now), "another installation's CA does not vouch for it")
	_, err = moved.ServerTLS()
	require.NoError(t, err)
	_, err = ClientTLS(moved.CACert, "127.0.0.1")
	require.NoError(t, err)
}
