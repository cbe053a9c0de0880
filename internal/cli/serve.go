package cli

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"unicode"

	"github.com/spf13/cobra"

	"github.com/airlock-dev/airlock/internal/fault"
	"github.com/airlock-dev/airlock/internal/serve"
	"github.com/airlock-dev/airlock/internal/tufroot"
	"github.com/airlock-dev/airlock/internal/verify"
)

const serveLong = `Runs the GitHub App that answers custom deployment protection rules: a job that
targets a protected environment waits until serve approves it, which it does only
for a verified, unexpired, unrevoked allow decision of the gate for that
repository id, environment and run, made under a reviewed policy; anything else is
rejected with a comment naming why. It serves POST /webhook, GET /healthz,
/readyz and /metrics.

The secrets are read once, never logged and never accepted as flag values (a
process's arguments are visible to every user of the machine). The configuration
is read in full, trust material and policies included, before serve listens.`

const serveExample = `  export AIRLOCK_WEBHOOK_SECRET=…
  airlock serve --config serve.yaml --app-id 123456 --private-key-file app.pem --listen :8080`

// Names of the variables serve reads by default.
const (
	envAppID         = "AIRLOCK_APP_ID"
	envAppPrivateKey = "AIRLOCK_APP_PRIVATE_KEY"
	envWebhookSecret = "AIRLOCK_WEBHOOK_SECRET"
)

type serveFlags struct {
	configPath, appIDText, keyFile, secretEnv, secretFile, listen string
}

func newServeCmd(e *env) *cobra.Command {
	f := &serveFlags{}
	c := &cobra.Command{
		Use:     "serve --config FILE --app-id N [flags]",
		Short:   "the GitHub App holding an environment until a verified allow decision exists",
		Long:    serveLong,
		Example: serveExample,
		Args:    noArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			return runServe(c.Context(), f, e.getenv, e.stdio)
		},
	}
	c.DisableFlagsInUseLine = true
	fs := c.Flags()
	fs.StringVar(&f.configPath, "config", "", "rules per repository and environment, YAML `FILE` (strict; required)")
	fs.StringVar(&f.appIDText, "app-id", "", "the GitHub App's id `N` (default $"+envAppID+")")
	fs.StringVar(&f.keyFile, "private-key-file", "", "the app's PEM private key `FILE` (default: the PEM in $"+envAppPrivateKey+")")
	fs.StringVar(&f.secretEnv, "webhook-secret-env", envWebhookSecret, "the variable `NAME` holding the webhook secret")
	fs.StringVar(&f.secretFile, "webhook-secret-file", "", "the webhook secret in `FILE` instead (a mounted secret)")
	fs.StringVar(&f.listen, "listen", ":8080", "where to listen, `ADDR`")
	setExitCodes(c,
		"0  stopped by a signal after answering what it had accepted",
		"2  usage or configuration (the configuration file named with FILE:LINE)",
		"3  the address cannot be listened on, or serving failed")
	return c
}

func runServe(ctx context.Context, f *serveFlags, getenv func(string) string, stdio Stdio) error {
	configPath, appIDText, keyFile, secretEnv, secretFile, listen := f.configPath, f.appIDText, f.keyFile, f.secretEnv, f.secretFile, f.listen
	var err error
	if configPath == "" {
		return fault.Usagef("serve: --config FILE is required")
	}
	if appIDText == "" {
		appIDText = getenv(envAppID)
	}
	appID, err := strconv.ParseInt(appIDText, 10, 64)
	if err != nil || appID <= 0 {
		return fault.Usagef("serve: --app-id (or $%s): expected the app's numeric id, got %q", envAppID, clip(appIDText, 40))
	}
	var key []byte
	if keyFile != "" {
		if key, err = readFileOrStdin(keyFile, stdio, 64<<10); err != nil {
			return fmt.Errorf("serve: --private-key-file: %w", err)
		}
	} else if key = []byte(getenv(envAppPrivateKey)); len(key) == 0 {
		return fault.Usagef("serve: the app's private key: give --private-key-file FILE or set $%s", envAppPrivateKey)
	}
	var secret []byte
	if secretFile != "" {
		if secret, err = readFileOrStdin(secretFile, stdio, 4<<10); err != nil {
			return fmt.Errorf("serve: --webhook-secret-file: %w", err)
		}
		// A mounted secret ends with a newline more often than not.
		secret = []byte(strings.TrimRight(string(secret), "\r\n"))
	} else if secret = []byte(getenv(secretEnv)); len(secret) == 0 {
		return fault.Usagef("serve: the webhook secret: set $%s (or give --webhook-secret-file FILE)", secretEnv)
	}
	if strings.IndexFunc(string(secret), unicode.IsControl) >= 0 {
		return fault.Configf("serve: the webhook secret contains control characters")
	}

	set, err := serve.LoadConfig(ctx, configPath, serve.Loaders{
		TUF: func(ctx context.Context, url string, root []byte) ([]byte, error) {
			if err := tufroot.CheckURL(url); err != nil {
				return nil, err
			}
			cache, err := tufroot.DefaultCacheDir()
			if err != nil {
				return nil, err
			}
			return tufroot.Client{HTTPClient: httpClient(), CacheDir: cache}.TrustedRoot(ctx, tufroot.Repository{URL: url, Root: root})
		},
		Policy: func(ctx context.Context, dir string) (verify.Reevaluator, error) {
			srcs, err := policySources(dir, "")
			if err != nil {
				return nil, err
			}
			return engine().LoadPolicy(ctx, srcs...)
		},
	})
	if err != nil {
		return err
	}
	logger := slog.New(slog.NewJSONHandler(stdio.Err, nil))
	s, err := serve.New(serve.Config{Settings: set, AppID: appID, PrivateKey: key, WebhookSecret: secret,
		HTTPClient: httpClient(), Logger: logger})
	if err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return fault.Operationalf("serve: --listen %s: %w", listen, err)
	}
	return s.Run(ctx, ln)
}
