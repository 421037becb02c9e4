package executor

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestCgroupOOMKillsReadsBothCgroupVersions(t *testing.T) {
	v2 := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(v2, "memory.events"), []byte("low 0\nhigh 0\nmax 4\noom 2\noom_kill 2\noom_group_kill 1\n"), 0o644))
	n, ok := cgroupOOMKills(v2)()
	assert.True(t, ok)
	assert.Equal(t, int64(2), n)

	v1 := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(v1, "memory"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(v1, "memory", "memory.oom_control"), []byte("oom_kill_disable 0\nunder_oom 0\noom_kill 5\n"), 0o644))
	n, ok = cgroupOOMKills(v1)()
	assert.True(t, ok)
	assert.Equal(t, int64(5), n)

	_, ok = cgroupOOMKills(t.TempDir())()
	assert.False(t, ok, "no cgroup files: cannot tell")
}
