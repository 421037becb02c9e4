package plugin

import (
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/flyteorg/flyte/flyteplugins/go/tasks/config"
	"github.com/flyteorg/flyte/flyteplugins/go/tasks/pluginmachinery/tasklog"
	stdconfig "github.com/flyteorg/flyte/flytestdlib/config"

	"github.com/flyteactors/flyteactors/actorpool"
	"github.com/flyteactors/flyteactors/actorpool/executorsvc"
	"github.com/flyteactors/flyteactors/go/contract"
)

//go:generate go tool pflags Config --default-var=defaultConfig

// Config is the plugin's configuration section, plugins.actor in FlytePropeller's configuration.
type Config struct {
	// ListenAddress is where the actor pool's executor service listens.
	ListenAddress string `json:"listen-address" pflag:",Address the actor pool's executor service listens on (host:port)."`
	// AdvertiseAddress is what executor pods dial to reach the pool; {shard} stands for the shard.
	AdvertiseAddress string `json:"advertise-address" pflag:",host:port executor pods dial to reach the actor pool, e.g. the Service's DNS name and the listen port. In a shard of FlytePropeller {shard} becomes -<shard>; unsharded it becomes nothing."`
	// ExecutorImage is the image an init container installs the executor from; empty: the task's image
	// must hold it (ExecutorCommand).
	ExecutorImage string `json:"executor-image" pflag:",Image of the actor executor (a static binary) that an init container installs into every executor pod, so that any image with Python, flytekit and flyteactors works. Empty: the task's image must hold the executor (see executor-command)."`
	// ExecutorImagePullPolicy is the pull policy of ExecutorImage.
	ExecutorImagePullPolicy string `json:"executor-image-pull-policy" pflag:",Pull policy of executor-image (Always, IfNotPresent, Never)."`
	// ExecutorCommand is the primary container command of executor pods when ExecutorImage is empty.
	ExecutorCommand []string `json:"executor-command" pflag:",Command of the executor pods' primary container when executor-image is empty; the actor-executor binary must be on the image's PATH or named by path."`
	// StartTimeout is how long a task waits for an executor of its environment to run.
	StartTimeout stdconfig.Duration `json:"start-timeout" pflag:",How long a task waits for an executor of its environment to start before it fails with what the executor pods report."`
	// WarmupTimeout is how long an executor's Python runtimes may take to warm up.
	WarmupTimeout stdconfig.Duration `json:"warmup-timeout" pflag:",How long an executor's Python runtimes may take to start and import flytekit."`
	// DefaultTTL applies to environments whose spec gives no ttl_seconds.
	DefaultTTL stdconfig.Duration `json:"default-ttl" pflag:",How long an environment without ttl_seconds stays up with nothing to do."`
	// HeartbeatInterval is how often idle executors must speak.
	HeartbeatInterval stdconfig.Duration `json:"heartbeat-interval" pflag:",How often executors send a heartbeat when they have nothing else to say."`
	// MissedHeartbeats is how many heartbeat intervals of silence make an executor lost.
	MissedHeartbeats int `json:"missed-heartbeats" pflag:",How many heartbeat intervals of silence mark an executor lost."`
	// ResyncInterval is how often a live environment's pods are checked and replaced if missing.
	ResyncInterval stdconfig.Duration `json:"resync-interval" pflag:",How often a live environment's executor pods are converged again."`
	// ReconnectGrace is how long the tasks of an executor whose stream ended wait for it to reconnect.
	ReconnectGrace stdconfig.Duration `json:"reconnect-grace" pflag:",How long the tasks of an executor whose connection ended wait for it to reconnect before they fail as lost (at once if its pod ended)."`
	// OrphanGrace is how long tasks executors report that nobody submitted are kept for propeller.
	OrphanGrace stdconfig.Duration `json:"orphan-grace" pflag:",How long tasks an executor reports that this pool does not know (after a restart) wait for FlytePropeller to submit them again before they are stopped."`
	// ForgetAfter is how long the pool keeps a task nobody asks about.
	ForgetAfter stdconfig.Duration `json:"forget-after" pflag:",How long the pool keeps a task FlytePropeller no longer asks about (its workflow is gone) before it releases it."`
	// MaxRetryInterval caps the backoff of an environment whose pods cannot be made.
	MaxRetryInterval stdconfig.Duration `json:"max-retry-interval" pflag:",Longest wait between attempts to create the executor pods of a failing environment."`
	// MaxReplicas is the most executor pods one environment may ask for.
	MaxReplicas int `json:"max-replicas" pflag:",Most executor pods (replica_count) one environment may ask for."`
	// MaxExecutorsPerNamespace caps the executor pods of all environments of a namespace together.
	MaxExecutorsPerNamespace int `json:"max-executors-per-namespace" pflag:",Most executor pods the actor environments of one namespace may run together, so that one user's replica_count cannot take the cluster: an environment that would grow beyond it waits, and its tasks say why. 0: no cap."`
	// MetricsEnvironments bounds the environments whose metrics carry their own labels.
	MetricsEnvironments int `json:"metrics-environments" pflag:",Most environments (by name, project and domain) whose metrics carry their own labels, the first ones seen; later ones count under environment=_other. Bounds the series: about 100 per environment."`
	// QueueOrder is the order of each environment's queue.
	QueueOrder string `json:"queue-order" pflag:",Order in which an environment's queued tasks get executors: fair (the workflow executions with queued tasks take turns, each one's tasks in order, so a small workflow behind a big map waits for one of the map's tasks) or fifo (arrival order)."`
	// MaxParallelism is the most tasks one executor pod may run at once.
	MaxParallelism int `json:"max-parallelism" pflag:",Most tasks one executor pod may run at once (parallelism)."`
	// TLS secures the executor service.
	TLS TLSConfig `json:"tls"`
	// MaxTTL is the longest an environment may stay up with nothing to do.
	MaxTTL stdconfig.Duration `json:"max-ttl" pflag:",Longest ttl_seconds an environment may ask for."`
	// Endpoint publishes the pool as the one endpoint of the Service executors dial.
	Endpoint EndpointConfig `json:"endpoint"`
	// WaitInRound lets a round of FlytePropeller wait for a short actor task to end.
	WaitInRound WaitInRoundConfig `json:"wait-in-round"`
	// Prewarm starts a workflow's environments when it starts.
	Prewarm PrewarmConfig `json:"prewarm"`
	// LogTemplates are log links of actor tasks beside those plugins.logs configures for pods, with
	// the executor pod as the pod and the task's own start and end as the pod's.
	LogTemplates []tasklog.TemplateLogPlugin `json:"log-templates" pflag:"-,Log links of actor tasks, beside plugins.logs' (same form as plugins.logs.templates): the executor pod as the pod, the task's own start and end as the pod's start and finish times, {{.actorTaskID}} and {{.actorEnvironment}} too."`
}

// WaitInRoundConfig lets a round of FlytePropeller that finds an actor task on an executor wait for it to
// end, when the task typically ends soon: the workflow then goes on to its next node in the same streak of
// rounds, instead of waiting for the pool's wake-up to come through propeller's workqueue.
type WaitInRoundConfig struct {
	// MaxWait is the longest a round waits; 0 turns waiting off.
	MaxWait stdconfig.Duration `json:"max-wait" pflag:",How long a round of FlytePropeller that finds an actor task on an executor waits for it to end, when the task's recent runs in its environment (their median) took no longer: the workflow then goes on to its next node in the same streak of rounds instead of waiting for a wake-up through propeller's workqueue (with the batch queue the next batch, with flyte-core's queue settings at least 5 s). 0 turns it off."`
	// MaxWaiting bounds the rounds that wait at once.
	MaxWaiting int `json:"max-waiting" pflag:",Most rounds that wait at once, each holding a propeller worker; 0: a quarter of propeller.workers, at least 1."`
}

// PrewarmConfig is lookahead prewarm: when a workflow starts, the executors of the actor environments
// its task nodes use start, while its first nodes run.
type PrewarmConfig struct {
	// Enabled turns lookahead prewarm on.
	Enabled bool `json:"enabled" pflag:",When a workflow starts, start the executors of the actor environments its task nodes (its subworkflows' and map tasks' too) use, so that they are warm when its actor tasks come; an environment then unused goes after its TTL."`
	// MaxEnvironments bounds the environments one workflow prewarms.
	MaxEnvironments int `json:"max-environments" pflag:",Most actor environments one workflow prewarms (the first met, in node order)."`
}

// EndpointConfig says how the pool publishes itself as the endpoint of the Service its executors dial.
// The pool runs only in FlytePropeller's leader (plugins load when it leads), so publishing itself sends
// executors to the leader and never to a standby; in a shard, to that shard's pool.
type EndpointConfig struct {
	// Publish turns publishing on.
	Publish bool `json:"publish" pflag:",Publish this pool (only FlytePropeller's leader runs one) as the only endpoint of service, so that executors reach the pool that serves them: needed with leader election and with sharded FlytePropeller."`
	// Service names the Service; {shard} stands for the shard, as in AdvertiseAddress.
	Service string `json:"service" pflag:",Service executors dial (the pool creates it, without a selector, if it does not exist); {shard} becomes -<shard> in a shard of FlytePropeller."`
	// Namespace is the Service's namespace; empty: FlytePropeller's own (POD_NAMESPACE), else flyte.
	Namespace string `json:"namespace" pflag:",Namespace of service; empty: FlytePropeller's own (POD_NAMESPACE), else flyte."`
	// Address is the IP address published; empty: POD_IP, else this host's first address that is not
	// a loopback one.
	Address string `json:"address" pflag:",IP address published for this pool; empty: the POD_IP variable, else this host's first non-loopback address."`
}

// TLSConfig says how the executor service gets its certificate.
type TLSConfig struct {
	// Mode is auto, files or disabled.
	Mode string `json:"mode" pflag:",How the executor service gets its TLS certificate: auto (a CA of this installation and a server certificate, kept in secret-name and made if absent), files (cert-file, key-file, ca-file, e.g. from cert-manager), or disabled (plain gRPC)."`
	// SecretName and SecretNamespace name the Secret auto mode keeps the certificates in.
	SecretName      string `json:"secret-name" pflag:",Secret that keeps the executor service's CA and certificate in auto mode."`
	SecretNamespace string `json:"secret-namespace" pflag:",Namespace of secret-name; empty: FlytePropeller's own (POD_NAMESPACE), else flyte."`
	// CertFile, KeyFile and CAFile are the PEM files of files mode.
	CertFile string `json:"cert-file" pflag:",Server certificate (PEM) in files mode."`
	KeyFile  string `json:"key-file" pflag:",Server key (PEM) in files mode."`
	CAFile   string `json:"ca-file" pflag:",CA certificate (PEM) executors verify the server against, in files mode."`
}

// TLS modes.
const (
	tlsAuto     = "auto"
	tlsFiles    = "files"
	tlsDisabled = "disabled"
)

var (
	// defaultConfig is the one place the plugin's defaults are written; the pool's and the executor
	// service's own come from their packages.
	defaultConfig = Config{
		ListenAddress:           ":8089",
		AdvertiseAddress:        "flytepropeller.flyte.svc.cluster.local:8089",
		ExecutorImagePullPolicy: string(corev1.PullIfNotPresent),
		ExecutorCommand:         []string{"actor-executor"},
		StartTimeout:            stdconfig.Duration{Duration: actorpool.DefaultOptions().StartTimeout},
		WarmupTimeout:           stdconfig.Duration{Duration: contract.DefaultWarmupTimeout},
		DefaultTTL:              stdconfig.Duration{Duration: 90 * time.Second},
		HeartbeatInterval:       stdconfig.Duration{Duration: executorsvc.DefaultOptions().HeartbeatInterval},
		MissedHeartbeats:        executorsvc.DefaultOptions().MissedHeartbeats,
		ResyncInterval:          stdconfig.Duration{Duration: actorpool.DefaultOptions().ResyncInterval},
		ReconnectGrace:          stdconfig.Duration{Duration: actorpool.DefaultOptions().ReconnectGrace},
		OrphanGrace:             stdconfig.Duration{Duration: actorpool.DefaultOptions().OrphanGrace},
		ForgetAfter:             stdconfig.Duration{Duration: actorpool.DefaultOptions().ForgetAfter},
		MaxRetryInterval:        stdconfig.Duration{Duration: actorpool.DefaultOptions().MaxRetryInterval},
		MaxReplicas:             100,
		MaxParallelism:          64,
		QueueOrder:              string(actorpool.QueueFair),
		MetricsEnvironments:     actorpool.DefaultOptions().MetricsEnvironments,
		MaxTTL:                  stdconfig.Duration{Duration: 24 * time.Hour},
		TLS:                     TLSConfig{Mode: tlsAuto, SecretName: "flyte-actors-tls"},
		Endpoint:                EndpointConfig{Service: "flyte-actors{shard}"},
		Prewarm:                 PrewarmConfig{Enabled: true, MaxEnvironments: 10},
		WaitInRound:             WaitInRoundConfig{MaxWait: stdconfig.Duration{Duration: 100 * time.Millisecond}},
	}

	configSection = config.MustRegisterSubSection(pluginID, &defaultConfig)
)

// currentConfig returns the loaded configuration.
func currentConfig() *Config { return configSection.GetConfig().(*Config) }
