// Package kubepods is the Kubernetes side of the actor pool: it keeps each environment's anchor (a
// Secret holding the environment's token) and executor pods in the API server. It implements
// actorpool.Cluster.
//
// Every executor pod has an owner reference to its environment's anchor, so Kubernetes' garbage
// collector removes the pods when the anchor goes, even if no pool is running. Labels name the
// environment, so a restarted pool finds what it made before.
package kubepods

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	utilrand "k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/kubernetes"
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
	// AnnotationEnvironment holds the environment's readable key.
	AnnotationEnvironment = "actors.flyte.org/environment-key"

	RoleAnchor   = "anchor"
	RoleExecutor = "executor"

	tokenKey = "token"
)

// Options configure a Cluster.
type Options struct {
	// PoolAddress is the host:port executor pods dial to reach the pool.
	PoolAddress string
}

// Cluster implements actorpool.Cluster over a Kubernetes clientset.
type Cluster struct {
	client kubernetes.Interface
	opts   Options
}

var _ actorpool.Cluster = (*Cluster)(nil)

// New returns a Cluster that works through client.
func New(client kubernetes.Interface, opts Options) *Cluster {
	return &Cluster{client: client, opts: opts}
}

// EnsureEnvironment makes sure the environment's anchor exists and spec.Replicas of its executor pods
// are alive, replacing pods that ended; it returns the environment's token.
func (c *Cluster) EnsureEnvironment(ctx context.Context, spec actorpool.EnvironmentSpec) (string, error) {
	anchor, err := c.ensureAnchor(ctx, spec)
	if err != nil {
		return "", err
	}
	token := string(anchor.Data[tokenKey])
	pods, err := c.client.CoreV1().Pods(spec.Key.Namespace).List(ctx, metav1.ListOptions{
		LabelSelector: selector(spec.Key.ID(), RoleExecutor),
	})
	if err != nil {
		return "", fmt.Errorf("list executor pods of %s: %w", spec.Key, err)
	}
	alive := 0
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
		}
	}
	for ; alive < spec.Replicas; alive++ {
		if err := c.createExecutor(ctx, spec, anchor); err != nil {
			return "", err
		}
	}
	return token, nil
}

// DeleteEnvironment deletes the environment's executor pods and its anchor.
func (c *Cluster) DeleteEnvironment(ctx context.Context, key actorpool.EnvironmentKey) error {
	pods := c.client.CoreV1().Pods(key.Namespace)
	list, err := pods.List(ctx, metav1.ListOptions{LabelSelector: selector(key.ID(), RoleExecutor)})
	if err != nil {
		return fmt.Errorf("list executor pods of %s: %w", key, err)
	}
	// The garbage collector would remove the pods once the anchor is gone; deleting them here stops
	// them at once and works where no garbage collector runs.
	for _, pod := range list.Items {
		if err := c.deletePod(ctx, pod.Namespace, pod.Name); err != nil {
			return err
		}
	}
	secrets := c.client.CoreV1().Secrets(key.Namespace)
	anchors, err := secrets.List(ctx, metav1.ListOptions{LabelSelector: selector(key.ID(), RoleAnchor)})
	if err != nil {
		return fmt.Errorf("list anchors of %s: %w", key, err)
	}
	for _, a := range anchors.Items {
		if err := secrets.Delete(ctx, a.Name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("delete anchor %s/%s: %w", a.Namespace, a.Name, err)
		}
	}
	return nil
}

// ensureAnchor returns the environment's anchor, creating it with a new token if there is none.
func (c *Cluster) ensureAnchor(ctx context.Context, spec actorpool.EnvironmentSpec) (*corev1.Secret, error) {
	secrets := c.client.CoreV1().Secrets(spec.Key.Namespace)
	existing, err := secrets.List(ctx, metav1.ListOptions{LabelSelector: selector(spec.Key.ID(), RoleAnchor)})
	if err != nil {
		return nil, fmt.Errorf("list anchors of %s: %w", spec.Key, err)
	}
	for i := range existing.Items {
		if a := &existing.Items[i]; a.DeletionTimestamp == nil && len(a.Data[tokenKey]) > 0 {
			return a, nil
		}
	}
	token, err := newToken()
	if err != nil {
		return nil, err
	}
	anchor := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{
			Name:        "flyte-actor-" + spec.Key.ID(),
			Namespace:   spec.Key.Namespace,
			Labels:      map[string]string{LabelEnvironment: spec.Key.ID(), LabelRole: RoleAnchor},
			Annotations: map[string]string{AnnotationEnvironment: spec.Key.String()},
		},
		Type: corev1.SecretTypeOpaque,
		Data: map[string][]byte{tokenKey: []byte(token)},
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

// createExecutor creates one executor pod of spec, owned by anchor.
func (c *Cluster) createExecutor(ctx context.Context, spec actorpool.EnvironmentSpec, anchor *corev1.Secret) error {
	pod := spec.Pod.DeepCopy()
	pod.Name = podName(spec.Key)
	pod.Namespace = spec.Key.Namespace
	pod.GenerateName = ""
	pod.Labels = utils.UnionMaps(pod.Labels, map[string]string{LabelEnvironment: spec.Key.ID(), LabelRole: RoleExecutor})
	pod.Annotations = utils.UnionMaps(pod.Annotations, map[string]string{AnnotationEnvironment: spec.Key.String()})
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
			SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: anchor.Name}, Key: tokenKey}}},
	)
	if _, err := c.client.CoreV1().Pods(pod.Namespace).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("create executor pod of %s: %w", spec.Key, err)
	}
	return nil
}

func (c *Cluster) deletePod(ctx context.Context, namespace, name string) error {
	err := c.client.CoreV1().Pods(namespace).Delete(ctx, name, metav1.DeleteOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("delete executor pod %s/%s: %w", namespace, name, err)
	}
	return nil
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

func newToken() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("make environment token: %w", err)
	}
	return hex.EncodeToString(b), nil
}
