package harness

import (
	"fmt"

	"k8s.io/apiserver/pkg/storage/storagebackend"
	"k8s.io/client-go/rest"
	kubeapiservertesting "k8s.io/kubernetes/cmd/kube-apiserver/app/testing"
)

// StartAPIServer starts an embedded etcd and a kube-apiserver for t, and nothing else of the stack, for
// tests that need only the Kubernetes API (the chart's manifests and RBAC). Unlike the stack's, this API
// server authorizes requests by RBAC, as a cluster does: a client that impersonates a ServiceAccount
// gets exactly what the roles bound to it allow. The returned config is the server's own admin
// (system:masters). Call Setup first.
func StartAPIServer(t T) (*rest.Config, error) {
	etcdURL, err := startEtcd(t)
	if err != nil {
		return nil, err
	}
	storage := storagebackend.NewDefaultConfig("/registry", nil)
	storage.Transport.ServerList = []string{etcdURL}
	srv, err := kubeapiservertesting.StartTestServer(t, nil, []string{
		// No controller-manager runs, so nothing would make the service account tokens it asks for.
		"--disable-admission-plugins=ServiceAccount",
		"--authorization-mode=RBAC",
	}, storage)
	if err != nil {
		return nil, fmt.Errorf("start kube-apiserver: %w", err)
	}
	t.Cleanup(srv.TearDownFn)
	return srv.ClientConfig, nil
}

// FreePort returns a loopback port that was free a moment ago.
func FreePort() (int, error) { return freePort() }
