package plugin

import (
	"context"
	"fmt"
	"net"
	"os"
	"time"

	"k8s.io/client-go/kubernetes"

	"github.com/flyteorg/flyte/flytestdlib/logger"

	"github.com/flyteactors/flyteactors/actorpool/kubepods"
)

// Port names of the Service executors dial, as the chart names them.
const (
	executorPortName = "grpc-executor"
	metricsPortName  = "http-metrics"
)

// ownNamespace returns configured, or else FlytePropeller's own namespace (POD_NAMESPACE), or flyte.
func ownNamespace(configured string) string {
	for _, ns := range []string{configured, os.Getenv("POD_NAMESPACE")} {
		if ns != "" {
			return ns
		}
	}
	return "flyte"
}

// endpointOf returns the endpoint the pool publishes: its address, the executor service's port
// (listening) and propeller's metrics port.
func endpointOf(cfg *Config, place placement, listening net.Addr, metricsPort int) (kubepods.Endpoint, error) {
	address, err := ownAddress(cfg.Endpoint.Address)
	if err != nil {
		return kubepods.Endpoint{}, err
	}
	tcp, ok := listening.(*net.TCPAddr)
	if !ok {
		return kubepods.Endpoint{}, fmt.Errorf("actor pool: executor service listens on %s, not TCP", listening)
	}
	ports := []kubepods.EndpointPort{{Name: executorPortName, Port: int32(tcp.Port)}}
	if metricsPort > 0 {
		ports = append(ports, kubepods.EndpointPort{Name: metricsPortName, Port: int32(metricsPort)})
	}
	return kubepods.Endpoint{Namespace: ownNamespace(cfg.Endpoint.Namespace), Service: withShard(cfg.Endpoint.Service, place.shard),
		Address: address, Ports: ports}, nil
}

// ownAddress returns configured, or else the pod's IP (POD_IP), or else this host's first address
// that is not a loopback one: in a pod, its own.
func ownAddress(configured string) (string, error) {
	if configured != "" {
		return configured, nil
	}
	if ip := os.Getenv("POD_IP"); ip != "" {
		return ip, nil
	}
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return "", fmt.Errorf("plugins.actor.endpoint.address: none configured, no POD_IP, and %w", err)
	}
	for _, a := range addrs {
		if ipnet, ok := a.(*net.IPNet); ok && !ipnet.IP.IsLoopback() && !ipnet.IP.IsLinkLocalUnicast() {
			return ipnet.IP.String(), nil
		}
	}
	return "", fmt.Errorf("plugins.actor.endpoint.address: none configured, no POD_IP, and no address but loopback")
}

// publishEndpoint keeps e published while ctx lives: at once, again after a failure (backing off up
// to every as it fails in a row), and every every, so that it is there again if someone removed it.
func publishEndpoint(ctx context.Context, client kubernetes.Interface, e kubepods.Endpoint, every time.Duration) {
	wait := 200 * time.Millisecond
	for {
		next := every
		if err := kubepods.PublishEndpoint(ctx, client, e); err != nil {
			logger.Warnf(ctx, "actor pool: %v; trying again in %s", err, wait)
			next, wait = wait, min(2*wait, every)
		} else {
			wait = 200 * time.Millisecond
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(next):
		}
	}
}
