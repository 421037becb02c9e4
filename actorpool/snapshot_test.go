package actorpool_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/flyteactors/flyteactors/actorpool"
	"github.com/flyteactors/flyteactors/actorpool/pooltest"
)

// TestSnapshotShowsEnvironmentsExecutorsAndWhyTasksWait: what the status page shows, and nothing secret.
func TestSnapshotShowsEnvironmentsExecutorsAndWhyTasksWait(t *testing.T) {
	f := newPoolFixture(t)
	spec := pooltest.Spec("env", time.Hour)
	task := pooltest.Task("a", spec)
	task.Env = []actorpool.EnvVar{{Name: "DB_PASSWORD", Value: "hunter2"}}
	require.NoError(t, f.pool.Submit(t.Context(), task))
	f.submit(t, spec, "b")
	require.Eventually(t, func() bool { return f.cluster.Ensured(spec.Key.ID()) == 1 }, 5*time.Second, time.Millisecond)
	f.attach(t, spec, "pod-1", nil, nil)

	snap := f.pool.Snapshot()
	require.Len(t, snap.Environments, 1)
	e := snap.Environments[0]
	assert.Equal(t, []any{"env", "ns", "p", "d", "running", 1, 1, 1}, []any{e.Name, e.Namespace, e.Project, e.Domain, e.State, e.Replicas, e.Queued, e.Running})
	assert.Equal(t, "queued: 1 task ahead in environment env (1/1 executors ready, all busy)", e.Waiting,
		"a task submitted now waits behind b")
	require.Len(t, e.Executors, 1)
	assert.Equal(t, actorpool.ExecutorSnapshot{Pod: "pod-1", State: "busy", Slots: 1, Tasks: []string{"a"}}, e.Executors[0])
	assert.Equal(t, actorpool.SnapshotTotals{Environments: 1, Executors: 1, Queued: 1, Running: 1}, snap.Totals)

	raw, err := json.Marshal(snap)
	require.NoError(t, err)
	for _, secret := range []string{"hunter2", "DB_PASSWORD", pooltest.Secret(spec.Key.ID()), pooltest.Token(spec.Key, "pod-1"), "pyflyte-execute"} {
		assert.NotContains(t, string(raw), secret, "the status page shows no secret, token, command or variable")
	}
}
