package actorpool

import (
	"fmt"
	"time"

	"github.com/flyteorg/flyte/flytestdlib/logger"
)

// watchPods follows the Cluster's executor pods until the pool's context is done, starting again
// (after a backoff) if the watch fails.
func (p *Pool) watchPods() {
	defer p.wg.Done()
	backoff := p.opts.RetryInterval
	for p.ctx.Err() == nil {
		err := p.cluster.WatchExecutorPods(p.ctx, p.observePod)
		if p.ctx.Err() != nil {
			return
		}
		logger.Warnf(p.ctx, "actor pool: watching executor pods failed (%v); again in %s", err, backoff)
		select {
		case <-p.ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, p.opts.MaxRetryInterval)
	}
}

// observePod records how an executor pod is doing and acts on it: a pod that ended fails the tasks
// of its lost session at once and is replaced after a backoff that grows with each pod that failed in
// a row; a problem that cannot heal fails the environment's queued tasks now, and its new ones, until
// the environment is deleted.
func (p *Pool) observePod(state ExecutorPodState) {
	p.update(func(w *wakeups) {
		env := p.environments[state.EnvironmentID]
		if env == nil || env.deleting || env.spec.Key.Namespace != state.Namespace {
			// A pod of another namespace that carries this environment's label is not its pod: anyone
			// who can make pods there could otherwise break the environment.
			return
		}
		before, seen := env.pods[state.Pod]
		env.pods[state.Pod] = state
		if s := env.sessions[state.Pod]; s != nil && state.Stopping {
			s.draining = true // its pod is going away: no new task, even before the executor says so
		}
		if state.Problem != before.Problem {
			p.wakeQueuedLocked(env, w) // their waiting reason changed
			if state.Reason != "" {
				p.metrics.podProblem(env, state.Reason)
			}
		}
		if state.Ended && (!seen || !before.Ended) {
			if s := env.lost[state.Pod]; s != nil {
				p.failLostLocked(s, state, w)
			}
			delete(env.awaiting, state.Pod)
			delete(env.assignments, state.Pod)
			delete(env.runtimeRestarts, state.Pod)
			if env.removing[state.Pod] {
				delete(env.removing, state.Pod)
				logger.Infof(p.ctx, "environment %s: idle executor pod %s removed (scaled down)", env.spec.Key, state.Pod)
			} else if state.Deleted {
				// Someone asked for it (an operator, a node drain, an eviction): not the environment's
				// failure, so its replacement does not wait.
				logger.Infof(p.ctx, "environment %s: executor pod %s was deleted (%s); replacing it", env.spec.Key,
					state.Pod, state.Problem)
			} else {
				env.podFailures++
				wait := p.backoffLocked(env, env.podFailures)
				logger.Warnf(p.ctx, "environment %s: executor pod %s ended (%s); replacing it in %s", env.spec.Key,
					state.Pod, state.Problem, wait.Round(time.Millisecond))
			}
			env.ensuredAt = time.Time{} // replace it now, or once the backoff is over
			env.poke()
		}
		if state.Permanent {
			p.breakLocked(env, fmt.Sprintf("executor pod %s of environment %s cannot start: %s", state.Pod, env.spec.Key.Name, state.Problem), w)
		}
		p.dispatchLocked(env, w)
	})
}

// breakLocked records that env's executors cannot start for reason, which waiting or a new pod of the
// same spec cannot heal: its queued attempts fail now, permanently, and its new ones at submission,
// and it makes no more pods, until an executor attaches or it is deleted. p.mu must be held.
func (p *Pool) breakLocked(env *environment, reason string, w *wakeups) {
	if env.broken != "" {
		return
	}
	env.broken = reason
	logger.Warnf(p.ctx, "environment %s: %s", env.spec.Key, env.broken)
	env.queue.each(func(a *attempt) {
		env.queue.remove(a)
		p.failLocked(a, brokenFailure(env.broken), w)
	})
	p.markIdleLocked(env)
}

// failUnstartedLocked fails the queued attempts that waited StartTimeout without any executor of their
// environment running, naming what the pods say. p.mu must be held.
func (p *Pool) failUnstartedLocked(env *environment, now time.Time, w *wakeups) {
	if len(env.sessions) > 0 || env.replicas == 0 {
		// No executor asked for (the namespace's cap leaves no room): the tasks wait, saying why.
		return
	}
	failed := false
	env.queue.each(func(a *attempt) {
		if now.Sub(latest(a.queuedAt, env.sessionlessSince)) >= p.opts.StartTimeout {
			env.queue.remove(a)
			p.failLocked(a, startTimeoutFailure(env.spec.Key.Name, p.opts.StartTimeout, env.podProblems()), w)
			failed = true
		}
	})
	// Only a change starts the idle clock: restarting it on every look would keep an environment without
	// executors or tasks from ever reaching its TTL, and its goroutine looking again at once, forever.
	if failed {
		p.markIdleLocked(env)
	}
}

// wakeQueuedLocked wakes the owners of env's queued attempts. p.mu must be held.
func (p *Pool) wakeQueuedLocked(env *environment, w *wakeups) {
	env.queue.each(func(a *attempt) { w.add(a.owner) })
}
