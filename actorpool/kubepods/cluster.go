// Package kubepods is the Kubernetes side of the actor pool: it keeps each environment's anchor (a
// Secret holding the environment's secret and each executor pod's token) and executor pods in the API
// server. It implements actorpool.Cluster.
//
// Every executor pod has an owner reference to its environment's anchor, so Kubernetes' garbage
// collector removes the pods when the anchor goes, even if no pool is running. Labels name the
// environment and annotations describe it, so a restarted pool finds what it made before.
package kubepods

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/record"

	"github.com/flyteactors/flyteactors/actorpool"
)

// Labels and annotations on the objects this package makes.
const (
	// LabelEnvironment holds the environment's ID (actorpool.EnvironmentKey.ID).
	LabelEnvironment = "actors.flyte.org/environment"
	// LabelRole says what the object is to its environment: RoleAnchor or RoleExecutor.
	LabelRole = "actors.flyte.org/role"
	// LabelShard holds the shard of FlytePropeller whose pool made the object; absent when unsharded.
	LabelShard = "actors.flyte.org/shard"
	// AnnotationEnvironment holds the environment's key, as JSON.
	AnnotationEnvironment = "actors.flyte.org/environment-key"
	// AnnotationTTL holds how long the environment stays up with nothing to do (a Go duration).
	AnnotationTTL = "actors.flyte.org/ttl"
	// AnnotationSlots holds how many tasks one executor of the environment runs at once.
	AnnotationSlots = "actors.flyte.org/slots"

	// RoleAnchor marks an environment's anchor Secret.
	RoleAnchor = "anchor"
	// RoleExecutor marks an executor pod.
	RoleExecutor = "executor"

	// secretKey is the anchor's key of the environment's secret; podTokenPrefix+<pod> that of a pod's
	// token, which the pod reads through a secretKeyRef.
	secretKey      = "secret"
	podTokenPrefix = "pod."
)

// Options configure a Cluster.
type Options struct {
	// PoolAddress is the host:port executor pods dial to reach the pool.
	PoolAddress string
	// Namespace limits discovery and the watch of executor pods to one namespace; empty means every
	// namespace.
	Namespace string
	// WarmupTimeout, if set, is how long executors wait for their Python runtimes to warm up.
	WarmupTimeout time.Duration
	// CA, if set, is the PEM certificate executors verify the pool's executor service against; each
	// anchor keeps a copy for its pods.
	CA []byte
	// Shard is the shard of FlytePropeller the pool serves (empty when unsharded): its objects carry it,
	// and discovery and the watch see only the objects of this shard, never another shard's.
	Shard string
}

// Cluster implements actorpool.Cluster over a Kubernetes clientset. Close it when done.
type Cluster struct {
	client      kubernetes.Interface
	opts        Options
	recorder    record.EventRecorder
	broadcaster record.EventBroadcaster
}

var _ actorpool.Cluster = (*Cluster)(nil)

// New returns a Cluster that works through client.
func New(client kubernetes.Interface, opts Options) *Cluster {
	recorder, broadcaster := newRecorder(client.CoreV1())
	return &Cluster{client: client, opts: opts, recorder: recorder, broadcaster: broadcaster}
}

// EnsureEnvironment makes sure the environment's anchor exists and at least replicas of its executor
// pods are alive, replacing pods that ended; it returns the environment's secret. It removes no live
// pod: scaling down removes idle executors one by one (RemoveExecutor).
func (c *Cluster) EnsureEnvironment(ctx context.Context, spec actorpool.EnvironmentSpec, replicas int) (string, error) {
	anchor, err := c.ensureAnchor(ctx, spec)
	if err != nil {
		return "", err
	}
	pods, err := c.client.CoreV1().Pods(spec.Key.Namespace).List(ctx, metav1.ListOptions{
		LabelSelector: selector(spec.Key.ID(), RoleExecutor),
	})
	if err != nil {
		return "", fmt.Errorf("list executor pods of %s: %w", spec.Key, err)
	}
	alive := 0
	// A pod reads its token once, when its container starts: only pods still to start need theirs.
	existing := map[string]bool{}
	for i := range pods.Items {
		pod := &pods.Items[i]
		switch {
		case pod.DeletionTimestamp != nil:
		case pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed:
			// An executor that ended is replaced; the ended pod is removed so it does not pile up.
			if err := c.deletePod(ctx, pod.Namespace, pod.Name); err != nil {
				return "", err
			}
		default:
			alive++
			existing[pod.Name] = true
		}
	}
	secret := string(anchor.Data[secretKey])
	if alive < replicas {
		names := make([]string, 0, replicas-alive)
		for ; alive < replicas; alive++ {
			names = append(names, podName(spec.Key))
		}
		// Tokens first: a pod whose secretKeyRef names a missing key could not start.
		if anchor, err = c.writePodTokens(ctx, anchor, existing, names); err != nil {
			return "", err
		}
		restricted, err := c.enforcesRestricted(ctx, spec.Key.Namespace)
		if err != nil {
			return "", err
		}
		for _, name := range names {
			if err := c.createExecutor(ctx, spec, anchor, name, restricted); err != nil {
				return "", err
			}
		}
	}
	return secret, nil
}

// RemoveExecutor deletes executor pod, which the pool drained: its executor gets SIGTERM, has nothing
// to finish, and exits.
func (c *Cluster) RemoveExecutor(ctx context.Context, namespace, pod string) error {
	return c.deletePod(ctx, namespace, pod)
}

// DeleteEnvironment deletes the executor pods and the anchor of the environment with ID id.
func (c *Cluster) DeleteEnvironment(ctx context.Context, namespace, id string) error {
	list, err := c.client.CoreV1().Pods(namespace).List(ctx, metav1.ListOptions{LabelSelector: selector(id, RoleExecutor)})
	if err != nil {
		return fmt.Errorf("list executor pods of %s: %w", id, err)
	}
	// The garbage collector would remove the pods once the anchor is gone; deleting them here stops
	// them at once and works where no garbage collector runs. Pods go first: an anchor left behind by
	// an interrupted deletion is found again at the next start (DiscoverEnvironments).
	for _, pod := range list.Items {
		if err := c.deletePod(ctx, pod.Namespace, pod.Name); err != nil {
			return err
		}
	}
	secrets := c.client.CoreV1().Secrets(namespace)
	anchors, err := secrets.List(ctx, metav1.ListOptions{LabelSelector: selector(id, RoleAnchor)})
	if err != nil {
		return fmt.Errorf("list anchors of %s: %w", id, err)
	}
	for _, a := range anchors.Items {
		if err := secrets.Delete(ctx, a.Name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("delete anchor %s/%s: %w", a.Namespace, a.Name, err)
		}
		c.recorder.Eventf(anchorRef(a.Namespace, id, a.UID), corev1.EventTypeNormal, EventDeletedEnvironment,
			"deleted the environment's %d executor pods and its anchor", len(list.Items))
	}
	return nil
}

// describe returns the annotations that describe spec's environment on its objects.
func describe(spec actorpool.EnvironmentSpec) map[string]string {
	key, _ := json.Marshal(spec.Key)
	return map[string]string{AnnotationEnvironment: string(key), AnnotationTTL: spec.TTL.String(),
		AnnotationSlots: strconv.Itoa(spec.Slots)}
}

// roleSelector selects the objects of role that belong to the pool's shard (those without a shard label
// when it is unsharded).
func (c *Cluster) roleSelector(role string) string {
	s := labels.SelectorFromSet(labels.Set{LabelRole: role})
	shard, _ := labels.NewRequirement(LabelShard, selection.DoesNotExist, nil)
	if c.opts.Shard != "" {
		shard, _ = labels.NewRequirement(LabelShard, selection.Equals, []string{c.opts.Shard})
	}
	return s.Add(*shard).String()
}

// objectLabels are the labels of an object of role of the environment with ID envID.
func (c *Cluster) objectLabels(envID, role string) map[string]string {
	l := map[string]string{LabelEnvironment: envID, LabelRole: role}
	if c.opts.Shard != "" {
		l[LabelShard] = c.opts.Shard
	}
	return l
}

func selector(envID, role string) string {
	return labels.SelectorFromSet(labels.Set{LabelEnvironment: envID, LabelRole: role}).String()
}
