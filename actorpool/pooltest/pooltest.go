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

// Secret is the secret Cluster hands out for the environment with ID id.
func Secret(id string) string { return "secret-" + id }

// Token is the token executor pod pod of the environment of key presents (see actorpool.PodToken).
func Token(key actorpool.EnvironmentKey, pod string) string {
	return actorpool.PodToken(Secret(key.ID()), pod)
}

// Cluster is an actorpool.Cluster without Kubernetes: every environment is ready at once with the
// secret Secret(id), unless FailWith set an error. What it discovers and the fates of executor pods
// are what the test sets.
type Cluster struct {
	mu         sync.Mutex
	specs      []actorpool.EnvironmentSpec
	deleted    map[string]int
	err        error
	discovered []actorpool.DiscoveredEnvironment
	pods       map[string]actorpool.ExecutorPodState
	observe    func(actorpool.ExecutorPodState)
	calls      map[string]int
	// replicas is the last replica count each environment was ensured with; removed the executor pods
	// removed, in order.
	replicas map[string]int
	removed  []string
	events   []actorpool.ExecutorEvent
	// deleteStarted and deleteResult, when set, hold DeleteEnvironment until the test says how it ends.
	deleteStarted chan struct{}
	deleteResult  chan error
	// discoveryHeld, when set, holds DiscoverEnvironments until it is closed.
	discoveryHeld chan struct{}
}

var _ actorpool.Cluster = (*Cluster)(nil)

// NewCluster returns a Cluster that has been asked nothing yet.
func NewCluster() *Cluster {
	return &Cluster{deleted: map[string]int{}, pods: map[string]actorpool.ExecutorPodState{}, calls: map[string]int{},
		replicas: map[string]int{}}
}

// EnsureEnvironment records spec and replicas and returns its secret, or the error given to FailWith.
func (c *Cluster) EnsureEnvironment(_ context.Context, spec actorpool.EnvironmentSpec, replicas int) (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls[spec.Key.ID()]++
	if c.err != nil {
		return "", c.err
	}
	c.specs = append(c.specs, spec)
	c.replicas[spec.Key.ID()] = replicas
	return Secret(spec.Key.ID()), nil
}

// RemoveExecutor records the removal of pod.
func (c *Cluster) RemoveExecutor(_ context.Context, _, pod string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.removed = append(c.removed, pod)
	return nil
}

// RecordExecutorEvent records e.
func (c *Cluster) RecordExecutorEvent(e actorpool.ExecutorEvent) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.events = append(c.events, e)
}

// Events returns the executor events recorded so far, as "<pod> <Reason>: <message>", in order.
func (c *Cluster) Events() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]string, 0, len(c.events))
	for _, e := range c.events {
		out = append(out, fmt.Sprintf("%s %s: %s", e.Pod, e.Reason, e.Message))
	}
	return out
}

// Replicas returns the replica count the environment with ID id was last ensured with.
func (c *Cluster) Replicas(id string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.replicas[id]
}

// Removed returns the executor pods removed so far, in order.
func (c *Cluster) Removed() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.removed)
}

// DeleteEnvironment records the deletion. If HoldDeletes was called, it first says it started and
// waits for the test to say how the deletion ends.
func (c *Cluster) DeleteEnvironment(ctx context.Context, _, id string) error {
	c.mu.Lock()
	started, result := c.deleteStarted, c.deleteResult
	c.mu.Unlock()
	var err error
	if result != nil {
		select {
		case started <- struct{}{}:
		case <-ctx.Done():
			return ctx.Err()
		}
		select {
		case err = <-result:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.deleted[id]++
	return err
}

// HoldDeletes makes every later DeleteEnvironment announce itself on started and then wait until the
// test sends its result on finish.
func (c *Cluster) HoldDeletes() (started <-chan struct{}, finish chan<- error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.deleteStarted, c.deleteResult = make(chan struct{}), make(chan error)
	return c.deleteStarted, c.deleteResult
}

// EnsureCalls returns how many times the environment with ID id was asked to be ensured, failed or not.
func (c *Cluster) EnsureCalls(id string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.calls[id]
}

// DiscoverEnvironments returns what Discovered set, once HoldDiscovery's release (if any) is called.
func (c *Cluster) DiscoverEnvironments(ctx context.Context) ([]actorpool.DiscoveredEnvironment, error) {
	c.mu.Lock()
	held := c.discoveryHeld
	c.mu.Unlock()
	if held != nil {
		select {
		case <-held:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.discovered), nil
}

// HoldDiscovery makes DiscoverEnvironments wait until release is called, as a pool that is submitted
// to before it has read what the cluster holds; call it before the pool starts.
func (c *Cluster) HoldDiscovery() (release func()) {
	c.mu.Lock()
	defer c.mu.Unlock()
	held := make(chan struct{})
	c.discoveryHeld = held
	return sync.OnceFunc(func() { close(held) })
}

// Discovered sets what DiscoverEnvironments returns; call it before the pool starts.
func (c *Cluster) Discovered(envs ...actorpool.DiscoveredEnvironment) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.discovered = envs
}

// WatchExecutorPods tells observe the states SetPod gave, and every later one, until ctx is done.
func (c *Cluster) WatchExecutorPods(ctx context.Context, observe func(actorpool.ExecutorPodState)) error {
	c.mu.Lock()
	c.observe = observe
	known := make([]actorpool.ExecutorPodState, 0, len(c.pods))
	for _, s := range c.pods {
		known = append(known, s)
	}
	c.mu.Unlock()
	for _, s := range known {
		observe(s)
	}
	<-ctx.Done()
	return nil
}

// SetPod says how an executor pod is doing, as a watch of the pods would.
func (c *Cluster) SetPod(state actorpool.ExecutorPodState) {
	c.mu.Lock()
	c.pods[state.Pod] = state
	observe := c.observe
	c.mu.Unlock()
	if observe != nil {
		observe(state)
	}
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

// Link is an actorpool.ExecutorLink that records what the pool sends as "assign <id>", "cancel <id>",
// "ack <id>" and "close". OnAssign, if set, is called with each assignment; the pool holds its lock then, so
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

// Close records that the pool ended the session.
func (l *Link) Close(string) { l.add("close") }

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
		Replicas: 1, MinReplicas: 1, Slots: 1, TTL: ttl,
		Pod:              &corev1.Pod{},
		PrimaryContainer: "actor",
	}
}

// Task returns a valid attempt id of spec, owned by workflow "wf-<id>".
func Task(id string, spec actorpool.EnvironmentSpec) actorpool.Task {
	return actorpool.Task{ID: id, Name: "task", Environment: spec, Command: []string{"pyflyte-execute"},
		Owner: types.NamespacedName{Namespace: "ns", Name: "wf-" + id}}
}

// Hello returns the hello of executor pod of spec's environment with the right token.
func Hello(spec actorpool.EnvironmentSpec, pod string, slots int) actorpool.ExecutorHello {
	return actorpool.ExecutorHello{EnvironmentID: spec.Key.ID(), PodName: pod, Token: Token(spec.Key, pod), Slots: slots}
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

// Found returns spec's environment as a restarted pool finds it in the cluster, with pods.
func Found(spec actorpool.EnvironmentSpec, pods ...string) actorpool.DiscoveredEnvironment {
	return actorpool.DiscoveredEnvironment{Key: spec.Key, ID: spec.Key.ID(), Slots: spec.Slots,
		Secret: Secret(spec.Key.ID()), TTL: spec.TTL, Pods: pods}
}
