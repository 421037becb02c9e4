package actorpool

import (
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

func TestTasksAheadIsExactThenCoarse(t *testing.T) {
	for n, want := range map[int]string{0: "no task", 1: "1 task", 9: "9 tasks", 10: "10 or more tasks", 19: "10 or more tasks",
		20: "20 or more tasks", 49: "20 or more tasks", 50: "50 or more tasks", 999: "500 or more tasks", 12345: "10000 or more tasks"} {
		assert.Equal(t, want, tasksAhead(n), "%d", n)
	}
}

// TestWaitingReasonsSayWhatAPersonNeeds: the reason a queued task gives, in each situation of its
// environment.
func TestWaitingReasonsSayWhatAPersonNeeds(t *testing.T) {
	spec := EnvironmentSpec{Key: EnvironmentKey{Namespace: "ns", Name: "my-actor"}, Replicas: 2, MinReplicas: 2, Slots: 1}
	newEnv := func() (*environment, *attempt) {
		env := newEnvironment(spec, "id", QueueFair)
		env.replicas = 2
		a := &attempt{id: "a", env: env}
		return env, a
	}

	env, a := newEnv()
	env.pods["actor-my-actor-abc12"] = ExecutorPodState{Pod: "actor-my-actor-abc12",
		Problem: "container actor: ImagePullBackOff: Back-off pulling image \"nope:1\"", Reason: "ImagePullBackOff"}
	assert.Equal(t, `waiting for executors: 0/2 ready in environment my-actor (pod actor-my-actor-abc12: container actor: ImagePullBackOff: Back-off pulling image "nope:1")`,
		env.waitingReason(a, "cap"))

	env, a = newEnv()
	assert.Equal(t, "waiting for executors: 0/2 ready in environment my-actor", env.waitingReason(a, "cap"))

	env, a = newEnv()
	env.sessions["p1"] = &Session{}
	for _, id := range []string{"x", "y"} {
		env.queue.push(&attempt{id: id, env: env})
	}
	env.queue.push(a)
	assert.Equal(t, "queued: 2 tasks ahead in environment my-actor (1/2 executors ready, all busy)", env.waitingReason(a, "cap"))
	env.capped = true
	assert.Equal(t, "queued: 2 tasks ahead in environment my-actor (1/2 executors ready, all busy); namespace cap", env.waitingReason(a, "namespace cap"))

	env, a = newEnv()
	env.lastErr = errors.New("forbidden")
	assert.Equal(t, "environment my-actor cannot start executors yet: forbidden", env.waitingReason(a, ""))
	env, a = newEnv()
	env.awaiting["p"], env.awaitingUntil = true, time.Now().Add(time.Minute)
	assert.Equal(t, "waiting for 1 executors of environment my-actor to reconnect after a restart", env.waitingReason(a, ""))
}
