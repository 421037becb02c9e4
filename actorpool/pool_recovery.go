package actorpool

import (
	"time"

	"github.com/flyteorg/flyte/flytestdlib/logger"
)

// discover runs once at start: it registers the environments the cluster holds that nobody has
// submitted to yet (a restart of propeller), so that their executors are admitted again and their
// pods and anchors are deleted after their TTL if nobody does. It retries until it succeeds.
func (p *Pool) discover() {
	defer p.wg.Done()
	backoff := p.opts.RetryInterval
	for {
		found, err := p.cluster.DiscoverEnvironments(p.ctx)
		if err == nil {
			p.registerDiscovered(found)
			return
		}
		logger.Warnf(p.ctx, "actor pool: cannot list the environments the cluster holds: %v", err)
		select {
		case <-p.ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, p.opts.MaxRetryInterval)
	}
}

// registerDiscovered adds the environments found in the cluster that the pool does not know, and
// makes every environment with live executor pods wait for them to reconnect before it dispatches:
// until an executor has said what it runs, the pool cannot know that an attempt propeller submits
// again is not running there already.
func (p *Pool) registerDiscovered(found []DiscoveredEnvironment) {
	p.update(func(w *wakeups) {
		now := p.opts.Now()
		for _, d := range found {
			env, known := p.environments[d.ID]
			if !known {
				env = newEnvironment(EnvironmentSpec{Key: d.Key, TTL: d.TTL, Slots: d.Slots}, d.ID, p.opts.QueueOrder)
				env.discovered, env.secret, env.ensured, env.ensuredAt, env.idleSince = true, d.Secret, true, now, now
				p.setReplicasLocked(env, len(d.Pods))
				p.startEnvironmentLocked(env)
				logger.Infof(p.ctx, "actor pool: found environment %s (%s) in namespace %s; it is deleted after %s unless used",
					d.Key.Name, d.ID, d.Key.Namespace, d.TTL)
			} else if len(d.Pods) > env.replicas {
				// Submitted to (or prewarmed) before discovery ended: it runs the pods it had, which count.
				p.setReplicasLocked(env, len(d.Pods))
			}
			for _, pod := range d.Pods {
				if _, attached := env.sessions[pod]; !attached {
					env.awaiting[pod] = true
				}
			}
			env.awaitingUntil = now.Add(p.opts.ReconnectGrace)
			env.poke()
		}
		p.discoveryDone = true
		for _, env := range p.environments {
			p.dispatchLocked(env, w)
		}
	})
}

// sweep periodically releases what nobody wants any more: attempts the plugin has not asked about for
// ForgetAfter (their workflow went away without an abort), and orphans not submitted within
// OrphanGrace.
func (p *Pool) sweep() {
	defer p.wg.Done()
	ticker := time.NewTicker(min(p.opts.ForgetAfter, p.opts.OrphanGrace) / 4)
	defer ticker.Stop()
	for {
		select {
		case <-p.ctx.Done():
			return
		case <-ticker.C:
			p.sweepOnce()
		}
	}
}

// sweepOnce releases the attempts sweep is for, once.
func (p *Pool) sweepOnce() {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.opts.Now()
	for _, a := range p.attempts {
		switch {
		case a.isOrphan() && now.Sub(a.orphanSince) >= p.opts.OrphanGrace:
			logger.Infof(p.ctx, "actor pool: %s, reported by executor %s, was not submitted again: stopping it", a.id, a.session.podName)
			p.forgetOrphanLocked(a)
		case !a.isOrphan() && now.Sub(a.lastSeen) >= p.opts.ForgetAfter:
			logger.Warnf(p.ctx, "actor pool: nobody asked about %s for %s: releasing it", a.id, p.opts.ForgetAfter)
			p.releaseLocked(a)
		}
	}
}
