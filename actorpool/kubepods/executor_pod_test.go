package kubepods

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/flyteactors/flyteactors/actorpool"
)

// TestRefusedExecutorPodsSayWhetherTheyCanHeal: an invalid pod, or one the namespace's Pod Security
// level forbids, is refused for good (actorpool.ErrExecutorPodRefused); a full quota is not.
func TestRefusedExecutorPodsSayWhetherTheyCanHeal(t *testing.T) {
	pods := schema.GroupResource{Resource: "pods"}
	for name, tc := range map[string]struct {
		err     error
		forGood bool
	}{
		"invalid": {apierrors.NewInvalid(schema.GroupKind{Kind: "Pod"}, "actor-x",
			field.ErrorList{field.Invalid(field.NewPath("spec", "containers").Index(0).Child("image"), "", "must not be empty")}), true},
		"pod security": {apierrors.NewForbidden(pods, "actor-x", errors.New(
			`violates PodSecurity "restricted:latest": allowPrivilegeEscalation != false`)), true},
		"quota": {apierrors.NewForbidden(pods, "actor-x", errors.New("exceeded quota: compute, requested: cpu=1")), false},
	} {
		t.Run(name, func(t *testing.T) {
			client := fake.NewClientset()
			client.PrependReactor("create", "pods", func(k8stesting.Action) (bool, runtime.Object, error) {
				return true, nil, tc.err
			})
			_, err := New(client, Options{PoolAddress: "pool:8089"}).EnsureEnvironment(context.Background(), spec(1), spec(1).Replicas)
			require.Error(t, err)
			assert.Equal(t, tc.forGood, errors.Is(err, actorpool.ErrExecutorPodRefused), "%v", err)
		})
	}
}

// TestExecutorPodsOfRestrictedNamespacesMeetTheStandard: in a namespace that enforces the restricted
// Pod Security Standard, executor pods get what it asks for wherever their spec leaves it open, and keep
// what the spec sets; elsewhere they are left as they are.
func TestExecutorPodsOfRestrictedNamespacesMeetTheStandard(t *testing.T) {
	ctx := context.Background()
	client := fake.NewClientset(&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "ns",
		Labels: map[string]string{"pod-security.kubernetes.io/enforce": "restricted"}}})
	s := spec(1)
	s.Pod.Spec.Containers = append(s.Pod.Spec.Containers, corev1.Container{Name: "logger",
		SecurityContext: &corev1.SecurityContext{Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"NET_RAW"}}}})
	_, err := New(client, Options{PoolAddress: "pool:8089"}).EnsureEnvironment(ctx, s, s.Replicas)
	require.NoError(t, err)
	pod := pods(t, client)[0]
	assert.Equal(t, corev1.SeccompProfileTypeRuntimeDefault, pod.Spec.SecurityContext.SeccompProfile.Type)
	assert.True(t, *pod.Spec.SecurityContext.RunAsNonRoot)
	for _, c := range pod.Spec.Containers {
		assert.False(t, *c.SecurityContext.AllowPrivilegeEscalation, c.Name)
	}
	drops := map[string][]corev1.Capability{}
	for _, c := range pod.Spec.Containers {
		drops[c.Name] = c.SecurityContext.Capabilities.Drop
	}
	assert.Equal(t, []corev1.Capability{"ALL"}, drops["actor"])
	assert.Equal(t, []corev1.Capability{"NET_RAW"}, drops["logger"], "the spec's own stays")

	plain := fake.NewClientset()
	_, err = New(plain, Options{PoolAddress: "pool:8089"}).EnsureEnvironment(ctx, spec(1), spec(1).Replicas)
	require.NoError(t, err)
	assert.Nil(t, pods(t, plain)[0].Spec.SecurityContext, "other namespaces: as the task's pod would be")
}
