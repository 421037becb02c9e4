package plugin

import (
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
)

func TestPodHashIgnoresTheAttemptButNotThePod(t *testing.T) {
	base := &corev1.Pod{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "actor", Image: "a:1",
		Env: []corev1.EnvVar{{Name: "B", Value: "2"}, {Name: "A", Value: "1"}}}}}}
	reordered := base.DeepCopy()
	slices.Reverse(reordered.Spec.Containers[0].Env)
	otherImage := base.DeepCopy()
	otherImage.Spec.Containers[0].Image = "a:2"
	otherAccount := base.DeepCopy()
	otherAccount.Spec.ServiceAccountName = "other"

	h := func(p *corev1.Pod) string {
		s, err := podHash(p)
		require.NoError(t, err)
		return s
	}
	assert.Equal(t, h(base), h(reordered), "env order (from Go maps) does not change the environment")
	assert.NotEqual(t, h(base), h(otherImage))
	assert.NotEqual(t, h(base), h(otherAccount))
}
