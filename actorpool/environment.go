package actorpool

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/flyteactors/flyteactors/go/contract"
)

// environment is the pool's record of one environment. The pool's mutex guards it.
type environment struct {
	spec EnvironmentSpec
	id   string
	// discovered is true while the environment is known only from the cluster (found at start, not yet
	// submitted to): spec has its namespace, name and TTL but no pod, so it is never ensured.
	discovered bool
	// secret is the environment's secret, read from the Cluster; empty until the first ensure.
	secret    string
	ensured   bool
	ensuredAt time.Time
	// failures counts Cluster calls that failed in a row; retryAt is when the next may be made.
	failures int
	retryAt  time.Time
	// deleting is true while the environment's goroutine deletes it from the Cluster: nothing is
	// dispatched and no executor is admitted meanwhile.
	deleting bool
	lastErr  error
	queue    taskQueue
	// active counts the slots taken on the environment's sessions, live and lost.
	active    int
	idleSince time.Time
	// sessions are the connected executors, by pod name.
	sessions map[string]*Session
	// lost are sessions whose stream ended while they held attempts, by pod name: they wait for the
	// executor to reconnect, until the reconnect grace ends or their pod is seen ended.
	lost map[string]*Session
	// awaiting are executor pods found running at start that have not reconnected yet; until they
	// have, or awaitingUntil passes, nothing is dispatched (see Pool.registerDiscovered).
	awaiting      map[string]bool
	awaitingUntil time.Time
	// pods is how the environment's executor pods are doing, as the Cluster last said.
	pods map[string]ExecutorPodState
	// podFailures counts executor pods that ended in a row, without an executor attaching between;
	// it sets the backoff before they are replaced.
	podFailures int
	// broken, once a pod reports a problem that cannot heal, says what it is: the environment makes
	// no more pods, and its tasks fail, until it is deleted.
	broken string
	// sessionlessSince is when the environment was last left without connected executors.
	sessionlessSince time.Time
	// wake asks the environment's goroutine to look again; it never blocks a sender.
	wake chan struct{}
	// runTimes are how long the environment's tasks ran lately, by task name.
	runTimes runTimes
	// replicas is how many executor pods the environment runs now (scaling.go); the Cluster keeps that
	// many alive.
	replicas int
	// capped is true while the namespace's cap keeps the environment smaller than its work wants.
	capped bool
	// removing are the executor pods the pool is removing because they were idle (scaled down).
	removing map[string]bool
	// assignments counts the attempts sent to each executor pod that connected (for the metrics: the
	// first on each of its runtimes is cold); runtimeRestarts is each pod's count of runtimes started
	// again, as its executor last said.
	assignments     map[string]int
	runtimeRestarts map[string]int
	// prewarmed is true from Prewarm until the environment's first task: it keeps one executor at
	// least, whatever its fewest, so that the executor started ahead waits for the workflow's tasks
	// until the environment's TTL.
	prewarmed bool
}

func newEnvironment(spec EnvironmentSpec, id string, order QueueOrder) *environment {
	return &environment{spec: spec, id: id, queue: newTaskQueue(order), sessions: map[string]*Session{},
		lost: map[string]*Session{}, awaiting: map[string]bool{}, pods: map[string]ExecutorPodState{},
		removing: map[string]bool{}, assignments: map[string]int{}, runtimeRestarts: map[string]int{},
		wake: make(chan struct{}, 1)}
}

// replicasNow reads env.replicas under mu (for a log line made without it).
func (env *environment) replicasNow(mu *sync.Mutex) int {
	mu.Lock()
	defer mu.Unlock()
	return env.replicas
}

// idle reports whether the environment has nothing queued and nothing running.
func (env *environment) idle() bool { return env.queue.len() == 0 && env.active == 0 }

// mayEnsure reports whether env's goroutine asks the Cluster to run env: not for an environment found at
// start that nobody has submitted to (the pool does not know its pods' spec), nor for a broken one
// (its pods are refused until an executor attaches).
func (env *environment) mayEnsure() bool { return !env.discovered && env.broken == "" }

// poke wakes the environment's goroutine.
func (env *environment) poke() {
	select {
	case env.wake <- struct{}{}:
	default:
	}
}

// enqueue appends a to the environment's queue at now.
func (env *environment) enqueue(a *attempt, now time.Time) {
	a.queuedAt = now
	env.queue.push(a)
	env.poke()
}

// hasFreeSlot reports whether a connected executor of the environment has a free slot.
func (env *environment) hasFreeSlot() bool { return env.freeSession() != nil }

// freeSession returns the connected session with the most free slots, or nil if none has one.
func (env *environment) freeSession() *Session {
	var best *Session
	for _, s := range env.sessions {
		if s.freeSlots() > 0 && (best == nil || s.freeSlots() > best.freeSlots()) {
			best = s
		}
	}
	return best
}

// waitingReason says why a, a queued attempt of the environment (nil: a task submitted now), is not
// running yet, for the people who read Flyte's events: bounded (it goes into the events and the
// workflow's status) and valid UTF-8.
func (env *environment) waitingReason(a *attempt, capReason string) string {
	return contract.TruncateReason(env.withCap(env.unboundedWaitingReason(a), capReason))
}

func (env *environment) unboundedWaitingReason(a *attempt) string {
	name := env.spec.Key.Name
	switch {
	case env.broken != "":
		return env.broken
	case env.lastErr != nil:
		return fmt.Sprintf("environment %s cannot start executors yet: %v", name, env.lastErr)
	case env.deleting:
		return fmt.Sprintf("environment %s is being replaced after it was idle", name)
	case len(env.awaiting) > 0:
		return fmt.Sprintf("waiting for %d executors of environment %s to reconnect after a restart", len(env.awaiting), name)
	case len(env.sessions) == 0:
		reason := fmt.Sprintf("waiting for executors: 0/%d ready in environment %s", env.replicas, name)
		if problems := env.podProblems(); problems != "its pods are still pending" {
			reason += " (" + problems + ")"
		}
		return reason
	}
	// Without an attempt (the status page), the reason a task submitted now would get: behind all.
	ahead := env.queue.len()
	if a != nil && a.isQueued() {
		ahead = env.queue.ahead(a)
	}
	return fmt.Sprintf("queued: %s ahead in environment %s (%d/%d executors ready, all busy)", tasksAhead(ahead), name,
		len(env.sessions), max(env.replicas, len(env.sessions)))
}

// tasksAhead says how many tasks are ahead: exactly below ten, then on a 1-2-5 scale (10 or more, 20 or
// more, 50 or more, 100 or more, ...), so that the reason, and the event each new one makes, changes
// rarely while a long queue moves.
func tasksAhead(n int) string {
	switch {
	case n == 0:
		return "no task"
	case n == 1:
		return "1 task"
	case n < 10:
		return fmt.Sprintf("%d tasks", n)
	}
	shown := 10
	for decade := 10; ; decade *= 10 {
		for _, v := range []int{decade, 2 * decade, 5 * decade} {
			if v > n {
				return fmt.Sprintf("%d or more tasks", shown)
			}
			shown = v
		}
	}
}

// withCap adds capReason (the namespace's cap keeps the environment from growing) to a waiting reason,
// while it does.
func (env *environment) withCap(reason, capReason string) string {
	if !env.capped {
		return reason
	}
	return reason + "; " + capReason
}

// maxNamedPods bounds how many pods a reason names for one problem: a hundred replicas that cannot
// pull their image say so in one line.
const maxNamedPods = 3

// podProblems says what env's pods report, for people: each distinct problem once, after the pods that
// have it.
func (env *environment) podProblems() string {
	podsByProblem := map[string][]string{}
	for name, s := range env.pods {
		if s.Problem != "" {
			podsByProblem[s.Problem] = append(podsByProblem[s.Problem], name)
		}
	}
	if len(podsByProblem) == 0 {
		if env.lastErr != nil {
			return env.lastErr.Error()
		}
		return "its pods are still pending"
	}
	problems := make([]string, 0, len(podsByProblem))
	for problem, pods := range podsByProblem {
		slices.Sort(pods)
		named := "pod " + pods[0]
		if len(pods) > 1 {
			named = "pods " + strings.Join(pods[:min(len(pods), maxNamedPods)], ", ")
			if more := len(pods) - maxNamedPods; more > 0 {
				named += fmt.Sprintf(" and %d more", more)
			}
		}
		problems = append(problems, named+": "+problem)
	}
	slices.Sort(problems)
	return strings.Join(problems, "; ")
}

// forgetEndedPods drops the states of pods that ended: the Cluster has removed them.
func (env *environment) forgetEndedPods() {
	for name, s := range env.pods {
		if s.Ended {
			delete(env.pods, name)
		}
	}
}

// noteSessionsChanged starts the clock of an environment left without executors.
func (env *environment) noteSessionsChanged(now time.Time) {
	if len(env.sessions) == 0 {
		env.sessionlessSince = now
	}
}
