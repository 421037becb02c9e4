package plugin

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/flyteactors/flyteactors/go/servercert"
)

// TestServerTLSModes: auto makes the installation's certificates once and keeps
// them; files reads the operator's; disabled is plain; anything else is an error naming the field.
func TestServerTLSModes(t *testing.T) {
	ctx := context.Background()
	client := fake.NewClientset()
	cfg := defaultConfig
	cfg.AdvertiseAddress = "flytepropeller.flyte.svc:8089"
	cfg.TLS.SecretNamespace = "flyte"

	server, ca, err := serverTLS(ctx, client, &cfg)
	require.NoError(t, err)
	require.NotNil(t, server)
	secret, err := client.CoreV1().Secrets("flyte").Get(ctx, "flyte-actors-tls", metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, ca, secret.Data["ca.crt"])
	_, again, err := serverTLS(ctx, client, &cfg)
	require.NoError(t, err)
	assert.Equal(t, ca, again, "made once, then kept")

	bundle, err := servercert.New("pool.example.com", time.Now())
	require.NoError(t, err)
	dir := t.TempDir()
	files := cfg
	files.TLS = TLSConfig{Mode: tlsFiles, CertFile: filepath.Join(dir, "tls.crt"), KeyFile: filepath.Join(dir, "tls.key"), CAFile: filepath.Join(dir, "ca.crt")}
	require.NoError(t, os.WriteFile(files.TLS.CertFile, bundle.ServerCert, 0o600))
	require.NoError(t, os.WriteFile(files.TLS.KeyFile, bundle.ServerKey, 0o600))
	require.NoError(t, os.WriteFile(files.TLS.CAFile, bundle.CACert, 0o600))
	_, fromFiles, err := serverTLS(ctx, client, &files)
	require.NoError(t, err)
	assert.Equal(t, bundle.CACert, fromFiles)

	disabled := cfg
	disabled.TLS.Mode = tlsDisabled
	server, ca, err = serverTLS(ctx, client, &disabled)
	require.NoError(t, err)
	assert.Nil(t, server)
	assert.Nil(t, ca)

	bad := cfg
	bad.TLS.Mode = "sometimes"
	_, _, err = serverTLS(ctx, client, &bad)
	assert.ErrorContains(t, err, `plugins.actor.tls.mode: must be auto, files or disabled, got "sometimes"`)
}
