package kubepods

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
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
			_, err := New(client, Options{PoolAddress: "pool:8089"}).EnsureEnvironment(context.Background(), spec(1))
			require.Error(t, err)
			assert.Equal(t, tc.forGood, errors.Is(err, actorpool.ErrExecutorPodRefused), "%v", err)
		})
	}
}
