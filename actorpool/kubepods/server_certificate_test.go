package kubepods

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/flyteactors/flyteactors/go/servercert"
)

// TestServerCertificateOfAnotherReplicaIsUsed: two pools starting at once make one certificate.
func TestServerCertificateOfAnotherReplicaIsUsed(t *testing.T) {
	ctx := context.Background()
	theirs, err := servercert.New("pool.flyte", time.Now())
	require.NoError(t, err)
	client := fake.NewClientset()
	client.PrependReactor("create", "secrets", func(action k8stesting.Action) (bool, runtime.Object, error) {
		// Another replica creates it just before us.
		secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "tls", Namespace: "flyte"}, Data: dataOf(theirs)}
		require.NoError(t, client.Tracker().Add(secret))
		return true, nil, apierrors.NewAlreadyExists(corev1.Resource("secrets"), "tls")
	})
	got, err := EnsureServerCertificate(ctx, client, "flyte", "tls", "pool.flyte")
	require.NoError(t, err)
	assert.Equal(t, theirs, got)
}
