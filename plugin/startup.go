package plugin

import (
	"context"
	"fmt"
	"net"
	"reflect"
	"sync"

	"k8s.io/apimachinery/pkg/types"

	pluginsCore "github.com/flyteorg/flyte/flyteplugins/go/tasks/pluginmachinery/core"
	propellerconfig "github.com/flyteorg/flyte/flytepropeller/pkg/controller/config"
	propellerutils "github.com/flyteorg/flyte/flytepropeller/pkg/utils"
	"github.com/flyteorg/flyte/flytestdlib/logger"

	"github.com/flyteactors/flyteactors/actorpool"
	"github.com/flyteactors/flyteactors/actorpool/executorsvc"
	"github.com/flyteactors/flyteactors/actorpool/kubepods"
)

// checkNotSharded refuses a sharded FlytePropeller: each shard would run a pool of its own, and two
// pools for one environment would each make its pods and could run one attempt twice.
func checkNotSharded(cfg *propellerconfig.Config) error {
	if len(cfg.IncludeShardKeyLabel) > 0 || len(cfg.ExcludeShardKeyLabel) > 0 {
		return fmt.Errorf("actor plugin: FlytePropeller runs sharded (propeller.include-shard-key-label %v, "+
			"exclude-shard-key-label %v); Flyte Actors needs one FlytePropeller to see every task of an environment, "+
			"so run it unsharded or leave the actor plugin out of the shards", cfg.IncludeShardKeyLabel, cfg.ExcludeShardKeyLabel)
	}
	return nil
}

// startPool starts the actor pool and its executor service for this FlytePropeller process. They
// live as long as ctx.
func startPool(ctx context.Context, iCtx pluginsCore.SetupContext, cfg *Config) (*actorpool.Pool, error) {
	propeller := propellerconfig.GetConfig()
	if err := checkNotSharded(propeller); err != nil {
		return nil, err
	}
	clientset, _, err := propellerutils.GetKubeConfig(ctx, propeller)
	if err != nil {
		return nil, fmt.Errorf("actor pool: kubernetes client: %w", err)
	}
	serverTLS, ca, err := serverTLS(ctx, clientset, cfg)
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
		PoolAddress:   cfg.AdvertiseAddress,
		Namespace:     watchedNamespace(propeller.LimitNamespace),
		WarmupTimeout: cfg.WarmupTimeout.Duration,
		CA:            ca,
	})
	go func() {
		<-ctx.Done()
		cluster.Close()
	}()
	pool := actorpool.New(ctx, cluster, notify, actorpool.Options{
		ResyncInterval:   cfg.ResyncInterval.Duration,
		ReconnectGrace:   cfg.ReconnectGrace.Duration,
		OrphanGrace:      cfg.OrphanGrace.Duration,
		ForgetAfter:      cfg.ForgetAfter.Duration,
		MaxRetryInterval: cfg.MaxRetryInterval.Duration,
		StartTimeout:     cfg.StartTimeout.Duration,
		Metrics:          iCtx.MetricsScope().NewSubScope("pool"),
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
	logger.Infof(ctx, "actor pool: executor service on %s, advertised as %s (TLS %s)", lis.Addr(), cfg.AdvertiseAddress, cfg.TLS.Mode)
	return pool, nil
}

// watchedNamespace turns propeller's limit-namespace ("all" or one namespace) into a namespace to
// list in; "" lists every namespace.
func watchedNamespace(limit string) string {
	if limit == "all" {
		return ""
	}
	return limit
}

// poolOnce holds the one pool of this FlytePropeller process and the configuration it was started
// with. FlytePropeller may load plugins more than once in a process, but there is one listening port.
type poolOnce struct {
	mu   sync.Mutex
	pool *actorpool.Pool
	cfg  Config
}

// get returns the process's pool, starting it with cfg the first time. A later call with another
// configuration is an error rather than a pool that silently ignores it.
func (o *poolOnce) get(ctx context.Context, iCtx pluginsCore.SetupContext, cfg *Config) (*actorpool.Pool, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.pool != nil {
		if !reflect.DeepEqual(o.cfg, *cfg) {
			return nil, fmt.Errorf("plugins.actor changed from %+v to %+v after the actor pool started: restart FlytePropeller to apply it", o.cfg, *cfg)
		}
		return o.pool, nil
	}
	pool, err := startPool(ctx, iCtx, cfg)
	if err != nil {
		return nil, err
	}
	o.pool, o.cfg = pool, *cfg
	return pool, nil
}
