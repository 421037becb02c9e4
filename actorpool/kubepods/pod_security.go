package kubepods

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

// Pod Security admission's label on a namespace, and the level whose pods this package restricts.
const (
	labelPodSecurityEnforce = "pod-security.kubernetes.io/enforce"
	levelRestricted         = "restricted"
)

// enforcesRestricted reports whether namespace enforces the restricted Pod Security Standard.
func (c *Cluster) enforcesRestricted(ctx context.Context, namespace string) (bool, error) {
	ns, err := c.client.CoreV1().Namespaces().Get(ctx, namespace, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return false, nil // the pod's creation says so
	}
	if err != nil {
		return false, fmt.Errorf("read namespace %s (its Pod Security level): %w", namespace, err)
	}
	return ns.Labels[labelPodSecurityEnforce] == levelRestricted, nil
}

// restrict makes pod meet the restricted Pod Security Standard where its spec leaves a setting open:
// not root, no privilege escalation, no capabilities, the runtime's default seccomp profile. What the
// spec sets (from the task's or the environment's pod template) stays as it is: if that breaks the
// standard, the API server says so, and the pool fails the tasks with its words.
func restrict(pod *corev1.Pod) {
	if pod.Spec.SecurityContext == nil {
		pod.Spec.SecurityContext = &corev1.PodSecurityContext{}
	}
	psc := pod.Spec.SecurityContext
	if psc.SeccompProfile == nil {
		psc.SeccompProfile = &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault}
	}
	if psc.RunAsNonRoot == nil {
		psc.RunAsNonRoot = ptr.To(true)
	}
	for _, containers := range [][]corev1.Container{pod.Spec.InitContainers, pod.Spec.Containers} {
		for i := range containers {
			c := &containers[i]
			if c.SecurityContext == nil {
				c.SecurityContext = &corev1.SecurityContext{}
			}
			if c.SecurityContext.AllowPrivilegeEscalation == nil {
				c.SecurityContext.AllowPrivilegeEscalation = ptr.To(false)
			}
			if c.SecurityContext.Capabilities == nil {
				c.SecurityContext.Capabilities = &corev1.Capabilities{}
			}
			if len(c.SecurityContext.Capabilities.Drop) == 0 {
				c.SecurityContext.Capabilities.Drop = []corev1.Capability{"ALL"}
			}
		}
	}
}
