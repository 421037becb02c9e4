package kubepods

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/flyteactors/flyteactors/go/servercert"
)

// Keys of the Secret that keeps the executor service's certificates, as cert-manager names them.
const (
	caCertKey     = "ca.crt"
	caKeyKey      = "ca.key"
	serverCertKey = "tls.crt"
	serverKeyKey  = "tls.key"
)

// EnsureServerCertificate returns the executor service's certificates for host from the Secret
// namespace/name: made (a new CA of this installation, and a server certificate it signs) if the
// Secret does not exist, and given a new server certificate from the same CA if host changed.
func EnsureServerCertificate(ctx context.Context, client kubernetes.Interface, namespace, name, host string) (servercert.Bundle, error) {
	secrets := client.CoreV1().Secrets(namespace)
	now := time.Now()
	secret, err := secrets.Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		bundle, err := servercert.New(host, now)
		if err != nil {
			return servercert.Bundle{}, err
		}
		created, err := secrets.Create(ctx, &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace, Labels: map[string]string{LabelRole: "executor-service-tls"}},
			Type:       corev1.SecretTypeTLS,
			Data:       dataOf(bundle),
		}, metav1.CreateOptions{})
		if !apierrors.IsAlreadyExists(err) {
			if err != nil {
				return servercert.Bundle{}, fmt.Errorf("create TLS secret %s/%s: %w", namespace, name, err)
			}
			return bundleOf(created), nil
		}
	}
	if apierrors.IsNotFound(err) {
		// Another replica made it between our get and create: use theirs.
		secret, err = secrets.Get(ctx, name, metav1.GetOptions{})
	}
	if err != nil {
		return servercert.Bundle{}, fmt.Errorf("get TLS secret %s/%s: %w", namespace, name, err)
	}
	bundle, changed, err := bundleOf(secret).ForHost(host, now)
	if err != nil {
		return servercert.Bundle{}, fmt.Errorf("TLS secret %s/%s: %w", namespace, name, err)
	}
	if changed {
		secret.Data = dataOf(bundle)
		if _, err := secrets.Update(ctx, secret, metav1.UpdateOptions{}); err != nil {
			return servercert.Bundle{}, fmt.Errorf("update TLS secret %s/%s: %w", namespace, name, err)
		}
	}
	return bundle, nil
}

func dataOf(b servercert.Bundle) map[string][]byte {
	return map[string][]byte{caCertKey: b.CACert, caKeyKey: b.CAKey, serverCertKey: b.ServerCert, serverKeyKey: b.ServerKey}
}

func bundleOf(s *corev1.Secret) servercert.Bundle {
	return servercert.Bundle{CACert: s.Data[caCertKey], CAKey: s.Data[caKeyKey], ServerCert: s.Data[serverCertKey], ServerKey: s.Data[serverKeyKey]}
}
