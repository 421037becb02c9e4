package actorpool

import (
	"slices"
	"strings"
	"time"
)

// Snapshot is what the pool holds now, for the operators who look (the plugin's status page): its
// environments, their executors and queues, and why tasks wait. It names pods, namespaces and task
// attempts, and holds no secret, token, command or environment variable.
type Snapshot struct {
	Environments []EnvironmentSnapshot `json:"environments"`
	// Totals over the environments.
	Totals SnapshotTotals `json:"totals"`
}

// SnapshotTotals are the pool's counts.
type SnapshotTotals struct {
	Environments int `json:"environments"`
	Executors    int `json:"executors"`
	Queued       int `json:"queued"`
	Running      int `json:"running"`
}

// EnvironmentSnapshot is one environment now.
type EnvironmentSnapshot struct {
	ID        string `json:"id"`
	Namespace string `json:"namespace"`
	Project   string `json:"project"`
	Domain    string `json:"domain"`
	Name      string `json:"name"`
	Version   string `json:"version"`
	Shard     string `json:"shard,omitempty"`
	// State is running (it has work), idle, starting (no executor yet), deleting, broken, or found (at
	// the pool's start, not submitted to since).
	State string `json:"state"`
	// Replicas is how many executor pods it runs, and its bounds.
	Replicas    int `json:"replicas"`
	MinReplicas int `json:"minReplicas"`
	MaxReplicas int `json:"maxReplicas"`
	Slots       int `json:"slots"`
	// Queued and Running count its attempts; QueuedExecutions the workflow executions they are of.
	Queued           int `json:"queued"`
	Running          int `json:"running"`
	QueuedExecutions int `json:"queuedExecutions"`
	// Waiting is why a task submitted now would wait, as Flyte's events would say; empty when an
	// executor has a free slot.
	Waiting string `json:"waiting,omitempty"`
	// Capped is true while the namespace's cap keeps it smaller than its work wants.
	Capped bool `json:"capped,omitempty"`
	// IdleSince is when it last had nothing to do, while it has nothing to do.
	IdleSince    *time.Time         `json:"idleSince,omitempty"`
	TTL          string             `json:"ttl"`
	ScaledownTTL string             `json:"scaledownTtl,omitempty"`
	Executors    []ExecutorSnapshot `json:"executors"`
	// PodProblems are what its executor pods report that keeps them from running, by pod.
	PodProblems map[string]string `json:"podProblems,omitempty"`
}

// ExecutorSnapshot is one executor now.
type ExecutorSnapshot struct {
	Pod string `json:"pod"`
	// State is idle, busy, draining, lost (its stream ended; it may reconnect), or awaited (found at the
	// pool's start, not reconnected yet).
	State string `json:"state"`
	Slots int    `json:"slots,omitempty"`
	// Tasks are the attempts it runs.
	Tasks     []string   `json:"tasks,omitempty"`
	IdleSince *time.Time `json:"idleSince,omitempty"`
	// Lost says why its stream ended, while it is lost.
	Lost string `json:"lost,omitempty"`
}

// Snapshot returns what the pool holds now, environments in name order.
func (p *Pool) Snapshot() Snapshot {
	p.mu.Lock()
	defer p.mu.Unlock()
	snap := Snapshot{Environments: []EnvironmentSnapshot{}}
	for _, env := range p.environments {
		snap.Environments = append(snap.Environments, p.environmentSnapshotLocked(env))
		snap.Totals.Executors += len(env.sessions)
		snap.Totals.Queued += env.queue.len()
		snap.Totals.Running += env.active
	}
	snap.Totals.Environments = len(snap.Environments)
	slices.SortFunc(snap.Environments, func(a, b EnvironmentSnapshot) int {
		return strings.Compare(a.Namespace+"/"+a.Name+"/"+a.ID, b.Namespace+"/"+b.Name+"/"+b.ID)
	})
	return snap
}

// environmentSnapshotLocked describes env. p.mu must be held.
func (p *Pool) environmentSnapshotLocked(env *environment) EnvironmentSnapshot {
	k := env.spec.Key
	e := EnvironmentSnapshot{ID: env.id, Namespace: k.Namespace, Project: k.Project, Domain: k.Domain, Name: k.Name,
		Version: k.Version, Shard: k.Shard, Replicas: env.replicas, MinReplicas: env.spec.MinReplicas,
		MaxReplicas: env.spec.Replicas, Slots: env.spec.Slots, Queued: env.queue.len(), Running: env.active,
		QueuedExecutions: env.queue.executions(), Capped: env.capped, TTL: env.spec.TTL.String(),
		Executors: []ExecutorSnapshot{}}
	if env.spec.MinReplicas < env.spec.Replicas {
		e.ScaledownTTL = env.spec.ScaledownTTL.String()
	}
	switch {
	case env.discovered:
		e.State = "found"
	case env.deleting:
		e.State = "deleting"
	case env.broken != "":
		e.State = "broken"
	case len(env.sessions) == 0:
		e.State = "starting"
	case env.idle():
		e.State = "idle"
	default:
		e.State = "running"
	}
	if env.idle() && !env.idleSince.IsZero() {
		since := env.idleSince
		e.IdleSince = &since
	}
	if !env.hasFreeSlot() {
		e.Waiting = env.waitingReason(nil, p.capReason(env))
	}
	for _, s := range env.sessions {
		x := ExecutorSnapshot{Pod: s.podName, State: sessionState(s), Slots: s.slots, Tasks: []string{}}
		for id := range s.running {
			x.Tasks = append(x.Tasks, id)
		}
		slices.Sort(x.Tasks)
		if s.idle() {
			since := s.idleSince
			x.IdleSince = &since
		}
		e.Executors = append(e.Executors, x)
	}
	for _, s := range env.lost {
		x := ExecutorSnapshot{Pod: s.podName, State: executorLost, Lost: s.lostReason, Tasks: []string{}}
		for id := range s.running {
			x.Tasks = append(x.Tasks, id)
		}
		slices.Sort(x.Tasks)
		e.Executors = append(e.Executors, x)
	}
	for pod := range env.awaiting {
		e.Executors = append(e.Executors, ExecutorSnapshot{Pod: pod, State: "awaited", Tasks: []string{}})
	}
	slices.SortFunc(e.Executors, func(a, b ExecutorSnapshot) int { return strings.Compare(a.Pod, b.Pod) })
	for name, state := range env.pods {
		if state.Problem != "" && !state.Ended {
			if e.PodProblems == nil {
				e.PodProblems = map[string]string{}
			}
			e.PodProblems[name] = state.Problem
		}
	}
	return e
}
