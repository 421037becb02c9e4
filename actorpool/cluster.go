package actorpool

import "context"

// Cluster is what the pool needs from Kubernetes. Implementations are level-triggered: each call
// converges the cluster towards what it is asked for, whatever happened before.
type Cluster interface {
	// EnsureEnvironment makes the environment's anchor exist and spec.Replicas executor pods live, and
	// returns the environment's token: newly made with the anchor, or read back from it.
	EnsureEnvironment(ctx context.Context, spec EnvironmentSpec) (token string, err error)
	// DeleteEnvironment removes the environment's executor pods and its anchor.
	DeleteEnvironment(ctx context.Context, key EnvironmentKey) error
}
