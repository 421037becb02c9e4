package kubepods

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/flyteactors/flyteactors/actorpool"
)

// ensureAnchor returns the environment's anchor, creating it with a new secret if there is none.
func (c *Cluster) ensureAnchor(ctx context.Context, spec actorpool.EnvironmentSpec) (*corev1.Secret, error) {
	secrets := c.client.CoreV1().Secrets(spec.Key.Namespace)
	existing, err := secrets.List(ctx, metav1.ListOptions{LabelSelector: selector(spec.Key.ID(), RoleAnchor)})
	if err != nil {
		return nil, fmt.Errorf("list anchors of %s: %w", spec.Key, err)
	}
	for i := range existing.Items {
		if a := &existing.Items[i]; a.DeletionTimestamp == nil && len(a.Data[secretKey]) > 0 {
			return a, nil
		}
	}
	secret, err := newSecret()
	if err != nil {
		return nil, err
	}
	anchor := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{
			Name:        anchorName(spec.Key.ID()),
			Namespace:   spec.Key.Namespace,
			Labels:      c.objectLabels(spec.Key.ID(), RoleAnchor),
			Annotations: describe(spec),
		},
		Type: corev1.SecretTypeOpaque,
		Data: map[string][]byte{secretKey: []byte(secret)},
	}
	created, err := secrets.Create(ctx, anchor, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		// Another pool incarnation made it between our list and create: use theirs.
		return secrets.Get(ctx, anchor.Name, metav1.GetOptions{})
	}
	if err != nil {
		return nil, fmt.Errorf("create anchor of %s: %w", spec.Key, err)
	}
	return created, nil
}

// writePodTokens stores the tokens of the pods about to be made in the anchor, and drops those of
// pods that no longer exist. It returns the updated anchor.
func (c *Cluster) writePodTokens(ctx context.Context, anchor *corev1.Secret, existing map[string]bool, newPods []string) (*corev1.Secret, error) {
	updated := anchor.DeepCopy()
	secret := string(anchor.Data[secretKey])
	for key := range updated.Data {
		if pod, isToken := strings.CutPrefix(key, podTokenPrefix); isToken && !existing[pod] {
			delete(updated.Data, key)
		}
	}
	for _, pod := range newPods {
		updated.Data[podTokenPrefix+pod] = []byte(actorpool.PodToken(secret, pod))
	}
	if c.opts.CA != nil {
		updated.Data[caCertKey] = c.opts.CA
	}
	written, err := c.client.CoreV1().Secrets(anchor.Namespace).Update(ctx, updated, metav1.UpdateOptions{})
	if err != nil {
		return nil, fmt.Errorf("write executor tokens to anchor %s/%s: %w", anchor.Namespace, anchor.Name, err)
	}
	return written, nil
}

func newSecret() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("make environment secret: %w", err)
	}
	return hex.EncodeToString(b), nil
}
