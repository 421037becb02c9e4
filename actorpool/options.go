package actorpool

import "time"

// Options tune a Pool. A zero field takes its value from DefaultOptions.
type Options struct {
	// RetryInterval is how long an environment waits before retrying a failed Cluster call.
	RetryInterval time.Duration
	// ResyncInterval is how often a live environment asks the Cluster to converge again, so that lost
	// pods are replaced.
	ResyncInterval time.Duration
	// Now returns the current time.
	Now func() time.Time
}

// DefaultOptions returns the options a Pool runs with unless told otherwise; the plugin's
// configuration defaults are taken from here.
func DefaultOptions() Options {
	return Options{
		RetryInterval:  2 * time.Second,
		ResyncInterval: 30 * time.Second,
		Now:            time.Now,
	}
}

func (o Options) withDefaults() Options {
	d := DefaultOptions()
	if o.RetryInterval <= 0 {
		o.RetryInterval = d.RetryInterval
	}
	if o.ResyncInterval <= 0 {
		o.ResyncInterval = d.ResyncInterval
	}
	if o.Now == nil {
		o.Now = d.Now
	}
	return o
}
