package actorpool

import (
	"fmt"
	"slices"
	"time"
)

// scaleInput is what an environment's scaling decision looks at: its spec's bounds, how many executor
// pods it runs now, its work, and its idle executors.
type scaleInput struct {
	// min and max are the environment's bounds (EnvironmentSpec.MinReplicas, Replicas).
	min, max int
	// slots and backlog say how much work one executor takes before another is wanted: the tasks it
	// runs, and the tasks that may wait in the queue on its account (EnvironmentSpec.Slots, Backlog).
	slots, backlog int
	// replicas is how many executor pods the environment runs now (connected or starting); connected
	// how many of them have an executor connected.
	replicas, connected int
	// queued and running are the environment's attempts waiting for a slot and holding one.
	queued, running int
	// idle are the connected executors that run nothing and take tasks, longest idle first.
	idle []idleExecutor
	// scaledownTTL is how long an executor stays idle before it may be removed.
	scaledownTTL time.Duration
	// room is how many more executor pods the namespace's cap allows; negative: no cap.
	room int
	now  time.Time
}

// idleExecutor is a connected executor that runs nothing, since when.
type idleExecutor struct {
	pod   string
	since time.Time
}

// scaleDecision is what an environment does about its size.
type scaleDecision struct {
	// replicas is the number of executor pods to run.
	replicas int
	// remove names an idle executor to drain and remove ("": none); replicas counts it out already.
	remove string
	// capped is true when the work wants more executors than the namespace's cap allows.
	capped bool
	// wanted is how many executors the work wants, within the spec's bounds.
	wanted int
}

// decideScale decides an environment's size. It wants one executor per slots+backlog tasks of work
// (running and queued), within [min, max]. It grows at once, as far as the namespace's cap allows. It
// shrinks only when all its executors are connected, one executor at a time, and only an idle one that has
// been idle for scaledownTTL: the executor is drained (no new task) before its pod goes, and an executor
// that runs a task is never removed. A fixed environment (min == max) neither grows nor shrinks; with a
// scaledownTTL of 0 idle executors stay (the environment goes whole, after its TTL).
func decideScale(in scaleInput) scaleDecision {
	wanted := in.wanted()
	d := scaleDecision{replicas: in.replicas, wanted: wanted}
	switch {
	case wanted > in.replicas:
		grow := wanted - in.replicas
		if in.room >= 0 && grow > in.room {
			grow, d.capped = in.room, true
		}
		d.replicas += grow
	case in.mayShrink():
		if longest := in.idle[0]; !in.now.Before(longest.since.Add(in.scaledownTTL)) {
			d.replicas--
			d.remove = longest.pod
		}
	}
	return d
}

// wanted is how many executors the work wants: one per slots+backlog tasks, within [min, max].
func (in scaleInput) wanted() int {
	perExecutor := max(in.slots+in.backlog, 1)
	wanted := (in.queued + in.running + perExecutor - 1) / perExecutor
	return min(max(wanted, in.min), in.max)
}

// mayShrink reports whether the environment would remove its longest idle executor once that one has
// been idle for scaledownTTL: it has more executors than its work wants, all connected, and one idle.
func (in scaleInput) mayShrink() bool {
	return in.wanted() < in.replicas && in.scaledownTTL > 0 && in.connected >= in.replicas && len(in.idle) > 0
}

// scaleInputLocked gathers env's scaling input at now. p.mu must be held.
func (p *Pool) scaleInputLocked(env *environment, now time.Time) scaleInput {
	minimum := env.spec.MinReplicas
	if env.prewarmed {
		minimum = max(minimum, min(1, env.spec.Replicas))
	}
	in := scaleInput{min: minimum, max: env.spec.Replicas, slots: env.spec.Slots, backlog: env.spec.Backlog,
		replicas: env.replicas, connected: len(env.sessions), queued: env.queue.len(), running: env.active,
		scaledownTTL: env.spec.ScaledownTTL, room: -1, now: now}
	in.room = p.roomLocked(env.spec.Key.Namespace)
	for _, s := range env.sessions {
		if s.idle() {
			in.idle = append(in.idle, idleExecutor{pod: s.podName, since: s.idleSince})
		}
	}
	slices.SortFunc(in.idle, func(a, b idleExecutor) int { return a.since.Compare(b.since) })
	return in
}

// scaleLocked sizes env for its work now, and returns the executor pod to remove ("" none) and whether
// env must ask the Cluster for more pods. p.mu must be held.
func (p *Pool) scaleLocked(env *environment, now time.Time) (remove string, grow bool) {
	if env.discovered || env.deleting || env.broken != "" || env.spec.Replicas == 0 {
		return "", false
	}
	d := decideScale(p.scaleInputLocked(env, now))
	env.capped = d.capped
	if d.replicas == env.replicas {
		return "", false
	}
	before := env.replicas
	p.setReplicasLocked(env, d.replicas)
	if before == 0 && len(env.sessions) == 0 {
		env.sessionlessSince = now // its executors start now: the start timeout counts from here
	}
	if d.remove != "" {
		s := env.sessions[d.remove]
		s.draining = true // idle, and from now on given nothing: its pod may go
		env.removing[d.remove] = true
		p.metrics.event(env, eventScaledDown)
		p.executorEventLocked(env, d.remove, false, "ExecutorScaledDown", fmt.Sprintf(
			"the executor was idle for %s and environment %s needs %d executors: it is removed", env.spec.ScaledownTTL, env.spec.Key.Name, d.replicas))
		return d.remove, false
	}
	switch {
	case before == 0 && d.replicas > 0:
		p.metrics.event(env, eventStarted)
	case d.replicas > before:
		p.metrics.event(env, eventScaledUp)
	}
	return "", true
}

// roomLocked returns how many more executor pods namespace's cap allows, or -1 when there is no cap.
// p.mu must be held.
func (p *Pool) roomLocked(namespace string) int {
	limit := p.opts.MaxExecutorsPerNamespace
	if limit <= 0 {
		return -1
	}
	return max(limit-p.namespaceReplicas[namespace], 0)
}

// setReplicasLocked sets how many executor pods env runs, keeping its namespace's count. p.mu must be
// held.
func (p *Pool) setReplicasLocked(env *environment, replicas int) {
	ns := env.spec.Key.Namespace
	freed := replicas < env.replicas
	p.namespaceReplicas[ns] += replicas - env.replicas
	if p.namespaceReplicas[ns] == 0 {
		delete(p.namespaceReplicas, ns)
	}
	env.replicas = replicas
	if freed && p.opts.MaxExecutorsPerNamespace > 0 {
		// Room in the namespace: the environments the cap held back look again.
		for _, other := range p.environments {
			if other.capped && other.spec.Key.Namespace == ns {
				other.poke()
			}
		}
	}
}

// nextScaleCheckLocked returns when env's longest idle executor may be scaled down, and false if the
// environment would remove none now however long it waited (an executor still starting, work for
// all): what changes that (an executor connecting or going idle, work leaving) wakes its goroutine.
// p.mu must be held.
func (p *Pool) nextScaleCheckLocked(env *environment, now time.Time) (time.Time, bool) {
	if env.discovered || env.deleting || env.broken != "" || env.spec.Replicas == 0 {
		return time.Time{}, false
	}
	in := p.scaleInputLocked(env, now)
	if !in.mayShrink() {
		return time.Time{}, false
	}
	return in.idle[0].since.Add(in.scaledownTTL), true
}

// capReason says why env's work waits beyond its executors, when the namespace's cap holds it back.
func (p *Pool) capReason(env *environment) string {
	return fmt.Sprintf("namespace %s is at its cap of %d executors (plugins.actor.max-executors-per-namespace)",
		env.spec.Key.Namespace, p.opts.MaxExecutorsPerNamespace)
}
