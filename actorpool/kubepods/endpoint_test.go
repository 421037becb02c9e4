package kubepods

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
)

// TestPublishedEndpointIsTheLeaders: publishing makes the pool the Service's one endpoint, creating a
// selector-less Service if there is none; the next leader's publication replaces it.
func TestPublishedEndpointIsTheLeaders(t *testing.T) {
	client := fake.NewClientset()
	ctx := context.Background()
	e := Endpoint{Namespace: "flyte", Service: "flyte-actors-shard-1", Address: "10.0.0.5",
		Ports: []EndpointPort{{Name: "grpc-executor", Port: 8089}, {Name: "http-metrics", Port: 10254}}}
	require.NoError(t, PublishEndpoint(ctx, client, e))
	svc, err := client.CoreV1().Services("flyte").Get(ctx, e.Service, metav1.GetOptions{})
	require.NoError(t, err)
	assert.Nil(t, svc.Spec.Selector, "no selector: only the published endpoint")
	assert.Len(t, svc.Spec.Ports, 2)

	e.Address = "10.0.0.6" // the next leader
	require.NoError(t, PublishEndpoint(ctx, client, e))
	list, err := client.DiscoveryV1().EndpointSlices("flyte").List(ctx, metav1.ListOptions{
		LabelSelector: discoveryv1.LabelServiceName + "=" + e.Service})
	require.NoError(t, err)
	require.Len(t, list.Items, 1)
	slice := list.Items[0]
	assert.Equal(t, []string{"10.0.0.6"}, slice.Endpoints[0].Addresses)
	assert.Equal(t, "actors.flyte.org", slice.Labels[discoveryv1.LabelManagedBy])
	assert.Equal(t, int32(8089), *slice.Ports[0].Port)

	assert.ErrorContains(t, PublishEndpoint(ctx, client, Endpoint{Namespace: "flyte", Service: "x", Address: "pod-ip"}), `address "pod-ip"`)
}
