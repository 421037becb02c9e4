package kubepods

import (
	"context"
	"fmt"
	"net/netip"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"
)

// managedBy marks the EndpointSlices the pool publishes (endpointslice.kubernetes.io/managed-by), so
// that Kubernetes' own EndpointSlice controller leaves them alone.
const managedBy = "actors.flyte.org"

// Endpoint is the address a pool publishes for the Service its executors dial.
type Endpoint struct {
	// Namespace and Service name the Service.
	Namespace, Service string
	// Address is the IP address the pool is reached at (its pod's).
	Address string
	// Ports are the Service's ports, by name, and the port each is served on at Address.
	Ports []EndpointPort
}

// EndpointPort is one named port of an Endpoint.
type EndpointPort struct {
	Name string
	Port int32
}

// PublishEndpoint makes e the one endpoint of its Service, creating the Service (without a selector)
// if it does not exist. Only FlytePropeller's leader runs a pool, so its executors, which dial the
// Service, always reach the pool that serves them: a pod selector would send them to standbys too.
// Publishing replaces whatever endpoint was there, so a new leader takes over from one that died
// without cleaning up.
func PublishEndpoint(ctx context.Context, client kubernetes.Interface, e Endpoint) error {
	addr, err := netip.ParseAddr(e.Address)
	if err != nil {
		return fmt.Errorf("publish the pool's endpoint: address %q: %w", e.Address, err)
	}
	if err := ensureService(ctx, client, e); err != nil {
		return err
	}
	family := discoveryv1.AddressTypeIPv4
	if addr.Is6() {
		family = discoveryv1.AddressTypeIPv6
	}
	slice := &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{
			Name:      e.Service + "-pool",
			Namespace: e.Namespace,
			Labels: map[string]string{discoveryv1.LabelServiceName: e.Service,
				discoveryv1.LabelManagedBy: managedBy},
		},
		AddressType: family,
		Endpoints: []discoveryv1.Endpoint{{Addresses: []string{addr.String()},
			Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true), Serving: ptr.To(true), Terminating: ptr.To(false)}}},
	}
	for _, p := range e.Ports {
		slice.Ports = append(slice.Ports, discoveryv1.EndpointPort{Name: ptr.To(p.Name), Port: ptr.To(p.Port),
			Protocol: ptr.To(corev1.ProtocolTCP)})
	}
	slices := client.DiscoveryV1().EndpointSlices(e.Namespace)
	existing, err := slices.Get(ctx, slice.Name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		_, err = slices.Create(ctx, slice, metav1.CreateOptions{})
	case err == nil:
		slice.ResourceVersion = existing.ResourceVersion
		_, err = slices.Update(ctx, slice, metav1.UpdateOptions{})
	}
	if err != nil {
		return fmt.Errorf("publish the pool's endpoint %s on %s/%s: %w", addr, e.Namespace, e.Service, err)
	}
	return nil
}

// ensureService creates e's Service, without a selector, unless it exists.
func ensureService(ctx context.Context, client kubernetes.Interface, e Endpoint) error {
	services := client.CoreV1().Services(e.Namespace)
	if _, err := services.Get(ctx, e.Service, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		if err != nil {
			return fmt.Errorf("read service %s/%s: %w", e.Namespace, e.Service, err)
		}
		return nil
	}
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: e.Service, Namespace: e.Namespace,
			Labels: map[string]string{"app.kubernetes.io/managed-by": managedBy}},
	}
	for _, p := range e.Ports {
		svc.Spec.Ports = append(svc.Spec.Ports, corev1.ServicePort{Name: p.Name, Protocol: corev1.ProtocolTCP,
			Port: p.Port, TargetPort: intstr.FromInt32(p.Port)})
	}
	if _, err := services.Create(ctx, svc, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create service %s/%s: %w", e.Namespace, e.Service, err)
	}
	return nil
}
