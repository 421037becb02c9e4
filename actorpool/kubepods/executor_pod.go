package kubepods

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilrand "k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/utils/ptr"

	"github.com/flyteorg/flyte/flyteplugins/go/tasks/pluginmachinery/utils"

	"github.com/flyteactors/flyteactors/actorpool"
	"github.com/flyteactors/flyteactors/go/contract"
)

// createExecutor creates executor pod name of spec, owned by anchor; restricted, in a namespace that
// enforces the restricted Pod Security Standard (see restrict).
func (c *Cluster) createExecutor(ctx context.Context, spec actorpool.EnvironmentSpec, anchor *corev1.Secret, name string,
	restricted bool) error {
	pod := spec.Pod.DeepCopy()
	if restricted {
		restrict(pod)
	}
	pod.Name = name
	pod.Namespace = spec.Key.Namespace
	pod.GenerateName = ""
	pod.Labels = utils.UnionMaps(pod.Labels, c.objectLabels(spec.Key.ID(), RoleExecutor))
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
		if refusedForGood(err) {
			return fmt.Errorf("%w: %w", actorpool.ErrExecutorPodRefused, err)
		}
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

// refusedForGood reports whether the API server refused a pod for a reason that creating the same pod
// again cannot heal: it is invalid (422), or the namespace's Pod Security level forbids it. Other
// refusals (a quota that is full, permissions an operator may still grant) can heal.
func refusedForGood(err error) bool {
	return apierrors.IsInvalid(err) || (apierrors.IsForbidden(err) && strings.Contains(err.Error(), "violates PodSecurity"))
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
