package executor

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/flyteactors/flyteactors/actorpool"
	"github.com/flyteactors/flyteactors/actorpool/pooltest"
)

func TestExecutorStopsCancelledTask(t *testing.T) {
	f := newFixture(t, 1)
	f.submit(t, "slow", "sleep", "30")
	f.submit(t, "next", "ok")
	runExecutor(t, f.executor(t, pooltest.Token(f.spec.Key, "pod-1"), 1))
	require.Eventually(t, func() bool {
		s, _ := f.pool.Status("slow")
		return s.Phase() == actorpool.TaskRunning
	}, 20*time.Second, 10*time.Millisecond)

	start := time.Now()
	f.pool.Release("slow")
	assert.Equal(t, actorpool.TaskSucceeded, f.waitTerminal(t, "next").Phase())
	assert.Less(t, time.Since(start), 15*time.Second, "the slot was freed by the cancel, not by the sleep ending")
}

func TestExecutorRunsSlotsInParallel(t *testing.T) {
	f := newFixture(t, 2)
	f.submit(t, "x", "sleep", "1")
	f.submit(t, "y", "sleep", "1")
	runExecutor(t, f.executor(t, pooltest.Token(f.spec.Key, "pod-1"), 2))
	x, y := f.waitTerminal(t, "x"), f.waitTerminal(t, "y")
	assert.Equal(t, actorpool.TaskSucceeded, x.Phase())
	assert.Equal(t, actorpool.TaskSucceeded, y.Phase())
	assert.True(t, x.StartedAt.Before(y.FinishedAt) && y.StartedAt.Before(x.FinishedAt), "the two tasks overlapped")
}
