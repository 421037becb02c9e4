package plugin

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	stdconfig "github.com/flyteorg/flyte/flytestdlib/config"

	"github.com/flyteactors/flyteactors/actorpool"
)

// awaitingPool is a pool whose AwaitEnd blocks until the test lets it return what the attempt ended as.
type awaitingPool struct {
	runningPool
	calls   atomic.Int32
	release chan struct{}
	ended   actorpool.TaskStatus
}

func (p *awaitingPool) AwaitEnd(context.Context, string, time.Duration) (actorpool.TaskStatus, bool) {
	p.calls.Add(1)
	<-p.release
	return p.ended, true
}

func TestRoundReportsTheEndOfATaskThatEndsWhileItWaits(t *testing.T) {
	cfg := defaultConfig
	cfg.WaitInRound = WaitInRoundConfig{MaxWait: stdconfig.Duration{Duration: time.Second}, MaxWaiting: 1}
	pool := &awaitingPool{release: make(chan struct{})}
	pool.ended = actorpool.TaskStatus{Executor: "pod-1"}
	p, err := New(pool, &cfg, "")
	require.NoError(t, err)

	waited := make(chan actorpool.TaskStatus)
	go func() { waited <- p.awaitEnd(context.Background(), "a", actorpool.TaskStatus{}) }()
	require.Eventually(t, func() bool { return pool.calls.Load() == 1 }, 5*time.Second, time.Millisecond)

	// One round waits already: another returns what it has at once, without waiting.
	before := actorpool.TaskStatus{Executor: "as-before"}
	assert.Equal(t, before, p.awaitEnd(context.Background(), "b", before))
	assert.Equal(t, int32(1), pool.calls.Load(), "max-waiting rounds wait at once")

	close(pool.release)
	assert.Equal(t, pool.ended, <-waited, "the waiting round reports what the attempt ended as")
	assert.Equal(t, pool.ended, p.awaitEnd(context.Background(), "c", actorpool.TaskStatus{}), "its token is back")
}

func TestRoundsNeverWaitWhenWaitingIsOff(t *testing.T) {
	cfg := defaultConfig
	cfg.WaitInRound.MaxWait = stdconfig.Duration{}
	pool := &awaitingPool{release: make(chan struct{})}
	p, err := New(pool, &cfg, "")
	require.NoError(t, err)
	status := actorpool.TaskStatus{Executor: "pod-1"}
	assert.Equal(t, status, p.awaitEnd(context.Background(), "a", status))
	assert.Zero(t, pool.calls.Load())
}

func TestAQuarterOfPropellersWorkersMayWait(t *testing.T) {
	assert.Equal(t, 1, maxWaitingRounds(0, 4), "flyte-core's 4 workers: one")
	assert.Equal(t, 5, maxWaitingRounds(0, 20), "propeller's default 20: five")
	assert.Equal(t, 1, maxWaitingRounds(0, 1))
	assert.Equal(t, 7, maxWaitingRounds(7, 20), "as configured")
}
