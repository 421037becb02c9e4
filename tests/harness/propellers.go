package harness

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"os"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/client-go/rest"

	"github.com/flyteorg/flyte/flytepropeller/pkg/apis/flyteworkflow/v1alpha1"
)

// Propeller is one FlytePropeller process of a stack, which it stops and starts as Kubernetes would
// stop and start its pod: on the same ports and configuration.
type Propeller struct {
	// ctx is the stack's lifetime, kept to start the process again after the call that made it.
	ctx      context.Context
	root     string
	dir      string
	kube     *rest.Config
	settings propellerSettings
	proc     *propellerProcess
}

// Start starts the stopped FlytePropeller and returns when it is healthy.
func (p *Propeller) Start() error {
	proc, err := startPropeller(p.ctx, p.root, p.dir, p.kube, p.settings)
	if err != nil {
		return err
	}
	p.proc = proc
	return nil
}

// Stop stops FlytePropeller, at once (kill: SIGKILL, as a crash) or as a rollout does (SIGTERM,
// SIGKILL after 10 s).
func (p *Propeller) Stop(kill bool) {
	if kill {
		p.proc.kill()
	} else {
		p.proc.stop()
	}
}

// Restart stops FlytePropeller (see Stop) and starts it again, as Kubernetes restarts its pod; it
// returns when the new one is healthy.
func (p *Propeller) Restart(kill bool) error {
	p.Stop(kill)
	return p.Start()
}

// Tune sets the configuration files loaded after every other file (Options.PropellerTuning) from the
// next Start or Restart on; none removes them.
func (p *Propeller) Tune(files ...string) { p.settings.Tuning = files }

// Tuning is the configuration loaded after every other file, as last set.
func (p *Propeller) Tuning() []string { return append([]string(nil), p.settings.Tuning...) }

// CPUTime is the processor time the running FlytePropeller has used so far (user and system).
func (p *Propeller) CPUTime() (time.Duration, error) { return processCPUTime(p.PID()) }

// PID returns the process id of the running FlytePropeller.
func (p *Propeller) PID() int { return p.proc.cmd.Process.Pid }

// ProfPort is the port of its profiling and metrics server (/debug/pprof, /metrics).
func (p *Propeller) ProfPort() int { return p.settings.ProfPort }

// PoolAddress is where its actor pool listens for executors, on the stack's pod network (which the
// pool publishes on its Service).
func (p *Propeller) PoolAddress() string {
	return fmt.Sprintf("%s:%d", p.settings.PodIP, p.settings.PoolPort)
}

// Log returns everything it has logged so far (its earlier runs' too).
func (p *Propeller) Log() (string, error) {
	raw, err := os.ReadFile(p.proc.logPath)
	return string(raw), err
}

// Leads reports whether this process holds the leader lease: it said it acquired it, and has not
// exited since.
func (p *Propeller) Leads() bool {
	select {
	case <-p.proc.exited:
		return false
	default:
	}
	raw, err := os.ReadFile(p.proc.logPath)
	if err != nil {
		return false
	}
	// The log is appended to across restarts: only what this run said counts.
	log := string(raw)
	return strings.Contains(log[strings.LastIndex(log, startBanner)+1:], "Acquired leader lease")
}

func (p *Propeller) tail(n int) string { return p.proc.tail(n) }

// propellerLayout returns the settings of each FlytePropeller the stack runs: one, replicas with leader
// election behind one service proxy, or shards each behind a proxy of its own.
func (s *Stack) propellerLayout(ctx context.Context, t T, base propellerSettings, opts Options) ([]propellerSettings, error) {
	replicas := max(opts.Replicas, 1)
	if replicas > 1 && opts.Shards != nil {
		return nil, errors.New("harness: a stack runs replicas or shards, not both")
	}
	var out []propellerSettings
	add := func(mutate func(*propellerSettings) error) error {
		st := base
		st.PodIP = podIP(len(out))
		var err error
		if st.ProfPort, err = freePort(); err != nil {
			return err
		}
		if st.PoolPort, err = freePort(); err != nil {
			return err
		}
		st.AdvertiseAddress = fmt.Sprintf("127.0.0.1:%d", st.PoolPort)
		if err := mutate(&st); err != nil {
			return err
		}
		out = append(out, st)
		return nil
	}
	switch {
	case opts.Shards != nil:
		for i, keys := range opts.Shards {
			proxy, err := startServiceProxy(ctx, t, s.Kube, s.Namespace, ShardServiceName(i))
			if err != nil {
				return nil, err
			}
			if err := add(func(st *propellerSettings) error {
				st.ShardKeys, st.EndpointService, st.AdvertiseAddress = keys, ShardServiceName(i), proxy.Addr()
				return nil
			}); err != nil {
				return nil, err
			}
		}
	case replicas > 1:
		proxy, err := startServiceProxy(ctx, t, s.Kube, s.Namespace, ServiceName)
		if err != nil {
			return nil, err
		}
		for range replicas {
			if err := add(func(st *propellerSettings) error {
				st.LeaderElection, st.EndpointService, st.AdvertiseAddress = true, ServiceName, proxy.Addr()
				return nil
			}); err != nil {
				return nil, err
			}
		}
	default:
		if err := add(func(*propellerSettings) error { return nil }); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// ShardKey returns the shard-key label FlytePropeller's compiler gives the FlyteWorkflow of an
// execution named name (a hash of the name, modulo the shard keyspace), which a sharded propeller
// selects by.
func ShardKey(name string) string {
	h := fnv.New32a()
	h.Write([]byte(name))
	return fmt.Sprint(h.Sum32() % v1alpha1.ShardKeyspaceSize)
}

// ExecutionNameIn returns a new execution name whose shard key is one of keys.
func ExecutionNameIn(keys []string) string {
	for {
		name := "e" + strings.ToLower(rand.String(10))
		for _, k := range keys {
			if ShardKey(name) == k {
				return name
			}
		}
	}
}
