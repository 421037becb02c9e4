package executor

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestInstallCopiesTheExecutor(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "flyte-actor")
	require.NoError(t, Install(dir))
	self, err := os.Executable()
	require.NoError(t, err)
	want, err := os.Stat(self)
	require.NoError(t, err)
	got, err := os.Stat(filepath.Join(dir, "actor-executor"))
	require.NoError(t, err)
	assert.Equal(t, want.Size(), got.Size())
	assert.NotZero(t, got.Mode()&0o111, "executable")
}
