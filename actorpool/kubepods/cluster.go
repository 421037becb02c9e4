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
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	utilrand "k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/record"
	"k8s.io/utils/ptr"

	"github.com/flyteorg/flyte/flyteplugins/go/tasks/pluginmachinery/utils"

	"github.com/flyteactors/flyteactors/actorpool"
	"github.com/flyteactors/flyteactors/go/contract"
)

// Labels and annotations on the objects this package makes.
const (
	// LabelEnvironment holds the environment's ID (actorpool.EnvironmentKey.ID).
	LabelEnvironment = "actors.flyte.org/environment"
	// LabelRole says what the object is to its environment: RoleAnchor or RoleExecutor.
	LabelRole = "actors.flyte.org/role"
	// AnnotationEnvironment holds the environment's key, as JSON.
	AnnotationEnvironment = "actors.flyte.org/environment-key"
	// AnnotationTTL holds how long the environment stays up with nothing to do (a Go duration).
	AnnotationTTL = "actors.flyte.org/ttl"

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

// EnsureEnvironment makes sure the environment's anchor exists and spec.Replicas of its executor pods
// are alive, replacing pods that ended; it returns the environment's secret.
func (c *Cluster) EnsureEnvironment(ctx context.Context, spec actorpool.EnvironmentSpec) (string, error) {
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
	if alive < spec.Replicas {
		names := make([]string, 0, spec.Replicas-alive)
		for ; alive < spec.Replicas; alive++ {
			names = append(names, podName(spec.Key))
		}
		// Tokens first: a pod whose secretKeyRef names a missing key could not start.
		if anchor, err = c.writePodTokens(ctx, anchor, existing, names); err != nil {
			return "", err
		}
		for _, name := range names {
			if err := c.createExecutor(ctx, spec, anchor, name); err != nil {
				return "", err
			}
		}
	}
	return secret, nil
}

// writePodTokens stores the tokens of the pods about to be made in the anchor, and drops those of
// pods that no longer exist. It returns the updated anchor.
func (c *Cluster) writePodTokens(ctx context.Context, anchor *corev1.Secret, existing map[string]bool, newPods []string) (*corev1.Secret, error) {
	updated := anchor.DeepCopy()
	secret := string(anchor.Data[secretKey])
	for key := range updated.Data {
		if pod, isToken := strings.CutPrefix(key, podTokenPrefix); isToken && !existing[pod] {
			delete(updated.Data, key)
		}
	}
	for _, pod := range newPods {
		updated.Data[podTokenPrefix+pod] = []byte(actorpool.PodToken(secret, pod))
	}
	if c.opts.CA != nil {
		updated.Data[caCertKey] = c.opts.CA
	}
	written, err := c.client.CoreV1().Secrets(anchor.Namespace).Update(ctx, updated, metav1.UpdateOptions{})
	if err != nil {
		return nil, fmt.Errorf("write executor tokens to anchor %s/%s: %w", anchor.Namespace, anchor.Name, err)
	}
	return written, nil
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

// DiscoverEnvironments lists the environments whose anchors or executor pods exist.
func (c *Cluster) DiscoverEnvironments(ctx context.Context) ([]actorpool.DiscoveredEnvironment, error) {
	anchors, err := c.client.CoreV1().Secrets(c.opts.Namespace).List(ctx, metav1.ListOptions{LabelSelector: LabelRole + "=" + RoleAnchor})
	if err != nil {
		return nil, fmt.Errorf("list environment anchors: %w", err)
	}
	pods, err := c.client.CoreV1().Pods(c.opts.Namespace).List(ctx, metav1.ListOptions{LabelSelector: LabelRole + "=" + RoleExecutor})
	if err != nil {
		return nil, fmt.Errorf("list executor pods: %w", err)
	}
	found := map[string]*actorpool.DiscoveredEnvironment{}
	get := func(meta metav1.ObjectMeta) *actorpool.DiscoveredEnvironment {
		id := meta.Labels[LabelEnvironment]
		d := found[meta.Namespace+"/"+id]
		if d == nil {
			d = &actorpool.DiscoveredEnvironment{Namespace: meta.Namespace, ID: id, Name: describedName(meta)}
			found[meta.Namespace+"/"+id] = d
		}
		// A TTL the objects do not give (made before they carried one) means: delete when unused.
		if ttl, err := time.ParseDuration(meta.Annotations[AnnotationTTL]); err == nil && ttl > d.TTL {
			d.TTL = ttl
		}
		return d
	}
	for _, a := range anchors.Items {
		if a.DeletionTimestamp == nil {
			get(a.ObjectMeta).Secret = string(a.Data[secretKey])
		}
	}
	for _, pod := range pods.Items {
		d := get(pod.ObjectMeta)
		if pod.DeletionTimestamp == nil && pod.Status.Phase != corev1.PodSucceeded && pod.Status.Phase != corev1.PodFailed {
			d.Pods = append(d.Pods, pod.Name)
		}
	}
	out := make([]actorpool.DiscoveredEnvironment, 0, len(found))
	for _, d := range found {
		out = append(out, *d)
	}
	return out, nil
}

// ensureAnchor returns the environment's anchor, creating it with a new secret if there is none.
func (c *Cluster) ensureAnchor(ctx context.Context, spec actorpool.EnvironmentSpec) (*corev1.Secret, error) {
	secrets := c.client.CoreV1().Secrets(spec.Key.Namespace)
	existing, err := secrets.List(ctx, metav1.ListOptions{LabelSelector: selector(spec.Key.ID(), RoleAnchor)})
	if err != nil {
		return nil, fmt.Errorf("list anchors of %s: %w", spec.Key, err)
	}
	for i := range existing.Items {
		if a := &existing.Items[i]; a.DeletionTimestamp == nil && len(a.Data[secretKey]) > 0 {
			return a, nil
		}
	}
	secret, err := newSecret()
	if err != nil {
		return nil, err
	}
	anchor := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{
			Name:        anchorName(spec.Key.ID()),
			Namespace:   spec.Key.Namespace,
			Labels:      map[string]string{LabelEnvironment: spec.Key.ID(), LabelRole: RoleAnchor},
			Annotations: describe(spec),
		},
		Type: corev1.SecretTypeOpaque,
		Data: map[string][]byte{secretKey: []byte(secret)},
	}
	created, err := secrets.Create(ctx, anchor, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		// Another pool incarnation made it between our list and create: use theirs.
		return secrets.Get(ctx, anchor.Name, metav1.GetOptions{})
	}
	if err != nil {
		return nil, fmt.Errorf("create anchor of %s: %w", spec.Key, err)
	}
	return created, nil
}

// createExecutor creates executor pod name of spec, owned by anchor.
func (c *Cluster) createExecutor(ctx context.Context, spec actorpool.EnvironmentSpec, anchor *corev1.Secret, name string) error {
	pod := spec.Pod.DeepCopy()
	pod.Name = name
	pod.Namespace = spec.Key.Namespace
	pod.GenerateName = ""
	pod.Labels = utils.UnionMaps(pod.Labels, map[string]string{LabelEnvironment: spec.Key.ID(), LabelRole: RoleExecutor})
	pod.Annotations = utils.UnionMaps(pod.Annotations, describe(spec))
	pod.OwnerReferences = []metav1.OwnerReference{{
		APIVersion: "v1", Kind: "Secret", Name: anchor.Name, UID: anchor.UID,
		BlockOwnerDeletion: ptr.To(true),
	}}
	container := containerNamed(pod, spec.PrimaryContainer)
	if container == nil {
		return fmt.Errorf("environment %s: executor pod has no container %q", spec.Key, spec.PrimaryContainer)
	}
	container.Env = append(container.Env,
		corev1.EnvVar{Name: contract.EnvPoolAddress, Value: c.opts.PoolAddress},
		corev1.EnvVar{Name: contract.EnvEnvironmentID, Value: spec.Key.ID()},
		corev1.EnvVar{Name: contract.EnvSlots, Value: strconv.Itoa(spec.Slots)},
		corev1.EnvVar{Name: contract.EnvPodName, ValueFrom: &corev1.EnvVarSource{
			FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}},
		corev1.EnvVar{Name: contract.EnvToken, ValueFrom: &corev1.EnvVarSource{
			SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: anchor.Name}, Key: podTokenPrefix + name}}},
	)
	if c.opts.WarmupTimeout > 0 {
		container.Env = append(container.Env, corev1.EnvVar{Name: contract.EnvWarmupTimeout, Value: c.opts.WarmupTimeout.String()})
	}
	container.Env = append(container.Env, corev1.EnvVar{Name: contract.EnvDrainTimeout, Value: drainTimeout(pod).String()})
	if c.opts.CA != nil {
		container.Env = append(container.Env, corev1.EnvVar{Name: contract.EnvCA, ValueFrom: &corev1.EnvVarSource{
			SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: anchor.Name}, Key: caCertKey}}})
	}
	if _, err := c.client.CoreV1().Pods(pod.Namespace).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("create executor pod of %s: %w", spec.Key, err)
	}
	c.recorder.Eventf(anchorRef(anchor.Namespace, spec.Key.ID(), anchor.UID), corev1.EventTypeNormal, EventCreatedExecutorPod,
		"created executor pod %s", name)
	return nil
}

func (c *Cluster) deletePod(ctx context.Context, namespace, name string) error {
	err := c.client.CoreV1().Pods(namespace).Delete(ctx, name, metav1.DeleteOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("delete executor pod %s/%s: %w", namespace, name, err)
	}
	return nil
}

// drainTimeout is how long the executor of pod may let its tasks finish once it is told to stop:
// its grace period (Kubernetes' default 30 s) less 5 s to report what did not finish.
func drainTimeout(pod *corev1.Pod) time.Duration {
	grace := int64(corev1.DefaultTerminationGracePeriodSeconds)
	if g := pod.Spec.TerminationGracePeriodSeconds; g != nil {
		grace = *g
	}
	return max(time.Duration(grace)*time.Second-5*time.Second, time.Second)
}

// describe returns the annotations that describe spec's environment on its objects.
func describe(spec actorpool.EnvironmentSpec) map[string]string {
	key, _ := json.Marshal(spec.Key)
	return map[string]string{AnnotationEnvironment: string(key), AnnotationTTL: spec.TTL.String()}
}

// describedName returns the environment name an object's annotations give, or its ID label.
func describedName(meta metav1.ObjectMeta) string {
	var key actorpool.EnvironmentKey
	if err := json.Unmarshal([]byte(meta.Annotations[AnnotationEnvironment]), &key); err == nil && key.Name != "" {
		return key.Name
	}
	return meta.Labels[LabelEnvironment]
}

// podName returns a new pod name for an executor of key: readable, unique, and a valid DNS label.
func podName(key actorpool.EnvironmentKey) string {
	suffix := "-" + key.ID()[:8] + "-" + utilrand.String(5)
	base := sanitize(key.Name)
	if max := validation.DNS1123LabelMaxLength - len(suffix) - len("actor-"); len(base) > max {
		base = base[:max]
	}
	return "actor-" + base + suffix
}

// sanitize turns name into lowercase alphanumerics and dashes, trimmed of dashes at either end.
func sanitize(name string) string {
	out := make([]byte, 0, len(name))
	for _, r := range []byte(name) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			out = append(out, r)
		case r >= 'A' && r <= 'Z':
			out = append(out, r+('a'-'A'))
		default:
			if len(out) > 0 && out[len(out)-1] != '-' {
				out = append(out, '-')
			}
		}
	}
	for len(out) > 0 && out[len(out)-1] == '-' {
		out = out[:len(out)-1]
	}
	if len(out) == 0 {
		return "env"
	}
	return string(out)
}

func selector(envID, role string) string {
	return labels.SelectorFromSet(labels.Set{LabelEnvironment: envID, LabelRole: role}).String()
}

// containerNamed returns the pod's container called name, to be changed in place, or nil. (Flyte's
// flytek8s.GetContainer returns a copy, so changes to it would not reach the pod.)
func containerNamed(pod *corev1.Pod, name string) *corev1.Container {
	for i := range pod.Spec.Containers {
		if pod.Spec.Containers[i].Name == name {
			return &pod.Spec.Containers[i]
		}
	}
	return nil
}

func newSecret() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("make environment secret: %w", err)
	}
	return hex.EncodeToString(b), nil
}
