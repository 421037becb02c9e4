package actorpool

import (
	"time"

	"k8s.io/apimachinery/pkg/types"
)

// attempt is the pool's record of one task attempt. The pool's mutex guards it.
//
// Most attempts are submitted by the plugin. An executor may also report one the pool does not know
// (it ran or finished it before the pool restarted): such an orphan waits, on that executor, for
// propeller to submit it again, which adopts it.
type attempt struct {
	id      string
	command []string
	envVars []EnvVar
	owner   types.NamespacedName
	env     *environment
	status  TaskStatus
	// session runs (or ran) the attempt; nil while it is queued.
	session *Session
	// released is true once the plugin no longer wants the attempt; it stays only as long as an
	// executor still holds a slot for it.
	released bool
	// orphanSince is when an executor reported the attempt without the plugin having submitted it;
	// zero for submitted attempts.
	orphanSince time.Time
	// held is the result of an orphan that finished, kept unacknowledged until it is adopted.
	held *Result
	// resultHeld is true once the executor reported a result for the attempt: it holds the result
	// until the pool acknowledges it, which the pool does when the attempt is released.
	resultHeld bool
	// lastSeen is when the plugin last asked about the attempt; queuedAt when it was last queued.
	lastSeen time.Time
	queuedAt time.Time
	// waiting is the last waiting reason the plugin was told, and waitingVersion how often it changed.
	waiting        string
	waitingVersion uint32
	// queue is the queue the attempt waits in, with its neighbours there; nil when not queued.
	queue      *attemptQueue
	prev, next *attempt
}

// newAttempt returns the record of a submitted task, queued in nothing yet. It keeps only what the
// attempt needs, not the environment's pod, which the environment holds once for all its attempts.
func newAttempt(t Task, env *environment, now time.Time) *attempt {
	return &attempt{id: t.ID, command: t.Command, envVars: t.Env, owner: t.Owner, env: env,
		status: TaskStatus{phase: TaskQueued}, lastSeen: now}
}

// isQueued reports whether the attempt waits in its environment's queue.
func (a *attempt) isQueued() bool { return a.queue != nil }

// isOrphan reports whether an executor reported the attempt and the plugin has not submitted it.
func (a *attempt) isOrphan() bool { return !a.orphanSince.IsZero() }

// assignment is what an executor is sent to run the attempt.
func (a *attempt) assignment() Assignment {
	return Assignment{TaskID: a.id, Command: a.command, Env: a.envVars}
}
