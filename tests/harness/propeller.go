package harness

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"text/template"
	"time"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// propellerConfig is FlytePropeller's configuration for the harness: the harness's flyteadmin for child
// launch plans, events to the log, no catalog, local blob store, and the actor plugin's pool on a
// loopback port.
var propellerConfig = template.Must(template.New("config").Parse(`
propeller:
  kube-config: {{.KubeConfig}}
  enable-admin-launcher: true
  admin-launcher:
    # How often propeller asks flyteadmin about the child executions it launched (default 30s).
    cache-resync-duration: 1s
  leader-election:
    enabled: {{.LeaderElection}}
{{- if .LeaderElection}}
    lock-config-map:
      namespace: {{.Namespace}}
      name: propeller-leader
    # Short, so that a standby takes over within seconds of the leader's death (flyte-core: 15s).
    lease-duration: 4s
    renew-deadline: 3s
    retry-period: 500ms
{{- end}}
{{- if .ShardKeys}}
  include-shard-key-label:
{{- range .ShardKeys}}
    - "{{.}}"
{{- end}}
{{- end}}
  prof-port: {{.ProfPort}}
  limit-namespace: all
  metadata-prefix: metadata/propeller
  # A plain path, not file://: flytekit treats a file:// location as local yet checks it with
  # os.path (FlyteFile, FlyteDirectory) or creates its folder as a literal "file:" path (datasets).
  rawoutput-prefix: {{.StorageRoot}}/{{.Bucket}}/raw
  workers: 4
  workflow-reeval-duration: 10s
  downstream-eval-duration: 5s
  # simple: wake-ups go straight to the queue (the chart's opt-in propeller.fastWakeUp). The rate limit is propeller's own
  # default; client-go's (type default, 10 a second) would hold every workflow back for seconds under
  # load, since each FlyteWorkflow update the informer sees takes a token.
  queue:
    type: simple
    queue:
      type: maxof
      rate: 1000
      capacity: 10000
      base-delay: 0s
      max-delay: 60s
  workflowStore:
    policy: ResourceVersionCache
event:
  type: admin
catalog-cache:
  type: noop
admin:
  endpoint: dns:///{{.AdminAddress}}
  insecure: true
tasks:
  task-plugins:
    # flyte-core's list, with actor added as the chart's NOTES.txt asks (a product's file cannot add
    # to a list).
    enabled-plugins:
      - container
      - sidecar
      - k8s-array
      - echo
      - actor
    default-for-task-types:
      container: container
      container_array: k8s-array
{{- if not .ProductConfig}}
      actor: actor
      fast-task: actor
{{- end}}
plugins:
  # The stack's log viewer: links in task events as a cluster's would (LogViewer).
  logs:
    kubernetes-enabled: false
    templates:
      - displayName: Pod logs
        templateUris:
          - "{{.LogViewer}}/{{"{{ .namespace }}/{{ .podName }}/{{ .containerName }}?since={{ .podUnixStartTime }}&until={{ .podUnixFinishTime }}"}}"
{{- if not .ProductConfig}}
  actor:
    listen-address: 127.0.0.1:{{.PoolPort}}
    advertise-address: {{.AdvertiseAddress}}
    executor-image: {{.ExecutorImage}}
    heartbeat-interval: 2s
    start-timeout: {{.StartTimeout}}
    tls:
      secret-namespace: {{.Namespace}}
    log-templates:
      - displayName: Actor task logs
        templateUris:
          - "{{.LogViewer}}/{{"{{ .namespace }}/{{ .podName }}/{{ .containerName }}?since={{ .podUnixStartTime }}&until={{ .podUnixFinishTime }}&task={{ .actorTaskID }}"}}"
{{- if .EndpointService}}
    endpoint:
      publish: true
      service: {{.EndpointService}}
      namespace: {{.Namespace}}
{{- end}}
{{- end}}
storage:
  type: stow
  stow:
    kind: harness-local
    config:
      path: {{.StorageRoot}}
  container: {{.Bucket}}
  enable-multicontainer: true
logger:
  level: {{.LogLevel}}
  show-source: false
`))

type propellerSettings struct {
	Namespace     string
	KubeConfig    string
	ProfPort      int
	PoolPort      int
	AdminAddress  string
	StorageRoot   string
	Bucket        string
	ExecutorImage string
	StartTimeout  time.Duration
	LogLevel      int
	// ProductConfig, if set, is propeller configuration loaded after the harness's own (see
	// Options.PropellerConfig); the harness then leaves plugins.actor to it.
	ProductConfig string
	// Tuning is configuration loaded after every other file (Options.PropellerTuning).
	Tuning []string
	// AdvertiseAddress is what executors dial: the pool itself, or the service proxy in front of it.
	AdvertiseAddress string
	// LeaderElection runs propeller with leader election; ShardKeys makes it a shard selecting those
	// shard-key values; EndpointService, if set, is the Service the pool publishes itself on.
	LeaderElection  bool
	ShardKeys       []string
	EndpointService string
	// PodIP is the address of propeller's pod on the stack's pod network (see podNetwork).
	PodIP string
	// LogViewer is the base of the stack's log links.
	LogViewer string
}

// LogViewer is the base of the log links the stack's propeller puts in task events: a viewer of the
// pod's log, <LogViewer>/<namespace>/<pod>/<container>?since=<unix>&until=<unix> (and &task=<attempt>
// for actor tasks, from plugins.actor.log-templates), as a cluster's log service would be configured.
const LogViewer = "http://logs.harness"

// startBanner starts each run's part of a propeller's log.
const startBanner = "=== harness: flytepropeller starts ==="

// propellerProcess is a running FlytePropeller subprocess.
type propellerProcess struct {
	cmd     *exec.Cmd
	exited  chan struct{}
	logPath string
}

// startPropeller writes propeller's kubeconfig and config into dir and starts it.
func startPropeller(ctx context.Context, root, dir string, kube *rest.Config, s propellerSettings) (*propellerProcess, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	s.KubeConfig = filepath.Join(dir, "kubeconfig")
	if err := writeKubeconfig(kube, s.KubeConfig); err != nil {
		return nil, err
	}
	configPath := filepath.Join(dir, "propeller.yaml")
	f, err := os.Create(configPath)
	if err != nil {
		return nil, err
	}
	if err := propellerConfig.Execute(f, s); err != nil {
		_ = f.Close()
		return nil, err
	}
	if err := f.Close(); err != nil {
		return nil, err
	}
	// Appended to: a restarted propeller's log follows its predecessor's, after a banner.
	logPath := filepath.Join(dir, "propeller.log")
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	if _, err := fmt.Fprintln(logFile, startBanner); err != nil {
		_ = logFile.Close()
		return nil, err
	}
	if s.ProductConfig != "" || len(s.Tuning) > 0 {
		if configPath, err = writeConfigLayers(dir, configPath, s.ProductConfig, s.Tuning); err != nil {
			return nil, err
		}
	}
	cmd := exec.Command(filepath.Join(root, PropellerBinary), "--config", configPath)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	// Its pod's address and namespace, as the downward API gives a propeller pod in a cluster.
	cmd.Env = append(os.Environ(), "POD_IP="+s.PodIP, "POD_NAMESPACE="+s.Namespace)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		_ = logFile.Close()
		return nil, fmt.Errorf("start flytepropeller: %w", err)
	}
	p := &propellerProcess{cmd: cmd, exited: make(chan struct{}), logPath: logPath}
	go func() {
		_ = cmd.Wait()
		_ = logFile.Close()
		close(p.exited)
	}()
	if err := p.waitHealthy(ctx, s.ProfPort); err != nil {
		p.stop()
		return nil, err
	}
	return p, nil
}

func (p *propellerProcess) waitHealthy(ctx context.Context, port int) error {
	url := fmt.Sprintf("http://127.0.0.1:%d/healthcheck", port)
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-p.exited:
			return fmt.Errorf("flytepropeller exited during start-up; its log:\n%s", p.tail(60))
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		if resp, err := http.Get(url); err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
	}
	return fmt.Errorf("flytepropeller not healthy after 60s; its log:\n%s", p.tail(60))
}

// stop stops propeller: SIGTERM, then SIGKILL after 10s.
func (p *propellerProcess) stop() {
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(10 * time.Second):
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		<-p.exited
	}
}

// PropellerLog returns everything the stack's (first) FlytePropeller has logged so far.
func (s *Stack) PropellerLog() (string, error) { return s.propellers[0].Log() }

// kill stops propeller at once, as a crash does.
func (p *propellerProcess) kill() {
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
	<-p.exited
}

// tail returns the last n lines of propeller's log.
func (p *propellerProcess) tail(n int) string {
	f, err := os.Open(p.logPath)
	if err != nil {
		return err.Error()
	}
	defer func() { _ = f.Close() }()
	var lines []string
	s := bufio.NewScanner(f)
	s.Buffer(make([]byte, 64*1024), 4*1024*1024)
	for s.Scan() {
		lines = append(lines, s.Text())
		if len(lines) > n {
			lines = lines[1:]
		}
	}
	return strings.Join(lines, "\n")
}

// writeKubeconfig writes a kubeconfig file for cfg.
func writeKubeconfig(cfg *rest.Config, path string) error {
	ca := cfg.CAData
	if len(ca) == 0 && cfg.CAFile != "" {
		var err error
		if ca, err = os.ReadFile(cfg.CAFile); err != nil {
			return err
		}
	}
	kc := clientcmdapi.NewConfig()
	kc.Clusters["test"] = &clientcmdapi.Cluster{
		Server:                   cfg.Host,
		CertificateAuthorityData: ca,
		TLSServerName:            cfg.ServerName,
		// The test API server's loopback config may trust its own certificate without a CA.
		InsecureSkipTLSVerify: cfg.Insecure || len(ca) == 0,
	}
	kc.AuthInfos["test"] = &clientcmdapi.AuthInfo{
		Token:                 cfg.BearerToken,
		ClientCertificateData: cfg.CertData,
		ClientKeyData:         cfg.KeyData,
		Impersonate:           cfg.Impersonate.UserName,
		ImpersonateGroups:     cfg.Impersonate.Groups,
	}
	kc.Contexts["test"] = &clientcmdapi.Context{Cluster: "test", AuthInfo: "test"}
	kc.CurrentContext = "test"
	return clientcmd.WriteToFile(*kc, path)
}
