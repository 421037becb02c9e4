package plugin

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"reflect"
	"sync"

	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/metadata"

	pluginsCore "github.com/flyteorg/flyte/flyteplugins/go/tasks/pluginmachinery/core"
	flyteclient "github.com/flyteorg/flyte/flytepropeller/pkg/client/clientset/versioned"
	propellerconfig "github.com/flyteorg/flyte/flytepropeller/pkg/controller/config"
	propellerutils "github.com/flyteorg/flyte/flytepropeller/pkg/utils"
	"github.com/flyteorg/flyte/flytestdlib/logger"

	"github.com/flyteactors/flyteactors/actorpool"
	"github.com/flyteactors/flyteactors/actorpool/executorsvc"
	"github.com/flyteactors/flyteactors/actorpool/kubepods"
)

// placement is where this process's pool sits in the installation: the shard of FlytePropeller it
// serves, and the names the shard gives its own.
type placement struct {
	shard string
	// advertiseAddress is what the shard's executors dial; tlsSecret keeps its certificates (auto TLS).
	advertiseAddress string
	tlsSecret        string
}

// placementOf returns the placement cfg and FlytePropeller's configuration give.
func placementOf(cfg *Config, propeller *propellerconfig.Config) placement {
	shard := shardOf(propeller)
	p := placement{shard: shard, advertiseAddress: withShard(cfg.AdvertiseAddress, shard), tlsSecret: cfg.TLS.SecretName}
	if shard != "" {
		p.tlsSecret += "-" + shard
	}
	return p
}

// startPool starts the actor pool and its executor service for this FlytePropeller process. They
// live as long as ctx.
func startPool(ctx context.Context, iCtx pluginsCore.SetupContext, cfg *Config) (*actorpool.Pool, placement, error) {
	propeller := propellerconfig.GetConfig()
	place := placementOf(cfg, propeller)
	pool, err := startPoolAt(ctx, iCtx, cfg, propeller, place)
	return pool, place, err
}

func startPoolAt(ctx context.Context, iCtx pluginsCore.SetupContext, cfg *Config, propeller *propellerconfig.Config,
	place placement) (*actorpool.Pool, error) {
	if err := checkPoolConfig(cfg); err != nil {
		return nil, err
	}
	clientset, restConfig, err := propellerutils.GetKubeConfig(ctx, propeller)
	if err != nil {
		return nil, fmt.Errorf("actor pool: kubernetes client: %w", err)
	}
	serverTLS, ca, err := serverTLS(ctx, clientset, cfg, place)
	if err != nil {
		return nil, err
	}
	// Listen before the pool starts: a pool, its goroutines and its metrics are not undone if this fails.
	lis, err := net.Listen("tcp", cfg.ListenAddress)
	if err != nil {
		return nil, fmt.Errorf("actor pool: listen on %s: %w", cfg.ListenAddress, err)
	}
	enqueue := iCtx.EnqueueOwner()
	notify := func(owner types.NamespacedName) {
		if err := enqueue(owner); err != nil {
			logger.Warnf(ctx, "actor pool: cannot wake workflow %s: %v", owner, err)
		}
	}
	cluster := kubepods.New(clientset, kubepods.Options{
		PoolAddress:   place.advertiseAddress,
		Namespace:     watchedNamespace(propeller.LimitNamespace),
		WarmupTimeout: cfg.WarmupTimeout.Duration,
		CA:            ca,
		Shard:         place.shard,
	})
	go func() {
		<-ctx.Done()
		cluster.Close()
	}()
	pool := actorpool.New(ctx, cluster, notify, actorpool.Options{
		ResyncInterval:           cfg.ResyncInterval.Duration,
		ReconnectGrace:           cfg.ReconnectGrace.Duration,
		OrphanGrace:              cfg.OrphanGrace.Duration,
		ForgetAfter:              cfg.ForgetAfter.Duration,
		MaxRetryInterval:         cfg.MaxRetryInterval.Duration,
		StartTimeout:             cfg.StartTimeout.Duration,
		QueueOrder:               actorpool.QueueOrder(cfg.QueueOrder),
		MaxExecutorsPerNamespace: cfg.MaxExecutorsPerNamespace,
		MetricsEnvironments:      cfg.MetricsEnvironments,
		Metrics:                  iCtx.MetricsScope().NewSubScope("pool"),
	})
	svc := executorsvc.New(pool, executorsvc.Options{
		HeartbeatInterval: cfg.HeartbeatInterval.Duration,
		MissedHeartbeats:  cfg.MissedHeartbeats,
		ReconnectGrace:    pool.ReconnectGrace(),
		TLS:               serverTLS,
	})
	go func() {
		if err := svc.Serve(ctx, lis); err != nil {
			logger.Errorf(ctx, "actor pool: executor service stopped: %v", err)
		}
	}()
	if cfg.Prewarm.Enabled {
		workflows, err := flyteclient.NewForConfig(restConfig)
		if err != nil {
			return nil, fmt.Errorf("actor prewarm: FlyteWorkflow client: %w", err)
		}
		starts, err := metadata.NewForConfig(restConfig)
		if err != nil {
			return nil, fmt.Errorf("actor prewarm: metadata client: %w", err)
		}
		go newPrewarmer(pool, cfg, place.shard, workflows, starts, propeller, iCtx.MetricsScope().NewSubScope("prewarm")).run(ctx)
	}
	if cfg.Endpoint.Publish {
		endpoint, err := endpointOf(cfg, place, lis.Addr(), propeller.ProfilerPort.Port)
		if err != nil {
			return nil, err
		}
		go publishEndpoint(ctx, clientset, endpoint, cfg.ResyncInterval.Duration)
	}
	logger.Infof(ctx, "actor pool: executor service on %s, advertised as %s (TLS %s, shard %q)", lis.Addr(),
		place.advertiseAddress, cfg.TLS.Mode, place.shard)
	return pool, nil
}

// checkPoolConfig refuses settings the pool cannot run with, naming the key.
func checkPoolConfig(cfg *Config) error {
	switch actorpool.QueueOrder(cfg.QueueOrder) {
	case actorpool.QueueFair, actorpool.QueueFIFO:
	default:
		return fmt.Errorf("plugins.actor.queue-order: must be %q or %q, got %q", actorpool.QueueFair, actorpool.QueueFIFO, cfg.QueueOrder)
	}
	if cfg.MaxExecutorsPerNamespace < 0 {
		return fmt.Errorf("plugins.actor.max-executors-per-namespace: must be 0 (no cap) or more, got %d", cfg.MaxExecutorsPerNamespace)
	}
	return nil
}

// watchedNamespace turns propeller's limit-namespace ("all" or one namespace) into a namespace to
// list in; "" lists every namespace.
func watchedNamespace(limit string) string {
	if limit == "all" {
		return ""
	}
	return limit
}

// poolOnce holds the one pool of this FlytePropeller process, the configuration it was started with
// and its placement. FlytePropeller may load plugins more than once in a process, but there is one
// listening port.
type poolOnce struct {
	mu    sync.Mutex
	pool  *actorpool.Pool
	cfg   Config
	place placement
}

// get returns the process's pool and its placement, starting it with cfg the first time. A later call
// with another configuration is an error rather than a pool that silently ignores it.
func (o *poolOnce) get(ctx context.Context, iCtx pluginsCore.SetupContext, cfg *Config) (*actorpool.Pool, placement, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.pool != nil {
		if !reflect.DeepEqual(o.cfg, *cfg) {
			return nil, placement{}, fmt.Errorf("plugins.actor changed from %+v to %+v after the actor pool started: restart FlytePropeller to apply it", o.cfg, *cfg)
		}
		return o.pool, o.place, nil
	}
	pool, place, err := startPool(ctx, iCtx, cfg)
	if err != nil {
		return nil, placement{}, err
	}
	o.pool, o.cfg, o.place = pool, *cfg, place
	serveStatusPage(http.DefaultServeMux, statusPage{pool: pool, shard: place.shard})
	return pool, place, nil
}
