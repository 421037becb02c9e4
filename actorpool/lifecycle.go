package actorpool

import (
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/flyteorg/flyte/flytestdlib/logger"
)

// fateCheckInterval is how often an environment looks at the pods of executors it waits for (lost
// sessions, pods found at start) while it waits.
const fateCheckInterval = time.Second

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
			if p.teardown(env) {
				return
			}
			resetTimer(timer, 0)
			continue
		}
		if len(work.watch) > 0 {
			p.checkFates(env, work.watch)
		}
		if work.ensure {
			p.ensure(env)
		}
		resetTimer(timer, p.nextCheck(env))
	}
}

// environmentWork is what an environment's goroutine does in one round.
type environmentWork struct {
	teardown bool
	ensure   bool
	// watch are the pods whose fate to look at: those of lost sessions and those awaited after a restart.
	watch []string
}

// plan decides what env's goroutine does now.
func (p *Pool) plan(env *environment) environmentWork {
	var work environmentWork
	p.update(func(w *wakeups) {
		now := p.opts.Now()
		if env.idle() && now.Sub(env.idleSince) >= env.spec.TTL && !now.Before(env.retryAt) {
			// Nothing is dispatched and no executor admitted while deleting, so the decision stays
			// right while the Cluster call runs without p.mu; tasks that arrive meanwhile wait.
			env.deleting = true
			work.teardown = true
			return
		}
		for pod := range env.lost {
			work.watch = append(work.watch, pod)
		}
		if p.awaitingLocked(env) {
			for pod := range env.awaiting {
				work.watch = append(work.watch, pod)
			}
		} else {
			p.dispatchLocked(env, w)
		}
		work.ensure = !env.discovered && (!env.ensured || now.Sub(env.ensuredAt) >= p.opts.ResyncInterval) &&
			!now.Before(env.retryAt)
	})
	return work
}

// ensure asks the Cluster to run env and records the outcome.
func (p *Pool) ensure(env *environment) {
	p.mu.Lock()
	spec := env.spec
	p.mu.Unlock()
	secret, err := p.cluster.EnsureEnvironment(p.ctx, spec)
	p.update(func(w *wakeups) {
		if err != nil {
			p.failedLocked(env, fmt.Errorf("ensure executors: %w", err))
			return
		}
		env.lastErr, env.failures = nil, 0
		env.secret = secret
		env.ensured = true
		env.ensuredAt = p.opts.Now()
	})
}

// failedLocked records a failed Cluster call of env and when to try again: each failure in a row
// doubles the wait, up to MaxRetryInterval, with some jitter so that failing environments do not
// retry in step on the client's shared rate limit. p.mu must be held.
func (p *Pool) failedLocked(env *environment, err error) {
	env.lastErr = err
	env.failures++
	wait := p.opts.RetryInterval << min(env.failures-1, 20)
	wait = min(wait, p.opts.MaxRetryInterval)
	wait += time.Duration(rand.Int64N(int64(wait)/5 + 1))
	env.retryAt = p.opts.Now().Add(wait)
	logger.Warnf(p.ctx, "environment %s: %v (failure %d in a row; next try in %s)", env.spec.Key, err, env.failures, wait.Round(time.Millisecond))
}

// checkFates looks at the pods env waits for and settles what they tell: the attempts of a lost
// session fail once its pod has ended, or when the reconnect grace is over; an awaited pod that ended
// is awaited no more.
func (p *Pool) checkFates(env *environment, pods []string) {
	fates := make(map[string]ExecutorFate, len(pods))
	for _, pod := range pods {
		fate, err := p.cluster.ExecutorFate(p.ctx, env.spec.Key.Namespace, pod)
		if err != nil {
			logger.Warnf(p.ctx, "environment %s: cannot tell what became of executor pod %s: %v", env.spec.Key, pod, err)
			continue
		}
		fates[pod] = fate
	}
	p.update(func(w *wakeups) {
		now := p.opts.Now()
		for pod, s := range env.lost {
			fate := fates[pod]
			if fate.Ended || now.Sub(s.lostAt) >= p.opts.ReconnectGrace {
				p.failLostLocked(s, fate, w)
			}
		}
		for pod := range env.awaiting {
			if fates[pod].Ended {
				delete(env.awaiting, pod)
			}
		}
		p.dispatchLocked(env, w)
	})
}

// teardown deletes env from the cluster. It returns true when env is gone from the pool; otherwise
// (tasks arrived meanwhile, or the deletion failed) env goes on and is ensured again.
func (p *Pool) teardown(env *environment) (gone bool) {
	logger.Infof(p.ctx, "environment %s: idle for %s, deleting it", env.spec.Key, env.spec.TTL)
	err := p.cluster.DeleteEnvironment(p.ctx, env.spec.Key.Namespace, env.id)
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
		env.lastErr, env.failures, env.secret = nil, 0, ""
		if env.idle() {
			delete(p.environments, env.id)
			gone = true
		}
	})
	return gone
}

// closeSessionLocked ends s from the pool's side. Attempts it still holds fail as lost. p.mu must be
// held.
func (p *Pool) closeSessionLocked(s *Session, reason string, w *wakeups) {
	if s.env.sessions[s.podName] == s {
		delete(s.env.sessions, s.podName)
	}
	s.link.Close(reason)
	s.lostReason = reason
	p.failLostLocked(s, ExecutorFate{}, w)
	s.detached = true
}

// nextCheck returns how long env's goroutine may sleep before it must look at env again: a live
// environment is converged again every ResyncInterval (or when its backoff ends after a failure), an
// idle one is looked at when its TTL runs out, and one waiting for executors every fateCheckInterval.
func (p *Pool) nextCheck(env *environment) time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.opts.Now()
	next := p.opts.ResyncInterval
	if env.ensured {
		next = min(next, max(env.ensuredAt.Add(p.opts.ResyncInterval).Sub(now), 0))
	}
	if env.failures > 0 {
		next = min(next, max(env.retryAt.Sub(now), 0))
	}
	if env.idle() {
		next = min(next, max(env.spec.TTL-now.Sub(env.idleSince), 0))
	}
	if len(env.lost) > 0 || len(env.awaiting) > 0 {
		next = min(next, fateCheckInterval)
	}
	return next
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
