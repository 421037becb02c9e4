// Package pooltest has the one fake of each kind that tests of the actor pool and its neighbours use:
// a Cluster that is ready at once, an ExecutorLink that records what the pool sends, and a Notifier
// that records whom the pool woke. They are real objects, safe for concurrent use.
package pooltest

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/flyteactors/flyteactors/actorpool"
)

// Token is the token Cluster hands out for the environment key.
func Token(key actorpool.EnvironmentKey) string { return "token-" + key.ID() }

// Cluster is an actorpool.Cluster without Kubernetes: every environment is ready at once with the
// token Token(key), unless FailWith set an error.
type Cluster struct {
	mu      sync.Mutex
	specs   []actorpool.EnvironmentSpec
	deleted map[string]int
	err     error
}

var _ actorpool.Cluster = (*Cluster)(nil)

// NewCluster returns a Cluster that has been asked nothing yet.
func NewCluster() *Cluster { return &Cluster{deleted: map[string]int{}} }

// EnsureEnvironment records spec and returns its token, or the error given to FailWith.
func (c *Cluster) EnsureEnvironment(_ context.Context, spec actorpool.EnvironmentSpec) (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		return "", c.err
	}
	c.specs = append(c.specs, spec)
	return Token(spec.Key), nil
}

// DeleteEnvironment records the deletion.
func (c *Cluster) DeleteEnvironment(_ context.Context, key actorpool.EnvironmentKey) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.deleted[key.ID()]++
	return nil
}

// FailWith makes every later EnsureEnvironment fail with err (nil: succeed again).
func (c *Cluster) FailWith(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.err = err
}

// Ensured returns how many times the environment with ID id was ensured successfully.
func (c *Cluster) Ensured(id string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, s := range c.specs {
		if s.Key.ID() == id {
			n++
		}
	}
	return n
}

// Deleted returns how many times the environment with ID id was deleted.
func (c *Cluster) Deleted(id string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.deleted[id]
}

// Specs returns the specs ensured so far, in order.
func (c *Cluster) Specs() []actorpool.EnvironmentSpec {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.specs)
}

// Link is an actorpool.ExecutorLink that records what the pool sends as "assign <id>", "cancel <id>"
// and "ack <id>". OnAssign, if set, is called with each assignment; the pool holds its lock then, so
// it must not block or call the pool (start a goroutine for that).
type Link struct {
	OnAssign func(actorpool.Assignment)
	// Discard records nothing, for benchmarks that send millions of messages.
	Discard bool

	mu          sync.Mutex
	sent        []string
	assignments []actorpool.Assignment
}

var _ actorpool.ExecutorLink = (*Link)(nil)

// Assign records a.
func (l *Link) Assign(a actorpool.Assignment) {
	if !l.Discard {
		l.mu.Lock()
		l.sent = append(l.sent, "assign "+a.TaskID)
		l.assignments = append(l.assignments, a)
		l.mu.Unlock()
	}
	if l.OnAssign != nil {
		l.OnAssign(a)
	}
}

// Cancel records the cancel.
func (l *Link) Cancel(id string) { l.add("cancel " + id) }

// Ack records the acknowledgement.
func (l *Link) Ack(id string) { l.add("ack " + id) }

func (l *Link) add(s string) {
	if l.Discard {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.sent = append(l.sent, s)
}

// Messages returns what was sent, in order.
func (l *Link) Messages() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.sent)
}

// Assignments returns the assignments sent, in order.
func (l *Link) Assignments() []actorpool.Assignment {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.assignments)
}

// Wakeups records the owners a pool wakes; its Notify is the pool's Notifier.
type Wakeups struct {
	mu     sync.Mutex
	owners []types.NamespacedName
}

// Notify records owner.
func (n *Wakeups) Notify(owner types.NamespacedName) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.owners = append(n.owners, owner)
}

// Count returns how many wake-ups there were.
func (n *Wakeups) Count() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return len(n.owners)
}

// Spec returns a valid environment spec named name, one replica of one slot, with the given TTL.
func Spec(name string, ttl time.Duration) actorpool.EnvironmentSpec {
	return actorpool.EnvironmentSpec{
		Key:      actorpool.EnvironmentKey{Namespace: "ns", Project: "p", Domain: "d", Name: name, Version: "v1", PodHash: "h"},
		Replicas: 1, Slots: 1, TTL: ttl,
		Pod:              &corev1.Pod{},
		PrimaryContainer: "actor",
	}
}

// Task returns a valid attempt id of spec, owned by workflow "wf-<id>".
func Task(id string, spec actorpool.EnvironmentSpec) actorpool.Task {
	return actorpool.Task{ID: id, Environment: spec, Command: []string{"pyflyte-execute"},
		Owner: types.NamespacedName{Namespace: "ns", Name: "wf-" + id}}
}

// Hello returns the hello of executor pod of spec's environment with the right token.
func Hello(spec actorpool.EnvironmentSpec, pod string, slots int) actorpool.ExecutorHello {
	return actorpool.ExecutorHello{EnvironmentID: spec.Key.ID(), PodName: pod, Token: Token(spec.Key), Slots: slots}
}

// Attach attaches an executor with hello h once its environment is ready (the pool ensures it in the
// background), trying for up to timeout.
func Attach(p *actorpool.Pool, h actorpool.ExecutorHello, link actorpool.ExecutorLink, timeout time.Duration) (*actorpool.Session, []string, error) {
	deadline := time.Now().Add(timeout)
	for {
		s, cancel, err := p.AttachExecutor(h, link)
		if err == nil || time.Now().After(deadline) {
			if err != nil {
				err = fmt.Errorf("attach %s: %w", h.PodName, err)
			}
			return s, cancel, err
		}
		time.Sleep(2 * time.Millisecond)
	}
}
