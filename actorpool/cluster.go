package actorpool

import (
	"context"
	"time"
)

// Cluster is what the pool needs from Kubernetes. Implementations are level-triggered: each call
// converges the cluster towards what it is asked for, whatever happened before.
type Cluster interface {
	// EnsureEnvironment makes the environment's anchor exist and at least replicas executor pods live
	// (never removing one: RemoveExecutor does), and returns the environment's secret, from which each
	// executor pod's token is derived (PodToken): newly made with the anchor, or read back from it.
	EnsureEnvironment(ctx context.Context, spec EnvironmentSpec, replicas int) (secret string, err error)
	// RemoveExecutor deletes one executor pod, which the pool drained (scaled down).
	RemoveExecutor(ctx context.Context, namespace, pod string) error
	// DeleteEnvironment removes the executor pods and the anchor of the environment with ID id.
	DeleteEnvironment(ctx context.Context, namespace, id string) error
	// DiscoverEnvironments lists the environments the cluster holds (anchors, or executor pods whose
	// anchor is gone), so that a restarted pool can look after those nobody submits to any more.
	DiscoverEnvironments(ctx context.Context) ([]DiscoveredEnvironment, error)
	// WatchExecutorPods tells observe how each executor pod is doing, whenever that changes, until ctx
	// is done. observe must not block.
	WatchExecutorPods(ctx context.Context, observe func(ExecutorPodState)) error
	// RecordExecutorEvent records an event on an executor pod, where operators look (kubectl describe
	// pod). It must not block: the pool calls it while it holds its lock.
	RecordExecutorEvent(e ExecutorEvent)
}

// ExecutorEvent is something that happened to an executor, for the operators who look at its pod.
type ExecutorEvent struct {
	Namespace, Pod, UID string
	// Warning marks something that went wrong; otherwise it is normal.
	Warning bool
	// Reason is one CamelCase word; Message says what happened, for people.
	Reason, Message string
}

// DiscoveredEnvironment is an environment found in the cluster.
type DiscoveredEnvironment struct {
	// Key is the environment's key, as its objects describe it.
	Key EnvironmentKey
	// ID is Key.ID().
	ID string
	// Slots is how many tasks one of its executors runs at once; 0 if its objects do not say.
	Slots int
	// Secret is the environment's secret; empty when its anchor is gone.
	Secret string
	// TTL is how long the environment stays up with nothing to do, as it was created.
	TTL time.Duration
	// Pods are the environment's executor pods that may still be running.
	Pods []string
}

// ExecutorPodState is how an executor pod is doing.
type ExecutorPodState struct {
	Namespace string
	// EnvironmentID is the ID of the pod's environment.
	EnvironmentID string
	Pod           string
	// UID is the pod's UID (events about it name it); Created when it was created.
	UID     string
	Created time.Time
	// Ended is true when the pod is gone or its executor container has terminated: the executor will
	// not come back.
	Ended bool
	// Stopping is true while the pod is being deleted: its executor drains (takes no new tasks).
	Stopping bool
	// Deleted is true when the pod ended because someone deleted or evicted it (an operator, a node
	// drain, the kubelet under node pressure, the pool itself): not a failure of the environment.
	Deleted bool
	// OOM is true when the container was killed for running out of memory.
	OOM bool
	// Problem says, for people, why the pod does not run its executor (an image that cannot be pulled,
	// a missing secret, no room on any node, how it ended); empty while it starts normally or runs.
	Problem string
	// Reason is the problem's one-word reason (ImagePullBackOff, Unschedulable, OOMKilled, Evicted, ...),
	// for metrics; empty without a problem.
	Reason string
	// Permanent is true when the problem cannot heal by waiting or by a new pod of the same spec (an
	// invalid image name, a runtime that cannot import flytekit, an executor the pool refused).
	Permanent bool
}
