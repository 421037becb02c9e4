package actorpool

import (
	"time"

	"github.com/flyteorg/flyte/flytestdlib/logger"
)

// runEnvironment is the one goroutine that talks to the Cluster about env. Because it is the only one,
// creating and deleting an environment's pods never race. It ends when the environment has been idle
// for its TTL and is deleted, or when the pool's context is done.
func (p *Pool) runEnvironment(env *environment) {
	defer p.wg.Done()
	ctx := p.ctx
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-env.wake:
		case <-timer.C:
		}

		p.mu.Lock()
		now := p.opts.Now()
		expired := env.idle() && now.Sub(env.idleSince) >= env.spec.TTL
		if expired {
			// Nothing is dispatched while deleting, so the decision stays right while the Cluster
			// call below runs without p.mu; tasks that arrive meanwhile wait, and teardown sees them.
			env.deleting = true
		}
		stale := !env.ensured || now.Sub(env.ensuredAt) >= p.opts.ResyncInterval
		next := p.nextCheckLocked(env)
		// Cluster calls are slow and must not hold p.mu; only this goroutine makes them for env, so
		// what was decided above cannot be overtaken by another call for the same environment.
		p.mu.Unlock()

		switch {
		case expired:
			var gone bool
			if gone, next = p.teardown(env); gone {
				return
			}
		case stale:
			next = p.ensure(env)
		}
		resetTimer(timer, next)
	}
}

// ensure asks the Cluster to run env and records the outcome; it returns when to look again.
func (p *Pool) ensure(env *environment) time.Duration {
	token, err := p.cluster.EnsureEnvironment(p.ctx, env.spec)
	p.mu.Lock()
	defer p.mu.Unlock()
	if err != nil {
		env.lastErr = err
		logger.Warnf(p.ctx, "environment %s: cannot ensure executors: %v", env.spec.Key, err)
		return p.opts.RetryInterval
	}
	env.lastErr = nil
	env.token = token
	env.ensured = true
	env.ensuredAt = p.opts.Now()
	return p.nextCheckLocked(env)
}

// teardown deletes env from the cluster. It returns true when env is gone from the pool; otherwise
// when to look again: at once if tasks arrived meanwhile, after RetryInterval if the deletion failed.
func (p *Pool) teardown(env *environment) (bool, time.Duration) {
	logger.Infof(p.ctx, "environment %s: idle for %s, deleting it", env.spec.Key, env.spec.TTL)
	err := p.cluster.DeleteEnvironment(p.ctx, env.spec.Key)
	p.mu.Lock()
	defer p.mu.Unlock()
	env.deleting = false
	if err != nil {
		env.lastErr = err
		logger.Warnf(p.ctx, "environment %s: cannot delete: %v", env.spec.Key, err)
		return false, p.opts.RetryInterval
	}
	env.ensured = false
	env.token = ""
	if !env.idle() {
		return false, 0
	}
	delete(p.environments, env.id)
	for _, s := range env.sessions {
		s.detached = true
	}
	return true, 0
}

// nextCheckLocked returns how long env's goroutine may sleep before it must look at env again: a live
// environment is converged again every ResyncInterval, an idle one is looked at when its TTL runs out.
// p.mu must be held.
func (p *Pool) nextCheckLocked(env *environment) time.Duration {
	next := p.opts.ResyncInterval
	if env.idle() {
		if left := env.spec.TTL - p.opts.Now().Sub(env.idleSince); left < next {
			next = max(left, 0)
		}
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
