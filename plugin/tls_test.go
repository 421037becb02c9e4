package plugin

import (
	"context"
	"crypto/tls"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"

	propellerconfig "github.com/flyteorg/flyte/flytepropeller/pkg/controller/config"

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

	server, ca, err := serverTLS(ctx, client, &cfg, placementOf(&cfg, &propellerconfig.Config{}))
	require.NoError(t, err)
	require.NotNil(t, server)
	secret, err := client.CoreV1().Secrets("flyte").Get(ctx, "flyte-actors-tls", metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, ca, secret.Data["ca.crt"])
	_, again, err := serverTLS(ctx, client, &cfg, placementOf(&cfg, &propellerconfig.Config{}))
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
	_, fromFiles, err := serverTLS(ctx, client, &files, placementOf(&files, &propellerconfig.Config{}))
	require.NoError(t, err)
	assert.Equal(t, bundle.CACert, fromFiles)

	disabled := cfg
	disabled.TLS.Mode = tlsDisabled
	server, ca, err = serverTLS(ctx, client, &disabled, placementOf(&disabled, &propellerconfig.Config{}))
	require.NoError(t, err)
	assert.Nil(t, server)
	assert.Nil(t, ca)

	bad := cfg
	bad.TLS.Mode = "sometimes"
	_, _, err = serverTLS(ctx, client, &bad, placementOf(&bad, &propellerconfig.Config{}))
	assert.ErrorContains(t, err, `plugins.actor.tls.mode: must be auto, files or disabled, got "sometimes"`)
}

// TestFilesModeServesRotatedCertificate: in files mode the operator's certificate is renewed in place
// (cert-manager); the executor service serves the renewed one at the next handshake, without a restart.
func TestFilesModeServesRotatedCertificate(t *testing.T) {
	const host = "pool.example.com"
	dir := t.TempDir()
	cfg := defaultConfig
	cfg.AdvertiseAddress = host + ":8089"
	cfg.TLS = TLSConfig{Mode: tlsFiles, CertFile: filepath.Join(dir, "tls.crt"), KeyFile: filepath.Join(dir, "tls.key"), CAFile: filepath.Join(dir, "ca.crt")}
	write := func(b servercert.Bundle) {
		require.NoError(t, os.WriteFile(cfg.TLS.CertFile, b.ServerCert, 0o600))
		require.NoError(t, os.WriteFile(cfg.TLS.KeyFile, b.ServerKey, 0o600))
		require.NoError(t, os.WriteFile(cfg.TLS.CAFile, b.CACert, 0o600))
	}
	first, err := servercert.New(host, time.Now())
	require.NoError(t, err)
	write(first)
	server, _, err := serverTLS(context.Background(), fake.NewClientset(), &cfg, placementOf(&cfg, &propellerconfig.Config{}))
	require.NoError(t, err)
	lis, err := tls.Listen("tcp", "127.0.0.1:0", server)
	require.NoError(t, err)
	t.Cleanup(func() { _ = lis.Close() })
	go func() {
		for {
			conn, err := lis.Accept()
			if err != nil {
				return
			}
			_ = conn.(*tls.Conn).Handshake()
			_ = conn.Close()
		}
	}()
	handshake := func(ca []byte) error {
		client, err := servercert.ClientTLS(ca, host)
		require.NoError(t, err)
		conn, err := tls.Dial("tcp", lis.Addr().String(), client)
		if err == nil {
			_ = conn.Close()
		}
		return err
	}
	require.NoError(t, handshake(first.CACert))

	renewed, err := servercert.New(host, time.Now())
	require.NoError(t, err)
	time.Sleep(10 * time.Millisecond) // a later modification time, as a real renewal has
	write(renewed)
	assert.NoError(t, handshake(renewed.CACert), "the renewed certificate is served")
	assert.Error(t, handshake(first.CACert), "the old one is not")
}
