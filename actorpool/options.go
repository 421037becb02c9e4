package actorpool

import (
	"time"

	"github.com/flyteorg/flyte/flytestdlib/promutils"
)

// Options tune a Pool. A zero duration takes its value from DefaultOptions.
type Options struct {
	// RetryInterval is how long an environment first waits before retrying a failed Cluster call; each
	// further failure doubles the wait, up to MaxRetryInterval.
	RetryInterval time.Duration
	// MaxRetryInterval caps the wait between retries of a failing environment.
	MaxRetryInterval time.Duration
	// ResyncInterval is how often a live environment asks the Cluster to converge again, so that lost
	// pods are replaced.
	ResyncInterval time.Duration
	// ReconnectGrace is how long the attempts of an executor whose stream ended stay with it, waiting
	// for it to reconnect, before they fail as lost. They fail at once when its pod has ended.
	ReconnectGrace time.Duration
	// OrphanGrace is how long attempts an executor reports but the pool does not know (as after a
	// restart of the pool) are kept for propeller to submit again before they are cancelled.
	OrphanGrace time.Duration
	// ForgetAfter is how long the pool keeps an attempt nobody asks about (its workflow is gone without
	// an abort) before it releases it.
	ForgetAfter time.Duration
	// StartTimeout is how long a queued attempt waits for an executor of its environment to run before
	// it fails, saying what the environment's pods report.
	StartTimeout time.Duration
	// QueueOrder is the order of each environment's queue: QueueFair (default) or QueueFIFO.
	QueueOrder QueueOrder
	// MaxExecutorsPerNamespace caps the executor pods of all environments of one namespace together;
	// tasks of an environment that cannot grow because of it wait, and say so. 0: no cap.
	MaxExecutorsPerNamespace int
	// Now returns the current time.
	Now func() time.Time
	// MetricsEnvironments bounds the environments whose metrics carry their own name, project and
	// domain labels: the first ones seen; every later one counts under "_other" (see metrics.go).
	MetricsEnvironments int
	// Metrics is the scope the pool registers its metrics in (see metrics.go); nil keeps none.
	Metrics promutils.Scope
}

// DefaultOptions returns the options a Pool runs with unless told otherwise; the plugin's
// configuration defaults are taken from here.
func DefaultOptions() Options {
	return Options{
		RetryInterval:       2 * time.Second,
		MaxRetryInterval:    5 * time.Minute,
		ResyncInterval:      30 * time.Second,
		ReconnectGrace:      20 * time.Second,
		OrphanGrace:         2 * time.Minute,
		ForgetAfter:         time.Hour,
		StartTimeout:        10 * time.Minute,
		QueueOrder:          QueueFair,
		MetricsEnvironments: 100,
		Now:                 time.Now,
	}
}

func (o Options) withDefaults() Options {
	d := DefaultOptions()
	orDefault := func(v *time.Duration, def time.Duration) {
		if *v <= 0 {
			*v = def
		}
	}
	orDefault(&o.RetryInterval, d.RetryInterval)
	orDefault(&o.MaxRetryInterval, d.MaxRetryInterval)
	orDefault(&o.ResyncInterval, d.ResyncInterval)
	orDefault(&o.ReconnectGrace, d.ReconnectGrace)
	orDefault(&o.OrphanGrace, d.OrphanGrace)
	orDefault(&o.ForgetAfter, d.ForgetAfter)
	orDefault(&o.StartTimeout, d.StartTimeout)
	if o.Now == nil {
		o.Now = d.Now
	}
	if o.QueueOrder == "" {
		o.QueueOrder = d.QueueOrder
	}
	if o.MetricsEnvironments <= 0 {
		o.MetricsEnvironments = d.MetricsEnvironments
	}
	return o
}
