package actorpool

import (
	"context"
	"time"

	"github.com/flyteorg/flyte/flytestdlib/logger"
)

// Submit adds a task attempt to its environment's queue, creating the environment if needed. Submitting
// an ID the pool already knows changes nothing, so callers may submit on every round; an attempt an
// executor reported running or finished before propeller submitted it (after a restart of the pool)
// is adopted, not run again.
func (p *Pool) Submit(ctx context.Context, t Task) error {
	if err := t.Validate(); err != nil {
		return err
	}
	submitted := false
	p.update(func(w *wakeups) {
		if a, known := p.attempts[t.ID]; known {
			if !a.isOrphan() {
				return
			}
			if adoptsOrphan(a, t) {
				p.adoptOrphanLocked(a, t, w)
				return
			}
			// Reported by an executor of another environment: not this attempt's run. Stop it; the
			// attempt runs where it belongs.
			p.forgetOrphanLocked(a)
		}
		env := p.environmentLocked(t.Environment)
		env.prewarmed = false // its work has come: it scales by it from now on
		a := newAttempt(t, env, p.opts.Now())
		p.attempts[t.ID] = a
		submitted = true
		if env.broken != "" {
			p.failLocked(a, brokenFailure(env.broken), w)
			return
		}
		env.enqueue(a, p.opts.Now())
		p.dispatchLocked(env, w)
	})
	if submitted {
		logger.Debugf(ctx, "actor task %s submitted to environment %s", t.ID, t.Environment.Key)
	}
	return nil
}

// Status returns what the pool knows about an attempt, and false if it does not know it (or knows it
// only from an executor's report, so that the caller submits it).
func (p *Pool) Status(id string) (TaskStatus, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	a, ok := p.attempts[id]
	if !ok || a.isOrphan() {
		return TaskStatus{}, false
	}
	a.lastSeen = p.opts.Now()
	s := a.status
	s.ExecutorsConnected = len(a.env.sessions)
	s.EnvironmentID = a.env.id
	if s.Executor != "" {
		s.ExecutorContainer = a.env.spec.PrimaryContainer
	}
	if s.phase == TaskQueued {
		reason := a.env.waitingReason(a, p.capReason(a.env))
		if !p.discoveryDone {
			reason = "the actor pool is starting: it is finding out which executors already run"
		}
		if reason != a.waiting {
			// The version tells propeller the phase says something new, so that it shows the reason.
			a.waiting = reason
			a.waitingVersion++
		}
		s.Waiting, s.Version = a.waiting, a.waitingVersion
	}
	return s, true
}

// Release forgets an attempt: the plugin has recorded its end, or aborted it. An attempt still
// running is cancelled on its executor, which keeps the slot until it confirms the attempt stopped;
// an attempt that ended has its result acknowledged, so the executor forgets it too. An attempt known
// only from an executor's report (after a restart, before propeller submitted it again) is forgotten
// the same way: an abort right after a restart stops its run at once.
func (p *Pool) Release(id string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	a, ok := p.attempts[id]
	switch {
	case !ok:
	case a.isOrphan():
		p.forgetOrphanLocked(a)
	default:
		p.releaseLocked(a)
	}
}

// Prewarm starts an environment's executors before any of its tasks is submitted: a workflow that will
// need it has started (lookahead). An environment the pool already runs is left as it is; a new one is
// idle from now, so it goes after its TTL if no task comes, as any idle environment does. It reports
// whether it started the environment.
func (p *Pool) Prewarm(ctx context.Context, spec EnvironmentSpec) (bool, error) {
	if err := spec.Validate(); err != nil {
		return false, err
	}
	started := false
	p.update(func(*wakeups) {
		if env, known := p.environments[spec.Key.ID()]; known && !env.discovered {
			return
		}
		env := p.environmentLocked(spec)
		env.idleSince = p.opts.Now()
		// A workflow will send it work: its goroutine sizes it (at least one executor, within the
		// namespace's cap) at once.
		env.prewarmed = true
		env.poke()
		started = true
	})
	if started {
		logger.Infof(ctx, "environment %s prewarmed: a workflow that starts will need it", spec.Key)
	}
	return started, nil
}

// AwaitEnd waits, for at most budget, for an attempt an executor runs (or was sent) to end, if its task
// typically ends within budget (the median of its recent runs in its environment), and returns its
// status then, as Status does. An attempt that is queued, ended, unknown, or whose task runs longer or
// has not run yet, is not waited for. It lets the plugin's caller, a round of FlytePropeller, go on with
// the workflow at once instead of waiting to be woken.
func (p *Pool) AwaitEnd(ctx context.Context, id string, budget time.Duration) (TaskStatus, bool) {
	p.mu.Lock()
	a, ok := p.attempts[id]
	var ended <-chan struct{}
	if ok && !a.isOrphan() && (a.status.phase == TaskAssigned || a.status.phase == TaskRunning) {
		if typical, known := a.env.runTimes.typical(a.name); known && typical <= budget {
			ended = a.ended
		}
	}
	p.mu.Unlock()
	if ended != nil {
		timer := time.NewTimer(budget)
		select {
		case <-ended:
		case <-timer.C:
		case <-ctx.Done():
		}
		timer.Stop()
	}
	return p.Status(id)
}
