// Package harness runs the real stack Flyte Actors meets in a cluster, on one machine, for integration
// tests and the demo: an embedded etcd, a real kube-apiserver, the FlyteWorkflow CRD, this project's
// FlytePropeller (upstream propeller with the actor plugin linked in) as a subprocess, a local blob
// store, a local kubelet that runs pods as processes, and the part of flyteadmin's AdminService that
// propeller calls to launch child launch plans (Admin), which the harness also launches executions
// through.
//
// Blob store: propeller uses stow's local kind (with one fix, see propellerpatch/blobstore.go), whose
// references are file://<bucket>/<key> with the bucket a folder under the storage root. flytekit
// resolves such a reference relative to its working directory, so every pod process runs with the
// storage root as its working directory. Raw data (files, folders, datasets) goes under a plain path,
// <storage root>/<bucket>/raw, which is what flytekit expects of a local location.
package harness

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	flyteclient "github.com/flyteorg/flyte/flytepropeller/pkg/client/clientset/versioned"
	"github.com/flyteorg/flyte/flytestdlib/promutils"
	"github.com/flyteorg/flyte/flytestdlib/storage"

	"github.com/flyteactors/flyteactors/actorpool/kubepods"
)

// Options tune a Stack.
type Options struct {
	// PropellerLogLevel is propeller's logger level (0 panic .. 5 debug). Default 4 (info).
	PropellerLogLevel int
	// BuildProgress, if set, receives progress reports while the stack's binaries build.
	BuildProgress io.Writer
	// StartTimeout is plugins.actor.start-timeout: how long a task waits for an executor of its
	// environment to run. Default 2 minutes.
	StartTimeout time.Duration
	// PropellerRoles, if not nil, makes the API server authorize by RBAC and FlytePropeller run as its
	// ServiceAccount (PropellerServiceAccount), bound to PropellerCoreRole (what a stock propeller needs)
	// and to these roles (what the product under test adds, e.g. the chart's). Nil: propeller is the
	// API server's admin.
	PropellerRoles []*rbacv1.ClusterRole
	// PropellerConfig, if set, is FlytePropeller configuration (YAML) of the product under test, e.g. the
	// flyte-actors chart's; propeller loads it after the harness's own file, as a cluster loads the
	// chart's file after flyte-core's. The harness's file then plays flyte-core's: it enables the task
	// plugins flyte-core would, plus actor (as the chart's NOTES.txt asks), and sets no plugins.actor,
	// which comes from PropellerConfig alone, with the stack's executor port and image.
	PropellerConfig string
	// Replicas is how many FlytePropeller processes run (default 1). With more, they run with leader
	// election, as flyte-core runs propeller's Deployment: only the leader runs workflows and the actor
	// pool, which publishes itself as the endpoint of the Service executors dial (ServiceName), served on
	// loopback by the harness's service proxy.
	Replicas int
	// Shards, if set, runs one FlytePropeller per element instead, which selects the workflows whose
	// shard-key label is one of its values (propeller.include-shard-key-label), as flyte-core's propeller
	// manager runs shards; each shard's pool publishes itself on a Service of its own
	// (ShardServiceName), served by a proxy of its own.
	Shards [][]string
	// NamespaceLabels label the stack's namespace, e.g. Pod Security admission's enforce label.
	NamespaceLabels map[string]string
	// OffloadWorkflowClosure makes the stack's flyteadmin keep each FlyteWorkflow's static part (its
	// nodes, tasks and subworkflows) in the blob store and only a reference to it in the FlyteWorkflow, as
	// flyteadmin's useOffloadedWorkflowClosure setting does.
	OffloadWorkflowClosure bool
	// MeterPropellerAPI puts an APIMeter between FlytePropeller and the API server (Stack.PropellerAPI).
	MeterPropellerAPI bool
	// PropellerTuning are FlytePropeller configuration files (YAML) loaded after every other file, in
	// order, as an operator's overrides are: queue settings, plugins.actor keys. Propeller.Tune changes
	// them later.
	PropellerTuning []string
}

// ServiceName is the Service the actor pool of a stack with replicas publishes itself on.
const ServiceName = "flyte-actors"

// ShardServiceName is the Service the pool of shard i (Options.Shards) publishes itself on.
func ShardServiceName(i int) string { return fmt.Sprintf("%s-shard-%d", ServiceName, i) }

// Stack is a running stack. Everything it started stops when the test (or demo) cleans up, in the
// right order: kubelet processes, propeller, the API server, etcd.
type Stack struct {
	// Kube is a clientset for the API server.
	Kube kubernetes.Interface
	// Flyte is a clientset for FlyteWorkflows.
	Flyte flyteclient.Interface
	// Store reads and writes the blob store propeller uses.
	Store *storage.DataStore
	// Kubelet is the local kubelet.
	Kubelet *Kubelet
	// Admin is the stack's flyteadmin (the part propeller and the harness use).
	Admin *Admin
	// Namespace is where executions and their pods run.
	Namespace string
	// StorageRoot is the blob store's root folder (and every pod process's working directory).
	StorageRoot string
	// Timings records how long each part took to start.
	Timings map[string]time.Duration
	// PropellerAPI counts FlytePropeller's requests to the API server, with Options.MeterPropellerAPI.
	PropellerAPI *APIMeter

	root, dir                string
	project, domain, version string
	registry                 *registry
	// propellers are the stack's FlytePropeller processes: one, or its replicas or shards.
	propellers []*Propeller
}

// Propellers returns the stack's FlytePropeller processes: one, or one per replica or shard (Options).
func (s *Stack) Propellers() []*Propeller { return s.propellers }

// RestartPropeller restarts the stack's (first) FlytePropeller (see Propeller.Restart).
func (s *Stack) RestartPropeller(kill bool) error { return s.propellers[0].Restart(kill) }

// StopPropeller stops the stack's (first) FlytePropeller (see Propeller.Stop).
func (s *Stack) StopPropeller(kill bool) { s.propellers[0].Stop(kill) }

// StartPropeller starts the stack's stopped (first) FlytePropeller again (see Propeller.Start).
func (s *Stack) StartPropeller() error { return s.propellers[0].Start() }

// PropellerPID returns the process id of the stack's (first) running FlytePropeller.
func (s *Stack) PropellerPID() int { return s.propellers[0].PID() }

// PropellerProfPort is the port of the (first) propeller's profiling and metrics server (/debug/pprof,
// /metrics).
func (s *Stack) PropellerProfPort() int { return s.propellers[0].ProfPort() }

// Bucket is the blob store container propeller writes to.
const Bucket = "flyte"

// Start starts a stack for t, whose Python processes run in the repository's .venv with workflowSrc
// on their PYTHONPATH (the "image"). It fails t if anything does not start.
func Start(t T, workflowSrc string, opts Options) *Stack {
	t.Helper()
	s, err := start(t, workflowSrc, opts)
	if err != nil {
		t.Fatalf("start stack: %v", err)
	}
	return s
}

func start(t T, workflowSrc string, opts Options) (*Stack, error) {
	if opts.PropellerLogLevel == 0 {
		opts.PropellerLogLevel = 4
	}
	if opts.StartTimeout == 0 {
		opts.StartTimeout = 2 * time.Minute
	}
	root, err := RepoRoot()
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(filepath.Join(root, ".venv", "bin", "pyflyte")); err != nil {
		return nil, errors.New("no .venv with flytekit in the repository: run `make venv` first")
	}
	s := &Stack{root: root, dir: t.TempDir(), project: "flytesnacks", domain: "development", version: "v1",
		registry: newRegistry(), Timings: map[string]time.Duration{}}
	s.Namespace = namespaceOf(s.project, s.domain)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)

	mark := time.Now()
	lap := func(name string) {
		s.Timings[name] = time.Since(mark)
		mark = time.Now()
	}
	if err := BuildBinaries(root, opts.BuildProgress); err != nil {
		return nil, err
	}
	lap("build")

	etcdURL, err := startEtcd(t)
	if err != nil {
		return nil, err
	}
	lap("etcd")
	var apiFlags []string
	if opts.PropellerRoles != nil {
		apiFlags = append(apiFlags, "--authorization-mode=RBAC")
	}
	kubeCfg, tearDown, err := startAPIServer(t, etcdURL, apiFlags...)
	if err != nil {
		return nil, err
	}
	t.Cleanup(tearDown)
	// The API server waits for open watches to end before it stops: end the harness's own first.
	t.Cleanup(cancel)
	lap("apiserver")
	if s.Kube, err = kubernetes.NewForConfig(kubeCfg); err != nil {
		return nil, err
	}
	if s.Flyte, err = flyteclient.NewForConfig(jsonConfig(kubeCfg)); err != nil {
		return nil, err
	}
	if err := installFlyteWorkflowCRD(ctx, kubeCfg); err != nil {
		return nil, err
	}
	if _, err := s.Kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: s.Namespace,
		Labels: opts.NamespaceLabels}}, metav1.CreateOptions{}); err != nil {
		return nil, fmt.Errorf("create namespace: %w", err)
	}
	lap("crd")

	s.StorageRoot = filepath.Join(s.dir, "storage")
	if err := os.MkdirAll(filepath.Join(s.StorageRoot, Bucket), 0o755); err != nil {
		return nil, err
	}
	s.Store, err = storage.NewDataStore(&storage.Config{
		Type:                  storage.TypeStow,
		Stow:                  storage.StowConfig{Kind: "local", Config: map[string]string{"path": s.StorageRoot}},
		InitContainer:         Bucket,
		MultiContainerEnabled: true,
	}, promutils.NewTestScope())
	if err != nil {
		return nil, fmt.Errorf("open blob store: %w", err)
	}

	images, err := s.images(root, workflowSrc)
	if err != nil {
		return nil, err
	}
	kubelet, err := startKubelet(ctx, t, s.Kube, images, s.dir)
	if err != nil {
		return nil, err
	}
	s.Kubelet = kubelet
	lap("kubelet")

	s.Admin = newAdmin(s.registry, s.Flyte, s.Store, opts.OffloadWorkflowClosure)
	adminAddress, err := serveAdmin(ctx, s.Admin)
	if err != nil {
		return nil, err
	}
	lap("admin")

	propellerKube := kubeCfg
	if opts.PropellerRoles != nil {
		if propellerKube, err = bindPropeller(ctx, s.Kube, kubeCfg, opts.PropellerRoles); err != nil {
			return nil, err
		}
	}
	if opts.MeterPropellerAPI {
		if s.PropellerAPI, propellerKube, err = startAPIMeter(ctx, propellerKube); err != nil {
			return nil, err
		}
	}
	base := propellerSettings{
		Namespace: s.Namespace, AdminAddress: adminAddress, StorageRoot: s.StorageRoot, Bucket: Bucket,
		ExecutorImage: ExecutorImage, StartTimeout: opts.StartTimeout, LogLevel: opts.PropellerLogLevel,
		ProductConfig: opts.PropellerConfig, Tuning: opts.PropellerTuning, LogViewer: LogViewer,
	}
	settings, err := s.propellerLayout(ctx, t, base, opts)
	if err != nil {
		return nil, err
	}
	for i, st := range settings {
		dir := s.dir
		if i > 0 {
			dir = filepath.Join(s.dir, fmt.Sprintf("propeller-%d", i))
		}
		p := &Propeller{ctx: ctx, root: root, dir: dir, kube: propellerKube, settings: st}
		if err := p.Start(); err != nil {
			return nil, err
		}
		s.propellers = append(s.propellers, p)
		// Cleanups run last-registered first: pods' processes, then propeller, then the API server.
		t.Cleanup(func() {
			if t.Failed() {
				t.Logf("propeller %d's log (last lines):\n%s", i, p.tail(120))
			}
			p.Stop(false)
		})
	}
	t.Cleanup(kubelet.stop)
	lap("propeller")
	return s, nil
}

// ExecutorPods returns the actor executor pods in the stack's namespace.
func (s *Stack) ExecutorPods(ctx context.Context) ([]corev1.Pod, error) {
	list, err := s.Kube.CoreV1().Pods(s.Namespace).List(ctx, metav1.ListOptions{
		LabelSelector: kubepods.LabelRole + "=" + kubepods.RoleExecutor,
	})
	if err != nil {
		return nil, err
	}
	return list.Items, nil
}
