package harness

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/url"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apiextensionsclient "k8s.io/apiextensions-apiserver/pkg/client/clientset/clientset"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/apiserver/pkg/storage/storagebackend"
	"k8s.io/client-go/rest"
	"k8s.io/klog/v2"
	kubeapiservertesting "k8s.io/kubernetes/cmd/kube-apiserver/app/testing"
	"k8s.io/kubernetes/test/utils/ktesting"

	"github.com/flyteorg/flyte/flytepropeller/pkg/apis/flyteworkflow"
	"github.com/flyteorg/flyte/flytestdlib/contextutils"
	"github.com/flyteorg/flyte/flytestdlib/promutils/labeled"
)

// T is what the harness needs from a test (or from the demo, which is not one).
type T = ktesting.TB

// Setup prepares the process for the harness; call it once, first, from TestMain or main.
//
// Both flytestdlib and the API server register client-go's workqueue metrics with Prometheus'
// default registerer, which panics on the second registration; the API server's test logging
// defaults to verbosity 5 (thousands of lines per test); flytestdlib's labeled metrics need their
// keys set once per process.
func Setup() {
	prometheus.DefaultRegisterer = tolerantRegisterer{prometheus.DefaultRegisterer}
	ktesting.SetDefaultVerbosity(0)
	// The API server also logs through klog's global logger, straight to stderr; its test logger
	// (through T) still shows errors.
	for name, value := range map[string]string{"logtostderr": "false", "alsologtostderr": "false", "stderrthreshold": "FATAL"} {
		if f := flag.CommandLine.Lookup(name); f != nil {
			_ = f.Value.Set(value)
		}
	}
	klog.SetOutput(io.Discard)
	klog.SetLogger(logr.Discard())
	// flytestdlib's storage metrics are labeled; the harness opens the blob store itself.
	labeled.SetMetricKeys(contextutils.ProjectKey, contextutils.DomainKey, contextutils.WorkflowIDKey, contextutils.TaskIDKey)
}

// tolerantRegisterer ignores attempts to register a collector twice.
type tolerantRegisterer struct{ prometheus.Registerer }

func (r tolerantRegisterer) Register(c prometheus.Collector) error {
	err := r.Registerer.Register(c)
	var already prometheus.AlreadyRegisteredError
	if errors.As(err, &already) {
		return nil
	}
	return err
}

func (r tolerantRegisterer) MustRegister(cs ...prometheus.Collector) {
	for _, c := range cs {
		if err := r.Register(c); err != nil {
			panic(err)
		}
	}
}

// startEtcd starts an embedded etcd on free loopback ports and returns its client URL.
func startEtcd(t T) (string, error) {
	cfg := embed.NewConfig()
	cfg.Dir = t.TempDir()
	cfg.LogLevel = "error"
	// etcd reports its own normal shutdown as errors.
	cfg.ZapLoggerBuilder = embed.NewZapLoggerBuilder(zap.NewNop())
	client, err := freeURL()
	if err != nil {
		return "", err
	}
	peer, err := freeURL()
	if err != nil {
		return "", err
	}
	cfg.ListenClientUrls, cfg.AdvertiseClientUrls = []url.URL{*client}, []url.URL{*client}
	cfg.ListenPeerUrls, cfg.AdvertisePeerUrls = []url.URL{*peer}, []url.URL{*peer}
	cfg.InitialCluster = cfg.InitialClusterFromName(cfg.Name)
	e, err := embed.StartEtcd(cfg)
	if err != nil {
		return "", fmt.Errorf("start etcd: %w", err)
	}
	t.Cleanup(e.Close)
	select {
	case <-e.Server.ReadyNotify():
	case <-time.After(60 * time.Second):
		return "", errors.New("etcd did not become ready in 60s")
	}
	return client.String(), nil
}

// startAPIServer starts a kube-apiserver in this process, backed by the etcd at etcdURL, with flags
// besides the harness's own.
func startAPIServer(t T, etcdURL string, flags ...string) (*rest.Config, func(), error) {
	storage := storagebackend.NewDefaultConfig("/registry", nil)
	storage.Transport.ServerList = []string{etcdURL}
	srv, err := kubeapiservertesting.StartTestServer(t, nil, append([]string{
		// No controller-manager runs, so nothing would make the service account tokens it asks for.
		"--disable-admission-plugins=ServiceAccount",
	}, flags...), storage)
	if err != nil {
		return nil, nil, fmt.Errorf("start kube-apiserver: %w", err)
	}
	return srv.ClientConfig, srv.TearDownFn, nil
}

// jsonConfig returns a copy of cfg that speaks JSON, which custom resources need.
func jsonConfig(cfg *rest.Config) *rest.Config {
	c := rest.CopyConfig(cfg)
	c.ContentType = "application/json"
	c.AcceptContentTypes = "application/json"
	return c
}

// installFlyteWorkflowCRD creates the FlyteWorkflow CRD and waits until it is served.
func installFlyteWorkflowCRD(ctx context.Context, cfg *rest.Config) error {
	return InstallCRD(ctx, cfg, flyteworkflow.CRD.DeepCopy())
}

// InstallCRD creates crd (one that exists already is kept) and waits until the API server serves it.
func InstallCRD(ctx context.Context, cfg *rest.Config, crd *apiextensionsv1.CustomResourceDefinition) error {
	client, err := apiextensionsclient.NewForConfig(cfg)
	if err != nil {
		return err
	}
	if _, err := client.ApiextensionsV1().CustomResourceDefinitions().Create(ctx, crd, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create CRD %s: %w", crd.Name, err)
	}
	return wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		got, err := client.ApiextensionsV1().CustomResourceDefinitions().Get(ctx, crd.Name, metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		for _, c := range got.Status.Conditions {
			if c.Type == apiextensionsv1.Established && c.Status == apiextensionsv1.ConditionTrue {
				return true, nil
			}
		}
		return false, nil
	})
}

func freeURL() (*url.URL, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	return &url.URL{Scheme: "http", Host: fmt.Sprintf("127.0.0.1:%d", port)}, nil
}

// freePort returns a loopback port that was free a moment ago.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer func() { _ = l.Close() }()
	return l.Addr().(*net.TCPAddr).Port, nil
}
