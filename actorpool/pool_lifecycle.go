package actorpool

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/flyteorg/flyte/flytestdlib/logger"
)

// runEnvironment is the one goroutine that talks to the Cluster about env. Because it is the only one,
// creating and deleting an environment's pods never race. It ends when the environment has been idle
// for its TTL and is deleted, or when the pool's context is done.
func (p *Pool) runEnvironment(env *environment) {
	defer p.wg.Done()
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-p.ctx.Done():
			return
		case <-env.wake:
		case <-timer.C:
		}
		work := p.plan(env)
		// Cluster calls are slow and must not hold p.mu; only this goroutine makes them for env, so
		// what plan decided cannot be overtaken by another call for the same environment.
		if work.teardown {
			if p.teardown(env, work.spec) {
				return
			}
			resetTimer(timer, 0)
			continue
		}
		if work.remove != "" {
			p.removeExecutor(env, work.spec, work.remove)
		}
		if work.ensure {
			p.ensure(env)
		}
		resetTimer(timer, p.nextCheck(env))
	}
}

// environmentWork is what an environment's goroutine does with the Cluster in one round.
type environmentWork struct {
	teardown bool
	ensure   bool
	// remove names an idle executor pod to remove (scaled down).
	remove string
	// spec is env's spec when plan ran, for the Cluster calls made without p.mu (a submission to a
	// discovered environment sets it meanwhile).
	spec EnvironmentSpec
}

// plan settles what time has decided for env (graces and timeouts that ran out) and decides what its
// goroutine asks of the Cluster now.
func (p *Pool) plan(env *environment) environmentWork {
	var work environmentWork
	p.update(func(w *wakeups) {
		now := p.opts.Now()
		work.spec = env.spec
		if env.idle() && now.Sub(env.idleSince) >= env.spec.TTL && !now.Before(env.retryAt) {
			// Nothing is dispatched and no executor admitted while deleting, so the decision stays
			// right while the Cluster call runs without p.mu; tasks that arrive meanwhile wait.
			env.deleting = true
			work.teardown = true
			return
		}
		for _, s := range env.lost {
			if now.Sub(s.lostAt) >= p.opts.ReconnectGrace {
				p.failLostLocked(s, env.pods[s.podName], w)
			}
		}
		p.failUnstartedLocked(env, now, w)
		p.dispatchLocked(env, w)
		remove, grow := p.scaleLocked(env, now)
		if grow {
			env.ensured = false // more pods: ask the Cluster now
			p.wakeQueuedLocked(env, w)
		}
		work.remove = remove
		work.ensure = env.mayEnsure() &&
			(!env.ensured || now.Sub(env.ensuredAt) >= p.opts.ResyncInterval) && !now.Before(env.retryAt)
	})
	return work
}

// ensure asks the Cluster to run env and records the outcome.
func (p *Pool) ensure(env *environment) {
	p.mu.Lock()
	spec, replicas := env.spec, env.replicas
	p.mu.Unlock()
	secret, err := p.cluster.EnsureEnvironment(p.ctx, spec, replicas)
	p.update(func(w *wakeups) {
		if errors.Is(err, ErrExecutorPodRefused) {
			p.breakLocked(env, fmt.Sprintf("the executor pods of environment %s are refused: %v", env.spec.Key.Name, err), w)
			return
		}
		if err != nil {
			p.failedLocked(env, fmt.Errorf("ensure executors: %w", err))
			return
		}
		env.lastErr, env.failures = nil, 0
		env.secret = secret
		env.ensured = true
		env.ensuredAt = p.opts.Now()
		env.forgetEndedPods()
	})
}

// removeExecutor asks the Cluster to remove executor pod of env, which the pool drained because it was
// idle (scaled down). If the Cluster fails, the executor takes tasks again and counts again.
func (p *Pool) removeExecutor(env *environment, spec EnvironmentSpec, pod string) {
	logger.Infof(p.ctx, "environment %s: executor %s idle for %s, removing it (%d executors wanted)", spec.Key, pod,
		spec.ScaledownTTL, env.replicasNow(&p.mu))
	if err := p.cluster.RemoveExecutor(p.ctx, spec.Key.Namespace, pod); err != nil {
		p.update(func(w *wakeups) {
			p.failedLocked(env, fmt.Errorf("remove idle executor %s: %w", pod, err))
			// Not removed (unless it ended meanwhile): it counts again, takes tasks again unless its pod is
			// stopping after all, and a later look decides again.
			delete(env.removing, pod)
			if state := env.pods[pod]; !state.Ended {
				p.setReplicasLocked(env, env.replicas+1)
				if s := env.sessions[pod]; s != nil {
					s.draining = state.Stopping
				}
				p.dispatchLocked(env, w)
			}
		})
	}
}

// failedLocked records a failed Cluster call of env and backs off before the next. p.mu must be held.
func (p *Pool) failedLocked(env *environment, err error) {
	env.lastErr = err
	env.failures++
	wait := p.backoffLocked(env, env.failures)
	logger.Warnf(p.ctx, "environment %s: %v (failure %d in a row; next try in %s)", env.spec.Key, err, env.failures, wait.Round(time.Millisecond))
}

// backoffLocked sets env's next Cluster call n failures into a row of them: each failure doubles the
// wait, up to MaxRetryInterval, with some jitter so that failing environments do not retry in step on
// the client's shared rate limit. It returns the wait. p.mu must be held.
func (p *Pool) backoffLocked(env *environment, n int) time.Duration {
	wait := p.opts.RetryInterval << min(n-1, 20)
	wait = min(wait, p.opts.MaxRetryInterval)
	wait += time.Duration(rand.Int64N(int64(wait)/5 + 1))
	if at := p.opts.Now().Add(wait); at.After(env.retryAt) {
		env.retryAt = at
	}
	return wait
}

// teardown deletes env, whose spec was spec when it was found idle, from the cluster. It returns true
// when env is gone from the pool; otherwise (tasks arrived meanwhile, or the deletion failed) env goes
// on and is ensured again.
func (p *Pool) teardown(env *environment, spec EnvironmentSpec) (gone bool) {
	logger.Infof(p.ctx, "environment %s: idle for %s, deleting it", spec.Key, spec.TTL)
	err := p.cluster.DeleteEnvironment(p.ctx, spec.Key.Namespace, env.id)
	p.update(func(w *wakeups) {
		env.deleting = false
		// The executors of the pods just deleted (all, or some if the deletion failed half way) must
		// never get work: end their sessions. Executors of pods that live on reconnect.
		for _, s := range env.sessions {
			p.closeSessionLocked(s, "its environment was deleted after it was idle", w)
		}
		env.ensured = false
		if err != nil {
			p.failedLocked(env, fmt.Errorf("delete environment: %w", err))
			return
		}
		env.lastErr, env.failures, env.secret, env.broken, env.podFailures = nil, 0, "", "", 0
		clear(env.pods)
		clear(env.removing)
		if env.idle() {
			p.setReplicasLocked(env, 0)
			delete(p.environments, env.id)
			p.metrics.event(env, eventDeleted)
			gone = true
		}
	})
	return gone
}

// nextCheck returns how long env's goroutine may sleep before it must look at env again: when its
// resync, its backoff, its TTL, a reconnect grace, the wait for executors found at start, or the start
// timeout of its oldest queued attempt runs out.
func (p *Pool) nextCheck(env *environment) time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.opts.Now()
	next := p.opts.ResyncInterval
	until := func(t time.Time) { next = min(next, max(t.Sub(now), 0)) }
	// Only a resync that plan would make counts: a due one that plan skips (a found or broken
	// environment) would wake the goroutine at once, forever.
	if env.ensured && env.mayEnsure() {
		until(env.ensuredAt.Add(p.opts.ResyncInterval))
	}
	if now.Before(env.retryAt) {
		until(env.retryAt)
	}
	if env.idle() {
		until(env.idleSince.Add(env.spec.TTL))
	}
	for _, s := range env.lost {
		until(s.lostAt.Add(p.opts.ReconnectGrace))
	}
	if len(env.awaiting) > 0 {
		until(env.awaitingUntil)
	}
	if at, ok := p.nextScaleCheckLocked(env, now); ok {
		until(at)
	}
	// An environment the namespace's cap keeps without executors does not time out (failUnstartedLocked).
	if oldest, queued := env.queue.oldestQueuedAt(); queued && len(env.sessions) == 0 && env.replicas > 0 {
		until(latest(oldest, env.sessionlessSince).Add(p.opts.StartTimeout))
	}
	return next
}

func latest(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func resetTimer(t *time.Timer, d time.Duration) {
	if !t.Stop() {
		select {
		case <-t.C:
		default:
		}
	}
	t.Reset(d)
}
