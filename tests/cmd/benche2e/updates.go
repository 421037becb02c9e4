package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// measureUpdates times the API server's writes that a round of propeller makes: updates of a chain's
// FlyteWorkflow (as big as it is when a chain ends), against updates of a small ConfigMap, so that the
// share of a round that is the API server writing is seen apart from propeller.
func (b *bencher) measureUpdates(ctx context.Context, execution string) error {
	workflows := b.stack.Flyte.FlyteworkflowV1alpha1().FlyteWorkflows(b.stack.Namespace)
	wf, err := workflows.Get(ctx, execution, metav1.GetOptions{})
	if err != nil {
		return err
	}
	raw, err := json.Marshal(wf)
	if err != nil {
		return err
	}
	const n = 50
	var wfTimes, cmTimes []time.Duration
	for i := range n {
		if wf.Annotations == nil {
			wf.Annotations = map[string]string{}
		}
		wf.Annotations["bench"] = strconv.Itoa(i)
		start := time.Now()
		if wf, err = workflows.Update(ctx, wf, metav1.UpdateOptions{}); err != nil {
			return err
		}
		wfTimes = append(wfTimes, time.Since(start))
	}
	configMaps := b.stack.Kube.CoreV1().ConfigMaps(b.stack.Namespace)
	cm, err := configMaps.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "bench-updates"},
		Data: map[string]string{"i": "0"}}, metav1.CreateOptions{})
	if err != nil {
		return err
	}
	for i := range n {
		cm.Data["i"] = strconv.Itoa(i)
		start := time.Now()
		if cm, err = configMaps.Update(ctx, cm, metav1.UpdateOptions{}); err != nil {
			return err
		}
		cmTimes = append(cmTimes, time.Since(start))
	}
	fmt.Printf("  an update of the chain's FlyteWorkflow (%d KiB of JSON): %s; of a small ConfigMap: %s\n",
		len(raw)/1024, describe(wfTimes), describe(cmTimes))
	bench("flyteworkflow-update-p50", ms(percentile(wfTimes, 50)), "ms")
	bench("flyteworkflow-size", float64(len(raw))/1024, "KiB")
	bench("configmap-update-p50", ms(percentile(cmTimes, 50)), "ms")
	return nil
}
