package harness

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strconv"
	"sync"

	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// executorPortName is the port of an executor Service that proxies carry (the chart's name).
const executorPortName = "grpc-executor"

// podNetwork is the stack's pod network: its propellers' pods get addresses there (Kubernetes refuses
// loopback addresses in EndpointSlices), and it is routed to loopback, where every process of the stack
// listens, as a node routes its pods' addresses.
var podNetwork = netip.MustParsePrefix("10.244.0.0/24")

// podIP returns the address of the stack's i-th propeller pod.
func podIP(i int) string {
	a := podNetwork.Addr().As4()
	a[3] = byte(i + 1)
	return netip.AddrFrom4(a).String()
}

// route returns where a connection to addr (host:port) goes: an address of the pod network to the same
// port on loopback.
func route(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	if ip, err := netip.ParseAddr(host); err == nil && podNetwork.Contains(ip) {
		return net.JoinHostPort("127.0.0.1", port)
	}
	return addr
}

// serviceProxy plays kube-proxy for one Service on loopback: each connection goes to a ready endpoint
// of the Service's EndpointSlices at the moment it is made, as a Service's virtual IP sends it. The
// stack has no DNS or virtual IPs: executors dial the proxy's address instead of the Service's name.
type serviceProxy struct {
	kube      kubernetes.Interface
	namespace string
	service   string
	lis       net.Listener
}

// startServiceProxy serves service of namespace on a loopback port until the test ends.
func startServiceProxy(ctx context.Context, t T, kube kubernetes.Interface, namespace, service string) (*serviceProxy, error) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &serviceProxy{kube: kube, namespace: namespace, service: service, lis: lis}
	var conns sync.WaitGroup
	go func() {
		for {
			conn, err := lis.Accept()
			if err != nil {
				return
			}
			conns.Go(func() { p.forward(ctx, conn) })
		}
	}()
	t.Cleanup(func() {
		_ = lis.Close()
		conns.Wait()
	})
	return p, nil
}

// Addr is the proxy's address: the Service's, for the stack's executors.
func (p *serviceProxy) Addr() string { return p.lis.Addr().String() }

// forward carries conn to the Service's endpoint, or closes it if there is none (as a Service without
// endpoints refuses connections).
func (p *serviceProxy) forward(ctx context.Context, conn net.Conn) {
	defer func() { _ = conn.Close() }()
	target, err := p.endpoint(ctx)
	if err != nil {
		return
	}
	upstream, err := net.Dial("tcp", route(target))
	if err != nil {
		return
	}
	defer func() { _ = upstream.Close() }()
	done := make(chan struct{}, 2)
	pipe := func(dst, src net.Conn) {
		_, _ = io.Copy(dst, src)
		done <- struct{}{}
	}
	go pipe(upstream, conn)
	go pipe(conn, upstream)
	select {
	case <-done: // one side ended: end both, as a broken connection does
	case <-ctx.Done():
	}
}

// endpoint returns host:port of a ready endpoint of the Service's executor port.
func (p *serviceProxy) endpoint(ctx context.Context) (string, error) {
	slices, err := p.kube.DiscoveryV1().EndpointSlices(p.namespace).List(ctx, metav1.ListOptions{
		LabelSelector: discoveryv1.LabelServiceName + "=" + p.service})
	if err != nil {
		return "", err
	}
	for _, slice := range slices.Items {
		for _, port := range slice.Ports {
			if port.Name == nil || *port.Name != executorPortName || port.Port == nil {
				continue
			}
			for _, e := range slice.Endpoints {
				if (e.Conditions.Ready == nil || *e.Conditions.Ready) && len(e.Addresses) > 0 {
					return net.JoinHostPort(e.Addresses[0], strconv.Itoa(int(*port.Port))), nil
				}
			}
		}
	}
	return "", fmt.Errorf("service %s/%s has no ready endpoint", p.namespace, p.service)
}
