// Command airlock-rego is airlock with the policy engine (OPA) linked: the
// commands that evaluate Rego (gate, check, doctor, policy, serve, demo,
// grants, verify --policy). airlock starts it for them; it also runs every
// other command, as the container image's entrypoint does. The program is
// cli.Main, as for airlock; see README, "Install".
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/airlock-dev/airlock/internal/cli"
	"github.com/airlock-dev/airlock/internal/engine"
	"github.com/airlock-dev/airlock/internal/startup"
)

func main() {
	startup.Done(os.Getenv)
	cli.UseEngine(engine.OPA{})
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Main(ctx, os.Args[1:], os.Getenv, cli.Stdio{In: os.Stdin, Out: os.Stdout, Err: os.Stderr})
	stop()
	os.Exit(code)
}
